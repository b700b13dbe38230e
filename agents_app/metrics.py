"""The runtime-config cache's counters for /metrics (voiceplatform/metrics.py), read at scrape time.

The loader already sums its counters over every process in Redis (agents_app.runtime_config:
`manage.py agent_config_metrics` prints the same figures); a scrape reads that hash once. They are
platform-wide: every web process answers the same figures, so aggregate them with max(), not sum().
`agent_config_metrics --reset` sets them back to zero, which Prometheus reads as a counter reset.
Registered in AgentsAppConfig.ready.
"""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import CounterMetricFamily
from prometheus_client.metrics_core import Metric

from agents_app.runtime_config import loader

# The loader's counter -> the metric's result label.
RESULTS = {
    "cache_hits": "cache_hit",
    "cache_misses": "cache_miss",
    "db_successes": "db_success",
    "db_failures": "db_failure",
    "fallback_to_stale": "fallback_stale",
    "fallback_to_default": "fallback_default",
}


def config_cache_counters() -> Iterable[Metric]:
    """agent_config_requests_total and agent_config_lookups_total{result}, all processes (from Redis)."""
    counts = loader.metrics()
    requests = CounterMetricFamily(
        "agent_config_requests", "Runtime-config reads for calls (the loader's total_requests), all processes."
    )
    requests.add_metric([], counts["total_requests"])
    lookups = CounterMetricFamily(
        "agent_config_lookups",
        "What the runtime-config loader did, all processes: cache_hit, cache_miss, db_success, db_failure, "
        "fallback_stale, fallback_default.",
        labels=["result"],
    )
    for name, result in RESULTS.items():
        lookups.add_metric([result], counts[name])
    yield requests
    yield lookups
