"""Twilio's webhooks: the voice request (POST /api/v1/telephony/twilio/voice) and the status
callback (POST /api/v1/telephony/twilio/status), configured on each Twilio number, and the
transfer request (POST /api/v1/telephony/twilio/refer) that the voice TwiML names as referUrl.

No Bearer key and no CSRF token: Twilio signs each request with the auth token of the account that
owns the number (X-Twilio-Signature), and `twilio_signed` refuses anything it cannot verify with a
403 before a single row is written (COMPLIANCE.md, "Webhook authenticity").
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from telephony_app.twilio import (
    APOLOGY_LINE,
    TwilioSigner,
    signature_is_valid,
    status_signers,
    twilio_refer_answer,
    twilio_status_apply,
    twilio_voice_answer,
    twiml_say_hangup,
    voice_signers,
)
from voiceplatform.logging import tenant_var

logger = logging.getLogger(__name__)

TWIML_CONTENT_TYPE = "text/xml; charset=utf-8"
SignedView = Callable[..., HttpResponse]


def twilio_signed(
    find_signers: Callable[[Mapping[str, str]], list[TwilioSigner]],
) -> Callable[[SignedView], SignedView]:
    """Lets a request through only when one of the tenants `find_signers` names signed it (and its
    AccountSid matches the tenant's Account SID, when one is set); the view gets that signer and the
    parameters. A missing or wrong signature, or a number nobody owns, is a 403."""

    def decorator(view: SignedView) -> SignedView:
        @csrf_exempt
        @require_POST
        @functools.wraps(view)
        def wrapped(request: HttpRequest) -> HttpResponse:
            params = request.POST.dict()
            for signer in find_signers(params):
                if not signature_is_valid(signer=signer, request=request):
                    continue
                if signer.account_sid and params.get("AccountSid") != signer.account_sid:
                    logger.warning("twilio webhook %s refused: AccountSid is not the tenant's", request.path)
                    return HttpResponseForbidden()
                tenant_var.set(signer.tenant.slug)
                return view(request, signer=signer, params=params)
            logger.warning("twilio webhook %s refused: no valid signature for To=%s", request.path, params.get("To"))
            return HttpResponseForbidden()

        return wrapped

    return decorator


@twilio_signed(voice_signers)
def twilio_voice(request: HttpRequest, *, signer: TwilioSigner, params: dict[str, str]) -> HttpResponse:
    """TwiML for an incoming call: the agent's room over SIP, the out-of-hours message, or an apology."""
    assert signer.phone_number is not None  # voice_signers only names the owner of the dialed number
    try:
        twiml = twilio_voice_answer(
            tenant=signer.tenant, phone_number=signer.phone_number, params=params, inbound_rules=signer.inbound_rules
        )
    except Exception:
        # A 500 makes Twilio play its own "application error" to the caller; an apology is kinder,
        # and the traceback still reaches the logs.
        logger.exception("twilio voice webhook failed for CallSid %s", params.get("CallSid"))
        twiml = twiml_say_hangup(APOLOGY_LINE)
    return HttpResponse(twiml, content_type=TWIML_CONTENT_TYPE)


@twilio_signed(status_signers)
def twilio_status(request: HttpRequest, *, signer: TwilioSigner, params: dict[str, str]) -> HttpResponse:
    """Applies a call-progress report to the call log; Twilio only needs to hear that it arrived."""
    twilio_status_apply(tenant=signer.tenant, phone_number=signer.phone_number, params=params)
    return HttpResponse(status=204)


@twilio_signed(status_signers)
def twilio_refer(request: HttpRequest, *, signer: TwilioSigner, params: dict[str, str]) -> HttpResponse:
    """Where a caller goes when the agent transfers the call (LiveKit's SIP REFER on the bridge)."""
    try:
        twiml = twilio_refer_answer(tenant=signer.tenant, params=params)
    except Exception:
        logger.exception("twilio refer webhook failed for CallSid %s", params.get("CallSid"))
        twiml = twiml_say_hangup(APOLOGY_LINE)
    return HttpResponse(twiml, content_type=TWIML_CONTENT_TYPE)
