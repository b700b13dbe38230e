"""The dashboard's calls tile, registered in TelephonyAppConfig.ready (voiceplatform.dashboard)."""

from __future__ import annotations

from django.template.defaultfilters import pluralize

from telephony_app.models import ACTIVE_STATUSES, Call
from voiceplatform.dashboard import DashboardStat
from voiceplatform.models import Tenant


def call_dashboard_counts(tenant: Tenant) -> list[DashboardStat]:
    """Every call of the tenant (text chats and test calls included), and how many are still open."""
    calls = Call.objects.for_tenant(tenant)
    total, open_calls = calls.count(), calls.filter(status__in=ACTIVE_STATUSES).count()
    return [DashboardStat(value=total, label=f"call{pluralize(total)} ({open_calls} open)", url_name="calls-call-list")]
