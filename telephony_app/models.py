"""The call log: one Call row per phone call, test session or text chat, written by the voice worker."""

from __future__ import annotations

import re
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Func, Q, Value

from agents_app.validation import validate_e164
from voiceplatform.models import Tenant, TenantOwned


class CallDirection(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"
    TEST = "test", "Test call"
    CHAT = "chat", "Text chat"


class CallStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RINGING = "ringing", "Ringing"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    NO_ANSWER = "no_answer", "No answer"
    BUSY = "busy", "Busy"
    VOICEMAIL = "voicemail", "Voicemail"
    TRANSFERRED = "transferred", "Transferred"


TERMINAL_STATUSES = frozenset(
    {
        CallStatus.COMPLETED,
        CallStatus.FAILED,
        CallStatus.NO_ANSWER,
        CallStatus.BUSY,
        CallStatus.VOICEMAIL,
        CallStatus.TRANSFERRED,
    }
)
ACTIVE_STATUSES = frozenset({CallStatus.QUEUED, CallStatus.RINGING, CallStatus.IN_PROGRESS})
# The calls an agent's max_concurrent_calls counts: phone calls (test sessions and chats are not).
PHONE_DIRECTIONS = (CallDirection.INBOUND, CallDirection.OUTBOUND)
# A status may only move to a higher rank; every terminal status shares the top rank, so the
# first one wins and a later (re-ordered or retried) report cannot replace it.
STATUS_RANK: dict[str, int] = {
    CallStatus.QUEUED: 0,
    CallStatus.RINGING: 1,
    CallStatus.IN_PROGRESS: 2,
    **dict.fromkeys(TERMINAL_STATUSES, 3),
}


# The text search configuration of the call log's full-text search (stemming: "refunds" finds "refund").
SEARCH_CONFIG = "english"


def call_search_document() -> Func:
    """What the call log's full-text search reads: the text of every transcript turn (not the roles or
    times), as a tsvector. PostgreSQL computes it when a row's transcript is written (a stored generated
    column), so no code path can forget it and the inbound webhook's INSERT (empty transcript) pays ~nothing.

    The one place to add a searched text (e.g. the post-call summary), combined with `.bitor()` (||):
    `SearchVector("summary", config=SEARCH_CONFIG, weight="A")`. PostgreSQL cannot alter a generated
    column's expression in place, so that migration removes and re-adds Call.search (and its index)."""
    turns_text = Func(F("transcript"), Value("$[*].text"), function="jsonb_path_query_array")
    return Func(
        Value(SEARCH_CONFIG),
        turns_text,
        Value('["string"]'),
        function="jsonb_to_tsvector",
        output_field=SearchVectorField(),
    )


def _newest_first(*fields: str) -> list[str]:
    """An index for the call log's keyset pages: the tenant, the filtered columns, then newest first
    with the id as tiebreaker, so a filtered page is one index range scan with no sort."""
    return ["tenant", *fields, "-created_at", "-id"]


class Call(TenantOwned):
    """A call (or chat). `code` is the call id used in URLs, room metadata (`call_id`) and the API.

    Every index costs each inbound call's INSERT (the webhook's hot path), so none is redundant:
    the tenant's own lookups use call_tenant_created_idx (tenant first), the reaper's status filter uses
    call_status_updated_idx (status first), and no query matches room names or statuses by LIKE. The
    call log's filters (agent, direction, status, end reason, caller, callee) each have one index
    ending newest first (see _newest_first); a combination of filters walks the index of one of them.
    The search column is computed from the transcript, empty (and absent from its GIN index) until the
    call's end writes the transcript."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    agent = models.ForeignKey(
        "agents_app.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="calls"
    )
    agent_name = models.CharField(max_length=120, blank=True, help_text="Snapshot; survives agent deletion.")
    direction = models.CharField(max_length=16, choices=CallDirection.choices)
    status = models.CharField(max_length=16, choices=CallStatus.choices, default=CallStatus.QUEUED)
    from_number = models.CharField(max_length=32, blank=True)
    to_number = models.CharField(max_length=32, blank=True)
    room_name = models.CharField(max_length=128, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True, help_text="Talk time: answer to end.")
    end_reason = models.CharField(max_length=200, blank=True)
    # [{"role": "user"|"assistant"|"system"|"tool", "text": str, "at": iso8601, "interrupted": bool?}]
    transcript = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    # [{"turn": n, "end_of_turn_delay": s, "transcription_delay": s, "llm_ttft": s, "tts_ttfb": s, "e2e_latency": s}]
    turn_metrics = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    # [{"kind": "llm"|"tts"|"stt", "provider", "model", "input_tokens", "output_tokens", "characters", "audio_seconds"}]
    usage = models.JSONField(default=list, blank=True, encoder=DjangoJSONEncoder)
    estimated_cost_usd = models.DecimalField(max_digits=10, decimal_places=5, null=True, blank=True)
    # The telephony provider's id of the call (Twilio's CallSid): status callbacks upsert by it.
    provider_call_id = models.CharField(max_length=64, blank=True)
    config_source = models.CharField(max_length=16, blank=True, help_text="cache / database / stale / default")
    # Outbound: milliseconds from the callee's answer to the agent's first words (the 2-second
    # abandonment rule), and what answering-machine detection said ("human", "machine-vm", ...).
    first_words_ms = models.PositiveIntegerField(null=True, blank=True)
    amd_result = models.CharField(max_length=32, blank=True)
    error = models.TextField(blank=True)
    context = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    search = models.GeneratedField(
        expression=call_search_document(), output_field=SearchVectorField(), db_persist=True, editable=False
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=_newest_first(), name="call_tenant_created_idx"),
            models.Index(fields=_newest_first("agent"), name="call_tenant_agent_created_idx"),
            models.Index(fields=_newest_first("direction"), name="call_tenant_direction_idx"),
            models.Index(fields=_newest_first("status"), name="call_tenant_status_idx"),
            models.Index(fields=_newest_first("end_reason"), name="call_tenant_end_reason_idx"),
            models.Index(fields=_newest_first("from_number"), name="call_tenant_from_idx"),
            models.Index(fields=_newest_first("to_number"), name="call_tenant_to_idx"),
            # Full-text search over transcripts (call_search_document).
            GinIndex(fields=["search"], name="call_search_gin_idx"),
            # The reaper's query: non-terminal calls not updated for a while.
            models.Index(fields=["status", "updated_at"], name="call_status_updated_idx"),
            # The LiveKit webhook and the worker find a call by its room (exact match only).
            models.Index(fields=["room_name"], name="call_room_name_idx"),
            # An agent's open phone calls, counted against max_concurrent_calls by the inbound routing:
            # partial, so it holds only the few calls in progress and a finished call leaves it.
            models.Index(
                fields=["agent"],
                condition=Q(status__in=sorted(ACTIVE_STATUSES), direction__in=PHONE_DIRECTIONS),
                name="call_agent_open_phone_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(duration_seconds__isnull=True) | Q(duration_seconds__gte=0),
                name="call_duration_not_negative",
            ),
            models.UniqueConstraint(
                fields=["tenant", "provider_call_id"],
                condition=~Q(provider_call_id=""),
                name="call_tenant_provider_call_id_uniq",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_direction_display()} call {self.code} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def counterpart_number(self) -> str:
        """The other party's number: the caller on inbound calls, the callee otherwise."""
        return self.from_number if self.direction == CallDirection.INBOUND else self.to_number


class NumberProvider(models.TextChoices):
    TWILIO = "twilio", "Twilio"
    SIP = "sip", "SIP trunk"


class PhoneNumber(TenantOwned):
    """A tenant's phone number and the agent that answers it; `number` is E.164 and unique platform-wide."""

    number = models.CharField(
        max_length=32, unique=True, validators=[validate_e164], help_text="E.164, e.g. +14155550123."
    )
    label = models.CharField(max_length=120, blank=True)
    provider = models.CharField(max_length=16, choices=NumberProvider.choices, default=NumberProvider.TWILIO)
    agent = models.ForeignKey(
        "agents_app.Agent", null=True, blank=True, on_delete=models.SET_NULL, related_name="phone_numbers"
    )
    is_active = models.BooleanField(default=True)
    sip_trunk_id = models.CharField(
        max_length=128, blank=True, help_text="LiveKit SIP trunk id (ST_...) the number is routed through."
    )
    outbound_trunk_id = models.CharField(
        max_length=128,
        blank=True,
        help_text="LiveKit outbound SIP trunk id (ST_...) calls from this number go out through; empty = no outbound.",
    )
    outbound_cps = models.DecimalField(
        max_digits=7,
        decimal_places=2,
        default=1,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="Calls per second the carrier accepts from this trunk (Twilio: 1 by default).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["number", "id"]
        indexes = [models.Index(fields=["tenant", "number"], name="phonenumber_tenant_number_idx")]

    def __str__(self) -> str:
        return f"{self.number} ({self.label})" if self.label else self.number

    def clean(self) -> None:
        # Also guards the admin, where a staff member of two tenants could pick the other's agent.
        if self.agent_id is not None and self.tenant_id is not None and self.agent.tenant_id != self.tenant_id:
            raise ValidationError({"agent": "No such agent."})
        errors: dict[str, str] = {}
        if problem := outbound_trunk_problem(self.outbound_trunk_id):
            errors["outbound_trunk_id"] = problem
        # Under 0.01 the field's own validator answers (its message, not a second one).
        cps = self.outbound_cps
        if cps is not None and cps > 0 and (problem := outbound_cps_problem(cps)):
            errors["outbound_cps"] = problem
        if errors:
            raise ValidationError(errors)

    @property
    def can_call_out(self) -> bool:
        """Whether calls can be placed from this number: active, with a LiveKit outbound trunk."""
        return self.is_active and bool(self.outbound_trunk_id)


_TRUNK_ID = re.compile(r"ST_[A-Za-z0-9]{1,125}")


def outbound_trunk_problem(value: str) -> str | None:
    """Why `value` is not a LiveKit outbound trunk id (ST_ and letters or digits), or None (empty is fine:
    no outbound calls from the number). The one rule the model, the portal, the API and the admin share."""
    if value and not _TRUNK_ID.fullmatch(value):
        return "Enter the LiveKit outbound trunk id as LiveKit shows it, e.g. ST_a1b2c3d4e5f6 (or leave it empty)."
    return None


def outbound_cps_problem(value: Decimal | None) -> str | None:
    """Why `value` is not a calls-per-second limit: more than 0, at most CAMPAIGN_MAX_CALLS_PER_SECOND."""
    maximum = settings.CAMPAIGN_MAX_CALLS_PER_SECOND
    if value is None or not value.is_finite() or value <= 0:
        return "Enter the calls per second the carrier accepts from this number: more than 0 (e.g. 1)."
    if value > maximum:
        return f"At most {maximum} calls per second on this platform."
    return None


SEARCH_MAX_CHARS = 200


def call_search_problem(text: str) -> str | None:
    """Why `text` cannot be searched for in the call log (too long), or None. The API's `q` and the
    portal's search box share it."""
    if len(text) > SEARCH_MAX_CHARS:
        return f"Search for at most {SEARCH_MAX_CHARS} characters."
    return None
