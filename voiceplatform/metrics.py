"""Prometheus metrics of the web and Celery processes, and the `/metrics` page that exposes them.

The official prometheus_client holds every figure. Under gunicorn and Celery's prefork pool each
process counts in its own memory-mapped file in PROMETHEUS_MULTIPROC_DIR (the library's
multiprocess mode: the variable must be in the environment before the process starts, it is read
when prometheus_client is imported), and a scrape sums the files of every process that wrote there,
live or dead: a counter never goes back when a worker is recycled. Without the variable (runserver,
one process) the process's own registry is exposed.

Figures that are state rather than events (active calls, the agent-config cache's platform-wide
counters in Redis) are read at scrape time from collectors the higher apps register here in their
AppConfig.ready (scrape_collector_register), so this foundation module imports none of them.

Every label value is bounded: routes are URL pattern names (never the raw path), methods a fixed
set, task names the registered tasks', results fixed words. The hot paths pay one counter increment
or histogram observation (a few microseconds; a write into the process's mapped file in
multiprocess mode), never a network round trip.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.metrics_core import Metric

logger = logging.getLogger(__name__)

# Decided once, by what prometheus_client chose when it was imported (not by the variable now: the
# voice worker's AgentServer sets PROMETHEUS_MULTIPROC_DIR in its own process later, for its jobs).
MULTIPROCESS_DIR: str | None = (
    os.environ.get("PROMETHEUS_MULTIPROC_DIR") if getattr(values.ValueClass, "_multiprocess", False) else None
)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
TICK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"  # no URL pattern matched (a 404 before any view)

HTTP_REQUESTS = Counter(
    "http_requests_total",
    "HTTP requests answered by the web process, by URL pattern name, method and status code.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from a request entering Django's middleware to its response, by URL pattern name and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
CALLS_STARTED = Counter(
    "calls_started_total",
    "Calls written to the call log (inbound, outbound, test, chat), counted when their row commits.",
    ["direction"],
)
CALLS_ENDED = Counter(
    "calls_ended_total",
    "Calls whose final end was announced (once per call), by direction and outcome (the terminal status).",
    ["direction", "outcome"],
)
WEBHOOK_RESULTS = ("delivered", "retrying", "failed", "refused")
WEBHOOK_DELIVERIES = Counter(
    "webhook_deliveries_total",
    "Webhook delivery attempts to tenants' endpoints, by result: delivered (2xx), retrying (failed, "
    "another attempt is scheduled), failed (failed, no attempt left), refused (the outbound-URL guard "
    "refused the address).",
    ["result"],
)
CELERY_OUTCOMES = ("success", "failure", "retry")
CELERY_TASKS = Counter(
    "celery_tasks_total",
    "Celery task runs by task name and outcome (success, failure, retry).",
    ["task", "outcome"],
)
DIALER_CLAIMS = Counter(
    "dialer_claims_total",
    "Contacts claimed for a call by the dialer's pacing ticks (rate() of it: claims per second).",
)
DIALER_TICK_SECONDS = Histogram(
    "dialer_tick_duration_seconds",
    "Duration of a pacing tick that ran (a tick locked out by another one is not observed).",
    buckets=TICK_BUCKETS,
)


# --- Helpers the other apps call ------------------------------------------------------------------


# (route, method, status) -> its counter and histogram children: labels() is about half the cost of
# an observation, and every request pays it. Bounded like the labels themselves.
_http_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def http_request_observed(*, route: str, method: str, status: int, seconds: float) -> None:
    """One answered request: counted by route, method and status, its latency observed."""
    method = method if method in METHODS else "other"
    key = (route, method, status)
    children = _http_children.get(key)
    if children is None:
        children = (HTTP_REQUESTS.labels(route, method, str(status)), HTTP_LATENCY.labels(route, method))
        _http_children[key] = children
    children[0].inc()
    children[1].observe(seconds)


def call_started(*, direction: str) -> None:
    CALLS_STARTED.labels(direction).inc()


def call_ended(*, direction: str, outcome: str) -> None:
    CALLS_ENDED.labels(direction or "unknown", outcome).inc()


def webhook_delivery_counted(*, result: str) -> None:
    """One delivery attempt's result, one of WEBHOOK_RESULTS (anything else is a programming error)."""
    if result not in WEBHOOK_RESULTS:
        raise ValueError(f"webhook delivery result must be one of {', '.join(WEBHOOK_RESULTS)}, got {result!r}")
    WEBHOOK_DELIVERIES.labels(result).inc()


