"""The tenant's do-not-call and consent ledgers over the API: /api/v1/dnc and /api/v1/consents. Rows are
only ever added (a removal or revocation is a row too), so no PUT, PATCH or DELETE exists (405)."""

from __future__ import annotations

import re

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns_app import api_examples, contact_rows, importer, selectors, services
from campaigns_app.models import Consent, ConsentSource, DncEntry, DncSource
from campaigns_app.serializers import (
    ConsentGrantSerializer,
    ConsentRevokeSerializer,
    ConsentSerializer,
    ConsentStatusSerializer,
    DncAddSerializer,
    DncEntrySerializer,
    DncRemoveSerializer,
    DncStatusSerializer,
    DncUploadResponse,
    DncUploadSerializer,
)
from voiceplatform.actor import Actor
from voiceplatform.api_base import TenantScopedViewSet, service_errors
from voiceplatform.pagination import NewestFirstCursorPagination

_NUMBER_PREFIX = re.compile(r"\+?[0-9]{1,15}")
# A number's whole history is short; the cap only keeps a pathological one from a huge answer.
MAX_HISTORY_ROWS = 500


def number_search(value: str) -> str:
    """Digits as the start of an E.164 number: an unencoded + in a query string arrives as a space."""
    return f"+{value}" if value.isdigit() else value


def _e164(value: str, name: str = "number") -> str:
    """A number from the path or query normalised to E.164, or a 400 naming it."""
    try:
        return contact_rows.normalize_number(value)
    except contact_rows.RowError as error:
        raise serializers.ValidationError({name: [f"{value[:40]!r}: {error.reason}."]}) from None


class _LedgerViewSet(TenantScopedViewSet):
    """A ledger by number: no PUT, PATCH or DELETE exists (a change is a new row), so those answer 405."""

    lookup_field = "number"
    lookup_url_kwarg = "number"
    lookup_value_converter = "str"
    pagination_class = NewestFirstCursorPagination

    def _number_filter(self) -> str:
        raw = self.request.query_params.get("number", "").strip()
        if raw and not _NUMBER_PREFIX.fullmatch(raw):
            raise serializers.ValidationError({"number": ["Give the start of an E.164 number, e.g. +1415."]})
        return number_search(raw)


@extend_schema_view(
    list=extend_schema(
        summary="The do-not-call ledger, newest first",
        parameters=[OpenApiParameter("number", OpenApiTypes.STR, description="numbers starting with (E.164)")],
    ),
)
class DncViewSet(_LedgerViewSet):
    model = DncEntry
    serializer_class = DncEntrySerializer

    def list(self, request: Request) -> Response:
        queryset = selectors.dnc_list(tenant=self.tenant, number=self._number_filter()).select_related("call")
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(DncEntrySerializer(page, many=True).data)

    @extend_schema(
        summary="Put a number on the do-not-call list",
        description="201 with the new entry; 200 with the deciding entry when the number is already on the list.",
        request=DncAddSerializer,
        responses={201: DncEntrySerializer, 200: DncEntrySerializer},
        examples=[api_examples.DNC_ADD_EXAMPLE],
    )
    def create(self, request: Request) -> Response:
        serializer = DncAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with service_errors({}):
            written = services.dnc_add(
                tenant=self.tenant,
                number=serializer.validated_data["number"],
                reason=serializer.validated_data.get("reason", ""),
                source=DncSource.API,
                actor=Actor.from_request(request),
            )
        return Response(
            DncEntrySerializer(written.entry).data,
            status=status.HTTP_201_CREATED if written.created else status.HTTP_200_OK,
        )

    @extend_schema(
        summary="Is this number on the do-not-call list, and why",
        request=None,
        responses=DncStatusSerializer,
        parameters=[OpenApiParameter("number", OpenApiTypes.STR, OpenApiParameter.PATH, description="E.164")],
        examples=[api_examples.DNC_STATUS_EXAMPLE],
    )
    def retrieve(self, request: Request, number: str) -> Response:
        number = _e164(number)
        history = list(
            selectors.dnc_history(tenant=self.tenant, number=number).select_related("call")[:MAX_HISTORY_ROWS]
        )
        deciding = history[0] if history and history[0].blocks else None
        body = {
            "number": number,
            "blocked": deciding is not None,
            "decidingEntry": DncEntrySerializer(deciding).data if deciding else None,
            "history": DncEntrySerializer(history, many=True).data,
        }
        return Response(body)

    @extend_schema(
        summary="Take a number off the do-not-call list",
        description="Writes a removal entry; the additions stay in the number's history.",
        request=DncRemoveSerializer,
        responses={201: DncEntrySerializer},
        parameters=[OpenApiParameter("number", OpenApiTypes.STR, OpenApiParameter.PATH, description="E.164")],
    )
    @action(detail=True, methods=["post"])
    def remove(self, request: Request, number: str) -> Response:
        serializer = DncRemoveSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        with service_errors({}):
            entry = services.dnc_remove(
                tenant=self.tenant,
                number=_e164(number),
                reason=serializer.validated_data["reason"],
                source=DncSource.API,
                actor=Actor.from_request(request),
            )
        return Response(DncEntrySerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Upload numbers to the do-not-call list (CSV)",
        request={"multipart/form-data": DncUploadSerializer},
        responses={200: DncUploadResponse},
    )
    @action(detail=False, methods=["post"], parser_classes=[MultiPartParser])
    def upload(self, request: Request) -> Response:
        serializer = DncUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with service_errors({"default_country": "defaultCountry"}):
            result = importer.dnc_upload(
                tenant=self.tenant,
                upload=data["file"],
                default_country=data.get("defaultCountry", "").upper(),
                reason=data.get("reason", ""),
                actor=Actor.from_request(request),
            )
        return Response(
            {
                "added": result.added,
                "alreadyListed": result.already_listed,
                "errorsTotal": result.errors_total,
                "errors": [{"line": line, "value": value, "reason": reason} for line, value, reason in result.errors],
            }
        )


