"""Reads for campaigns, contacts and the ledgers; every lookup takes the tenant explicitly."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Case, CharField, Count, F, Func, Min, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce, Trunc
from django.utils import timezone

from campaigns_app.dialer import zones
from campaigns_app.models import (
    AttemptOutcome,
    CallAttempt,
    Campaign,
    Consent,
    Contact,
    ContactImport,
    ContactStatus,
    DncEntry,
)
from telephony_app.analytics.campaigns import CampaignChoice
from voiceplatform.models import Tenant
from voiceplatform.selectors import get_or_404


def campaign_list(*, tenant: Tenant, status: str = "", search: str = "") -> QuerySet[Campaign]:
    queryset = Campaign.objects.for_tenant(tenant).select_related("agent", "caller_id")
    if status:
        queryset = queryset.filter(status=status)
    if search:
        queryset = queryset.filter(name__icontains=search)
    return queryset.order_by("-created_at", "-id")


def campaign_get(*, tenant: Tenant, code: uuid.UUID | str) -> Campaign:
    """The tenant's campaign with that code; the same 404 for 'not yours' and 'does not exist'."""
    return get_or_404(Campaign.objects.for_tenant(tenant).select_related("agent", "caller_id", "tenant"), code)


def campaign_analytics_choices(tenant: Tenant) -> list[CampaignChoice]:
    """The tenant's campaigns, newest first, as the analytics' campaign filter lists them."""
    rows = Campaign.objects.for_tenant(tenant).order_by("-created_at", "-id").values_list("code", "name")
    return [CampaignChoice(code=code, name=name) for code, name in rows]


def contact_list(
    *, tenant: Tenant, campaign: Campaign, status: str = "", reason: str = "", search: str = ""
) -> QuerySet[Contact]:
    """A campaign's contacts in id order (the cursor pagination's order), filtered.

    `reason` matches the start of the skip/hold reason ("dnc", "timezone"...), so it stays indexable."""
    queryset = Contact.objects.for_tenant(tenant).filter(campaign=campaign)
    if status:
        queryset = queryset.filter(status=status)
    if reason:
        queryset = queryset.filter(reason__startswith=reason)
    if search:
        queryset = (
            queryset.filter(number__startswith=search)
            if search.startswith("+")
            else queryset.filter(name__icontains=search)
        )
    return queryset.order_by("id")


def contact_get(*, tenant: Tenant, campaign: Campaign, code: uuid.UUID | str) -> Contact:
    return get_or_404(Contact.objects.for_tenant(tenant).filter(campaign=campaign), code)


