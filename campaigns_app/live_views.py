"""What the campaign page shows of a running campaign: the live partial (contacts by status, attempts by
outcome, calls in flight, skips and holds by rule, the dialer's error, the pace chart) that the page
polls with htmx, and a preview campaign's queue with its Dial buttons (an operator confirms each call)."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from campaigns_app import selectors
from campaigns_app.dialer.outcome import NotDialed
from campaigns_app.dialer.tick import claim_preview_contact
from campaigns_app.models import AttemptOutcome, CallAttempt, Campaign, CampaignStatus, ContactStatus, DialerMode
from campaigns_app.pace_chart import pace_chart
from voiceplatform.models import Membership, Tenant
from voiceplatform.portal import portal_view

POLL_SECONDS = 5
# While these hold, the figures change on their own: the partial keeps polling.
_MOVING = frozenset({CampaignStatus.RUNNING, CampaignStatus.SCHEDULED})


def live_context(*, tenant: Tenant, campaign: Campaign) -> dict[str, Any]:
    """The live partial's context: the figures (three grouped queries) and the chart's geometry."""
    progress = selectors.campaign_progress(tenant=tenant, campaign=campaign)
    pace = selectors.campaign_pace(tenant=tenant, campaign=campaign)
    counts = progress.contacts
    return {
        "campaign": campaign,
        "progress": progress,
        "counts": counts,
        "status_counts": [(label, counts.get(value), value) for value, label in ContactStatus.choices],
        "outcome_counts": [
            (label, progress.outcomes[value], value)
            for value, label in AttemptOutcome.choices
            if value != AttemptOutcome.PENDING
        ],
        "chart": pace_chart(pace, zone=zoneinfo.ZoneInfo(tenant.timezone)),
        "pace": pace,
        "polling": campaign.status in _MOVING or progress.in_progress > 0,
        "poll_seconds": POLL_SECONDS,
    }


@require_GET
@portal_view()
def campaign_progress(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    """The live partial the campaign page polls every few seconds while calls can still change it."""
    tenant = membership.tenant
    campaign = selectors.campaign_get(tenant=tenant, code=code)
    with timezone.override(tenant.timezone):
        return render(request, "campaigns_app/_campaign_live.html", live_context(tenant=tenant, campaign=campaign))


# Preview mode ---------------------------------------------------------------------------------------


def preview_context(*, tenant: Tenant, campaign: Campaign) -> dict[str, Any]:
    """The preview queue's context: the next due contacts whose window is open (empty unless preview)."""
    is_preview = campaign.dialer_mode == DialerMode.PREVIEW
    return {
        "campaign": campaign,
        "is_preview": is_preview,
        "queue": selectors.preview_queue(tenant=tenant, campaign=campaign) if is_preview else [],
        "can_dial": campaign.status == CampaignStatus.RUNNING,
    }


@require_POST
@portal_view(write=True)
def preview_dial(request: HttpRequest, membership: Membership, code: str, contact_code: str) -> HttpResponse:
    """An operator confirms one contact of a preview campaign: the dialer claims it through every rule
    and budget and places the call, or says which rule refused it. htmx gets the queue back with the
    verdict; a plain form post goes back to the campaign page with it as a message."""
    tenant = membership.tenant
    campaign = selectors.campaign_get(tenant=tenant, code=code)
    contact = selectors.contact_get(tenant=tenant, campaign=campaign, code=contact_code)
    if campaign.dialer_mode != DialerMode.PREVIEW:
        refusal = "this campaign dials by itself; only a preview campaign waits for Dial"
        verdict: CallAttempt | NotDialed = NotDialed("mode", refusal)
    else:
        verdict = claim_preview_contact(tenant=tenant, campaign=campaign, contact=contact)
    if isinstance(verdict, NotDialed):
        outcome = {"ok": False, "text": f"{contact.number} was not dialed. {verdict.rule}: {verdict.reason}"}
    else:
        outcome = {"ok": True, "text": f"Dialing {contact.number} (attempt {verdict.attempt_no})."}
    if not request.headers.get("HX-Request"):
        (messages.success if outcome["ok"] else messages.error)(request, outcome["text"])
        return redirect("campaigns-campaign-detail", code=campaign.code)
    context = {**preview_context(tenant=tenant, campaign=campaign), "verdict": outcome}
    with timezone.override(tenant.timezone):
        return render(request, "campaigns_app/_preview_queue.html", context)