@extend_schema_view(
    list=extend_schema(
        summary="The consent ledger, newest first",
        parameters=[OpenApiParameter("number", OpenApiTypes.STR, description="numbers starting with (E.164)")],
    ),
)
class ConsentViewSet(_LedgerViewSet):
    model = Consent
    serializer_class = ConsentSerializer

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(selectors.consent_list(tenant=self.tenant, number=self._number_filter()))
        return self.get_paginated_response(ConsentSerializer(page, many=True).data)

    @extend_schema(
        summary="Record a consent",
        request=ConsentGrantSerializer,
        responses={201: ConsentSerializer},
        examples=[api_examples.CONSENT_GRANT_EXAMPLE],
    )
    def create(self, request: Request) -> Response:
        serializer = ConsentGrantSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with service_errors({"granted_at": "grantedAt"}):
            consent = services.consent_grant(
                tenant=self.tenant,
                number=data["number"],
                kind=data["kind"],
                source=data["source"],
                evidence=data["evidence"],
                granted_at=data.get("grantedAt"),
                actor=Actor.from_request(request),
            )
        return Response(ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Is this number consented, and by which grant",
        request=None,
        responses=ConsentStatusSerializer,
        parameters=[OpenApiParameter("number", OpenApiTypes.STR, OpenApiParameter.PATH, description="E.164")],
    )
    def retrieve(self, request: Request, number: str) -> Response:
        number = _e164(number)
        history = list(selectors.consent_history(tenant=self.tenant, number=number)[:MAX_HISTORY_ROWS])
        deciding = history[0] if history and history[0].is_granted else None
        body = {
            "number": number,
            "consented": deciding is not None,
            "decidingConsent": ConsentSerializer(deciding).data if deciding else None,
            "history": ConsentSerializer(history, many=True).data,
        }
        return Response(body)

    @extend_schema(
        summary="Revoke a number's consent",
        description="Writes a revocation; the grant stays in the number's history.",
        request=ConsentRevokeSerializer,
        responses={201: ConsentSerializer},
        parameters=[OpenApiParameter("number", OpenApiTypes.STR, OpenApiParameter.PATH, description="E.164")],
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, number: str) -> Response:
        serializer = ConsentRevokeSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        with service_errors({"revoked_at": "revokedAt"}):
            consent = services.consent_revoke(
                tenant=self.tenant,
                number=_e164(number),
                evidence=data.get("evidence", ""),
                revoked_at=data.get("revokedAt"),
                source=ConsentSource.API,
                actor=Actor.from_request(request),
            )
        return Response(ConsentSerializer(consent).data, status=status.HTTP_201_CREATED)