def celery_task_counted(*, task: str, outcome: str) -> None:
    CELERY_TASKS.labels(task, outcome).inc()


def dialer_tick_observed(*, seconds: float, claimed: int) -> None:
    """One pacing tick: its duration observed and its claims counted (one call per tick, not per claim)."""
    DIALER_TICK_SECONDS.observe(seconds)
    if claimed:
        DIALER_CLAIMS.inc(claimed)


# --- Scrape-time collectors -------------------------------------------------------------------------

ScrapeCollector = Callable[[], Iterable[Metric]]
_scrape_collectors: dict[str, ScrapeCollector] = {}


def scrape_collector_register(name: str, collect: ScrapeCollector) -> None:
    """Add (or replace, so a second ready() is harmless) a function read at every scrape of /metrics."""
    _scrape_collectors[name] = collect


class _ScrapeTime:
    """The registered collectors as one prometheus collector; one that fails is logged and left out."""

    def collect(self) -> Iterable[Metric]:
        for name, collect in list(_scrape_collectors.items()):
            try:
                families = list(collect())
            except Exception:
                logger.exception("metrics: the %s collector failed; its figures are left out of this scrape", name)
                continue
            yield from families


def exposition() -> bytes:
    """Every process's figures (summed over PROMETHEUS_MULTIPROC_DIR in multiprocess mode, else this
    process's registry), then the scrape-time ones, in Prometheus's text format."""
    if MULTIPROCESS_DIR is not None:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=MULTIPROCESS_DIR)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    scrape_time = CollectorRegistry(auto_describe=False)
    scrape_time.register(_ScrapeTime())  # type: ignore[arg-type]
    return body + generate_latest(scrape_time)


# --- The page ---------------------------------------------------------------------------------------


def bearer_token_matches(request: HttpRequest, token: str) -> bool:
    """Whether the request carries `Authorization: Bearer <token>`; compared in constant time."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus's scrape target. 404 while METRICS_TOKEN is unset (the page is off: nothing tells a
    prober it exists); 401 without the right bearer token; the text exposition otherwise."""
    token: str = settings.METRICS_TOKEN
    if not token:
        raise Http404("metrics are off")
    if not bearer_token_matches(request, token):
        response = HttpResponse("a valid bearer token is required\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


# --- HTTP middleware --------------------------------------------------------------------------------


class HttpMetricsMiddleware:
    """Counts every response by route (its URL pattern's name) and status and observes its latency.

    First in MIDDLEWARE, so the latency covers the others too. The route label is the resolved
    pattern's view name (or its route string when unnamed), never the path: a million call codes
    are one route."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        http_request_observed(
            route=route_label(request),
            method=request.method or "",
            status=response.status_code,
            seconds=time.perf_counter() - started,
        )
        return response


def route_label(request: HttpRequest) -> str:
    match: Any = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED_ROUTE
    return match.view_name or match.route or UNMATCHED_ROUTE


# --- Process lifecycle ------------------------------------------------------------------------------


def process_exited(pid: int) -> None:
    """A gunicorn worker or Celery pool process is gone: its live gauges stop counting (counters stay)."""
    if MULTIPROCESS_DIR is not None:
        multiprocess.mark_process_dead(pid, MULTIPROCESS_DIR)


def _task_name(sender: Any) -> str:
    return str(getattr(sender, "name", None) or "unknown")


def _on_task_success(sender: Any = None, **_kwargs: Any) -> None:
    celery_task_counted(task=_task_name(sender), outcome="success")


def _on_task_failure(sender: Any = None, **_kwargs: Any) -> None:
    celery_task_counted(task=_task_name(sender), outcome="failure")


def _on_task_retry(sender: Any = None, **_kwargs: Any) -> None:
    celery_task_counted(task=_task_name(sender), outcome="retry")


def _on_pool_process_shutdown(pid: int | None = None, **_kwargs: Any) -> None:
    process_exited(pid or os.getpid())


def connect_celery_signals() -> None:
    """Count task outcomes in whichever process runs the task (a prefork child, or eagerly the caller).

    Called from VoicePlatformConfig.ready; Celery's signals keep one receiver per function."""
    from celery import signals

    signals.task_success.connect(_on_task_success, weak=False)
    signals.task_failure.connect(_on_task_failure, weak=False)
    signals.task_retry.connect(_on_task_retry, weak=False)
    signals.worker_process_shutdown.connect(_on_pool_process_shutdown, weak=False)
