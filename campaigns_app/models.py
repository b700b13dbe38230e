"""Outbound campaigns: the campaign, its contacts and their call attempts, contact imports, and the
tenant's do-not-call and consent ledgers (append-only: a change is a new row, never an edit)."""

from __future__ import annotations

from typing import Any, NoReturn, Self

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from agents_app.models import VoicemailAction as AgentVoicemailAction
from agents_app.validation import validate_e164
from voiceplatform.models import Tenant, TenantOwned, TenantQuerySet, validate_timezone


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


# The only moves a campaign's status may make (campaign_transition enforces them). "scheduled" is a
# started campaign waiting for its start date; the dialer moves it to running, and running to
# completed when no contact is left to call.
CAMPAIGN_TRANSITIONS: dict[str, frozenset[str]] = {
    CampaignStatus.DRAFT: frozenset({CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.CANCELLED}),
    CampaignStatus.SCHEDULED: frozenset({CampaignStatus.RUNNING, CampaignStatus.PAUSED, CampaignStatus.CANCELLED}),
    CampaignStatus.RUNNING: frozenset({CampaignStatus.PAUSED, CampaignStatus.COMPLETED, CampaignStatus.CANCELLED}),
    CampaignStatus.PAUSED: frozenset(
        {CampaignStatus.RUNNING, CampaignStatus.SCHEDULED, CampaignStatus.COMPLETED, CampaignStatus.CANCELLED}
    ),
    CampaignStatus.COMPLETED: frozenset(),
    CampaignStatus.CANCELLED: frozenset(),
}
# Campaigns that still hold their agent and caller ID (neither may be deleted while one exists).
OPEN_CAMPAIGN_STATUSES = frozenset(
    {CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING, CampaignStatus.PAUSED}
)
# Campaigns whose settings may be edited: not while calls go out, not once finished.
EDITABLE_CAMPAIGN_STATUSES = frozenset({CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED})


class DialerMode(models.TextChoices):
    PROGRESSIVE = "progressive", "Progressive (one call per free agent slot)"
    PREDICTIVE = "predictive", "Predictive (over-dial by answer rate)"
    PREVIEW = "preview", "Preview (an operator confirms each call)"
    FIXED_PACE = "fixed_pace", "Fixed pace (calls per second, up to the concurrency)"


class CampaignVoicemailAction(models.TextChoices):
    INHERIT = "inherit", "As the agent says"
    HANG_UP = AgentVoicemailAction.HANG_UP.value, AgentVoicemailAction.HANG_UP.label
    LEAVE_MESSAGE = AgentVoicemailAction.LEAVE_MESSAGE.value, AgentVoicemailAction.LEAVE_MESSAGE.label


