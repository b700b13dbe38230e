"""Benchmark of a call's start in real job processes: job start -> session started -> greeting at the TTS.

Each measured call runs like production: an AgentServer (unregistered, no LiveKit server) keeps a
warm idle job process, the call is dispatched to it with simulate_job and room metadata naming a
Call and an agent, and the job runs worker.entrypoint.run_call unchanged: config load through the
loader, credentials, plugin construction, AgentSession start, VoiceAgent greeting. The providers
are scripted at the network edge: LocalProviderServer, an OpenAI-compatible HTTP server in this
process, is the tenant's LLM and TTS endpoint. The time is from the job's entrypoint starting
(its wall clock, logged by run_call) to the greeting's text reaching the TTS endpoint. Warm: the
agent's config is in Redis; cold: its cache keys are deleted before the call. Last line:
bench_call_start warm_p50_ms=<x> warm_p99_ms=<x> cold_p50_ms=<x> job_rss_mb=<x>
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import secrets
import statistics
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psutil
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from livekit.agents import AgentServer
from livekit.protocol import models

from agents_app.runtime_config import loader
from agents_app.services import agent_create
from telephony_app.models import Call, CallDirection
from telephony_app.services import call_create
from voiceplatform.actor import SYSTEM
from voiceplatform.models import Tenant
from voiceplatform.services import credential_set, tenant_create
from worker.server import build_server

SAMPLE_RATE = 24000  # what the OpenAI TTS plugin expects
BENCH_KEY = "sk-bench-not-a-real-key"  # the local fake accepts any key
# Calls per AgentServer: an unregistered server queues a status message per job start and end
# that nobody reads, and its queue holds 128.
BATCH = 25
GREETING = "Thank you for calling Bench Company, how can I help you today?"


# --------------------------------------------------------------------------------------------
# A scripted OpenAI-compatible provider on 127.0.0.1 (also used by the worker's tests)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    """One scripted chat completion: streamed text, tool calls, or an HTTP error status."""

    text: str = ""
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    status: int = 200
    delay: float = 0.0  # seconds before the first chunk (time to first token)


@dataclass(frozen=True)
class ProviderRequest:
    at: float  # time.time() when the request arrived
    path: str
    body: dict[str, Any]

    @property
    def speech_text(self) -> str:
        return str(self.body.get("input") or "")


@dataclass
class _Script:
    replies: deque[Reply] = field(default_factory=deque)
    default: Reply = field(default_factory=lambda: Reply(text="All right."))
    requests: list[ProviderRequest] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)


def tone(seconds: float) -> bytes:
    """16-bit mono PCM of a quiet 440 Hz tone: what the fake TTS speaks."""
    frames = int(seconds * SAMPLE_RATE)
    return b"".join(struct.pack("<h", int(2000 * math.sin(2 * math.pi * 440 * i / SAMPLE_RATE))) for i in range(frames))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProviderHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # the plugins' connection prewarm: any quick answer will do
        self._send(404, "application/json", b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = {}
        script = self.server.script
        with script.changed:
            script.requests.append(ProviderRequest(at=time.time(), path=self.path, body=body))
            reply = script.replies.popleft() if self.path.endswith("/chat/completions") and script.replies else None
            script.changed.notify_all()
        if self.path.endswith("/audio/speech"):
            self._send(200, "audio/pcm", self.server.speech_audio)
        elif self.path.endswith("/chat/completions"):
            self._chat(reply or script.default, model=str(body.get("model") or "scripted"))
        else:
            self._send(404, "application/json", b'{"error": {"message": "not found"}}')

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _chat(self, reply: Reply, *, model: str) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        if reply.status != 200:
            error = {"error": {"message": "scripted provider failure", "type": "server_error", "code": None}}
            self._send(reply.status, "application/json", json.dumps(error).encode())
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunks: list[dict[str, Any]] = []
        for word in reply.text.split(" ") if reply.text else []:
            chunks.append({"delta": {"role": "assistant", "content": word + " "}, "finish_reason": None})
        for index, (name, arguments) in enumerate(reply.tool_calls):
            call = {"index": index, "id": f"call_{secrets.token_hex(4)}", "type": "function"}
            call["function"] = {"name": name, "arguments": json.dumps(arguments)}
            chunks.append({"delta": {"role": "assistant", "tool_calls": [call]}, "finish_reason": None})
        chunks.append({"delta": {}, "finish_reason": "tool_calls" if reply.tool_calls else "stop"})
        for choice in chunks:
            self._event({"choices": [{"index": 0, **choice}]}, model)
        usage = {"prompt_tokens": 50, "completion_tokens": max(1, len(reply.text) // 4), "total_tokens": 0}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        self._event({"choices": [], "usage": usage}, model)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _event(self, chunk: dict[str, Any], model: str) -> None:
        payload = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0, "model": model, **chunk}
        self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())


class _ProviderHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    script: _Script
    speech_audio: bytes


class LocalProviderServer:
    """An OpenAI-compatible LLM (/v1/chat/completions, SSE) and TTS (/v1/audio/speech, PCM) on 127.0.0.1.

    Replies are scripted in order (reply(), then the default); every request is recorded with its
    arrival time, so a test or the benchmark can wait for "the greeting reached the TTS".
    """

    def __init__(self, *, speech_seconds: float = 0.2) -> None:
        self._httpd = _ProviderHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.script = _Script()
        self._httpd.speech_audio = tone(speech_seconds)
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="local-provider", daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def script(self) -> _Script:
        return self._httpd.script

    def start(self) -> LocalProviderServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def reply(self, *replies: Reply) -> None:
        with self.script.changed:
            self.script.replies.extend(replies)

    def reset(self, *, default: Reply | None = None) -> None:
        with self.script.changed:
            self.script.replies.clear()
            self.script.requests.clear()
            if default is not None:
                self.script.default = default

    def requests(self, path_suffix: str = "") -> list[ProviderRequest]:
        with self.script.changed:
            return [r for r in self.script.requests if r.path.endswith(path_suffix)]

    def wait_for_speech(self, text: str, *, after: float = 0.0, timeout: float = 20.0) -> ProviderRequest | None:
        """The first TTS request since `after` whose input contains `text`, waiting up to `timeout` seconds."""

        def found() -> ProviderRequest | None:
            for request in self.script.requests:
                if request.at >= after and request.path.endswith("/audio/speech") and text in request.speech_text:
                    return request
            return None

        with self.script.changed:
            self.script.changed.wait_for(lambda: found() is not None, timeout=timeout)
            return found()


# --------------------------------------------------------------------------------------------
# The benchmark
# --------------------------------------------------------------------------------------------


class _StartTimes(logging.Handler):
    """Collects run_call's "session started" records (forwarded from the job processes) by call id."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.job_started_at: dict[str, float] = {}
        self.session_started_ms: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "job_started_at") and hasattr(record, "call_id"):
            self.job_started_at[str(record.call_id)] = float(record.job_started_at)
            self.session_started_ms.append(float(record.start_ms))


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class Command(BaseCommand):
    help = "Time a call's start in real job processes (warm and cold config cache) and an idle job's memory."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--calls", type=int, default=20, help="calls per cache state (default 20)")

    def handle(self, *args: Any, **options: Any) -> None:
        calls = options["calls"]
        if calls < 1:
            raise CommandError("--calls must be at least 1")
        provider = LocalProviderServer().start()
        # The OpenAI TTS plugin takes its endpoint from OPENAI_BASE_URL (the factory passes no
        # base_url for it); set before the first job process exists, so they all inherit it.
        os.environ["OPENAI_BASE_URL"] = provider.base_url
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
            tenant.delete()
            provider.stop()
        warm, cold, rss_mb = result
        started = times.session_started_ms[1:]  # the uncounted first call left out
        self.stdout.write(
            f"job start -> session.start() returned: p50={_percentile(started, 0.5):.1f} ms (all {len(started)} calls)"
        )
        self.stdout.write(
            f"calls={calls} warm min={min(warm):.1f} p50={_percentile(warm, 0.5):.1f} max={max(warm):.1f} ms; "
            f"cold min={min(cold):.1f} p50={_percentile(cold, 0.5):.1f} max={max(cold):.1f} ms"
        )
        self.stdout.write(
            f"bench_call_start warm_p50_ms={_percentile(warm, 0.5):.1f} warm_p99_ms={_percentile(warm, 0.99):.1f} "
            f"cold_p50_ms={_percentile(cold, 0.5):.1f} job_rss_mb={rss_mb:.1f}"
        )

    def _agent(self, tenant: Tenant, provider: LocalProviderServer) -> Any:
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
        self, tenant: Tenant, agent: Any, provider: LocalProviderServer, times: _StartTimes, calls: int
    ) -> tuple[list[float], list[float], float]:
        measure = partial(self._measure, tenant=tenant, agent=agent, provider=provider, times=times)

        async def invalidate() -> None:
            await asyncio.to_thread(loader.invalidate, tenant_code=tenant.code, agent_code=agent.code)

        server, task = await self._start_server()
        try:
            rss_mb = await self._idle_job_rss()
            await measure(server)  # the first job of a fresh forkserver: not counted
        finally:
            await self._close(server, task)
        cold = await self._phase(calls, measure, before_each=invalidate)
        warm = await self._phase(calls, measure)
        self.stderr.write(f"mean warm {statistics.mean(warm):.1f} ms, mean cold {statistics.mean(cold):.1f} ms")
        return warm, cold, rss_mb

    async def _phase(self, calls: int, measure: Any, *, before_each: Any = None) -> list[float]:
        """`calls` calls one after the other; each stays connected (a silent caller) until its batch ends."""
        samples: list[float] = []
        while len(samples) < calls:
            server, task = await self._start_server()
            try:
                for _ in range(min(BATCH, calls - len(samples))):
                    if before_each is not None:
                        await before_each()
                    samples.append(await measure(server))
            finally:
                # Ends the batch's calls as a worker shutdown does: sessions closed, Calls written.
                await self._close(server, task)
        return samples

    async def _idle_job_rss(self) -> float:
        """Resident memory of one idle job process (forked from the forkserver, VAD and connections ready)."""
        for _ in range(200):
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
    async def _close(server: AgentServer, task: asyncio.Task[None]) -> None:
        await server.aclose()
        await task

    async def _measure(
        self, server: AgentServer, *, tenant: Tenant, agent: Any, provider: LocalProviderServer, times: _StartTimes
    ) -> float:
        """One call in a fresh job process; ms from its entrypoint starting to the greeting at the TTS."""
        call = await asyncio.to_thread(self._new_call, tenant, agent)
        metadata = json.dumps({"agent_id": str(agent.code), "tenant_id": str(tenant.code), "call_id": str(call.code)})
        launched = time.time()
        room = models.Room(name=call.room_name, metadata=metadata)
        await server.simulate_job(call.room_name, fake_job=True, room_info=room)
        speech = await asyncio.to_thread(provider.wait_for_speech, GREETING, after=launched, timeout=30)
        for _ in range(500):
            if str(call.code) in times.job_started_at:
                break
            await asyncio.sleep(0.01)
        if speech is None or str(call.code) not in times.job_started_at:
            raise CommandError(f"call {call.code} did not greet within 30 s; see the worker log above")
        return (speech.at - times.job_started_at[str(call.code)]) * 1000

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
