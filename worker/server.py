"""The voice worker's AgentServer: one per `manage.py run_voice_worker`, serving every agent of every tenant.

Job processes are forked from a forkserver that imported worker.preload (Django set up once);
each process loads Silero VAD once in setup_process and keeps it in proc.userdata for its calls,
and builds the TLS context its provider clients share (worker.transport).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket
import uuid
from collections.abc import Callable

import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, connection
from livekit.agents import AgentServer, JobProcess
from livekit.agents.tokenize.basic import hyphenate_word

from agents_app.runtime_config import loader
from campaigns_app.dialer.capacity import report_voice_worker, withdraw_voice_worker
from worker import entrypoint, factories, livekit_compat, rehearsal, transport
from worker import metrics as worker_metrics

logger = logging.getLogger(__name__)

VAD_KEY = entrypoint.VAD_KEY
PREWARM_TIMEOUT = 5.0  # seconds; AgentServer gives a process 10 s to initialise
# The worker tells LiveKit it is full once this share of its MAX_CONCURRENCY calls is in use.
LOAD_THRESHOLD = 1.0


def setup_process(proc: JobProcess) -> None:
    """Per job process, before its call: Silero VAD, the TLS context, connections opened, one log
    copy, and a rehearsal of a call's start (worker.rehearsal)."""
    from livekit.plugins import silero

    # The forkserver's django.setup() gave this process Django's stderr handler; the job's records
    # already reach the worker through livekit's LogQueueHandler, so keep only that one.
    root = logging.getLogger()
    for handler in list(root.handlers):
        if not livekit_compat.is_job_log_forwarder(handler):
            root.removeHandler(handler)
    proc.userdata[VAD_KEY] = silero.VAD.load()
    # The text/audio synchronizer's hyphenator is built on the first spoken word (~25 ms on the
    # event loop, just as the greeting's audio starts): build it now.
    hyphenate_word("warm")
    # The trust store, parsed once here: every provider client of the call shares this context.
    transport.ssl_context()
    _open_connections()
    # Last: the call's start, rehearsed, so the call does not pay this process's first uses.
    rehearsal.rehearse(proc)
    # Then the rehearsal's garbage collected, and everything still alive (Django, the plugins,
    # Silero, the warmed caches) frozen out of the collector's reach: otherwise a young-generation
    # collection walking those objects lands in every call's start (5-8 ms measured, each call).
    gc.collect()
    gc.freeze()


def _open_connections() -> None:
    """Pay the connection set-up now, while the process waits for a call, not when the caller waits.

    The database connection is opened in the thread that sync_to_async uses for the ORM (Django
    connections are per thread); the entrypoint checks it is still alive before using it. The
    Redis pool and the LiveKit native runtime are per process.
    """
    try:
        # bounded: a database that does not answer must not make the process miss its start-up deadline
        asyncio.run(asyncio.wait_for(sync_to_async(_open_database_connection)(), timeout=PREWARM_TIMEOUT))
        loader.client.ping()
    except (DatabaseError, redis.RedisError, TimeoutError):
        logger.warning("job process could not open its connections ahead of time; its call will", exc_info=True)
    livekit_compat.native_runtime_start()


def _open_database_connection() -> None:
    connection.ensure_connection()


def load_function(concurrency: int) -> Callable[[AgentServer], float]:
    """The worker's load as LiveKit sees it: running calls over the configured maximum."""

    def load(server: AgentServer) -> float:
        return len(server.active_jobs) / concurrency

    return load


INITIALIZE_PROCESS_TIMEOUT = 60.0
# How often a voice worker tells the dialer its capacity and running calls (the report expires
# after campaigns_app.dialer.capacity.VOICE_WORKER_TTL, so a dead worker stops counting).
HEARTBEAT_SECONDS = 5.0


