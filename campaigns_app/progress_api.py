"""The campaigns API's view of a running campaign: GET /api/v1/campaigns/{id}/progress (the figures the
campaign page shows) and GET /api/v1/campaigns/{id}/attempts (every call attempt, cursor-paginated).
CampaignViewSet (campaigns_app/api.py) takes these actions from CampaignLiveActions."""

from __future__ import annotations

import re
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns_app import selectors
from campaigns_app.models import AttemptOutcome, CallAttempt, Campaign, ContactStatus
from voiceplatform.pagination import StrictCursorPagination

_OUTCOMES = [value for value in AttemptOutcome.values if value != AttemptOutcome.PENDING]


def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda match: match.group(1).upper(), name)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _rate(value: float | None) -> float | None:
    return round(value, 4) if value is not None else None


def progress_document(
    *, campaign: Campaign, progress: selectors.CampaignProgress, pace: selectors.CampaignPace
) -> dict[str, Any]:
    """The progress figures in the API's camelCase (the same figures as the campaign page)."""
    counts = progress.contacts
    zone_held = progress.zone_held
    return {
        "campaignId": str(campaign.code),
        "status": campaign.status,
        "contacts": {
            "total": counts.total,
            "done": counts.done,
            "percentDone": counts.percent_done,
            **{status: counts.get(status) for status in ContactStatus.values},
        },
        "attempts": {"total": progress.attempts, **{_camel(key): n for key, n in progress.outcomes.items()}},
        "callsInProgress": progress.in_progress,
        "notCalled": [
            {"status": row.status, "rule": row.rule, "count": row.count, "example": row.example}
            for row in progress.rules
        ],
        "zoneHeld": {"count": zone_held.count, "reason": zone_held.example} if zone_held else None,
        "dialerError": (
            {"message": progress.dialer_error, "at": _iso(progress.dialer_error_at)} if progress.dialer_error else None
        ),
        "pace": {
            "configuredPerMinute": pace.configured_per_minute,
            "minutes": [{"start": _iso(minute.start), "dialed": minute.dialed} for minute in pace.minutes],
            "rates": [
                {
                    "start": _iso(bucket.start),
                    "finished": bucket.finished,
                    "answered": bucket.answered,
                    "abandoned": bucket.abandoned,
                    "answerRate": _rate(bucket.answer_rate),
                    "abandonRate": _rate(bucket.abandon_rate),
                }
                for bucket in pace.buckets
            ],
        },
    }


_INT = serializers.IntegerField
_RULES = inline_serializer(
    "CampaignNotCalledRule",
    many=True,
    help_text="Skipped and held contacts by rule, most first.",
    fields={
        # A plain string, values listed: a "status" enum here would collide with the others in the schema's names.
        "status": serializers.CharField(help_text="held or skipped"),
        "rule": serializers.CharField(help_text='The rule that decided: "dnc", "consent", "zone", ...'),
        "count": _INT(),
        "example": serializers.CharField(help_text="One of these contacts' reasons, in full."),
    },
)
CampaignProgressResponse = inline_serializer(
    "CampaignProgress",
    fields={
        "campaignId": serializers.UUIDField(),
        "status": serializers.CharField(),
        "contacts": inline_serializer(
            "CampaignProgressContacts",
            fields={
                "total": _INT(),
                "done": _INT(help_text="completed + exhausted + skipped"),
                "percentDone": _INT(help_text="done / total, 0-100"),
                **{status: _INT() for status in ContactStatus.values},
            },
        ),
        "attempts": inline_serializer(
            "CampaignProgressAttempts",
            fields={
                "total": _INT(help_text="Every attempt, in progress included."),
                **{_camel(o): _INT() for o in _OUTCOMES},
            },
        ),
        "callsInProgress": _INT(help_text="Attempts claimed and not ended yet (ringing or talking)."),
        "notCalled": _RULES,
        "zoneHeld": inline_serializer(
            "CampaignZoneHeld", fields={"count": _INT(), "reason": serializers.CharField()}, allow_null=True
        ),
        "dialerError": inline_serializer(
            "CampaignDialerError",
            fields={"message": serializers.CharField(), "at": serializers.DateTimeField(allow_null=True)},
            allow_null=True,
            help_text="Why the dialer cannot make progress on this campaign now (cleared when it can).",
        ),
        "pace": inline_serializer(
            "CampaignPace",
            fields={
                "configuredPerMinute": serializers.FloatField(help_text="maxCallsPerSecond x 60"),
                "minutes": inline_serializer(
                    "CampaignPaceMinute",
                    many=True,
                    fields={"start": serializers.DateTimeField(), "dialed": _INT()},
                    help_text="Dials per minute over the last 60 minutes, oldest first (the current minute last).",
                ),
                "rates": inline_serializer(
                    "CampaignPaceRates",
                    many=True,
                    fields={
                        "start": serializers.DateTimeField(),
                        "finished": _INT(help_text="Dialed attempts that ended."),
                        "answered": _INT(),
                        "abandoned": _INT(help_text="Answered, and the agent spoke more than 2 s after the answer."),
                        "answerRate": serializers.FloatField(allow_null=True, help_text="answered / finished"),
                        "abandonRate": serializers.FloatField(allow_null=True, help_text="abandoned / answered"),
                    },
                    help_text="Per 10 minutes of the same hour.",
                ),
            },
        ),
    },
)

