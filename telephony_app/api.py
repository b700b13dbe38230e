"""Call log API (GET /api/v1/calls; POST places one outbound call) and phone numbers API
(/api/v1/phone-numbers), camelCase."""

from __future__ import annotations

import datetime
import re
import uuid
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agents_app.selectors import agent_get
from agents_app.validation import normalize_e164
from telephony_app import inbound, livekit_client, outbound, provisioning, selectors, services
from telephony_app.models import (
    AnalysisStatus,
    Call,
    CallDirection,
    CallStatus,
    NumberProvider,
    PhoneNumber,
    SipTransport,
    call_search_problem,
)
from voiceplatform.api_base import E164Field, ServiceWriteMixin, TenantScopedViewSet, service_errors
from voiceplatform.models import Tenant
from voiceplatform.pagination import NewestFirstKeysetPagination

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _enum(values: list[str]) -> type[serializers.CharField]:
    """A read-only string documented with its possible values."""

    @extend_schema_field({"type": "string", "enum": values})
    class EnumField(serializers.CharField):
        pass

    return EnumField


@extend_schema_field({"type": "string", "description": f"One of: {', '.join(CallDirection.values)}."})
class DirectionField(serializers.CharField):
    """A plain string in the schema: an enum named for "direction" would collide with the agents
    API's different "direction" choices, and naming both needs ENUM_NAME_OVERRIDES in settings."""


StatusField = _enum(CallStatus.values)
RoleField = _enum(["user", "assistant", "system", "tool"])
KindField = _enum(["llm", "tts", "stt"])


class CallSummarySerializer(serializers.Serializer):
    """A list row: everything but the transcript, per-turn metrics and usage."""

    id = serializers.UUIDField(source="code")
    agentId = serializers.UUIDField(source="agent.code", allow_null=True, help_text="null once the agent is deleted")
    agentName = serializers.CharField(source="agent_name", help_text="The agent's name when the call was made")
    direction = DirectionField()
    status = StatusField()
    fromNumber = serializers.CharField(source="from_number")
    toNumber = serializers.CharField(source="to_number")
    roomName = serializers.CharField(source="room_name")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    answeredAt = serializers.DateTimeField(source="answered_at", allow_null=True)
    endedAt = serializers.DateTimeField(source="ended_at", allow_null=True)
    durationSeconds = serializers.FloatField(
        source="duration_seconds", allow_null=True, help_text="Talk time from answer to end; 0 if never answered"
    )
    endReason = serializers.CharField(source="end_reason")
    estimatedCostUsd = serializers.DecimalField(
        source="estimated_cost_usd",
        max_digits=10,
        decimal_places=5,
        allow_null=True,
        help_text="List-price estimate of the vendors' charges (LLM, TTS, STT); null when nothing could be priced",
    )
    configSource = serializers.CharField(source="config_source", help_text="cache, database, stale or default")
    error = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")


class TranscriptTurnSerializer(serializers.Serializer):
    role = RoleField()
    text = serializers.CharField()
    at = serializers.DateTimeField()
    interrupted = serializers.BooleanField(required=False)


class TurnMetricsSerializer(serializers.Serializer):
    turn = serializers.IntegerField()
    end_of_turn_delay = serializers.FloatField(required=False, help_text="seconds")
    transcription_delay = serializers.FloatField(required=False, help_text="seconds")
    llm_ttft = serializers.FloatField(required=False, help_text="LLM time to first token, seconds")
    tts_ttfb = serializers.FloatField(required=False, help_text="TTS time to first byte, seconds")
    e2e_latency = serializers.FloatField(required=False, help_text="end of user speech to agent speech, seconds")


class UsageSerializer(serializers.Serializer):
    kind = KindField()
    provider = serializers.CharField()
    model = serializers.CharField()
    input_tokens = serializers.IntegerField(required=False)
    output_tokens = serializers.IntegerField(required=False)
    characters = serializers.IntegerField(required=False)
    audio_seconds = serializers.FloatField(required=False)


@extend_schema_field(
    {
        "type": "string",
        "description": f"One of: {', '.join(AnalysisStatus.values)}; empty when the call is not analysed "
        "(analysis off for its agent, or no conversation).",
    }
)
class AnalysisStatusField(serializers.CharField):
    """A plain string in the schema, like DirectionField: an enum named for "status" would collide with
    the call's own status enum."""


