"""The call log's scrape-time figures for /metrics (voiceplatform/metrics.py): calls open right now.

Computed at each scrape from one grouped count over the open calls (the status index holds them at
its front; they are a handful among millions), so every web, Celery and worker process agrees and
no process has to keep a gauge right across crashes. Registered in TelephonyAppConfig.ready.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from telephony_app.models import ACTIVE_STATUSES, Call, CallDirection, CallStatus


def active_calls() -> Iterable[Metric]:
    """calls_active{direction, status}: every open call (queued, ringing, in progress), zeros included."""
    counts = {(direction, status): 0 for direction in CallDirection.values for status in sorted(ACTIVE_STATUSES)}
    rows = (
        Call.objects.across_tenants(reason="the platform's open-call gauge: counts by direction and status only")
        .filter(status__in=sorted(ACTIVE_STATUSES))
        .order_by()
        .values_list("direction", "status")
        .annotate(n=Count("id"))
    )
    for direction, status, n in rows:
        counts[(direction, status)] = n
    gauge = GaugeMetricFamily(
        "calls_active",
        "Calls open right now (queued, ringing or in progress), by direction and status, all tenants.",
        labels=["direction", "status"],
    )
    for (direction, status), n in sorted(counts.items()):
        gauge.add_metric([direction, CallStatus(status).value], n)
    yield gauge