PROGRESS_EXAMPLE = OpenApiExample(
    "A running campaign",
    response_only=True,
    value={
        "campaignId": "5d1c0c7e-3b8f-4f8e-9a57-2f0b6f9f4e21",
        "status": "running",
        "contacts": {
            "total": 1000,
            "done": 412,
            "percentDone": 41,
            "pending": 520,
            "dialing": 5,
            "completed": 300,
            "retry": 51,
            "exhausted": 40,
            "skipped": 72,
            "held": 12,
        },
        "attempts": {
            "total": 805,
            "answered": 300,
            "noAnswer": 310,
            "busy": 41,
            "voicemail": 95,
            "rejected": 4,
            "failed": 6,
            "notDialed": 44,
        },
        "callsInProgress": 5,
        "notCalled": [
            {"status": "skipped", "rule": "dnc", "count": 72, "example": "dnc: on the do-not-call list"},
            {"status": "held", "rule": "zone", "count": 12, "example": "zone: no time zone known for +80012345678"},
        ],
        "zoneHeld": {"count": 12, "reason": "zone: no time zone known for +80012345678"},
        "dialerError": {"message": "LiveKit unreachable: connection refused", "at": "2026-11-20T14:03:09+00:00"},
        "pace": {
            "configuredPerMinute": 60.0,
            "minutes": [{"start": "2026-11-20T13:05:00+00:00", "dialed": 58}, "... 60 minutes ..."],
            "rates": [
                {
                    "start": "2026-11-20T13:05:00+00:00",
                    "finished": 560,
                    "answered": 210,
                    "abandoned": 3,
                    "answerRate": 0.375,
                    "abandonRate": 0.0143,
                },
                "... 6 buckets ...",
            ],
        },
    },
)


class CallAttemptSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="code")
    contactId = serializers.UUIDField()
    number = serializers.CharField(help_text="The number dialed.")
    attemptNo = serializers.IntegerField(help_text="1 for the contact's first call.")
    outcome = serializers.CharField(help_text=f"Empty while in progress, else one of {', '.join(_OUTCOMES)}.")
    detail = serializers.CharField(help_text='Why it ended so; for not_dialed the rule: "<rule>: <reason>".')
    callId = serializers.UUIDField(allow_null=True, help_text="The call placed (GET /api/v1/calls/{id}).")
    consentId = serializers.UUIDField(allow_null=True, help_text="The consent relied on (GET /api/v1/consents/...).")
    createdAt = serializers.DateTimeField(help_text="When the dialer claimed the contact.")
    startedAt = serializers.DateTimeField(allow_null=True)
    endedAt = serializers.DateTimeField(allow_null=True)

    def to_representation(self, attempt: CallAttempt) -> dict[str, Any]:
        return {
            "id": str(attempt.code),
            "contactId": str(attempt.contact.code),
            "number": attempt.number or attempt.contact.number,
            "attemptNo": attempt.attempt_no,
            "outcome": attempt.outcome,
            "detail": attempt.detail,
            "callId": str(attempt.call.code) if attempt.call_id else None,
            "consentId": str(attempt.consent.code) if attempt.consent_id else None,
            "createdAt": attempt.created_at.isoformat(),
            "startedAt": _iso(attempt.started_at),
            "endedAt": _iso(attempt.ended_at),
        }


class CampaignLiveActions:
    """The progress and attempts actions of CampaignViewSet (a TenantScopedViewSet: get_object() is the
    tenant's campaign or a 404)."""

    @extend_schema(
        summary="A campaign's progress",
        description="Contacts by status, attempts by outcome, calls in progress, contacts not called by rule, "
        "the dialer's campaign-level error, and the last hour's pace (dials per minute, answer and abandon "
        "rates per 10 minutes): the figures of the campaign page.",
        request=None,
        responses=CampaignProgressResponse,
        examples=[PROGRESS_EXAMPLE],
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def progress(self, request: Request, id: str) -> Response:
        campaign = self.get_object()  # type: ignore[attr-defined]
        tenant = self.tenant  # type: ignore[attr-defined]
        progress = selectors.campaign_progress(tenant=tenant, campaign=campaign)
        pace = selectors.campaign_pace(tenant=tenant, campaign=campaign)
        return Response(progress_document(campaign=campaign, progress=progress, pace=pace))

    @extend_schema(
        summary="A campaign's call attempts",
        description="Every attempt in claim order, cursor-paginated (follow `next`; never counted): the number "
        "dialed, the outcome and its detail (for not_dialed, the rule that refused it), the call and the "
        "consent relied on.",
        parameters=[
            OpenApiParameter("outcome", OpenApiTypes.STR, enum=["in_progress", *_OUTCOMES]),
            OpenApiParameter("cursor", OpenApiTypes.STR, description="The `next` or `previous` link's cursor."),
        ],
        request=None,
        responses=inline_serializer(
            "PaginatedCallAttemptList",
            fields={
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": CallAttemptSerializer(many=True),
            },
        ),
    )
    @action(detail=True, methods=["get"])
    def attempts(self, request: Request, id: str) -> Response:
        campaign = self.get_object()  # type: ignore[attr-defined]
        queryset = selectors.attempt_list(tenant=self.tenant, campaign=campaign)  # type: ignore[attr-defined]
        outcome = request.query_params.get("outcome", "")
        if outcome:
            if outcome not in ("in_progress", *_OUTCOMES):
                raise serializers.ValidationError({"outcome": [f"Use one of in_progress, {', '.join(_OUTCOMES)}."]})
            queryset = queryset.filter(outcome="" if outcome == "in_progress" else outcome)
        paginator = StrictCursorPagination()
        page = paginator.paginate_queryset(queryset.select_related("contact", "call", "consent"), request, view=self)
        return paginator.get_paginated_response(CallAttemptSerializer(page, many=True).data)