class Campaign(TenantOwned):
    """An outbound calling campaign: who calls (agent, caller ID), whom (contacts), when (weekly window
    in the callee's local time, dates) and how fast (pace, concurrency, attempts and backoff)."""

    name = models.CharField(max_length=120)
    objective = models.TextField(blank=True, validators=[MaxLengthValidator(2000)])
    # Required while the campaign is open (campaign_problems); the reference registries refuse to
    # delete an agent or number an open campaign uses. A finished campaign lets go of them: SET_NULL,
    # and the snapshots below keep what its record of calls shows (like telephony_app's Call.agent).
    agent = models.ForeignKey("agents_app.Agent", null=True, on_delete=models.SET_NULL, related_name="campaigns")
    agent_name = models.CharField(max_length=120, blank=True, help_text="Snapshot; survives agent deletion.")
    caller_id = models.ForeignKey(
        "telephony_app.PhoneNumber", null=True, on_delete=models.SET_NULL, related_name="campaigns"
    )
    caller_id_number = models.CharField(max_length=32, blank=True, help_text="Snapshot; survives number deletion.")
    # {"monday": [{"start": "09:00", "end": "17:00"}], ...}: the callee's local time; every day listed,
    # [] = no calls that day. Intersected with the legal window by the dialer.
    calling_window = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    start_date = models.DateField(null=True, blank=True, help_text="First day calls may go out (tenant's time zone).")
    end_date = models.DateField(null=True, blank=True, help_text="Last day calls may go out (tenant's time zone).")
    dialer_mode = models.CharField(max_length=16, choices=DialerMode.choices, default=DialerMode.PROGRESSIVE)
    max_calls_per_second = models.DecimalField(max_digits=6, decimal_places=2, default=1)
    max_concurrent_calls = models.PositiveIntegerField(default=5, validators=[MinValueValidator(1)])
    max_attempts = models.PositiveSmallIntegerField(
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text="Calls per contact, first included.",
    )
    retry_backoff_minutes = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 60)]
    )
    requires_consent = models.BooleanField(
        default=True, help_text="Dial only numbers with recorded, unrevoked consent (AI voices: TCPA, FCC 24-17)."
    )
    voicemail_action = models.CharField(
        max_length=16, choices=CampaignVoicemailAction.choices, default=CampaignVoicemailAction.INHERIT
    )
    voicemail_message = models.TextField(blank=True, validators=[MaxLengthValidator(1000)])
    recording_notice = models.TextField(
        blank=True,
        validators=[MaxLengthValidator(500)],
        help_text="Said at the start of each call when the agent records calls.",
    )
    status = models.CharField(max_length=16, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(
        null=True, blank=True, help_text="First start; a started campaign is never deleted."
    )
    finished_at = models.DateTimeField(null=True, blank=True)
    # The dialer's bookkeeping (campaigns_app.dialer). dial_zones: the distinct Contact.dial_zone keys of
    # this campaign's classified contacts, so a tick knows which zones to look at without scanning
    # contacts; zones_pending: contacts were added that the classifier has not seen yet.
    dial_zones = models.JSONField(default=list, blank=True)
    zones_pending = models.BooleanField(default=False)
    # Why the dialer cannot make progress right now (LiveKit down, no voice worker...); cleared when it can.
    dialer_error = models.CharField(max_length=500, blank=True)
    dialer_error_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "-created_at"], name="campaign_tenant_created_idx"),
            # The dialer's tick reads the running campaigns of every tenant.
            models.Index(fields=["status"], name="campaign_status_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(max_calls_per_second__gt=0), name="campaign_pace_positive"),
            models.CheckConstraint(condition=Q(max_concurrent_calls__gte=1), name="campaign_concurrency_positive"),
            models.CheckConstraint(
                condition=Q(start_date__isnull=True)
                | Q(end_date__isnull=True)
                | Q(end_date__gte=models.F("start_date")),
                name="campaign_dates_in_order",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def agent_display(self) -> str:
        """The agent's name, or its snapshot marked "(deleted)" once deleted after the campaign finished."""
        if self.agent_id is not None and self.agent is not None:
            return self.agent.name
        return f"{self.agent_name or 'Agent'} (deleted)"

    @property
    def caller_id_display(self) -> str:
        """The caller ID's number, or its snapshot marked "(deleted)" once deleted after the campaign finished."""
        if self.caller_id_id is not None and self.caller_id is not None:
            return self.caller_id.number
        return f"{self.caller_id_number or 'Number'} (deleted)"

    @property
    def is_open(self) -> bool:
        """Not completed or cancelled: it still holds its agent and caller ID (neither may be deleted)."""
        return self.status in OPEN_CAMPAIGN_STATUSES

    @property
    def is_editable(self) -> bool:
        return self.status in EDITABLE_CAMPAIGN_STATUSES

    @property
    def can_delete(self) -> bool:
        """Only a campaign that never started may be deleted; any other is cancelled instead."""
        return self.started_at is None and self.status == CampaignStatus.DRAFT


class ContactStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DIALING = "dialing", "Dialing"
    COMPLETED = "completed", "Completed"
    RETRY = "retry", "Retry scheduled"
    EXHAUSTED = "exhausted", "Attempts exhausted"
    SKIPPED = "skipped", "Skipped"
    HELD = "held", "Held"


class Contact(TenantOwned):
    """A person a campaign calls: one row per (campaign, number). `variables` fill the agent's
    {{placeholders}}; `reason` says why a contact is skipped or held (e.g. "dnc: on the do-not-call list")."""

    # Every index costs each imported row (100,000 at a time), so none is redundant: the tenant's and the
    # campaign's lookups all go through the campaign-first indexes below (tenant deletion, rare, scans).
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="contacts", db_index=False)
    number = models.CharField(max_length=32, help_text="E.164, normalised at import.")
    name = models.CharField(max_length=200, blank=True)
    timezone = models.CharField(
        max_length=64, blank=True, validators=[validate_timezone], help_text="Empty = from the number."
    )
    variables = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=16, choices=ContactStatus.choices, default=ContactStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    # When the contact is next due; set for every pending contact (the database's now() on insert), so
    # the claim is one index range scan per zone, in due order.
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_default=Now())
    # The dialer's classification (campaigns_app.dialer.zones): "<region>|<zone>[,<zone>...]", e.g.
    # "US-FL|America/New_York"; NULL = not classified yet (never claimed); a number whose zone is unknown
    # (and no explicit timezone) is held instead.
    dial_zone = models.CharField(max_length=1000, null=True, blank=True)  # noqa: DJ001  (NULL: not classified; "": zone unknown)
    # The dialer's claim: a `dialing` contact whose lease expired without a call goes back to the queue.
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.CharField(max_length=32, blank=True)
    reason = models.CharField(max_length=200, blank=True, help_text="Why the contact is skipped or held.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # The contacts table and its cursor pagination (status filter, id order).
            models.Index(fields=["campaign", "status", "id"], name="contact_campaign_status_idx"),
            # The dialer's claim: due contacts of a campaign, per zone, in due order. Only classified ones
            # (the claim asks for a zone, which implies it): an imported contact enters it once the
            # classifier gives it its zone, so the import writes no entry the classifier replaces.
            models.Index(
                fields=["campaign", "dial_zone", "next_attempt_at", "id"],
                condition=Q(status__in=["pending", "retry"], dial_zone__isnull=False),
                name="contact_due_idx",
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "number"], name="contact_campaign_number_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.number}".strip()


class AttemptOutcome(models.TextChoices):
    PENDING = "", "In progress"
    ANSWERED = "answered", "Answered"
    NO_ANSWER = "no_answer", "No answer"
    BUSY = "busy", "Busy"
    VOICEMAIL = "voicemail", "Voicemail"
    REJECTED = "rejected", "Rejected"
    FAILED = "failed", "Failed"
    # Claimed, then refused by the check right before dialing (the rule is in `detail`): no call was made.
    NOT_DIALED = "not_dialed", "Not dialed"


class CallAttempt(TenantOwned):
    """One dial of a contact, written by the dialer when it claims the contact (before the call), so a
    contact is never dialed twice for the same attempt number."""

    # The dialer inserts attempts by the thousand a second, so no index is redundant: the tenant's lookups
    # use callattempt_number_idx, the campaign's callattempt_campaign_idx, the contact's the unique key.
    # The database enforces the contact's reference only: the claim copies tenant and campaign from the
    # contact row it locks, in the same statement, and the contact's own references are enforced, so
    # two more checks per row at the tick's commit (a tenth of the tick at 1,000 claims) would check
    # nothing new. Deleting a tenant or a campaign still removes its attempts (Django's cascade).
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False)
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="attempts", db_index=False, db_constraint=False
    )
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="call_attempts", db_index=False)
    attempt_no = models.PositiveSmallIntegerField(validators=[MinValueValidator(1)])
    # The number dialed (a copy of the contact's): per-number rules such as Florida's 3 calls per 24 h
    # count attempts across every campaign of the tenant.
    number = models.CharField(max_length=32, blank=True)
    # Both are empty when the tick inserts the attempt: their indexes are partial (callattempt_call_idx,
    # callattempt_consent_idx), so the claim writes no entry in them.
    call = models.ForeignKey(
        "telephony_app.Call",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="campaign_attempts",
        db_index=False,
    )
    consent = models.ForeignKey(
        "Consent",
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="+",
        help_text="The consent relied on.",
        db_index=False,
    )
    outcome = models.CharField(max_length=16, choices=AttemptOutcome.choices, blank=True, default="")
    detail = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["contact_id", "attempt_no"]
        indexes = [
            models.Index(fields=["campaign", "id"], name="callattempt_campaign_idx"),
            # Calls in flight (claimed, ringing or talking): the campaign's active count.
            models.Index(fields=["campaign"], condition=Q(outcome=""), name="callattempt_open_idx"),
            # Per-number limits over the last 24 h.
            models.Index(fields=["tenant", "number", "created_at"], name="callattempt_number_idx"),
            # The call-end hook finds the attempt of a call; deleting a consent row checks its references.
            models.Index(fields=["call"], condition=Q(call__isnull=False), name="callattempt_call_idx"),
            models.Index(fields=["consent"], condition=Q(consent__isnull=False), name="callattempt_consent_idx"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["contact", "attempt_no"], name="callattempt_contact_attempt_uniq"),
        ]

    def __str__(self) -> str:
        return f"attempt {self.attempt_no} of {self.contact}"


class ImportStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Importing"
    SUCCEEDED = "succeeded", "Imported"
    FAILED = "failed", "Failed"


class ImportMode(models.TextChoices):
    ALL_OR_NOTHING = "all_or_nothing", "All or nothing: any refused row imports nothing"
    VALID_ROWS = "valid_rows", "Import the valid rows, report the others"


class DncHandling(models.TextChoices):
    SKIP = "skip", "Import them as skipped (with the reason)"
    EXCLUDE = "exclude", "Leave them out"


class ImportEncoding(models.TextChoices):
    AUTO = "auto", "Detect (UTF-8, UTF-8 with BOM, else Latin-1)"
    UTF8 = "utf-8", "UTF-8"
    LATIN1 = "latin-1", "Latin-1 (ISO-8859-1)"


class ContactImport(TenantOwned):
    """One uploaded contact list and its progress; the file is read streamed by a Celery task and the
    refused rows (line, value, reason) are written to a downloadable CSV report."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="imports")
    file = models.FileField(upload_to="contact-imports/%Y/%m/", max_length=300)
    original_name = models.CharField(max_length=255, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    encoding = models.CharField(max_length=16, choices=ImportEncoding.choices, default=ImportEncoding.AUTO)
    detected_encoding = models.CharField(max_length=16, blank=True)
    default_country = models.CharField(
        max_length=2, blank=True, help_text="ISO 3166 code (e.g. US) for numbers written without +country."
    )
    mode = models.CharField(max_length=16, choices=ImportMode.choices, default=ImportMode.ALL_OR_NOTHING)
    dnc_handling = models.CharField(max_length=16, choices=DncHandling.choices, default=DncHandling.SKIP)
    # {"number": "Phone", "name": "Full name", "timezone": "", ...}: CSV header for each field; empty =
    # guessed from the header. Every other column becomes a variable.
    column_map = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=ImportStatus.choices, default=ImportStatus.QUEUED)
    bytes_read = models.BigIntegerField(default=0, help_text="Progress: how far into the file the import is.")
    rows_read = models.PositiveIntegerField(default=0)
    rows_imported = models.PositiveIntegerField(default=0)
    rows_skipped = models.PositiveIntegerField(default=0, help_text="Imported as skipped (on the DNC list).")
    rows_refused = models.PositiveIntegerField(default=0, help_text="Rows in the error report.")
    error = models.TextField(blank=True, help_text="Why the whole import failed.")
    error_report = models.FileField(upload_to="contact-imports/reports/%Y/%m/", max_length=300, blank=True)
    created_by = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["campaign", "-created_at"], name="contactimport_campaign_idx")]

    def __str__(self) -> str:
        return f"import {self.original_name or self.code} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (ImportStatus.SUCCEEDED, ImportStatus.FAILED)


# ---------------------------------------------------------------------------------------------------
# The ledgers. Append-only three times over: the model refuses save() of an existing row and delete(),
# the queryset refuses update() and delete(), and a PostgreSQL trigger (migration 0002) refuses UPDATE
# and DELETE unless the transaction set voiceplatform.tenant_purge = 'on' (voiceplatform's
# tenant_delete does, and the test suite's flush).


class LedgerImmutable(Exception):
    """A ledger row was about to be changed or deleted."""


def _refuse(model: type[models.Model], action: str) -> NoReturn:
    raise LedgerImmutable(
        f"{model._meta.verbose_name} rows are never {action}: write a new row (a removal or revocation) instead."
    )


class LedgerQuerySet(TenantQuerySet):
    def update(self, **kwargs: Any) -> int:
        _refuse(self.model, "updated")

    def delete(self) -> NoReturn:
        _refuse(self.model, "deleted")

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        _refuse(self.model, "updated")

    def latest_per_number(self, numbers: list[str]) -> Self:
        """The newest row of each number (the one that decides its state now): one indexed query."""
        return self.filter(number__in=numbers).order_by("number", "-created_at", "-id").distinct("number")


class LedgerRow(TenantOwned):
    objects = LedgerQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            _refuse(type(self), "updated")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        _refuse(type(self), "deleted")


class DncAction(models.TextChoices):
    ADD = "add", "Added"
    REMOVE = "remove", "Removed"


class DncSource(models.TextChoices):
    MANUAL = "manual", "Added in the portal"
    IMPORT = "import", "Uploaded list"
    IN_CALL_OPT_OUT = "in_call_opt_out", "Opt-out during a call"
    API = "api", "API"


class DncEntry(LedgerRow):
    """One event of the tenant's do-not-call list: a number added, or removed. The newest row of a
    number says whether it is blocked now."""

    number = models.CharField(max_length=32, validators=[validate_e164])
    action = models.CharField(max_length=8, choices=DncAction.choices, default=DncAction.ADD)
    source = models.CharField(max_length=20, choices=DncSource.choices, default=DncSource.MANUAL)
    reason = models.CharField(max_length=500, blank=True)
    actor = models.CharField(max_length=200, blank=True, help_text="Who wrote it: a member, an API key, a call.")
    # RESTRICT: the call is the opt-out's evidence (a SET_NULL would be an UPDATE of a ledger row); only
    # the tenant's delete, which removes both, may remove it.
    call = models.ForeignKey(
        "telephony_app.Call",
        null=True,
        blank=True,
        on_delete=models.RESTRICT,
        related_name="+",
        help_text="The call in which the person opted out.",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)

    class Meta:
        verbose_name = "do-not-call entry"
        verbose_name_plural = "do-not-call entries"
        ordering = ["-created_at", "-id"]
        indexes = [
            # "Is this number blocked now": the newest row of (tenant, number), an index-only walk.
            models.Index(fields=["tenant", "number", "-created_at", "-id"], name="dnc_tenant_number_idx"),
            models.Index(fields=["tenant", "-created_at", "-id"], name="dnc_tenant_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.number} {self.get_action_display().lower()} ({self.get_source_display()})"

    @property
    def blocks(self) -> bool:
        return self.action == DncAction.ADD


class ConsentAction(models.TextChoices):
    GRANT = "grant", "Granted"
    REVOKE = "revoke", "Revoked"


class ConsentKind(models.TextChoices):
    PRIOR_EXPRESS_WRITTEN = "prior_express_written", "Prior express written consent"
    PRIOR_EXPRESS = "prior_express", "Prior express consent"


class ConsentSource(models.TextChoices):
    WEB_FORM = "web_form", "Web form"
    PAPER = "paper", "Signed paper form"
    RECORDED_CALL = "recorded_call", "Recorded call"
    IMPORT = "import", "Uploaded list"
    API = "api", "API"
    MANUAL = "manual", "Entered in the portal"


class Consent(LedgerRow):
    """One event of the tenant's consent ledger: consent granted (kind, source, evidence, when), or
    revoked. The newest row of a number says whether it is consented now."""

    number = models.CharField(max_length=32, validators=[validate_e164])
    action = models.CharField(max_length=8, choices=ConsentAction.choices, default=ConsentAction.GRANT)
    kind = models.CharField(
        max_length=32, choices=ConsentKind.choices, default=ConsentKind.PRIOR_EXPRESS_WRITTEN, blank=True
    )
    source = models.CharField(max_length=20, choices=ConsentSource.choices, default=ConsentSource.MANUAL)
    evidence = models.TextField(
        blank=True, validators=[MaxLengthValidator(2000)], help_text="Where the proof is: text, a URL, a reference."
    )
    granted_at = models.DateTimeField(null=True, blank=True, help_text="When the person gave consent.")
    revoked_at = models.DateTimeField(null=True, blank=True, help_text="When the person withdrew it.")
    actor = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["tenant", "number", "-created_at", "-id"], name="consent_tenant_number_idx"),
            models.Index(fields=["tenant", "-created_at", "-id"], name="consent_tenant_created_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(action="grant", granted_at__isnull=False, revoked_at__isnull=True))
                | (Q(action="revoke", revoked_at__isnull=False, granted_at__isnull=True)),
                name="consent_event_has_its_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.number} consent {self.get_action_display().lower()}"

    @property
    def is_granted(self) -> bool:
        return self.action == ConsentAction.GRANT

    def clean(self) -> None:
        if self.action == ConsentAction.GRANT and not self.evidence.strip():
            raise ValidationError({"evidence": "Say where the proof of consent is (text, a URL or a reference)."})


LEDGER_MODELS: tuple[type[LedgerRow], ...] = (DncEntry, Consent)