class CallAnalysisSerializer(serializers.Serializer):
    """The post-call analysis by the agent's own model (docs/agents.md, "Post-call analysis")."""

    status = AnalysisStatusField(source="analysis_status")
    error = serializers.CharField(source="analysis_error", help_text="Why the analysis failed; empty otherwise")
    summary = serializers.CharField(help_text="What the agent's summary prompt asked for")
    extracted = serializers.DictField(
        help_text="The agent's structured-data fields filled in for this call, valid against its schema"
    )
    success = serializers.BooleanField(
        allow_null=True, help_text="Against the agent's success rubric; null = not judged"
    )
    costUsd = serializers.DecimalField(
        source="analysis_cost_usd",
        max_digits=10,
        decimal_places=5,
        allow_null=True,
        help_text="List-price estimate of the analysis's tokens; null when the model has no list price",
    )
    analyzedAt = serializers.DateTimeField(source="analyzed_at", allow_null=True)


class CallSerializer(CallSummarySerializer):
    """One call with its transcript, per-turn latency and usage, as the voice worker reported them."""

    transcript = TranscriptTurnSerializer(many=True, read_only=True)
    turnMetrics = TurnMetricsSerializer(source="turn_metrics", many=True, read_only=True)
    usage = UsageSerializer(many=True, read_only=True)
    analysis = CallAnalysisSerializer(source="*", read_only=True)

    def to_representation(self, call: Call) -> dict[str, Any]:
        data = super().to_representation(call)
        # The stored report goes out as stored (the worker wrote it); the nested serializers above
        # document its shape for the schema.
        data["transcript"] = call.transcript
        data["turnMetrics"] = call.turn_metrics
        data["usage"] = call.usage
        return data


def _parse_date(params: Any, name: str) -> datetime.date | None:
    raw = params.get(name, "").strip()
    if not raw:
        return None
    try:
        if not _DATE.fullmatch(raw):
            raise ValueError(raw)
        return datetime.date.fromisoformat(raw)
    except ValueError:
        raise serializers.ValidationError({name: f"Use a date as YYYY-MM-DD, got {raw[:40]!r}."}) from None


def _parse_choice(params: Any, name: str, values: list[str]) -> str:
    raw = params.get(name, "").strip()
    if raw and raw not in values:
        raise serializers.ValidationError({name: f"Use one of {', '.join(values)}."})
    return raw


def _parse_number(params: Any, name: str) -> str:
    try:
        return normalize_e164(params.get(name, ""))
    except DjangoValidationError as error:
        raise serializers.ValidationError({name: error.messages}) from None


def _parse_text(params: Any, name: str, *, max_length: int) -> str:
    raw = params.get(name, "").strip()
    if len(raw) > max_length:
        raise serializers.ValidationError({name: f"At most {max_length} characters."})
    return raw


def list_filters(*, tenant: Tenant, params: Any) -> dict[str, Any]:
    """call_list keyword arguments from query parameters; a bad value is a 400 naming its parameter."""
    query = params.get("q", "").strip()
    if problem := call_search_problem(query):
        raise serializers.ValidationError({"q": problem})
    filters: dict[str, Any] = {
        "direction": _parse_choice(params, "direction", CallDirection.values),
        "status": _parse_choice(params, "status", CallStatus.values),
        "end_reason": _parse_text(params, "endReason", max_length=Call._meta.get_field("end_reason").max_length),
        "from_number": _parse_number(params, "fromNumber"),
        "to_number": _parse_number(params, "toNumber"),
        "date_from": _parse_date(params, "from"),
        "date_to": _parse_date(params, "to"),
        "query": query,
    }
    if filters["date_from"] and filters["date_to"] and filters["date_from"] > filters["date_to"]:
        raise serializers.ValidationError({"to": "The end date is before the start date."})
    if raw_agent := params.get("agent", "").strip():
        try:
            filters["agent"] = agent_get(tenant=tenant, code=uuid.UUID(raw_agent))
        except ValueError:
            raise serializers.ValidationError({"agent": "Use an agent id (a UUID)."}) from None
        except Http404:
            raise serializers.ValidationError({"agent": "No agent with this id."}) from None
    return filters


