"""The call log: one Call row per phone call, test session or text chat, written by the voice worker."""

from __future__ import annotations

import re
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
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


class AnalysisStatus(models.TextChoices):
    """The post-call analysis of a call (telephony_app/analysis.py); blank: not analysed."""

    PENDING = "pending", "Pending"
    RUNNING = "running", "In progress"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


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
    times) and the post-call summary, as one tsvector. PostgreSQL computes it when a row's transcript or
    summary is written (a stored generated column), so no code path can forget it and the inbound
    webhook's INSERT (empty transcript) pays ~nothing.

    PostgreSQL cannot alter a generated column's expression in place: a change here is a migration that
    removes and re-adds Call.search (and its index)."""
    turns_text = Func(F("transcript"), Value("$[*].text"), function="jsonb_path_query_array")
    transcript = Func(
        Value(SEARCH_CONFIG),
        turns_text,
        Value('["string"]'),
        function="jsonb_to_tsvector",
        output_field=SearchVectorField(),
    )
    summary = Func(Value(SEARCH_CONFIG), F("summary"), function="to_tsvector", output_field=SearchVectorField())
    return Func(transcript, summary, template="(%(expressions)s)", arg_joiner=" || ", output_field=SearchVectorField())


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
    # Post-call analysis by the agent's own model (telephony_app/analysis.py, worker/analysis.py).
    analysis_status = models.CharField(max_length=8, choices=AnalysisStatus.choices, blank=True)
    analysis_error = models.TextField(blank=True, help_text="Why the analysis failed.")
    analysis_started_at = models.DateTimeField(null=True, blank=True, help_text="When a task claimed the analysis.")
    analyzed_at = models.DateTimeField(null=True, blank=True)
    summary = models.TextField(blank=True)
    # The agent's structured-data schema filled in for this call (validated against it).
    extracted = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    success = models.BooleanField(
        null=True, blank=True, help_text="Against the agent's success rubric; null = not judged."
    )
    analysis_cost_usd = models.DecimalField(max_digits=10, decimal_places=5, null=True, blank=True)
    # The campaign that placed the call (its code), a snapshot with no foreign key: campaigns_app sits
    # above telephony_app, and the call log outlives a deleted campaign. The analytics filter by it.
    campaign_code = models.UUIDField(null=True, blank=True, editable=False)
    # Whether the call's figures are in its CallRollup row (telephony_app/analytics/rollups.py): set with
    # the terminal status, in the same UPDATE, so a call ending twice is counted once.
    is_rolled_up = models.BooleanField(default=False, editable=False)
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
            # The reaper's query: non-terminal calls not updated for a while. Partial: a call leaves it
            # when it ends, so it stays as small as the calls in progress, and the end's UPDATE (like
            # the open-calls index below) writes no entry to it.
            models.Index(
                fields=["status", "updated_at"],
                condition=Q(status__in=sorted(ACTIVE_STATUSES)),
                name="call_status_updated_idx",
            ),
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


class SipTransport(models.TextChoices):
    AUTO = "auto", "Automatic"
    UDP = "udp", "UDP"
    TCP = "tcp", "TCP"
    TLS = "tls", "TLS"


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
    # LiveKit SIP provisioning (telephony_app.provisioning): the dispatch rule the platform made for
    # the number's inbound trunk (sip_trunk_id), and the carrier the outbound trunk it makes points at.
    dispatch_rule_id = models.CharField(
        max_length=128, blank=True, help_text="LiveKit SIP dispatch rule id (SDR_...) made by provisioning."
    )
    outbound_address = models.CharField(
        max_length=255,
        blank=True,
        help_text="The carrier's SIP host (and port) calls from this number go to, e.g. sip.telnyx.com; "
        "empty = provisioning makes no outbound trunk.",
    )
    outbound_transport = models.CharField(max_length=8, choices=SipTransport.choices, default=SipTransport.AUTO)
    outbound_auth_username = models.CharField(max_length=128, blank=True)
    # The carrier's digest password, encrypted for the tenant (voiceplatform.crypto); never shown again.
    outbound_auth_password_encrypted = models.TextField(blank=True, editable=False)
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
        if problem := outbound_address_problem(self.outbound_address):
            errors["outbound_address"] = problem
        if self.outbound_auth_password_encrypted and not self.outbound_auth_username:
            errors["outbound_auth_username"] = "Enter the username that goes with the password (or clear both)."
        # Under 0.01 the field's own validator answers (its message, not a second one).
        cps = self.outbound_cps
        if cps is not None and cps > 0 and (problem := outbound_cps_problem(cps)):
            errors["outbound_cps"] = problem
        if errors:
            raise ValidationError(errors)

    def set_outbound_auth_password(self, password: str) -> None:
        """Stores the carrier password encrypted for the tenant; "" removes it."""
        from voiceplatform.crypto import encrypt_for_tenant

        self.outbound_auth_password_encrypted = (
            encrypt_for_tenant(tenant_id=self.tenant_id, plaintext=password) if password else ""
        )

    def get_outbound_auth_password(self) -> str:
        from voiceplatform.crypto import decrypt_for_tenant

        if not self.outbound_auth_password_encrypted:
            return ""
        return decrypt_for_tenant(tenant_id=self.tenant_id, token=self.outbound_auth_password_encrypted)

    @property
    def has_outbound_auth_password(self) -> bool:
        return bool(self.outbound_auth_password_encrypted)

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


# host or IPv4 address, optional port: what LiveKit's outbound trunk `address` takes (no scheme, no user).
_SIP_ADDRESS = re.compile(r"(?=.{1,255}$)[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?")


def outbound_address_problem(value: str) -> str | None:
    """Why `value` is not a carrier SIP address (host or host:port), or None (empty: no outbound trunk)."""
    if not value:
        return None
    if not _SIP_ADDRESS.fullmatch(value) or ".." in value:
        return (
            "Enter the carrier's SIP host, optionally with a port, e.g. sip.telnyx.com or 203.0.113.5:5060 (no sip:)."
        )
    port = value.rpartition(":")[2] if ":" in value else ""
    if port and not 0 < int(port) < 65536:
        return "The port must be between 1 and 65535."
    return None


def outbound_cps_problem(value: Decimal | None) -> str | None:
    """Why `value` is not a calls-per-second limit: more than 0, at most CAMPAIGN_MAX_CALLS_PER_SECOND."""
    maximum = settings.CAMPAIGN_MAX_CALLS_PER_SECOND
    if value is None or not value.is_finite() or value <= 0:
        return "Enter the calls per second the carrier accepts from this number: more than 0 (e.g. 1)."
    if value > maximum:
        return f"At most {maximum} calls per second on this platform."
    return None


class CallRollup(TenantOwned):
    """The finished calls of one (tenant, UTC day of creation, agent, campaign, direction): counts,
    sums and fixed-bucket histograms the analytics read instead of the calls (see docs/analytics.md).

    Maintained by telephony_app/analytics/rollups.py as each call ends (in the same transaction) and
    rebuilt from the calls by `manage.py analytics_rebuild`. `agent` carries no foreign-key constraint:
    an agent's deletion leaves its history here (the calls keep theirs too, without the agent)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    agent = models.ForeignKey(
        "agents_app.Agent", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    campaign_code = models.UUIDField(null=True, blank=True)
    direction = models.CharField(max_length=16, choices=CallDirection.choices)
    calls = models.IntegerField(default=0)
    completed = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)
    no_answer = models.IntegerField(default=0)
    busy = models.IntegerField(default=0)
    voicemail = models.IntegerField(default=0)
    transferred = models.IntegerField(default=0)
    answered = models.IntegerField(default=0)
    talk_seconds = models.FloatField(default=0)
    cost_usd = models.DecimalField(max_digits=16, decimal_places=5, default=Decimal(0))
    # Counts per bucket (telephony_app/analytics/buckets.py): talk time of answered calls, and per turn
    # the end-of-turn delay, the LLM's time to first token and the TTS's time to first byte.
    talk_hist = ArrayField(models.IntegerField(), default=list)
    end_of_turn_hist = ArrayField(models.IntegerField(), default=list)
    llm_ttft_hist = ArrayField(models.IntegerField(), default=list)
    tts_ttfb_hist = ArrayField(models.IntegerField(), default=list)

    class Meta:
        ordering = ["day", "id"]
        constraints = [
            # NULLS NOT DISTINCT: one row per key even with no agent or no campaign (the upsert's target).
            models.UniqueConstraint(
                fields=["tenant", "day", "agent", "campaign_code", "direction"],
                name="callrollup_key_uniq",
                nulls_distinct=False,
            ),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.direction}: {self.calls} calls"


SEARCH_MAX_CHARS = 200


def call_search_problem(text: str) -> str | None:
    """Why `text` cannot be searched for in the call log (too long), or None. The API's `q` and the
    portal's search box share it."""
    if len(text) > SEARCH_MAX_CHARS:
        return f"Search for at most {SEARCH_MAX_CHARS} characters."
    return None
