"""The check made right before a call is placed (place_call, and the single outbound call of the API):
may this number be dialed now? The tick checks the same rules in SQL when it claims contacts; this is
the last look, after the claim, so a DNC entry or a consent revocation written meanwhile still stops
the call.

Each refusal names its rule, as the audit export and the contact's reason show it:
- "dnc": on the tenant's do-not-call list -> skipped.
- "consent": the campaign (or agent) requires consent and the number has none now -> held.
- "zone": the number's time zone is unknown -> held.
- "campaign": the campaign is not running (paused, cancelled...) -> back to pending.
- "dates": before the campaign's start date or after its end date (tenant's time zone) -> pending.
- "legal_window" / "window": outside the legal window / the campaign window in one of the number's
  zones -> pending, due again when both hold.
- "<region>_24h" (e.g. "florida_24h"): the region's calls-per-24 h limit for the number is reached
  -> pending, due again 24 h after the oldest of those calls.
"""

from __future__ import annotations

import datetime
import zoneinfo
from typing import Any

from django.db.models import Count, Min

from campaigns_app.dialer import zones
from campaigns_app.dialer.outcome import NotDialed
from campaigns_app.models import AttemptOutcome, CallAttempt, Campaign, CampaignStatus, Consent, ContactStatus
from campaigns_app.selectors import consent_deciding, consent_history, dnc_entry_deciding
from campaigns_app.services import dnc_reason
from voiceplatform.models import Tenant

WINDOW_RETRY = datetime.timedelta(minutes=15)  # when the next opening is not found within 8 days
NO_CONSENT_REASON = "no recorded consent for this number"
ZONE_UNKNOWN = zones.ZONE_UNKNOWN_REASON.removeprefix("zone: ")


def dial_refusal(
    *,
    tenant: Tenant,
    number: str,
    dial_zone: str | None,
    window: dict[str, Any] | None,
    requires_consent: bool,
    campaign: Campaign | None,
    now: datetime.datetime,
    attempt_id: int | None = None,
) -> tuple[NotDialed | None, Consent | None]:
    """(why the number may not be dialed now, or None; the consent the call relies on, when required).

    `dial_zone` is the contact's key (zones.dial_zone_for for a number outside a campaign; None or ""
    = unknown); `window` the campaign's calling window (None: the legal window alone); `campaign` None
    for a single call. `attempt_id` is the claim being placed: it is not counted against the
    region's 24-hour limit (it is the call that limit is about to allow)."""
    if entry := dnc_entry_deciding(tenant=tenant, number=number):
        reason = dnc_reason(entry).removeprefix("dnc: ")
        return NotDialed("dnc", reason, status=ContactStatus.SKIPPED), None
    consent = None
    if requires_consent:
        consent = consent_deciding(tenant=tenant, number=number)
        if consent is None:
            return NotDialed("consent", _no_consent_reason(tenant, number), status=ContactStatus.HELD), None
    refusal = (
        _zone_refusal(dial_zone)
        or _campaign_refusal(tenant, campaign, now)
        or _window_refusal(dial_zone or "", window, now)
        or _limit_refusal(tenant, number, dial_zone or "", now, attempt_id)
    )
    return refusal, (consent if refusal is None else None)


def _no_consent_reason(tenant: Tenant, number: str) -> str:
    newest = consent_history(tenant=tenant, number=number).first()
    if newest is not None and newest.revoked_at is not None:
        return f"revoked on {newest.revoked_at:%Y-%m-%d}"
    return NO_CONSENT_REASON


def _zone_refusal(dial_zone: str | None) -> NotDialed | None:
    if not dial_zone or not zones.parse_key(dial_zone)[1]:
        return NotDialed("zone", ZONE_UNKNOWN, status=ContactStatus.HELD)
    return None


def _campaign_refusal(tenant: Tenant, campaign: Campaign | None, now: datetime.datetime) -> NotDialed | None:
    if campaign is None:
        return None
    if campaign.status != CampaignStatus.RUNNING:
        return NotDialed("campaign", f"the campaign is {campaign.get_status_display().lower()}")
    zone = zoneinfo.ZoneInfo(tenant.timezone)
    today = now.astimezone(zone).date()
    if campaign.start_date and today < campaign.start_date:
        starts = datetime.datetime.combine(campaign.start_date, datetime.time(0, 0), tzinfo=zone)
        return NotDialed("dates", f"the campaign starts on {campaign.start_date:%Y-%m-%d}", retry_at=starts)
    if campaign.end_date and today > campaign.end_date:
        return NotDialed("dates", f"the campaign ended on {campaign.end_date:%Y-%m-%d}")
    return None


def _window_refusal(key: str, window: dict[str, Any] | None, now: datetime.datetime) -> NotDialed | None:
    if not zones.legal_window_open(key, now=now):
        rule = zones.region_rule(zones.parse_key(key)[0])
        reason = f"outside the legal hours ({rule.start:%H:%M}-{rule.end:%H:%M}, callee's local time)"
        return NotDialed("legal_window", reason, retry_at=_reopens(key, window, now))
    if window is not None and not zones.zone_key_open(key, window=window, now=now):
        reason = "outside the campaign's calling window (callee's local time)"
        return NotDialed("window", reason, retry_at=_reopens(key, window, now))
    return None


def _reopens(key: str, window: dict[str, Any] | None, now: datetime.datetime) -> datetime.datetime:
    return zones.next_open_at(key, window=window, now=now) or now + WINDOW_RETRY


def _limit_refusal(
    tenant: Tenant, number: str, key: str, now: datetime.datetime, attempt_id: int | None
) -> NotDialed | None:
    limit = zones.max_calls_per_24h(key)
    if limit is None:
        return None
    recent = (
        CallAttempt.objects.for_tenant(tenant)
        .filter(number=number, created_at__gt=now - datetime.timedelta(hours=24))
        .exclude(outcome=AttemptOutcome.NOT_DIALED)
    )
    if attempt_id is not None:
        recent = recent.exclude(pk=attempt_id)
    counted = recent.aggregate(calls=Count("pk"), oldest=Min("created_at"))
    if counted["calls"] < limit:
        return None
    rule = zones.region_rule(zones.parse_key(key)[0])
    reason = f"{counted['calls']} calls to this number in the last 24 h (at most {limit})"
    return NotDialed(rule.limit_rule, reason, retry_at=counted["oldest"] + datetime.timedelta(hours=24))
