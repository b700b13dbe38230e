"""Benchmark of a call's start in real job processes: job start -> session started -> greeting at the TTS.

Each measured call runs like production: an AgentServer (unregistered, no LiveKit server) keeps a
warm idle job process, the call is dispatched to it with simulate_job and room metadata naming a
Call and an agent, and the job runs worker.entrypoint.run_call unchanged: config load through the
loader, credentials, plugin construction, AgentSession start, VoiceAgent greeting. The providers
are scripted at the network edge: voiceplatform.devtools.fake_openai.FakeOpenAI, an OpenAI-compatible HTTP
server in this process, is the tenant's LLM, TTS and STT endpoint (its credentials' base_url).
The time is from the job's entrypoint starting (its wall clock, logged by run_call) to both the
session having started and the greeting having been handed to the TTS plugin (both logged by the
job; the greeting's arrival at the provider endpoint is printed too). Warm: the
agent's config is in Redis; cold: its cache keys are deleted before the call. Each call is hung up
(its job shut down as a worker shutdown ends it: session closed, Call written) before the next one
starts, so each start is timed with no other call on the machine; --keep-calls keeps every call of
a batch connected instead (a silent caller) until the batch ends, which times later calls beside
up to 24 live ones, as this benchmark did before. Last line:
bench_call_start warm_p50_ms=<x> warm_p99_ms=<x> cold_p50_ms=<x> job_rss_mb=<x>
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import statistics
import time
from functools import partial
from typing import Any

import psutil
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from livekit.agents import AgentServer
from livekit.protocol import models

from agents_app.runtime_config import loader
from agents_app.services import agent_create
from telephony_app.models import Call, CallDirection
from telephony_app.services import call_create
from voiceplatform.actor import SYSTEM
from voiceplatform.devtools.fake_openai import FakeOpenAI, text
from voiceplatform.models import Tenant
from voiceplatform.services import credential_set, tenant_create, tenant_delete
from worker import livekit_compat
from worker.server import build_server

BENCH_KEY = "sk-bench-not-a-real-key"  # the local fake accepts any key
# Calls per AgentServer: an unregistered server queues a status message per job start and end
# that nobody reads, and its queue holds 128.
BATCH = 25
GREETING = "Thank you for calling Bench Company, how can I help you today?"


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------


class _StartTimes(logging.Handler):
    """Collects run_call's "session started" and "first words handed to the TTS" records (forwarded
    from the job processes), by call id; times are ms from the job's entrypoint starting."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.job_started_at: dict[str, float] = {}
        self.session_started_ms: dict[str, float] = {}
        self.first_speech_ms: dict[str, float] = {}
        self.stages: dict[str, dict[str, float]] = {}  # call id -> stage -> ms

    def emit(self, record: logging.LogRecord) -> None:
        call_id = str(getattr(record, "call_id", ""))
        if not hasattr(record, "job_started_at"):
            return
        self.job_started_at[call_id] = float(record.job_started_at)
        if hasattr(record, "start_ms"):
            self.session_started_ms[call_id] = float(record.start_ms)
        for stage, ms in getattr(record, "stages", {}).items():
            self.stages.setdefault(call_id, {})[stage] = float(ms)
        if hasattr(record, "first_speech_ms"):
            self.first_speech_ms[call_id] = float(record.first_speech_ms)

    def stage_medians(self, call_ids: list[str]) -> str:
        """Each start-up stage's p50 over these calls, in the order the stages happen."""
        names: dict[str, None] = {}
        for call_id in call_ids:
            names.update(dict.fromkeys(self.stages.get(call_id, {})))
        medians = []
        for name in names:
            samples = [self.stages[c][name] for c in call_ids if name in self.stages.get(c, {})]
            medians.append(f"{name} {_percentile(samples, 0.5):.1f}")
        return ", ".join(medians)

    def done(self, call_id: str) -> float | None:
        """Job start -> the session started and the greeting handed to the TTS (both), once known."""
        if call_id in self.session_started_ms and call_id in self.first_speech_ms:
            return max(self.session_started_ms[call_id], self.first_speech_ms[call_id])
        return None


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _listed(samples: list[float]) -> str:
    return " ".join(f"{sample:.0f}" for sample in samples)


