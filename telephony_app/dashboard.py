"""The dashboard's calls tile, registered in TelephonyAppConfig.ready (voiceplatform.dashboard)."""

from __future__ import annotations

from django.template.defaultfilters import pluralize

from telephony_app.analytics.selectors import calls_finished_total
from telephony_app.models import ACTIVE_STATUSES, Call
from voiceplatform.dashboard import DashboardStat
from voiceplatform.models import Tenant


def call_dashboard_counts(tenant: Tenant) -> list[DashboardStat]:
    """Every call of the tenant (text chats and test calls included), and how many are still open.

    Never a COUNT(*) over the call log: the finished calls come from the rollups (one row per day,
    agent, campaign and direction), and the open ones are few (the status index's short range)."""
    open_calls = Call.objects.for_tenant(tenant).filter(status__in=sorted(ACTIVE_STATUSES)).count()
    total = calls_finished_total(tenant=tenant) + open_calls
    return [DashboardStat(value=total, label=f"call{pluralize(total)} ({open_calls} open)", url_name="calls-call-list")]
