"""The dashboard's campaigns tile, registered in campaigns_app.wiring (voiceplatform.dashboard)."""

from __future__ import annotations

from django.db.models import Count, Q
from django.template.defaultfilters import pluralize

from campaigns_app.models import Campaign, CampaignStatus
from voiceplatform.dashboard import DashboardStat
from voiceplatform.models import Tenant


def campaign_dashboard_counts(tenant: Tenant) -> list[DashboardStat]:
    """Every campaign of the tenant, and how many are running now: one query."""
    figures = Campaign.objects.for_tenant(tenant).aggregate(
        total=Count("id"), running=Count("id", filter=Q(status=CampaignStatus.RUNNING))
    )
    total, running = figures["total"], figures["running"]
    return [
        DashboardStat(
            value=total, label=f"campaign{pluralize(total)} ({running} running)", url_name="campaigns-campaign-list"
        )
    ]
