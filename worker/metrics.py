"""The voice worker's Prometheus metrics, served on its health port (WORKER_HEALTH_PORT) at /metrics.

A call runs in a job process that livekit forks from its forkserver, so the figures of a call are
counted there, in files in this worker's own directory (prometheus_client's multiprocess mode: the
AgentServer exports PROMETHEUS_MULTIPROC_DIR before its forkserver starts, and empties the directory
as it starts, so it is never the web's or Celery's). The worker process sums the files at each scrape
and adds what it knows itself: its running calls and its capacity, read at scrape time.

    voice_worker_calls_total{result}         calls the job processes took: started, refused
    voice_worker_call_errors_total           errors recorded on calls (provider errors, the default
                                             config answering, a session closed by an error)
    voice_worker_config_loads_total{source}  where a call's config came from: cache, database, stale,
                                             default, missing
    voice_worker_call_start_seconds{stage}   session_started and first_speech (from the job's start),
                                             first_words (outbound: from the callee's answer)
    voice_worker_calls_active                this worker's running calls
    voice_worker_capacity                    its MAX_CONCURRENCY
"""

from __future__ import annotations

import asyncio
import atexit
import shutil
import tempfile
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from worker import livekit_compat

if TYPE_CHECKING:
    from livekit.agents import AgentServer

START_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
START_STAGES = ("session_started", "first_speech", "first_words")

CALLS = Counter("voice_worker_calls_total", "Calls the voice worker's job processes took, by result.", ["result"])
CALL_ERRORS = Counter("voice_worker_call_errors_total", "Errors recorded on the voice worker's calls.")
CONFIG_LOADS = Counter(
    "voice_worker_config_loads_total", "Where each call's agent config came from (the loader's answer).", ["source"]
)
CALL_START = Histogram(
    "voice_worker_call_start_seconds",
    "Call start latency: session_started and first_speech from the job's start; first_words (outbound) "
    "from the callee's answer to the agent's first words.",
    ["stage"],
    buckets=START_BUCKETS,
)


def call_taken(*, result: str, config_source: str) -> None:
    """A job became a call ("started") or was refused; where its config came from, when it got that far."""
    CALLS.labels(result).inc()
    if config_source:
        CONFIG_LOADS.labels(config_source).inc()


def call_start_observed(*, stage: str, milliseconds: float) -> None:
    CALL_START.labels(stage).observe(max(0.0, milliseconds) / 1000)


def call_errors_counted(count: int) -> None:
    if count:
        CALL_ERRORS.inc(count)


class _WorkerState:
    """This worker process's running calls and capacity, read at scrape time."""

    def __init__(self, server: AgentServer, concurrency: int) -> None:
        self.server, self.concurrency = server, concurrency

    def collect(self) -> Iterable[Metric]:
        active = GaugeMetricFamily("voice_worker_calls_active", "Calls this voice worker is running now.")
        active.add_metric([], len(self.server.active_jobs))
        capacity = GaugeMetricFamily("voice_worker_capacity", "Calls this voice worker takes at once.")
        capacity.add_metric([], self.concurrency)
        yield active
        yield capacity


class WorkerMetrics:
    """The /metrics page of one AgentServer: its job processes' files plus its own state."""

    def __init__(self, server: AgentServer, *, concurrency: int, directory: str) -> None:
        self.directory = directory
        self._state = _WorkerState(server, concurrency)

    def exposition(self) -> bytes:
        registry = CollectorRegistry(auto_describe=False)
        multiprocess.MultiProcessCollector(registry, path=self.directory)
        registry.register(self._state)  # type: ignore[arg-type]
        return generate_latest(registry)

    async def page(self, _request: Any) -> Any:
        from aiohttp import web

        body = await asyncio.get_running_loop().run_in_executor(None, self.exposition)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def new_directory() -> str:
    """A fresh directory for one AgentServer's job processes to count in (the server empties it as it
    starts); removed when this process exits."""
    directory = tempfile.mkdtemp(prefix="voiceplatform-voice-worker-metrics-")
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    return directory


def serve_on_health_port(server: AgentServer, *, concurrency: int, directory: str) -> None:
    """GET /metrics on the server's health port: the files in `directory` (the server's
    prometheus_multiproc_dir) summed, and the server's running calls and capacity."""
    page = WorkerMetrics(server, concurrency=concurrency, directory=directory).page
    livekit_compat.health_port_route("/metrics", page)
