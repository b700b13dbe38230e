"""`manage.py run_voice_worker` stopped as a process manager stops it logs no ERROR line, and leaves
no process behind: a clean shutdown is not an error.

honcho (`make run`) and systemd signal the whole process group, so the worker's forkserver and its
idle job processes get the signal too, not only the worker (see worker/preload.py)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from aiohttp import WSMsgType, web
from livekit.protocol import agent

from tests.worker.test_worker_process import BASE_DIR, command_env, job_environment, job_provider

__all__ = ["job_environment", "job_provider"]

pytestmark = pytest.mark.django_db(transaction=True)  # the job processes' warm-up reads the test database


class FakeAgentServer:
    """LiveKit's worker endpoint (/agent) on loopback: answers the worker's registration and keeps the
    connection open, recording what the worker sent, until the worker closes it."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.closed_by_worker = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self.port = 0

    def __enter__(self) -> FakeAgentServer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_get("/agent", self._agent)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = site._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(runner.cleanup())

    async def _agent(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type != WSMsgType.BINARY:
                continue
            worker_message = agent.WorkerMessage()
            worker_message.ParseFromString(message.data)
            kind = worker_message.WhichOneof("message")
            self.received.append(kind)
            if kind == "register":
                answer = agent.ServerMessage()
                answer.register.worker_id = "AW_test0001"
                answer.register.server_info.version = "1.9.0"
                await ws.send_bytes(answer.SerializeToString())
        self.closed_by_worker.set()
        return ws


@pytest.fixture
def livekit_agent_server() -> Iterator[FakeAgentServer]:
    with FakeAgentServer() as server:
        yield server


def _group_is_gone(pgid: int, *, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def _stop_with_group_signal(env: dict[str, str], signum: int, *, wait_for: str) -> str:
    """Start the command, wait for `wait_for` in its log, signal its process group; its whole log."""
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_voice_worker", "--concurrency", "2"],  # idle processes kept warm
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as honcho starts it
    )
    try:
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            seen.append(line)
            if wait_for in line or not line:
                break
        time.sleep(1)  # the idle job processes are up
        os.killpg(process.pid, signum)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    log = "".join(seen) + rest
    assert process.returncode == 0, log
    assert "voice worker stopped" in log
    assert _group_is_gone(process.pid), "a process of the worker's group outlived it"
    return log


def _errors(log: str) -> list[str]:
    return [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line]


def _env(livekit_url: str) -> dict[str, str]:
    return command_env(
        LIVEKIT_URL=livekit_url,
        LIVEKIT_API_KEY="devkey",
        LIVEKIT_API_SECRET="a-secret-of-at-least-32-bytes-for-hs256",
        WORKER_HEALTH_PORT="0",
    )


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_the_process_group_stops_the_worker_with_no_error_line(job_environment, signum):
    # A closed port: the worker keeps retrying to register (WARNING lines), as while LiveKit is down.
    log = _stop_with_group_signal(_env("ws://127.0.0.1:9"), signum, wait_for="voice worker running")

    assert _errors(log) == [], log


def test_a_registered_worker_stops_cleanly_and_closes_its_livekit_connection(job_environment, livekit_agent_server):
    url = f"ws://127.0.0.1:{livekit_agent_server.port}"

    log = _stop_with_group_signal(_env(url), signal.SIGTERM, wait_for="registered worker")

    assert "registered worker" in log
    assert _errors(log) == [], log
    assert livekit_agent_server.received[0] == "register"
    assert livekit_agent_server.closed_by_worker.wait(5)
