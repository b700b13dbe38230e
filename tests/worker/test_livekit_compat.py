"""worker/livekit_compat.py against the installed livekit-agents: what each function touches still
exists with the expected shape, and each function still has its effect. A livekit upgrade that
moves one of them fails here, loudly, instead of silently turning off the benchmark's hang-up,
the web chat's plugin import, the held prewarms, the job log forwarding or the rehearsal's room."""

from __future__ import annotations

import asyncio
import inspect
import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from livekit.agents import AgentServer, AgentSession, JobContext, JobExecutorType, Plugin
from livekit.plugins import openai

from worker import livekit_compat
from worker.prewarm import HeldPrewarms

BASE_URL = "http://127.0.0.1:9/v1"  # never reached: nothing here sends a request


def _in_thread(fn: Callable[[], Any]) -> BaseException | None:
    """Run fn on another thread; what it raised (None if nothing)."""
    raised: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=10)
    return raised[0] if raised else None


# --- AgentServer._proc_pool, ProcPool.get_by_job_id and ProcPool._warmed_proc_queue -------------


def test_the_process_pool_is_where_the_compat_module_looks():
    from livekit.agents.ipc.proc_pool import ProcPool

    assert "self._proc_pool = ipc.proc_pool.ProcPool(" in inspect.getsource(AgentServer.run)
    assert list(inspect.signature(ProcPool.get_by_job_id).parameters) == ["self", "job_id"]
    assert "self._warmed_proc_queue = asyncio.Queue" in inspect.getsource(ProcPool.__init__)


def test_the_process_pool_helpers_find_the_running_job_and_see_the_next_idle_process():
    """A real AgentServer (thread executors, no LiveKit server): a job is found, ended, and the
    idle process that replaces it is seen, as bench_call_start's hang-up needs."""

    async def entrypoint(ctx: JobContext) -> None:
        return None  # the job runs on after its entrypoint returns, as a call does, until it is ended

    async def round_trip() -> None:
        server = AgentServer(
            job_executor_type=JobExecutorType.THREAD,
            num_idle_processes=1,
            port=0,
            shutdown_process_timeout=0.5,
            setup_fnc=lambda proc: None,
        )
        server.rtc_session(entrypoint)
        task = asyncio.create_task(server.run(devmode=True, unregistered=True))
        try:
            await _until(lambda: hasattr(server, "_proc_pool") and livekit_compat.idle_process_ready(server))
            await server.simulate_job("compat-room", fake_job=True)
            await _until(lambda: bool(server.active_jobs))
            assert not livekit_compat.idle_process_ready(server)  # the idle process took the job

            [job] = server.active_jobs
            executor = livekit_compat.job_executor(server, job.job.id)
            assert executor is not None and executor.running_job is not None
            assert executor.running_job.job.id == job.job.id
            assert livekit_compat.job_executor(server, "no-such-job") is None

            await executor.aclose()
            await _until(lambda: not server.active_jobs and livekit_compat.idle_process_ready(server))
        finally:
            await server.aclose()
            await task

    asyncio.run(asyncio.wait_for(round_trip(), timeout=30))


async def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached")


# --- Plugin.register_plugin ---------------------------------------------------------------------


class _CompatPlugin(Plugin):
    def __init__(self) -> None:
        super().__init__("compat-test", "0", "compat-test")


def test_register_plugin_is_the_classmethod_with_the_main_thread_check():
    method = Plugin.__dict__["register_plugin"]
    assert isinstance(method, classmethod)
    assert list(inspect.signature(method.__func__).parameters) == ["cls", "plugin"]
    assert "main_thread" in inspect.getsource(method.__func__)
    assert isinstance(Plugin.registered_plugins, list)
    assert callable(Plugin.emitter.emit)


def test_plugins_register_off_the_main_thread_only_inside_the_context():
    plugin = _CompatPlugin()
    announced: list[Plugin] = []
    Plugin.emitter.on("plugin_registered", announced.append)
    try:
        refused = _in_thread(lambda: Plugin.register_plugin(plugin))
        assert isinstance(refused, RuntimeError)  # livekit's own check: the reason for the context

        with livekit_compat.plugins_register_off_main_thread():
            assert _in_thread(lambda: Plugin.register_plugin(plugin)) is None

        assert plugin in Plugin.registered_plugins and announced == [plugin]
        assert Plugin.__dict__["register_plugin"].__func__.__qualname__ == "Plugin.register_plugin"  # restored
        assert isinstance(_in_thread(lambda: Plugin.register_plugin(plugin)), RuntimeError)
    finally:
        Plugin.emitter.off("plugin_registered", announced.append)
        while plugin in Plugin.registered_plugins:
            Plugin.registered_plugins.remove(plugin)


# --- the plugins' prewarm ------------------------------------------------------------------------


PLUGINS: dict[str, tuple[type, dict[str, Any]]] = {
    "llm": (openai.LLM, {"model": "gpt-4o-mini"}),
    "tts": (openai.TTS, {}),
    "stt": (openai.STT, {}),
}