def _allow_local_provider() -> None:
    """Let the bench tenant's base URL (the local provider on http://127.0.0.1) past the outbound-URL
    guard, for this run only: in this process and in the job processes it starts (they read the
    environment). Tenants' own URLs never get this: it is the operator running a benchmark."""
    os.environ["PROVIDER_URL_ALLOW_HTTP"] = "true"
    hosts = [*settings.PROVIDER_URL_ALLOWED_HOSTS, "127.0.0.1"]
    os.environ["PROVIDER_URL_ALLOWED_HOSTS"] = ",".join(hosts)
    settings.PROVIDER_URL_ALLOW_HTTP = True
    settings.PROVIDER_URL_ALLOWED_HOSTS = hosts


class Command(BaseCommand):
    help = "Time a call's start in real job processes (warm and cold config cache) and an idle job's memory."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--calls", type=int, default=20, help="calls per cache state (default 20)")
        parser.add_argument(
            "--keep-calls",
            action="store_true",
            help="keep each batch's calls connected until the batch ends, instead of hanging each up before the next",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        calls = options["calls"]
        self.keep_calls = options["keep_calls"]
        if calls < 1:
            raise CommandError("--calls must be at least 1")
        _allow_local_provider()
        # The tenant's credentials point every OpenAI plugin at it; an unscripted LLM request gets "All right."
        provider = FakeOpenAI(default=text("All right.")).start()
        tenant = tenant_create(
            name="Call-start benchmark", slug=f"bench-call-{secrets.token_hex(4)}", timezone_name="UTC"
        )
        times = _StartTimes()
        entry_logger = logging.getLogger("worker.entrypoint")
        saved = entry_logger.level, entry_logger.propagate
        entry_logger.setLevel(logging.INFO)  # the job processes forward INFO records only if asked
        entry_logger.propagate = False
        entry_logger.addHandler(times)
        try:
            agent = self._agent(tenant, provider)
            result = asyncio.run(self._run(tenant, agent, provider, times, calls))
        finally:
            entry_logger.removeHandler(times)
            entry_logger.setLevel(saved[0])
            entry_logger.propagate = saved[1]
            tenant_delete(tenant=tenant)
            provider.stop()
        warm, cold, rss_mb, at_endpoint = result
        started = list(times.session_started_ms.values())[1:]  # the uncounted first call left out
        speech = list(times.first_speech_ms.values())[1:]
        self.stdout.write(
            f"job start -> session.start() returned: p50={_percentile(started, 0.5):.1f} ms; "
            f"-> greeting handed to the TTS: p50={_percentile(speech, 0.5):.1f} ms; "
            f"-> greeting's request at the provider: p50={_percentile(at_endpoint, 0.5):.1f} ms "
            f"(all {len(started)} calls)"
        )
        self.stdout.write(f"warm start-up stages, p50 ms from job start: {times.stage_medians(self.warm_ids)}")
        self.stdout.write(f"cold start-up stages, p50 ms from job start: {times.stage_medians(self.cold_ids)}")
        self.stdout.write(
            f"calls={calls} warm min={min(warm):.1f} p50={_percentile(warm, 0.5):.1f} max={max(warm):.1f} ms; "
            f"cold min={min(cold):.1f} p50={_percentile(cold, 0.5):.1f} max={max(cold):.1f} ms"
        )
        self.stdout.write(
            f"bench_call_start warm_p50_ms={_percentile(warm, 0.5):.1f} warm_p99_ms={_percentile(warm, 0.99):.1f} "
            f"cold_p50_ms={_percentile(cold, 0.5):.1f} job_rss_mb={rss_mb:.1f}"
        )

    def _agent(self, tenant: Tenant, provider: FakeOpenAI) -> Any:
        for name in ("openai_compatible", "openai"):
            credential_set(tenant=tenant, provider=name, secret=BENCH_KEY, base_url=provider.base_url)
        return agent_create(
            tenant=tenant,
            actor=SYSTEM,
            fields={
                "name": "Bench agent",
                "system_prompt": "You are the receptionist of Bench Company. Keep answers short. " * 10,
                "greeting_message": GREETING,
                "llm_provider": "openai_compatible",
                "llm_model": "scripted-model",
                "tts_provider": "openai",
                "voice_id": "alloy",
                "stt_provider": "openai",
            },
        )

    async def _run(
        self, tenant: Tenant, agent: Any, provider: FakeOpenAI, times: _StartTimes, calls: int
    ) -> tuple[list[float], list[float], float, list[float]]:
        self.at_endpoint: list[float] = []
        self.measured_ids: list[str] = []  # call ids in the order they were measured
        measure = partial(self._measure, tenant=tenant, agent=agent, provider=provider, times=times)

        async def invalidate() -> None:
            await asyncio.to_thread(loader.invalidate, tenant_code=tenant.code, agent_code=agent.code)

        server, task = await self._start_server()
        try:
            rss_mb = await self._idle_job_rss()
            await measure(server)  # the first job of a fresh forkserver: not counted
        finally:
            await self._close(server, task)
        cold, self.cold_ids = await self._phase(calls, measure, before_each=invalidate)
        warm, self.warm_ids = await self._phase(calls, measure)
        self.stderr.write(f"mean warm {statistics.mean(warm):.1f} ms, mean cold {statistics.mean(cold):.1f} ms")
        self.stderr.write(f"in call order, ms: warm {_listed(warm)}; cold {_listed(cold)}")
        return warm, cold, rss_mb, self.at_endpoint

    async def _phase(self, calls: int, measure: Any, *, before_each: Any = None) -> tuple[list[float], list[str]]:
        """`calls` calls one after the other; each stays connected (a silent caller) until its batch ends.
        Returns their times and their call ids, in call order."""
        first = len(self.measured_ids)
        samples: list[float] = []
        while len(samples) < calls:
            server, task = await self._start_server()
            try:
                for _ in range(min(BATCH, calls - len(samples))):
                    if before_each is not None:
                        await before_each()
                    samples.append(await measure(server))
                    if not self.keep_calls:
                        await self._hang_up(server)
            finally:
                # Ends the batch's calls as a worker shutdown does: sessions closed, Calls written.
                await self._close(server, task)
        return samples, self.measured_ids[first:]

    async def _idle_job_rss(self) -> float:
        """Resident memory of one idle job process (forked from the forkserver, VAD and connections ready)."""
        for _ in range(1200):  # up to a minute: the forkserver's preload is slow on a busy machine
            jobs = [p for child in psutil.Process().children() for p in child.children()]
            if jobs:
                await asyncio.sleep(1.0)  # let it finish setup_process
                return max(p.memory_info().rss for p in jobs) / 2**20
            await asyncio.sleep(0.05)
        raise CommandError("no idle job process appeared")

    async def _start_server(self) -> tuple[AgentServer, asyncio.Task[None]]:
        server = build_server(concurrency=BATCH + 1, port=0, num_idle_processes=1)
        task = asyncio.create_task(server.run(devmode=True, unregistered=True))
        while server.worker_info.http_port == 0 and not task.done():
            await asyncio.sleep(0.01)
        return server, task

    @staticmethod
    async def _hang_up(server: AgentServer) -> None:
        """End the live call as a worker shutdown ends a job (session closed, Call written), then wait
        for the next idle process to be ready, so the next call is the only one on the machine."""
        # Through AgentServer's own process pool (livekit-agents has no public way to end one job).
        for info in server.active_jobs:
            executor = livekit_compat.job_executor(server, info.job.id)
            if executor is not None:
                await executor.aclose()
        for _ in range(1200):  # up to a minute, as for the first idle process
            if livekit_compat.idle_process_ready(server):
                return
            await asyncio.sleep(0.05)
        raise CommandError("no idle job process became ready after a call; see the worker log above")

    @staticmethod
    async def _close(server: AgentServer, task: asyncio.Task[None]) -> None:
        await server.aclose()
        await task

    async def _measure(
        self, server: AgentServer, *, tenant: Tenant, agent: Any, provider: FakeOpenAI, times: _StartTimes
    ) -> float:
        """One call in a fresh job process; ms from its entrypoint starting to the session started and
        the greeting handed to the TTS (the later of the two)."""
        call = await asyncio.to_thread(self._new_call, tenant, agent)
        metadata = json.dumps({"agent_id": str(agent.code), "tenant_id": str(tenant.code), "call_id": str(call.code)})
        launched = time.time()
        room = models.Room(name=call.room_name, metadata=metadata)
        await server.simulate_job(call.room_name, fake_job=True, room_info=room)
        speech = await asyncio.to_thread(provider.wait_for_speech, GREETING, after=launched, timeout=30)
        call_id = str(call.code)
        for _ in range(500):
            if times.done(call_id) is not None:
                break
            await asyncio.sleep(0.01)
        elapsed = times.done(call_id)
        if speech is None or elapsed is None:
            raise CommandError(f"call {call.code} did not greet within 30 s; see the worker log above")
        self.at_endpoint.append((speech.at - times.job_started_at[call_id]) * 1000)
        self.measured_ids.append(call_id)
        return elapsed

    @staticmethod
    def _new_call(tenant: Tenant, agent: Any) -> Call:
        try:
            return call_create(
                tenant=tenant,
                agent=agent,
                direction=CallDirection.TEST,
                room_name=f"bench-{secrets.token_hex(6)}",
            )
        finally:
            connection.close()