class OutboundCallSerializer(serializers.Serializer):
    """POST /api/v1/calls: one outbound call, placed now."""

    # `from` is a Python keyword: the field is declared as from_ and renamed in get_fields.

    agentId = serializers.UUIDField(help_text="The agent that talks: one of yours, active, placing outbound calls")
    from_ = E164Field(
        max_length=40,
        help_text="Caller ID: one of your active numbers with an outbound trunk (outboundTrunkId), E.164",
    )
    to = E164Field(max_length=40, help_text="The number to call, international format (E.164)")
    variables = serializers.DictField(
        child=serializers.CharField(allow_blank=True, max_length=1000),
        required=False,
        help_text=(
            "Values for the agent's {{placeholders}} (e.g. first_name), up to 50; every placeholder the "
            "agent's texts use must have one"
        ),
    )

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields

    def validate_from(self, value: str) -> str:
        return _e164(value)

    def validate_to(self, value: str) -> str:
        return _e164(value)


# Service field -> API field, for the placer's validation errors.
_OUTBOUND_CALL_API_FIELDS = {"agent": "agentId", "from_number": "from", "to": "to", "variables": "variables"}
OutboundCallRefusal = inline_serializer(
    "OutboundCallRefusal",
    fields={
        "detail": serializers.CharField(help_text="Why the call may not be placed now"),
        "rule": serializers.CharField(
            help_text=(
                "The rule: dnc (on your do-not-call list), consent (the agent requires consent and the "
                "number has none), zone (the number's time zone is unknown), legal_window (outside "
                "08:00-21:00, or the state's stricter hours, in the callee's time zone), florida_24h "
                "(3 calls to this Florida number in 24 h), agent_concurrency, tenant_concurrency"
            )
        ),
    },
)
OutboundCallUnavailableError = inline_serializer(
    "OutboundCallUnavailableError",
    fields={
        "detail": serializers.CharField(),
        "callId": serializers.UUIDField(allow_null=True, help_text="The Call, marked failed (null if none)"),
    },
)
_CALL_ID = "6c1f1e7a-3b1d-4f43-9a0e-2d5b8f1c7e21"
_OUTBOUND_CALL_EXAMPLES = [
    OpenApiExample(
        "Call a customer",
        request_only=True,
        value={
            "agentId": "0b8e6a52-2f0e-4c8f-9a53-1f1d2b7c9e10",
            "from": "+14155550123",
            "to": "+12125550100",
            "variables": {"first_name": "Ada", "appointment": "Tuesday 10:00"},
        },
    ),
    OpenApiExample(
        "On the do-not-call list (409)",
        response_only=True,
        status_codes=["409"],
        value={"detail": "on the do-not-call list since 2026-11-02 (opt-out during a call)", "rule": "dnc"},
    ),
    OpenApiExample(
        "LiveKit down (503)",
        response_only=True,
        status_codes=["503"],
        value={
            "detail": "LiveKit unreachable: LiveKit at https://lk.example did not answer within 5 s: timeout",
            "callId": _CALL_ID,
        },
    ),
]


