"""The whole voice worker: `manage.py run_voice_worker`, and real job processes without a LiveKit server.

The AgentServer runs unregistered (devmode) and gets jobs through simulate_job(fake_job=True)
with room metadata, so each call runs in a real job process forked from the worker's forkserver
(Django set up by worker.preload), reads the agent through the loader (Redis, then PostgreSQL)
and writes the Call row. Its LLM and TTS are FakeOpenAI, an OpenAI-compatible server on
127.0.0.1 in this process.

Job processes inherit the environment of the forkserver, which starts once per test process:
job_environment points DATABASE_URL at the test database before the first server starts, and
the provider server lives for the whole session so the URL the forkserver inherited stays valid.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from livekit.agents import AgentServer
from livekit.protocol import models

from agents_app.models import Agent
from agents_app.services import agent_create, agent_delete
from telephony_app.models import Call, CallStatus
from telephony_app.services import call_create
from voiceplatform.actor import SYSTEM
from voiceplatform.devtools.fake_openai import FakeOpenAI, text, tool_call
from voiceplatform.models import Tenant
from voiceplatform.services import credential_set
from worker.server import LOAD_THRESHOLD, build_server, load_function, shutdown

pytestmark = pytest.mark.django_db(transaction=True)  # job processes only see committed rows

BASE_DIR = Path(__file__).resolve().parents[2]
GREETING = "Hello, you are through to Acme."


@pytest.fixture(scope="session")
def job_provider() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


def database_url() -> str:
    """The test database (pytest-django renamed it) as a URL, for processes that read DATABASE_URL."""
    settings = connection.settings_dict
    user = quote(settings["USER"] or "")
    password = f":{quote(settings['PASSWORD'])}" if settings["PASSWORD"] else ""
    # The embedded PostgreSQL is reached through a socket directory given in OPTIONS, not HOST.
    host = settings["HOST"] or settings["OPTIONS"].get("host", "")
    port, name = settings["PORT"] or "", settings["NAME"]
    if host.startswith("/"):  # a Unix socket directory (the embedded PostgreSQL)
        return f"postgres://{user}{password}@/{name}?host={quote(host)}"
    return f"postgres://{user}{password}@{host or 'localhost'}{f':{port}' if port else ''}/{name}"


@pytest.fixture
def job_environment(job_provider: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    monkeypatch.setenv("DATABASE_URL", database_url())
    # The plugins reach the local server through the tenant's credentials (make_voice_agent) only
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/not-the-tenants-server/v1")
    job_provider.reset(default=text("All right."))
    return job_provider


@pytest.fixture
def make_voice_agent(job_environment: FakeOpenAI) -> Any:
    def make(tenant: Tenant, **fields: Any) -> Agent:
        base_url = job_environment.base_url
        credential_set(tenant=tenant, provider="openai_compatible", base_url=base_url)
        credential_set(tenant=tenant, provider="openai", secret="sk-test-0123456789abcdef", base_url=base_url)
        defaults = {
            "name": "Maya",
            "system_prompt": "You are Maya, the receptionist of Acme.",
            "greeting_message": "",  # the model greets: its reply also ends the call (end_call)
            "llm_provider": "openai_compatible",
            "llm_model": "scripted-model",
            "tts_provider": "openai",
            "voice_id": "alloy",
            "stt_provider": "openai",
        }
        return agent_create(tenant=tenant, actor=SYSTEM, fields={**defaults, **fields})

    return make


def greet_and_hang_up(provider: FakeOpenAI, *, delay: float = 0.0) -> None:
    """The model's script for one call: greet and end the call, then say goodbye."""
    provider.add(tool_call("end_call", say=GREETING, delay=delay), text("Goodbye."))


def room_metadata(agent: Any, *, tenant: Tenant | None, call: Call | None, **extra: Any) -> str:
    document: dict[str, Any] = {"agent_id": str(getattr(agent, "code", agent)), "call_type": "test", **extra}
    if tenant is not None:
        document["tenant_id"] = str(tenant.code)
    if call is not None:
        document["call_id"] = str(call.code)
    return json.dumps(document)


def new_call(tenant: Tenant, agent: Agent | None = None) -> Call:
    return call_create(tenant=tenant, agent=agent, direction="test", room_name=f"room-{uuid.uuid4().hex[:8]}")


async def start_server() -> tuple[AgentServer, asyncio.Task[None]]:
    server = build_server(concurrency=4, port=0, num_idle_processes=1, drain_timeout=30)
    task = asyncio.create_task(server.run(devmode=True, unregistered=True))
    while server.worker_info.http_port == 0 and not task.done():
        await asyncio.sleep(0.01)
    return server, task