def voice_worker_id() -> str:
    """A name for this worker process in the dialer's capacity reports, unique across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def report_capacity(
    server: AgentServer,
    *,
    worker_id: str,
    concurrency: int,
    stop: asyncio.Event,
    ready: asyncio.Event | None = None,
    interval: float = HEARTBEAT_SECONDS,
) -> None:
    """From `ready` (the worker registered with LiveKit: it can take calls) until `stop` is set:
    every `interval` s, this worker's capacity (MAX_CONCURRENCY) and running calls to the dialer;
    then the report is withdrawn, so a draining worker gets no more calls."""
    if ready is not None:
        waiting = {asyncio.ensure_future(ready.wait()), asyncio.ensure_future(stop.wait())}
        _done, pending = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
    try:
        while not stop.is_set():
            try:
                await asyncio.to_thread(
                    report_voice_worker, worker_id=worker_id, capacity=concurrency, active=len(server.active_jobs)
                )
            except redis.RedisError as exc:
                logger.warning("voice worker: capacity report failed (%s); the dialer may count it out", exc)
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass
    finally:
        try:
            await asyncio.to_thread(withdraw_voice_worker, worker_id=worker_id)
        except redis.RedisError as exc:
            logger.warning("voice worker: could not withdraw its capacity report (%s); it expires", exc)


def build_server(
    *,
    concurrency: int | None = None,
    port: int | None = None,
    drain_timeout: int | None = None,
    num_idle_processes: int | None = None,
) -> AgentServer:
    """An AgentServer with explicit dispatch, capacity from MAX_CONCURRENCY and the per-call entrypoint."""
    factories.load_plugins()  # on the main thread: plugins refuse to register anywhere else
    concurrency = concurrency or settings.MAX_CONCURRENCY
    options = {} if num_idle_processes is None else {"num_idle_processes": num_idle_processes}
    # The job processes count in this server's own directory (worker.metrics), never in a
    # PROMETHEUS_MULTIPROC_DIR the environment may name for the web and Celery: the server empties it.
    metrics_directory = worker_metrics.new_directory()
    server = AgentServer(
        setup_fnc=setup_process,
        load_fnc=load_function(concurrency),
        load_threshold=LOAD_THRESHOLD,
        drain_timeout=drain_timeout if drain_timeout is not None else settings.WORKER_DRAIN_TIMEOUT,
        port=port if port is not None else settings.WORKER_HEALTH_PORT,
        preload_modules=["worker.preload"],
        # Django, the plugins and Silero load in the forkserver and each new process: on a busy
        # machine that takes longer than livekit's 10 s default, which would kill the process.
        initialize_process_timeout=INITIALIZE_PROCESS_TIMEOUT,
        ws_url=settings.LIVEKIT_URL or None,
        api_key=settings.LIVEKIT_API_KEY or None,
        api_secret=settings.LIVEKIT_API_SECRET or None,
        prometheus_multiproc_dir=metrics_directory,
        **options,
    )
    worker_metrics.serve_on_health_port(server, concurrency=concurrency, directory=metrics_directory)
    server.rtc_session(
        entrypoint.run_call,
        agent_name=settings.LIVEKIT_AGENT_NAME,
        on_session_end=entrypoint.finish_call,
    )
    return server


async def shutdown(server: AgentServer, *, timeout: int | None = None) -> bool:
    """Stop taking calls, let live calls finish (up to timeout seconds), then close; False if some were cut."""
    timeout = timeout if timeout is not None else settings.WORKER_DRAIN_TIMEOUT
    logger.info("voice worker draining: %d live call(s), waiting up to %ss", len(server.active_jobs), timeout)
    drained = True
    try:
        await server.drain(timeout=timeout)
    except TimeoutError:  # asyncio.TimeoutError is TimeoutError since Python 3.11
        drained = False
        logger.warning("voice worker drain timed out after %ss; ending %d call(s)", timeout, len(server.active_jobs))
    await server.aclose()
    logger.info("voice worker stopped")
    return drained