@extend_schema_view(
    list=extend_schema(
        summary="List calls, newest first",
        description="Rows leave out `transcript`, `turnMetrics` and `usage`; get one call for those. "
        "Dates are whole days in the tenant's time zone, both ends included. Pages are keyset pages: follow "
        "`next` for older calls; calls made meanwhile never shift a page, so paging from the first page "
        "returns every older call exactly once. No total count (a million calls are not counted per page).",
        parameters=[
            OpenApiParameter("agent", OpenApiTypes.UUID, description="only calls of this agent (its id)"),
            OpenApiParameter("direction", OpenApiTypes.STR, enum=CallDirection.values),
            OpenApiParameter("status", OpenApiTypes.STR, enum=CallStatus.values, description="the outcome"),
            OpenApiParameter(
                "endReason", OpenApiTypes.STR, description="only calls that ended for exactly this `endReason`"
            ),
            OpenApiParameter("fromNumber", OpenApiTypes.STR, description="only calls from this number (E.164)"),
            OpenApiParameter("toNumber", OpenApiTypes.STR, description="only calls to this number (E.164)"),
            OpenApiParameter("from", OpenApiTypes.DATE, description="calls made on or after this day (YYYY-MM-DD)"),
            OpenApiParameter("to", OpenApiTypes.DATE, description="calls made on or before this day (YYYY-MM-DD)"),
            OpenApiParameter(
                "q",
                OpenApiTypes.STR,
                description="full-text search of the transcripts, web-search style: words (all must match; "
                'stemmed, so "refunds" finds "refund"), "a quoted phrase", -excluded, or; at most 200 characters',
            ),
        ],
    ),
    retrieve=extend_schema(
        summary="Get a call: transcript, per-turn latency, usage, estimated cost and post-call analysis"
    ),
)
class CallViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    model = Call
    pagination_class = NewestFirstKeysetPagination

    def get_serializer_class(self) -> type[serializers.Serializer]:
        if self.action == "create":
            return OutboundCallSerializer
        return CallSummarySerializer if self.action == "list" else CallSerializer

    @extend_schema(
        summary="Place an outbound call now",
        description=(
            "The agent calls `to` from your number `from`, through the checks every campaign call passes: "
            "the legal calling hours in every time zone of the callee's number, your do-not-call list, "
            "recorded consent when the agent requires it, and the agent's and your account's concurrent-call "
            "limits. 201: the Call, `ringing` (or already `busy`, `no_answer` or `failed` when the carrier "
            "answered the dial so). 400: a field is wrong (another tenant's agent or number reads as none). "
            "409: a rule forbids the call now; `rule` names it. 502: LiveKit refused the call; 503: LiveKit "
            "is not configured or unreachable (the Call is marked failed)."
        ),
        request=OutboundCallSerializer,
        responses={
            201: CallSerializer,
            409: OutboundCallRefusal,
            502: OutboundCallUnavailableError,
            503: OutboundCallUnavailableError,
        },
        examples=_OUTBOUND_CALL_EXAMPLES,
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = OutboundCallSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        agent = _resolve_agent(tenant=self.tenant, code=data["agentId"])
        number = PhoneNumber.objects.for_tenant(self.tenant).filter(number=data["from"]).first()
        if number is None:  # another tenant's number reads exactly like no number at all
            raise serializers.ValidationError({"from": ["No such phone number: use one of your numbers."]})
        placing = outbound.OutboundCallRequest(
            tenant=self.tenant, agent=agent, phone_number=number, to=data["to"], variables=data.get("variables", {})
        )
        try:
            with service_errors(_OUTBOUND_CALL_API_FIELDS):
                call = outbound.outbound_call_place(placing)
        except outbound.OutboundCallRefused as refused:
            return Response({"detail": refused.detail, "rule": refused.rule}, status=status.HTTP_409_CONFLICT)
        except outbound.OutboundCallUnavailable as down:
            body = {"detail": down.message, "callId": str(down.call.code) if down.call is not None else None}
            code = status.HTTP_502_BAD_GATEWAY if down.refused else status.HTTP_503_SERVICE_UNAVAILABLE
            return Response(body, status=code)
        return Response(CallSerializer(call).data, status=status.HTTP_201_CREATED)

    def filter_tenant_queryset(self, queryset: QuerySet[Call]) -> QuerySet[Call]:
        if self.action != "list":
            return queryset.select_related("agent")
        # The portal's list query (selectors.call_list scopes to the same tenant by itself).
        filters = list_filters(tenant=self.tenant, params=self.request.query_params)
        return selectors.call_list(tenant=self.tenant, **filters)


# Phone numbers ---------------------------------------------------------------------------------

# Model field -> API field, so a service's error names what the client sent.
_NUMBER_API_FIELDS = {
    "number": "number",
    "label": "label",
    "provider": "provider",
    "agent": "agentId",
    "is_active": "isActive",
    "sip_trunk_id": "sipTrunkId",
    "outbound_trunk_id": "outboundTrunkId",
    "outbound_cps": "outboundCps",
    "outbound_address": "outboundAddress",
    "outbound_transport": "outboundTransport",
    "outbound_auth_username": "outboundAuthUsername",
    "outbound_auth_password": "outboundAuthPassword",
}


class PhoneNumberSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="code", read_only=True)
    number = E164Field(
        max_length=40, help_text="International format; stored as E.164 (+1 (415) 555-0123 becomes +14155550123)."
    )
    label = serializers.CharField(max_length=120, required=False, allow_blank=True)
    provider = serializers.ChoiceField(choices=NumberProvider.choices, required=False)
    agentId = serializers.UUIDField(
        source="agent.code",
        required=False,
        allow_null=True,
        help_text="The agent that answers; null = none. An outbound-only agent is refused (400).",
    )
    agentName = serializers.CharField(source="agent.name", read_only=True, allow_null=True)
    isActive = serializers.BooleanField(source="is_active", required=False)
    sipTrunkId = serializers.CharField(
        source="sip_trunk_id",
        max_length=128,
        required=False,
        allow_blank=True,
        help_text=(
            "LiveKit inbound SIP trunk id (ST_...) the number is routed through; when set, calls to the "
            "number through any other trunk are refused"
        ),
    )
    outboundTrunkId = serializers.CharField(
        source="outbound_trunk_id",
        max_length=128,
        required=False,
        allow_blank=True,
        help_text=(
            "LiveKit outbound SIP trunk id (ST_...) calls from this number go out through; empty = the number "
            "cannot be a caller ID (campaigns and POST /calls refuse it)"
        ),
    )
    outboundCps = serializers.DecimalField(
        source="outbound_cps",
        max_digits=7,
        decimal_places=2,
        coerce_to_string=False,
        required=False,
        help_text="Calls per second the carrier accepts from this trunk: more than 0, default 1",
    )
    dispatchRuleId = serializers.CharField(
        source="dispatch_rule_id",
        read_only=True,
        help_text="LiveKit SIP dispatch rule id (SDR_...) provisioning made for the number's inbound trunk",
    )
    outboundAddress = serializers.CharField(
        source="outbound_address",
        max_length=255,
        required=False,
        allow_blank=True,
        help_text=(
            "The carrier's SIP host (and port) for calls from this number, e.g. sip.telnyx.com: provisioning "
            "makes the LiveKit outbound trunk to it. Empty = provisioning makes no outbound trunk"
        ),
    )
    outboundTransport = serializers.ChoiceField(
        source="outbound_transport", choices=SipTransport.choices, required=False
    )
    outboundAuthUsername = serializers.CharField(
        source="outbound_auth_username",
        max_length=128,
        required=False,
        allow_blank=True,
        help_text="The username the carrier expects (digest auth); empty removes the credentials",
    )
    outboundAuthPassword = serializers.CharField(
        source="outbound_auth_password",
        max_length=255,
        required=False,
        allow_blank=True,
        write_only=True,
        style={"input_type": "password"},
        help_text="Write-only, stored encrypted; never returned. Omitted or empty keeps the stored one",
    )
    outboundAuthPasswordSet = serializers.BooleanField(
        source="has_outbound_auth_password", read_only=True, help_text="Whether a carrier password is stored"
    )
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)

    def to_service_kwargs(self, *, tenant: Tenant) -> dict[str, Any]:
        """Validated request data as phone_number_create/phone_number_update keyword arguments."""
        data = dict(self.validated_data)
        kwargs: dict[str, Any] = {}
        for key in (
            "number",
            "label",
            "provider",
            "is_active",
            "sip_trunk_id",
            "outbound_trunk_id",
            "outbound_cps",
            "outbound_address",
            "outbound_transport",
            "outbound_auth_username",
            "outbound_auth_password",
        ):
            if key in data:
                kwargs[key] = data[key]
        if "agent" in data:
            kwargs["agent"] = _resolve_agent(tenant=tenant, code=(data["agent"] or {}).get("code"))
        return kwargs


