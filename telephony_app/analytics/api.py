"""GET /api/v1/analytics: the analytics page's figures (per day and for the period) as JSON, read from
the call rollups only. Filters: period (7, 30, 90 days), agent and campaign (their ids)."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from telephony_app.analytics import selectors
from telephony_app.analytics.document import LATENCY_NAMES, analytics_document
from telephony_app.analytics.forms import AnalyticsFilterForm
from telephony_app.analytics.rollups import STATUS_COLUMNS
from telephony_app.models import CallRollup
from voiceplatform.api_base import TenantScopedViewSet

_INT = serializers.IntegerField
_RATE = serializers.FloatField


def _figures(name: str, extra: dict[str, serializers.Field], **kwargs: Any) -> Any:
    latencies: dict[str, serializers.Field] = {}
    for metric in LATENCY_NAMES.values():
        camel = "".join(part.capitalize() for part in metric.split("_"))
        camel = camel[0].lower() + camel[1:]
        latencies[f"{camel}P50"] = _RATE(allow_null=True, help_text=f"{metric}, 50th percentile, seconds")
        latencies[f"{camel}P90"] = _RATE(allow_null=True, help_text=f"{metric}, 90th percentile, seconds")
    statuses = {"noAnswer" if s == "no_answer" else s: _INT() for s in STATUS_COLUMNS.values()}
    return inline_serializer(
        name,
        fields={
            **extra,
            "calls": _INT(help_text="Finished calls (chats and test calls included)."),
            **statuses,
            "answered": _INT(),
            "answerRate": _RATE(allow_null=True, help_text="answered / calls, 0..1; null with no call"),
            "transferRate": _RATE(allow_null=True, help_text="transferred / answered, 0..1"),
            "talkSecondsAvg": _RATE(allow_null=True, help_text="Talk time per answered call."),
            "talkSecondsP90": _RATE(allow_null=True, help_text="90th percentile talk time of answered calls."),
            "costUsd": serializers.DecimalField(
                max_digits=16, decimal_places=5, help_text="Estimated (list prices), as a string."
            ),
            **latencies,
        },
        **kwargs,
    )


AnalyticsResponse = inline_serializer(
    "Analytics",
    fields={
        "period": _INT(help_text="Days: 7, 30 or 90, ending today (UTC)."),
        "from": serializers.DateField(),
        "to": serializers.DateField(),
        "agentId": serializers.UUIDField(allow_null=True),
        "campaignId": serializers.UUIDField(allow_null=True),
        "totals": _figures("AnalyticsTotals", {}),
        "days": _figures("AnalyticsDay", {"date": serializers.DateField()}, many=True),
    },
)

_EXAMPLE_FIGURES = {
    "calls": 12,
    "completed": 8,
    "failed": 1,
    "noAnswer": 2,
    "busy": 0,
    "voicemail": 0,
    "transferred": 1,
    "answered": 9,
    "answerRate": 0.75,
    "transferRate": 0.1111,
    "talkSecondsAvg": 84.2,
    "talkSecondsP90": 171.0,
    "costUsd": "0.41230",
    "endOfTurnP50": 0.412,
    "endOfTurnP90": 0.79,
    "llmTtftP50": 0.35,
    "llmTtftP90": 0.62,
    "ttsTtfbP50": 0.18,
    "ttsTtfbP90": 0.3,
}


class AnalyticsViewSet(TenantScopedViewSet):
    """One document, not a list of rows: no pagination, and routed by hand (voiceplatform/urls.py) as
    GET /api/v1/analytics so the schema does not describe it as a list."""

    model = CallRollup
    pagination_class = None

    @extend_schema(
        summary="Call analytics over a period",
        description=(
            "Finished calls per day (UTC days of the calls' creation) and for the whole period: counts by "
            "outcome, answer and transfer rates, average and p90 talk time, estimated cost, and per-turn "
            "latency percentiles (end of turn, LLM time to first token, TTS time to first byte) estimated "
            "from fixed-bucket histograms. Read from daily rollups kept as calls end, never from the calls. "
            "400: a parameter is malformed; 404: the agent or campaign id is none of yours."
        ),
        parameters=[
            OpenApiParameter("period", OpenApiTypes.INT, enum=list(selectors.PERIODS), description="days, default 30"),
            OpenApiParameter("agent", OpenApiTypes.UUID, description="only calls of this agent (its id)"),
            OpenApiParameter("campaign", OpenApiTypes.UUID, description="only calls placed by this campaign"),
        ],
        responses={200: AnalyticsResponse},
        examples=[
            OpenApiExample(
                "Seven days",
                response_only=True,
                value={
                    "period": 7,
                    "from": "2026-11-27",
                    "to": "2026-12-03",
                    "agentId": None,
                    "campaignId": None,
                    "totals": _EXAMPLE_FIGURES,
                    "days": [{"date": "2026-12-03", **_EXAMPLE_FIGURES}],
                },
            )
        ],
    )
    def figures(self, request: Request) -> Response:
        form = AnalyticsFilterForm(request.query_params, tenant=self.tenant)
        if not form.is_valid():
            errors = form.errors.as_data()
            for name, label in (("agent", "agent"), ("campaign", "campaign")):
                # A well-formed id that is not one of this tenant's: the same 404 as "does not exist".
                if name in errors and _is_uuid(request.query_params.get(name, "")):
                    raise NotFound(f"No {label} with this id.")
            raise serializers.ValidationError({name: list(messages) for name, messages in form.errors.items()})
        analytics = selectors.analytics_for(tenant=self.tenant, **form.filters())
        return Response(analytics_document(analytics, period=form.cleaned_data["period"]))


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