async def dispatch(server: AgentServer, metadata: str) -> None:
    room = f"room-{uuid.uuid4().hex[:8]}"
    await server.simulate_job(room, fake_job=True, room_info=models.Room(name=room, metadata=metadata))


def _reload(call: Call) -> Call:
    try:
        return Call.objects.for_tenant(call.tenant).get(pk=call.pk)
    finally:
        connection.close()  # this thread's connection must not outlive the test database


async def until(call: Call, done: Any, *, timeout: float = 20) -> Call:
    deadline = time.monotonic() + timeout
    while True:
        current = await sync_to_async(_reload)(call)
        if done(current) or time.monotonic() > deadline:
            return current
        await asyncio.sleep(0.1)


async def until_ended(call: Call, *, timeout: float = 20) -> Call:
    return await until(call, lambda c: c.is_terminal, timeout=timeout)


async def no_jobs(server: AgentServer, *, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while server.active_jobs and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=60))


# --------------------------------------------------------------------------------------------
# Real job processes
# --------------------------------------------------------------------------------------------


def test_job_process_runs_the_call_and_the_worker_keeps_serving_after_bad_jobs(
    tenant, other_tenant, make_voice_agent, job_environment, caplog
):
    agent = make_voice_agent(tenant)
    theirs = make_voice_agent(other_tenant)
    deleted = make_voice_agent(tenant, name="Gone")
    deleted_code = deleted.code
    agent_delete(tenant=tenant, agent=deleted)
    first, last = new_call(tenant, agent), new_call(tenant, agent)
    bad = {
        "missing agent id": (
            new_call(tenant),
            lambda c: json.dumps({"tenant_id": str(tenant.code), "call_id": str(c.code)}),
        ),
        "malformed agent id": (new_call(tenant), lambda c: room_metadata("agent-7", tenant=tenant, call=c)),
        "deleted agent": (new_call(tenant), lambda c: room_metadata(deleted_code, tenant=tenant, call=c)),
        "another tenant's agent": (new_call(tenant), lambda c: room_metadata(theirs, tenant=tenant, call=c)),
    }

    async def scenario() -> dict[str, Call]:
        server, task = await start_server()
        try:
            greet_and_hang_up(job_environment)
            await dispatch(server, room_metadata(agent, tenant=tenant, call=first))
            ended = {"first": await until_ended(first)}
            await dispatch(server, '{"agent_id": ')  # corrupt JSON: nothing identifies a call
            for name, (call, document) in bad.items():
                await dispatch(server, document(call))
                ended[name] = await until_ended(call)
            await no_jobs(server)
            greet_and_hang_up(job_environment)
            await dispatch(server, room_metadata(agent, tenant=tenant, call=last))
            ended["last"] = await until_ended(last)
            return ended
        finally:
            await server.aclose()
            await task

    ended = run(scenario())

    for name in ("first", "last"):
        call = ended[name]
        assert call.status == CallStatus.COMPLETED, (name, call.status, call.error)
        assert call.end_reason == "the agent ended the call"
        assert call.transcript[0] == {**call.transcript[0], "role": "assistant", "text": GREETING}
        assert ("assistant", "Goodbye.") in [(e["role"], e["text"]) for e in call.transcript]
        assert call.config_source in ("cache", "database")
        assert any(row["kind"] == "llm" and row["input_tokens"] > 0 for row in call.usage)
    reasons = {
        "missing agent id": "the call metadata has no agent_id",
        "malformed agent id": "agent_id 'agent-7' is not a UUID",
        "deleted agent": f"agent {deleted_code} does not exist in tenant {tenant.code}",
        "another tenant's agent": f"agent {theirs.code} does not exist in tenant {tenant.code}",
    }
    for name, reason in reasons.items():
        call = ended[name]
        assert call.status == CallStatus.FAILED and reason in call.error, (name, call.error)
        assert call.transcript == [] and call.answered_at is None  # no session was started
        # logged by the job process, with the call id, and forwarded to the worker's log
        assert any(str(call.code) in r.getMessage() and reason in r.getMessage() for r in caplog.records), name
    assert any("is not valid JSON" in r.getMessage() for r in caplog.records)
    assert not Call.objects.for_tenant(other_tenant).exists()