class AssignAgentSerializer(serializers.Serializer):
    agentId = serializers.UUIDField(allow_null=True, help_text="The agent that should answer; null unassigns")


def _resolve_agent(*, tenant: Tenant, code: uuid.UUID | None) -> Any:
    """The tenant's agent for an agentId (None for null); another tenant's id reads as 'no such agent'."""
    if code is None:
        return None
    try:
        return agent_get(tenant=tenant, code=code)
    except Http404:
        raise serializers.ValidationError({"agentId": ["No such agent."]}) from None


_NUMBER_ID = "3f6b2a9e-8c41-4d7a-b0e5-6a2f1c9d8e47"
_AGENT_ID = "0b8e6a52-2f0e-4c8f-9a53-1f1d2b7c9e10"
_NUMBER_EXAMPLES = [
    OpenApiExample(
        "Add a Twilio number for the support agent",
        request_only=True,
        value={"number": "+1 (415) 555-0123", "label": "Support line", "provider": "twilio", "agentId": _AGENT_ID},
    ),
    OpenApiExample(
        "Number added (201)",
        response_only=True,
        status_codes=["201"],
        value={
            "id": _NUMBER_ID,
            "number": "+14155550123",
            "label": "Support line",
            "provider": "twilio",
            "agentId": _AGENT_ID,
            "agentName": "Support Agent",
            "isActive": True,
            "sipTrunkId": "",
            "outboundTrunkId": "ST_a1b2c3d4e5f6",
            "outboundCps": 1.0,
            "dispatchRuleId": "",
            "outboundAddress": "",
            "outboundTransport": "auto",
            "outboundAuthUsername": "",
            "outboundAuthPasswordSet": False,
            "createdAt": "2026-11-25T17:25:00+00:00",
            "updatedAt": "2026-11-25T17:25:00+00:00",
        },
    ),
]


