"""Every private livekit attribute, internal module or replaced method the project relies on.

livekit-agents (1.8.9) offers no public way to do a few things the worker needs: end one job of
a running AgentServer, see whether an idle job process is ready, register a provider plugin off
the main thread, hold a plugin's connection prewarm, start the native runtime ahead of a call,
recognise the handler that forwards a job's log records, build a mock room, serve one more page on
the health port (the worker's /metrics). Each is done here and
nowhere else, and tests/worker/test_livekit_compat.py checks each against the installed library:
that what it touches still exists with the shape expected, and that the function still has its
effect. An upgrade that moves one of them then fails a test instead of silently turning off the
benchmark's hang-up, the web chat's plugin import, the held prewarms or the call-start rehearsal.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from livekit.agents import Plugin

if TYPE_CHECKING:
    from livekit import rtc
    from livekit.agents import AgentServer
    from livekit.agents.ipc.job_executor import JobExecutor


# --- AgentServer's process pool (AgentServer._proc_pool, ProcPool._warmed_proc_queue) ----------


def job_executor(server: AgentServer, job_id: str) -> JobExecutor | None:
    """The executor (job process) running `job_id` on a running server, None if no process runs it."""
    executor: JobExecutor | None = server._proc_pool.get_by_job_id(job_id)
    return executor


def idle_process_ready(server: AgentServer) -> bool:
    """Whether an initialised job process is waiting for the server's next job."""
    return not server._proc_pool._warmed_proc_queue.empty()


# --- Plugin registration (Plugin.register_plugin, replaced for a while) -------------------------


@contextlib.contextmanager
def plugins_register_off_main_thread() -> Iterator[None]:
    """Within: a plugin imported on any thread registers, without Plugin.register_plugin's main-thread check.

    The replacement is process-wide while it lasts: callers hold a lock around it (and around the
    import it covers)."""
    original = Plugin.__dict__["register_plugin"]

    def register_anywhere(cls: type[Plugin], plugin: Plugin) -> None:
        cls.registered_plugins.append(plugin)
        cls.emitter.emit("plugin_registered", plugin)

    Plugin.register_plugin = classmethod(register_anywhere)  # type: ignore[method-assign, assignment]
    try:
        yield
    finally:
        Plugin.register_plugin = original  # type: ignore[method-assign]


# --- A plugin's prewarm (the instance's prewarm method, shadowed) -------------------------------


def prewarm_hold(plugin: Any) -> None:
    """Until prewarm_release: the plugin's prewarm() does nothing (AgentSession calls it as it builds
    and starts). An instance attribute shadows the class's method, which is kept."""
    plugin.prewarm = _no_prewarm


def prewarm_release(plugin: Any) -> None:
    """The plugin's own prewarm() again (it is not run here)."""
    if "prewarm" in vars(plugin):
        del plugin.prewarm


def _no_prewarm(*args: object, **kwargs: object) -> None:
    return None


# --- The native runtime (livekit.rtc._ffi_client) ------------------------------------------------


def native_runtime_start() -> None:
    """Start livekit's native (FFI) runtime and its threads in this process now, not at the call's first use."""
    from livekit.rtc._ffi_client import FfiClient

    FfiClient.instance  # noqa: B018  (the property starts the runtime on first access)


# --- Job log forwarding (livekit.agents.ipc.log_queue) ------------------------------------------


def is_job_log_forwarder(handler: logging.Handler) -> bool:
    """Whether this root-logger handler is livekit's, forwarding a job process's records to the worker."""
    from livekit.agents.ipc.log_queue import LogQueueHandler

    return isinstance(handler, LogQueueHandler)


# --- The mock room of fake job contexts (livekit.agents.ipc.mock_room) --------------------------


def mock_room() -> rtc.Room:
    """A mock rtc.Room, as livekit's own fake job context uses (no connection is made)."""
    from livekit.agents.ipc.mock_room import create_mock_room

    room: rtc.Room = create_mock_room()
    return room


# --- Pages on the health port (livekit.agents.worker's reference to utils.http_server) ----------

HealthHandler = Callable[[Any], Awaitable[Any]]  # an aiohttp handler: web.Request -> web.StreamResponse
_health_routes: dict[str, HealthHandler] = {}


def health_port_route(path: str, handler: HealthHandler) -> None:
    """Every AgentServer run from now on in this process also answers GET `path` on its health port.

    AgentServer.run builds its health server (`http_server.HttpServer(host, port)`, GET / and
    /worker) and starts it at once, with no hook in between; aiohttp freezes the routes at start. So
    the module reference AgentServer.run uses is pointed at a subclass that adds the registered
    routes as it is built. Registering the same path again replaces its handler."""
    from aiohttp import web
    from livekit.agents.utils import http_server

    _health_routes[path] = handler
    agents_worker = importlib.import_module("livekit.agents.worker")
    if getattr(agents_worker.http_server, "is_voiceplatform_health_server", False):
        return

    class HealthServer(http_server.HttpServer):
        def __init__(self, host: str, port: int) -> None:
            super().__init__(host, port)
            self.app.add_routes([web.get(route, page) for route, page in _health_routes.items()])

    agents_worker.http_server = SimpleNamespace(HttpServer=HealthServer, is_voiceplatform_health_server=True)
