"""The voice worker's /metrics on its health port (worker/metrics.py): what its job processes count
(calls started and refused, config sources, start latency, errors) summed with its own running calls.

The worker runs in a process of its own (a fresh forkserver: job processes inherit the metrics
directory its AgentServer exports as it starts), unregistered, with jobs given by simulate_job as in
test_worker_process.py; the calls' models are that module's local FakeOpenAI server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from telephony_app.models import Call, CallStatus
from tests.worker.test_worker_process import (
    greet_and_hang_up,
    job_environment,
    job_provider,
    make_voice_agent,
    new_call,
    room_metadata,
)

__all__ = ["job_environment", "job_provider", "make_voice_agent"]  # fixtures

pytestmark = pytest.mark.django_db(transaction=True)  # job processes only see committed rows

BASE_DIR = Path(__file__).resolve().parents[2]

# Runs a worker, dispatches the jobs given as JSON on stdin one after the other (each until the
# worker has no running call), then prints its /metrics page, fetched from its health port.
WORKER_SCRIPT = r"""
import asyncio, json, sys, time, uuid
import django
django.setup()
import httpx
from livekit.protocol import models
from worker.server import build_server

def get(port, path):
    for host in ("127.0.0.1", "[::1]"):
        try:
            return httpx.get(f"http://{host}:{port}{path}", timeout=10, trust_env=False)
        except httpx.ConnectError:
            continue
    raise SystemExit(f"nothing answers on port {port}")

async def main(jobs):
    server = build_server(concurrency=3, port=0, num_idle_processes=1, drain_timeout=30)
    task = asyncio.create_task(server.run(devmode=True, unregistered=True))
    while server.worker_info.http_port == 0 and not task.done():
        await asyncio.sleep(0.01)
    port = server.worker_info.http_port
    try:
        for metadata in jobs:
            room = f"room-{uuid.uuid4().hex[:8]}"
            await server.simulate_job(room, fake_job=True, room_info=models.Room(name=room, metadata=metadata))
            await asyncio.sleep(0.2)
            deadline = time.monotonic() + 30
            while server.active_jobs and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        page = await asyncio.to_thread(get, port, "/metrics")
        print("STATUS", page.status_code, page.headers["content-type"])
        print(page.text)
    finally:
        await server.aclose()
        await task

asyncio.run(asyncio.wait_for(main(json.load(sys.stdin)), timeout=120))
"""


def _run_worker(jobs: list[str]) -> str:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "voiceplatform.settings",
        "LOG_LEVEL": "warning",
        "LIVEKIT_URL": "",
        "LIVEKIT_API_KEY": "",
        "LIVEKIT_API_SECRET": "",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the worker's metrics never depend on the web's
    result = subprocess.run(
        [sys.executable, "-c", WORKER_SCRIPT],
        input=json.dumps(jobs),
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def _samples(page: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body = page.split("\n", 1)[1]
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def test_the_health_port_serves_the_job_processes_metrics(tenant, make_voice_agent, job_environment):
    agent = make_voice_agent(tenant)
    answered, refused = new_call(tenant, agent), new_call(tenant)
    greet_and_hang_up(job_environment)
    jobs = [
        room_metadata(agent, tenant=tenant, call=answered),
        json.dumps({"tenant_id": str(tenant.code), "call_id": str(refused.code)}),  # no agent id: refused
    ]

    started = time.monotonic()
    page = _run_worker(jobs)

    assert page.startswith("STATUS 200 text/plain; version="), page[:200]
    samples = _samples(page)
    assert samples[("voice_worker_calls_total", (("result", "started"),))] == 1
    assert samples[("voice_worker_calls_total", (("result", "refused"),))] == 1
    sources = {labels[0][1]: n for (name, labels), n in samples.items() if name == "voice_worker_config_loads_total"}
    assert sum(sources.values()) == 1 and set(sources) <= {"cache", "database"}
    assert samples[("voice_worker_call_start_seconds_count", (("stage", "session_started"),))] == 1
    session_started = samples[("voice_worker_call_start_seconds_sum", (("stage", "session_started"),))]
    assert 0 < session_started < time.monotonic() - started
    assert samples[("voice_worker_call_errors_total", ())] == 0
    assert samples[("voice_worker_calls_active", ())] == 0  # both jobs are over
    assert samples[("voice_worker_capacity", ())] == 3
    ended = {c.code: c for c in Call.objects.for_tenant(tenant)}
    assert ended[answered.code].status == CallStatus.COMPLETED
    assert ended[refused.code].status == CallStatus.FAILED