def _e164(value: str) -> str:
    try:
        number = normalize_e164(value)
    except DjangoValidationError as error:
        raise serializers.ValidationError(error.messages) from None
    if not number:
        raise serializers.ValidationError("Enter a phone number in international format, e.g. +14155550123.")
    return number


class HandleCallSerializer(serializers.Serializer):
    """The caller and the number dialed."""

    # `from` is a Python keyword: the field is declared as from_ and renamed in get_fields.

    from_ = E164Field(max_length=40, help_text="The caller, international format (E.164)")
    to = E164Field(max_length=40, help_text="The dialed number: one of your numbers (E.164)")

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        fields["from"] = fields.pop("from_")
        return fields

    def validate_from(self, value: str) -> str:
        return _e164(value)

    def validate_to(self, value: str) -> str:
        return _e164(value)


class HandleCallConnectResponse(serializers.Serializer):
    action = _enum(["connect"])()
    callId = serializers.UUIDField(help_text="The Call in the call log")
    room = serializers.CharField(help_text="The LiveKit room the agent was dispatched to")
    sipUri = serializers.CharField(help_text="Bridge the caller here: sip:<room>@<LIVEKIT_SIP_HOST>")
    agentId = serializers.UUIDField()


class HandleCallClosedResponse(serializers.Serializer):
    action = _enum(["closed", "busy"])()
    message = serializers.CharField(
        allow_blank=True, help_text="Play this to the caller (the agent's out-of-hours message); may be empty"
    )
    fallbackNumber = serializers.CharField(allow_null=True, help_text="Then forward the caller here; null = hang up")
    callId = serializers.UUIDField(help_text="The Call in the call log (already ended)")


class HandleCallUnavailableResponse(serializers.Serializer):
    action = _enum(["unavailable"])()
    message = serializers.CharField(help_text="Play this to the caller, then hang up")
    reason = serializers.CharField(help_text="Why, for you (inactive number or agent, no agent assigned)")
    callId = serializers.UUIDField(help_text="The Call in the call log (marked failed)")


HandleCallError = inline_serializer("HandleCallError", fields={"detail": serializers.CharField()})


class ProvisionFieldSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The LiveKit field (passwords are shown hidden, never in clear)")
    current = serializers.CharField(help_text="What LiveKit has; empty when the object does not exist")
    wanted = serializers.CharField(help_text="What the number needs")
    differs = serializers.BooleanField()


class ProvisionPartSerializer(serializers.Serializer):
    part = _enum([provisioning.INBOUND_TRUNK, provisioning.DISPATCH_RULE, provisioning.OUTBOUND_TRUNK])()
    action = _enum(
        [provisioning.CREATE, provisioning.UPDATE, provisioning.UNCHANGED, provisioning.SKIP, provisioning.REFUSED]
    )(help_text="create/update: written to LiveKit (or, for GET, would be); unchanged: LiveKit already matches")
    livekitId = serializers.CharField(source="livekit_id", help_text="ST_... or SDR_...; empty until it exists")
    note = serializers.CharField(help_text="Why a part is skipped or refused")
    fields = ProvisionFieldSerializer(many=True)


class ProvisionReportSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="code")
    number = serializers.CharField()
    applied = serializers.BooleanField(help_text="false: a plan (GET), nothing written")
    changes = serializers.BooleanField(help_text="Whether anything was (or would be) written to LiveKit")
    refused = serializers.BooleanField(help_text="An object made by hand is in the way: nothing is written")
    detail = serializers.CharField(source="summary", help_text="One line: what was (or would be) done")
    parts = ProvisionPartSerializer(many=True)