@pytest.mark.parametrize("kind", sorted(PLUGINS))
def test_the_openai_plugins_prewarm_is_a_method_that_the_hold_shadows_and_the_release_restores(kind):
    plugin_class, options = PLUGINS[kind]
    assert inspect.isfunction(inspect.getattr_static(plugin_class, "prewarm"))  # an instance attribute shadows it

    async def check() -> None:
        counted: list[str] = []

        class Counting(plugin_class):  # type: ignore[misc, valid-type]
            def prewarm(self, *args: Any, **kwargs: Any) -> None:
                counted.append("prewarm")

        plugin = Counting(api_key="compat", base_url=BASE_URL, **options)
        livekit_compat.prewarm_hold(plugin)
        plugin.prewarm()
        assert counted == []

        livekit_compat.prewarm_release(plugin)
        livekit_compat.prewarm_release(plugin)  # idempotent
        plugin.prewarm()
        assert counted == ["prewarm"]

    asyncio.run(check())


def test_agent_session_prewarms_its_llm_as_it_is_built_unless_held():
    """Why the hold exists (AgentSession's constructor asks the LLM to prewarm), and that it holds."""

    async def check() -> None:
        counted: list[str] = []

        class CountingLLM(openai.LLM):
            def prewarm(self, *args: Any, **kwargs: Any) -> None:
                counted.append("prewarm")

        plain = CountingLLM(model="gpt-4o-mini", api_key="compat", base_url=BASE_URL)
        AgentSession(llm=plain)
        assert counted == ["prewarm"]

        counted.clear()
        held_llm = CountingLLM(model="gpt-4o-mini", api_key="compat", base_url=BASE_URL)
        held = HeldPrewarms(llm=held_llm, tts=None, stt=None, tts_is_warm=False)
        AgentSession(llm=held_llm)
        assert counted == []
        held.release()
        assert counted == ["prewarm"]

    asyncio.run(check())


# --- the native runtime, the job log forwarder, the mock room -----------------------------------


def test_the_native_runtime_starts_on_request():
    """In a child process: the FFI runtime must not be started in a process that forks later."""
    script = (
        "from livekit.rtc._ffi_client import FfiClient\n"
        "assert FfiClient._instance is None\n"
        "from worker import livekit_compat\n"
        "livekit_compat.native_runtime_start()\n"
        "assert isinstance(FfiClient._instance, FfiClient)\n"
        "print('started', flush=True)\n"
        "import os; os._exit(0)\n"  # as a job process ends: no interpreter teardown under the runtime's threads
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, "started\n"), done.stderr


def test_the_job_log_forwarder_is_recognised_and_nothing_else_is():
    from livekit.agents.ipc.log_queue import LogQueueHandler

    assert issubclass(LogQueueHandler, logging.Handler)
    forwarder = LogQueueHandler.__new__(LogQueueHandler)  # not started: its constructor opens a thread
    assert livekit_compat.is_job_log_forwarder(forwarder)
    assert not livekit_compat.is_job_log_forwarder(logging.StreamHandler())


def test_the_mock_room_stands_in_for_a_room_in_a_fake_job_context():
    from livekit import rtc
    from livekit.agents.testing import fake_job_context

    room = livekit_compat.mock_room()

    assert isinstance(room, rtc.Room)  # a mock with the Room's spec: no connection is ever made
    with fake_job_context(room=room, job_id="compat") as job_ctx:
        assert job_ctx.room is room


# --- The health server (livekit.agents.worker.http_server) ---------------------------------------


def test_the_health_server_is_built_where_the_compat_module_replaces_it():
    import importlib

    from livekit.agents.utils import http_server

    agents_worker = importlib.import_module("livekit.agents.worker")
    source = inspect.getsource(AgentServer.run)
    assert "self._http_server = http_server.HttpServer(" in source
    assert "await self._http_server.start()" in source
    assert agents_worker.http_server is http_server or agents_worker.http_server.is_voiceplatform_health_server
    assert list(inspect.signature(http_server.HttpServer.__init__).parameters) == ["self", "host", "port"]


def test_a_health_port_route_is_served_by_the_next_server():
    """A real AgentServer (unregistered, no LiveKit server): GET / still answers OK, and the added page too."""
    import httpx
    from aiohttp import web

    async def page(_request: Any) -> web.Response:
        return web.Response(text="extra page")

    livekit_compat.health_port_route("/compat-probe", page)

    async def entrypoint(ctx: JobContext) -> None:
        return None

    async def scenario() -> tuple[str, str]:
        server = AgentServer(job_executor_type=JobExecutorType.THREAD, port=0, num_idle_processes=0)
        server.rtc_session(entrypoint, agent_name="compat")
        task = asyncio.create_task(server.run(devmode=True, unregistered=True))
        try:
            while server.worker_info.http_port == 0 and not task.done():
                await asyncio.sleep(0.01)
            port = server.worker_info.http_port
            for host in ("127.0.0.1", "[::1]"):
                try:
                    async with httpx.AsyncClient(base_url=f"http://{host}:{port}", trust_env=False) as client:
                        return (await client.get("/")).text, (await client.get("/compat-probe")).text
                except httpx.ConnectError:
                    continue
            raise AssertionError("nothing answers on the health port")
        finally:
            await server.aclose()
            await task

    try:
        health, extra = asyncio.run(asyncio.wait_for(scenario(), timeout=60))
    finally:
        livekit_compat._health_routes.pop("/compat-probe", None)
    assert (health, extra) == ("OK", "extra page")
