"""Call log API: GET /api/v1/calls and /api/v1/calls/{id}, read-only, camelCase."""

from __future__ import annotations

import datetime
import re
import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers

from agents_app.selectors import agent_get
from telephony_app import selectors
from telephony_app.models import Call, CallDirection, CallStatus
from voiceplatform.api_base import TenantScopedViewSet
from voiceplatform.models import Tenant

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


class CallSerializer(CallSummarySerializer):
    """One call with its transcript, per-turn latency and usage, as the voice worker reported them."""

    transcript = TranscriptTurnSerializer(many=True, read_only=True)
    turnMetrics = TurnMetricsSerializer(source="turn_metrics", many=True, read_only=True)
    usage = UsageSerializer(many=True, read_only=True)

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


def list_filters(*, tenant: Tenant, params: Any) -> dict[str, Any]:
    """call_list keyword arguments from query parameters; a bad value is a 400 naming its parameter."""
    filters: dict[str, Any] = {
        "direction": _parse_choice(params, "direction", CallDirection.values),
        "status": _parse_choice(params, "status", CallStatus.values),
        "date_from": _parse_date(params, "from"),
        "date_to": _parse_date(params, "to"),
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


@extend_schema_view(
    list=extend_schema(
        summary="List calls, newest first",
        description="Rows leave out `transcript`, `turnMetrics` and `usage`; get one call for those. "
        "Dates are whole days in the tenant's time zone, both ends included.",
        parameters=[
            OpenApiParameter("agent", OpenApiTypes.UUID, description="only calls of this agent (its id)"),
            OpenApiParameter("direction", OpenApiTypes.STR, enum=CallDirection.values),
            OpenApiParameter("status", OpenApiTypes.STR, enum=CallStatus.values),
            OpenApiParameter("from", OpenApiTypes.DATE, description="calls made on or after this day (YYYY-MM-DD)"),
            OpenApiParameter("to", OpenApiTypes.DATE, description="calls made on or before this day (YYYY-MM-DD)"),
        ],
    ),
    retrieve=extend_schema(summary="Get a call: transcript, per-turn latency, usage and estimated cost"),
)
class CallViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    model = Call

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return CallSummarySerializer if self.action == "list" else CallSerializer

    def filter_tenant_queryset(self, queryset: QuerySet[Call]) -> QuerySet[Call]:
        if self.action != "list":
            return queryset.select_related("agent")
        # The portal's list query (selectors.call_list scopes to the same tenant by itself).
        filters = list_filters(tenant=self.tenant, params=self.request.query_params)
        return selectors.call_list(tenant=self.tenant, **filters)
