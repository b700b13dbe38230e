"""Reads for campaigns, contacts and the ledgers; every lookup takes the tenant explicitly."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Count, QuerySet

from campaigns_app.models import (
    CallAttempt,
    Campaign,
    Consent,
    Contact,
    ContactImport,
    ContactStatus,
    DncEntry,
)
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