@dataclass(frozen=True)
class ContactCounts:
    """A campaign's contacts by status, for the progress bar."""

    by_status: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    @property
    def done(self) -> int:
        """Contacts the dialer is finished with (called, exhausted, skipped)."""
        finished = (ContactStatus.COMPLETED, ContactStatus.EXHAUSTED, ContactStatus.SKIPPED)
        return sum(self.by_status.get(status, 0) for status in finished)

    @property
    def percent_done(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0

    def get(self, status: str) -> int:
        return self.by_status.get(status, 0)


def contact_counts(*, tenant: Tenant, campaigns: Iterable[Campaign]) -> dict[int, ContactCounts]:
    """Contacts by status for each campaign, in one grouped query (campaign id -> counts)."""
    ids = [campaign.pk for campaign in campaigns]
    result = {pk: ContactCounts(by_status={status: 0 for status in ContactStatus.values}) for pk in ids}
    rows = (
        Contact.objects.for_tenant(tenant)
        .filter(campaign_id__in=ids)
        .values_list("campaign_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for campaign_id, status, count in rows:
        result[campaign_id].by_status[status] = count
    return result


def attempt_list(*, tenant: Tenant, campaign: Campaign) -> QuerySet[CallAttempt]:
    return CallAttempt.objects.for_tenant(tenant).filter(campaign=campaign).order_by("contact_id", "attempt_no")


def import_list(*, tenant: Tenant, campaign: Campaign) -> QuerySet[ContactImport]:
    return ContactImport.objects.for_tenant(tenant).filter(campaign=campaign).order_by("-created_at", "-id")


def import_get(*, tenant: Tenant, campaign: Campaign, code: uuid.UUID | str) -> ContactImport:
    return get_or_404(
        ContactImport.objects.for_tenant(tenant).filter(campaign=campaign).select_related("campaign"), code
    )


def import_get_by_code(*, tenant: Tenant, code: uuid.UUID | str) -> ContactImport:
    """The tenant's import with that code, whichever its campaign (the portal's import pages take one code)."""
    return get_or_404(ContactImport.objects.for_tenant(tenant).select_related("campaign"), code)


# --- The ledgers: the newest row of a number decides its state now. ------------------------------


def dnc_entry_deciding(*, tenant: Tenant, number: str) -> DncEntry | None:
    """The row that decides whether `number` (E.164) is on the do-not-call list now: its newest
    entry, when that is an addition; None when it was never added or was removed since. One indexed query."""
    row = DncEntry.objects.for_tenant(tenant).filter(number=number).order_by("-created_at", "-id").first()
    return row if row is not None and row.blocks else None


def dnc_blocked(*, tenant: Tenant, numbers: Iterable[str]) -> dict[str, DncEntry]:
    """The numbers of `numbers` on the do-not-call list now, each with its deciding row: one query."""
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    latest = DncEntry.objects.for_tenant(tenant).latest_per_number(wanted)
    return {row.number: row for row in latest if row.blocks}


def dnc_history(*, tenant: Tenant, number: str) -> QuerySet[DncEntry]:
    """Every event of a number, newest first."""
    return DncEntry.objects.for_tenant(tenant).filter(number=number).order_by("-created_at", "-id")


def dnc_list(*, tenant: Tenant, number: str = "") -> QuerySet[DncEntry]:
    """The ledger newest first (cursor-paginated by the callers), optionally for numbers starting with `number`."""
    queryset = DncEntry.objects.for_tenant(tenant)
    if number:
        queryset = queryset.filter(number__startswith=number)
    return queryset.order_by("-created_at", "-id")


def consent_deciding(*, tenant: Tenant, number: str) -> Consent | None:
    """The grant that makes `number` consented now (its newest row, when that is a grant), else None."""
    row = Consent.objects.for_tenant(tenant).filter(number=number).order_by("-created_at", "-id").first()
    return row if row is not None and row.is_granted else None


def consents_granted(*, tenant: Tenant, numbers: Iterable[str]) -> dict[str, Consent]:
    """The numbers of `numbers` with unrevoked consent now, each with its deciding grant: one query."""
    wanted = sorted(set(numbers))
    if not wanted:
        return {}
    latest = Consent.objects.for_tenant(tenant).latest_per_number(wanted)
    return {row.number: row for row in latest if row.is_granted}


def consent_history(*, tenant: Tenant, number: str) -> QuerySet[Consent]:
    return Consent.objects.for_tenant(tenant).filter(number=number).order_by("-created_at", "-id")


def consent_list(*, tenant: Tenant, number: str = "") -> QuerySet[Consent]:
    queryset = Consent.objects.for_tenant(tenant)
    if number:
        queryset = queryset.filter(number__startswith=number)
    return queryset.order_by("-created_at", "-id")


# --- A campaign's live figures (the campaign page's progress partial and GET .../progress) ----------

# The 2-second rule (COMPLIANCE.md): an answered call whose agent spoke later than this was abandoned.
ABANDON_AFTER_MS = 2000
PACE_MINUTES = 60
RATE_BUCKET_MINUTES = 10


@dataclass(frozen=True)
class RuleCount:
    """Contacts skipped or held by one rule ("dnc", "consent", "zone"...), with one of their reasons."""

    status: str
    rule: str
    count: int
    example: str


@dataclass(frozen=True)
class CampaignProgress:
    """What a campaign has done so far: contacts by status, attempts by outcome, calls in flight, the
    skips and holds by rule, and the dialer's campaign-level error."""

    contacts: ContactCounts
    # Finished attempts by outcome (every AttemptOutcome but "in progress", zeros included).
    outcomes: dict[str, int]
    in_progress: int
    rules: list[RuleCount]
    dialer_error: str
    dialer_error_at: datetime.datetime | None

    @property
    def attempts(self) -> int:
        return self.in_progress + sum(self.outcomes.values())

    @property
    def zone_held(self) -> RuleCount | None:
        """The contacts held because their time zone is unknown (with one reason), if any."""
        return next((row for row in self.rules if row.status == ContactStatus.HELD and row.rule == "zone"), None)


def campaign_progress(*, tenant: Tenant, campaign: Campaign) -> CampaignProgress:
    """The campaign's figures in two grouped queries on its campaign-first indexes, whatever its size: its
    contacts by status, and by rule for the skipped and held ones (the part of the reason before ":"), in
    one pass; its attempts by outcome in the other."""
    blocked = [ContactStatus.HELD, ContactStatus.SKIPPED]
    rule = Case(
        When(status__in=blocked, then=Func(F("reason"), Value(":"), Value(1), function="split_part")),
        default=Value(""),
        output_field=CharField(),
    )
    rows = (
        Contact.objects.for_tenant(tenant)
        .filter(campaign=campaign)
        .annotate(rule=rule)
        .values_list("status", "rule")
        .annotate(n=Count("id"), example=Min("reason", filter=Q(status__in=blocked)))
        .order_by()
    )
    by_status = {status: 0 for status in ContactStatus.values}
    rules = []
    for status, rule_name, count, example in rows:
        by_status[status] = by_status.get(status, 0) + count
        if status in blocked:
            rules.append(RuleCount(status, rule_name.strip() or "unspecified", count, example))
    rules.sort(key=lambda row: (-row.count, row.status, row.rule))
    by_outcome = dict(
        CallAttempt.objects.for_tenant(tenant)
        .filter(campaign=campaign)
        .values_list("outcome")
        .annotate(n=Count("id"))
        .order_by()
    )
    outcomes = {value: by_outcome.get(value, 0) for value in AttemptOutcome.values if value != AttemptOutcome.PENDING}
    return CampaignProgress(
        contacts=ContactCounts(by_status=by_status),
        outcomes=outcomes,
        in_progress=by_outcome.get(AttemptOutcome.PENDING, 0),
        rules=rules,
        dialer_error=campaign.dialer_error,
        dialer_error_at=campaign.dialer_error_at if campaign.dialer_error else None,
    )


@dataclass(frozen=True)
class PaceMinute:
    """One minute of the pace chart: attempts claimed in it, and how those that ended went."""

    start: datetime.datetime
    dialed: int = 0  # claimed and dialed (a claim refused before dialing is not a dial)
    finished: int = 0  # dialed and ended (an outcome other than not_dialed)
    answered: int = 0
    abandoned: int = 0  # answered, and the agent spoke after ABANDON_AFTER_MS


@dataclass(frozen=True)
class RateBucket:
    """Answer and abandon rates (0-1, None when nothing to divide) of attempts started in RATE_BUCKET_MINUTES."""

    start: datetime.datetime
    finished: int
    answered: int
    abandoned: int

    @property
    def answer_rate(self) -> float | None:
        return self.answered / self.finished if self.finished else None

    @property
    def abandon_rate(self) -> float | None:
        return self.abandoned / self.answered if self.answered else None


@dataclass(frozen=True)
class CampaignPace:
    """Dials per minute over the last PACE_MINUTES minutes (oldest first, the current minute last), the
    configured pace in dials per minute, and the answer/abandon rates per RATE_BUCKET_MINUTES."""

    minutes: list[PaceMinute]
    configured_per_minute: float

    @property
    def buckets(self) -> list[RateBucket]:
        buckets = []
        for first in range(0, len(self.minutes), RATE_BUCKET_MINUTES):
            part = self.minutes[first : first + RATE_BUCKET_MINUTES]
            buckets.append(
                RateBucket(
                    start=part[0].start,
                    finished=sum(m.finished for m in part),
                    answered=sum(m.answered for m in part),
                    abandoned=sum(m.abandoned for m in part),
                )
            )
        return buckets

    @property
    def dialed(self) -> int:
        return sum(minute.dialed for minute in self.minutes)


def campaign_pace(*, tenant: Tenant, campaign: Campaign, now: datetime.datetime | None = None) -> CampaignPace:
    """The pace chart's figures in one query grouped by minute.

    The campaign's attempts are indexed by (campaign, id), not by time; ids grow with time, so the
    window is the id range after the newest attempt older than it (found walking that index backwards),
    which reads the window's attempts only, not the campaign's whole history."""
    now = now or timezone.now()
    last = now.replace(second=0, microsecond=0)
    since = last - datetime.timedelta(minutes=PACE_MINUTES - 1)
    attempts = CallAttempt.objects.for_tenant(tenant).filter(campaign=campaign)
    before = attempts.filter(created_at__lt=since).order_by("-id").values("id")[:1]
    not_dialed = Q(outcome=AttemptOutcome.NOT_DIALED)
    answered = Q(outcome=AttemptOutcome.ANSWERED)
    rows = (
        attempts.filter(created_at__gte=since, id__gt=Coalesce(Subquery(before), Value(0)))
        .annotate(minute=Trunc("created_at", "minute", tzinfo=datetime.UTC))
        .values_list("minute")
        .annotate(
            dialed=Count("id", filter=~not_dialed),
            finished=Count("id", filter=~not_dialed & ~Q(outcome=AttemptOutcome.PENDING)),
            answered=Count("id", filter=answered),
            abandoned=Count("id", filter=answered & Q(call__first_words_ms__gt=ABANDON_AFTER_MS)),
        )
        .order_by()
    )
    found = {minute: PaceMinute(minute, *figures) for minute, *figures in rows}
    slots = [since + datetime.timedelta(minutes=i) for i in range(PACE_MINUTES)]
    return CampaignPace(
        minutes=[found.get(start, PaceMinute(start)) for start in slots],
        configured_per_minute=float(campaign.max_calls_per_second) * 60,
    )


def preview_queue(
    *, tenant: Tenant, campaign: Campaign, now: datetime.datetime | None = None, limit: int = 5
) -> list[Contact]:
    """The next due contacts of a preview campaign whose calling window is open now, soonest first, for an
    operator to dial one by one (the claim checks every rule again). One query on the due index."""
    now = now or timezone.now()
    open_keys = zones.open_zone_keys(campaign.dial_zones or [], window=campaign.calling_window, now=now)
    if not open_keys:
        return []
    return list(
        Contact.objects.for_tenant(tenant)
        .filter(
            campaign=campaign,
            status__in=[ContactStatus.PENDING, ContactStatus.RETRY],
            dial_zone__in=open_keys,
            next_attempt_at__lte=now,
        )
        .order_by("next_attempt_at", "id")[:limit]
    )