def test_drain_lets_the_live_call_finish_then_closes(tenant, make_voice_agent, job_environment):
    agent = make_voice_agent(tenant)
    call = new_call(tenant, agent)

    async def scenario() -> tuple[bool, float, Call, Call]:
        server, task = await start_server()
        greet_and_hang_up(job_environment, delay=2.0)  # the model takes 2 s: the call lasts that long
        await dispatch(server, room_metadata(agent, tenant=tenant, call=call))
        live = await until(call, lambda c: c.status == CallStatus.IN_PROGRESS)
        started = time.monotonic()
        drained = await shutdown(server, timeout=30)  # what the command runs on SIGTERM/SIGINT
        took = time.monotonic() - started
        await task
        return drained, took, live, await sync_to_async(_reload)(call)

    drained, took, live, ended = run(scenario())

    assert live.status == CallStatus.IN_PROGRESS
    assert drained and took > 1.0
    assert ended.status == CallStatus.COMPLETED and ended.transcript[0]["text"] == GREETING


def get_both(port: int, *paths: str) -> list[httpx.Response]:
    """GET from the health server. It listens on every interface, and with port 0 the IPv4 and IPv6
    sockets get different ports; worker_info shows the first one bound."""
    for host in ("127.0.0.1", "[::1]"):
        try:
            with httpx.Client(base_url=f"http://{host}:{port}", trust_env=False) as client:
                return [client.get(path) for path in paths]
        except httpx.ConnectError:
            continue
    raise AssertionError(f"nothing answers on port {port}")


def test_server_dispatches_by_name_and_reports_load_against_max_concurrency(settings):
    settings.LIVEKIT_AGENT_NAME = "acme-voice"

    async def scenario() -> tuple[str, dict[str, Any]]:
        server, task = await start_server()
        try:
            health, info = await asyncio.to_thread(get_both, server.worker_info.http_port, "/", "/worker")
            return health.text, info.json()
        finally:
            await server.aclose()
            await task

    health, info = run(scenario())

    assert health == "OK"
    assert info["agent_name"] == "acme-voice"  # explicit dispatch: only rooms asking for it get this worker
    load = load_function(4)
    assert load(SimpleNamespace(active_jobs=[1, 2])) == 0.5
    assert load(SimpleNamespace(active_jobs=[1, 2, 3, 4])) == LOAD_THRESHOLD  # full: LiveKit sends no more


# --------------------------------------------------------------------------------------------
# manage.py run_voice_worker
# --------------------------------------------------------------------------------------------


def command_env(**overrides: str) -> dict[str, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "voiceplatform.settings", "LOG_LEVEL": "info"}
    env.update({"LIVEKIT_URL": "", "LIVEKIT_API_KEY": "", "LIVEKIT_API_SECRET": "", **overrides})
    return env


def test_run_voice_worker_without_livekit_settings_says_so_in_one_line():
    result = subprocess.run(
        [sys.executable, "manage.py", "run_voice_worker"],
        cwd=BASE_DIR,
        env=command_env(LIVEKIT_API_KEY="devkey"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "LIVEKIT_URL, LIVEKIT_API_SECRET not set" in lines[0]


def test_run_voice_worker_exits_0_on_sigterm(job_environment):
    # A closed port: the worker keeps retrying to register, as it would while LiveKit is down.
    env = command_env(
        LIVEKIT_URL="ws://127.0.0.1:9", LIVEKIT_API_KEY="devkey", LIVEKIT_API_SECRET="secret", WORKER_HEALTH_PORT="0"
    )
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_voice_worker", "--dev", "--concurrency", "3"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        seen = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            seen.append(line)
            if "voice worker running" in line or not line:
                break
        assert "up to 3 calls" in seen[-1], "".join(seen)
        process.send_signal(signal.SIGTERM)
        _stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 0, stderr
    assert "voice worker received SIGTERM" in stderr and "voice worker stopped" in stderr
    assert "Traceback" not in stderr


def test_bench_call_start_prints_its_figures_last(job_environment):
    result = subprocess.run(
        [sys.executable, "manage.py", "bench_call_start", "--calls", "1"],
        cwd=BASE_DIR,
        env=command_env(LOG_LEVEL="warning"),
        capture_output=True,
        text=True,
        timeout=180,
    )

    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert re.fullmatch(
        r"bench_call_start warm_p50_ms=[0-9.]+ warm_p99_ms=[0-9.]+ cold_p50_ms=[0-9.]+ job_rss_mb=[0-9.]+", last
    ), last
    assert not Tenant.objects.filter(name="Call-start benchmark").exists()  # it cleans up after itself
