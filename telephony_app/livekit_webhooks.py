"""POST /api/v1/telephony/livekit/webhook: LiveKit's room and participant events, verified with
livekit-api's WebhookReceiver (JWT signed with our API secret, sha256 claim of the body), applied
to the call log by telephony_app.livekit_sync."""

from __future__ import annotations

import logging
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from telephony_app import livekit_client
from telephony_app.livekit_sync import livekit_event_apply
from voiceplatform import hostile_input

logger = logging.getLogger(__name__)


class LiveKitNotConfiguredError(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = livekit_client.NOT_CONFIGURED_MESSAGE
    default_code = "livekit_not_configured"


class LiveKitWebhookAuthentication(BaseAuthentication):
    """Accepts only a webhook signed by our LiveKit server; `request.auth` is then its event.

    Anything else is 401 before the view runs, so a forged or tampered request writes nothing."""

    def authenticate(self, request: Request) -> tuple[None, livekit_client.WebhookEvent]:
        if not livekit_client.is_configured():
            raise LiveKitNotConfiguredError()
        try:
            body = request.body.decode("utf-8")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid LiveKit webhook: the body is not UTF-8.") from None
        _refuse_hostile_body(body)
        try:
            event = livekit_client.verify_webhook(body, request.headers.get("Authorization", ""))
        except livekit_client.LiveKitWebhookInvalid as exc:
            # The reason names what failed (missing, expired, hash mismatch...), never the token.
            logger.warning("LiveKit webhook refused: %s", exc)
            raise exceptions.AuthenticationFailed(f"Invalid LiveKit webhook: {exc}.") from None
        except livekit_client.LiveKitWebhookMalformed as exc:
            raise exceptions.ParseError(str(exc)) from None
        return None, event

    def authenticate_header(self, request: Request) -> str:
        # A value here makes DRF answer 401 (not 403) to a refused webhook.
        return 'LiveKit-Webhook realm="api"'


def _refuse_hostile_body(body: str) -> None:
    """400 (HostileInput) for a NUL, a lone surrogate or over-deep nesting, whatever the content type
    said: such a room name or identity would reach PostgreSQL (which cannot store a NUL)."""
    try:
        hostile_input.json_loads(body)
    except hostile_input.HostileInput:
        raise
    except ValueError:
        pass  # not JSON: verify_webhook names that as a malformed webhook


class LiveKitWebhookView(APIView):
    """Thin: the authentication class verified the event; livekit_sync applies it."""

    authentication_classes = [LiveKitWebhookAuthentication]
    permission_classes = [AllowAny]  # authenticity is the signature; there is no tenant API key here

    # Left out of the public API schema: only our LiveKit server calls it, with a signature
    # scheme (LiveKit's webhook JWT) that is not an API credential tenants can use.
    @extend_schema(exclude=True)
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        outcome = livekit_event_apply(request.auth)
        return Response({"event": outcome.event, "updated": outcome.updated})
