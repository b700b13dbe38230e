"""What the campaign page shows of a running campaign: the live partial (contacts by status, attempts by
outcome, calls in flight, skips and holds by rule, the dialer's error, the pace chart) that the page
polls with htmx, and a preview campaign's queue with its Dial buttons."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from campaigns_app import selectors
from campaigns_app.models import AttemptOutcome, Campaign, CampaignStatus, ContactStatus
from campaigns_app.pace_chart import pace_chart
from voiceplatform.models import Membership, Tenant
from voiceplatform.portal import portal_view

POLL_SECONDS = 5
# While these hold, the figures change on their own: the partial keeps polling.
_MOVING = frozenset({CampaignStatus.RUNNING, CampaignStatus.SCHEDULED})


def live_context(*, tenant: Tenant, campaign: Campaign) -> dict[str, Any]:
    """The live partial's context: the figures (four grouped queries) and the chart's geometry."""
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