ProvisionError = inline_serializer("ProvisionError", fields={"detail": serializers.CharField()})


@extend_schema_view(
    list=extend_schema(summary="List phone numbers"),
    create=extend_schema(summary="Add a phone number", examples=_NUMBER_EXAMPLES),
    retrieve=extend_schema(summary="Get a phone number"),
    update=extend_schema(
        summary="Update a phone number's configuration",
        description="Like the agents API, PUT changes only the fields sent.",
    ),
    partial_update=extend_schema(summary="Update some fields of a phone number"),
    destroy=extend_schema(
        summary="Delete a phone number",
        description="Its past calls stay in the call log. 409 while an open campaign presents it as caller ID.",
        responses={204: None, 409: OpenApiTypes.OBJECT},
    ),
)
class PhoneNumberViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    ServiceWriteMixin,
    TenantScopedViewSet,
):
    model = PhoneNumber
    serializer_class = PhoneNumberSerializer
    api_paths = _NUMBER_API_FIELDS

    def filter_tenant_queryset(self, queryset: QuerySet[PhoneNumber]) -> QuerySet[PhoneNumber]:
        return queryset.select_related("agent").order_by("number", "id")

    def perform_write(self, serializer: PhoneNumberSerializer, instance: PhoneNumber | None) -> PhoneNumber:
        kwargs = serializer.to_service_kwargs(tenant=self.tenant)
        if instance is None:
            return services.phone_number_create(tenant=self.tenant, **kwargs)
        return services.phone_number_update(tenant=self.tenant, phone_number=instance, **kwargs)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            services.phone_number_delete(tenant=self.tenant, phone_number=self.get_object())
        except DjangoValidationError as error:  # an open campaign presents it as caller ID
            return Response({"detail": " ".join(error.messages)}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        summary="Assign an agent to a phone number",
        description="Calls to the number reach this agent (of the same tenant); `null` unassigns it.",
        request=AssignAgentSerializer,
        responses={200: PhoneNumberSerializer},
        examples=[
            OpenApiExample("Assign", request_only=True, value={"agentId": _AGENT_ID}),
            OpenApiExample("Unassign", request_only=True, value={"agentId": None}),
        ],
    )
    @action(detail=True, methods=["post"], url_path="assign-agent", url_name="assign-agent")
    def assign_agent(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        phone_number = self.get_object()
        body = AssignAgentSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        agent = _resolve_agent(tenant=self.tenant, code=body.validated_data["agentId"])
        with service_errors(_NUMBER_API_FIELDS):
            phone_number = services.phone_number_assign_agent(
                tenant=self.tenant, phone_number=phone_number, agent=agent
            )
        return Response(PhoneNumberSerializer(phone_number).data)

    @extend_schema(
        methods=["GET"],
        summary="What LiveKit has for a phone number, and what provisioning would change",
        description=(
            "Reads the number's LiveKit SIP inbound trunk, dispatch rule and outbound trunk and compares them "
            "field by field with what the number needs; writes nothing. 502: LiveKit failed or did not answer "
            "in time; 503: LiveKit is not configured."
        ),
        request=None,
        responses={200: ProvisionReportSerializer, 502: ProvisionError, 503: ProvisionError},
    )
    @extend_schema(
        methods=["POST"],
        summary="Provision a phone number in LiveKit SIP",
        description=(
            "Creates or repairs, in LiveKit, what the number needs: for SIP numbers an inbound trunk with the "
            "number and a dispatch rule putting each call in a new room with the voice worker dispatched; for a "
            "number with an `outboundAddress`, an outbound trunk to that carrier with its credentials. Only what "
            "differs is written (a second call writes nothing), and the ids are stored on the number "
            "(`sipTrunkId`, `dispatchRuleId`, `outboundTrunkId`). 409: an object made by hand is in the way "
            "(nothing written; `parts` says which), or the number is being provisioned right now. 502: LiveKit "
            "failed or did not answer in time (ids of what was made before are stored); 503: not configured."
        ),
        request=None,
        responses={
            200: ProvisionReportSerializer,
            409: ProvisionReportSerializer,
            502: ProvisionError,
            503: ProvisionError,
        },
    )
    @action(detail=True, methods=["get", "post"], url_path="provision", url_name="provision")
    def provision(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        phone_number = self.get_object()
        deadline = provisioning.request_deadline()
        try:
            if request.method == "GET":
                report = provisioning.provision_plan(phone_number=phone_number, deadline=deadline)
            else:
                report = provisioning.provision(phone_number=phone_number, deadline=deadline)
        except livekit_client.LiveKitNotConfigured as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        except livekit_client.LiveKitError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_502_BAD_GATEWAY)
        except provisioning.ProvisionBusy as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        code = status.HTTP_409_CONFLICT if report.refused else status.HTTP_200_OK
        return Response(ProvisionReportSerializer(report).data, status=code)

    @extend_schema(
        summary="Route an incoming call (generic inbound hook)",
        description=(
            "For carriers other than Twilio: `to` must be one of your numbers. The same routing as "
            "Twilio's voice webhook (number → agent → business hours) decides, and the call is written "
            "to the call log. 201 `connect`: a LiveKit room with the agent dispatched, bridge the caller "
            "to `sipUri`. 200 `closed`: out of business hours, play `message` then forward to "
            "`fallbackNumber`. 200 `busy`: the agent already has its `maxConcurrentCalls` open calls; "
            "the same shape as `closed` (forward to its transfer or fallback number, else play its "
            "out-of-hours message). 409 `unavailable`: the number is inactive or reaches no active agent. "
            "502: LiveKit failed (the call is marked failed); 503: LiveKit or its SIP host is not configured."
        ),
        request=HandleCallSerializer,
        responses={
            201: HandleCallConnectResponse,
            200: HandleCallClosedResponse,
            409: HandleCallUnavailableResponse,
            404: None,
            502: HandleCallError,
            503: HandleCallError,
        },
        examples=[
            OpenApiExample("A call", request_only=True, value={"from": "+14155550100", "to": "+14155550123"}),
        ],
    )
    @action(detail=False, methods=["post"], url_path="handle-call", url_name="handle-call")
    def handle_call(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = HandleCallSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        caller, dialed = body.validated_data["from"], body.validated_data["to"]
        phone_number = self.filter_tenant_queryset(self.get_queryset()).filter(number=dialed).first()
        if phone_number is None:
            raise Http404  # another tenant's number reads exactly like no number at all
        route = inbound.inbound_route(to_number=dialed, phone_number=phone_number)
        context = {"source": "handle-call"}
        if route.outcome == "connect":
            return self._connect(route, caller=caller, context=context)
        call = inbound.inbound_call_record_unanswered(route, from_number=caller, context=context)
        assert call is not None  # the route has the tenant's own number
        if route.outcome == "closed":
            return Response(
                {
                    "action": "closed",
                    "message": route.message,
                    "fallbackNumber": route.fallback_number or None,
                    "callId": str(call.code),
                }
            )
        return Response(
            {"action": "unavailable", "message": route.message, "reason": route.reason, "callId": str(call.code)},
            status=status.HTTP_409_CONFLICT,
        )

    def _connect(self, route: inbound.InboundRoute, *, caller: str, context: dict[str, Any]) -> Response:
        if not livekit_client.is_configured():
            return Response(
                {"detail": livekit_client.NOT_CONFIGURED_MESSAGE}, status=status.HTTP_503_SERVICE_UNAVAILABLE
            )
        if not inbound.sip_uri("room"):
            return Response(
                {"detail": "LiveKit SIP is not configured: set LIVEKIT_SIP_HOST."},
                status=status.HTTP_503_SERVICE_UNAVAILABLE,
            )
        try:
            connected = inbound.inbound_call_connect(route, from_number=caller, context=context)
        except inbound.AgentAtCapacity as busy:
            call = inbound.inbound_call_record_unanswered(busy.route, from_number=caller, context=context)
            assert call is not None  # the route has the tenant's own number
            return Response(
                {
                    "action": "busy",
                    "message": busy.route.message,
                    "fallbackNumber": busy.route.fallback_number or None,
                    "callId": str(call.code),
                }
            )
        except livekit_client.LiveKitError as exc:
            return Response({"detail": f"Could not connect the call: {exc}"}, status=status.HTTP_502_BAD_GATEWAY)
        return Response(
            {
                "action": "connect",
                "callId": str(connected.call.code),
                "room": connected.room,
                "sipUri": connected.sip_uri,
                "agentId": str(route.agent.code) if route.agent else None,
            },
            status=status.HTTP_201_CREATED,
        )
