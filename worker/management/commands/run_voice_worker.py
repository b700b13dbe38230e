"""`manage.py run_voice_worker`: the LiveKit voice worker that answers calls for every agent of every tenant."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from livekit.agents import AgentServer

from voiceplatform.config import ConfigError
from worker.server import build_server, report_capacity, shutdown, voice_worker_id

logger = logging.getLogger("worker")

LIVEKIT_SETTINGS = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")


def missing_livekit_settings() -> list[str]:
    return [name for name in LIVEKIT_SETTINGS if not getattr(settings, name)]


class Command(BaseCommand):
    help = (
        "Run the voice worker: registers with LiveKit under LIVEKIT_AGENT_NAME and serves dispatched calls. "
        "SIGTERM/SIGINT stop new calls and let live ones finish (WORKER_DRAIN_TIMEOUT) before exiting."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dev", action="store_true", help="development mode (no idle processes kept warm)")
        parser.add_argument(
            "--concurrency",
            type=int,
            default=None,
            metavar="N",
            help=f"calls this worker takes at once (default MAX_CONCURRENCY={settings.MAX_CONCURRENCY})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if missing := missing_livekit_settings():
            # manage.py prints a ConfigError as one line and exits with code 2
            raise ConfigError(
                f"{', '.join(missing)} not set: the voice worker needs the LiveKit URL, API key and secret "
                "to register with LiveKit (see .env.example)"
            )
        concurrency = options["concurrency"]
        if concurrency is not None and concurrency < 1:
            raise CommandError("--concurrency must be at least 1")
        concurrency = concurrency or settings.MAX_CONCURRENCY
        server = build_server(concurrency=concurrency)
        asyncio.run(serve(server, devmode=options["dev"], concurrency=concurrency))


async def serve(server: AgentServer, *, devmode: bool, concurrency: int) -> None:
    """Run the worker until SIGTERM/SIGINT, then drain live calls and close; raises if LiveKit gives up on us."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            logger.info("voice worker already draining (%s ignored)", signal.Signals(signum).name)
            return
        logger.info("voice worker received %s", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    server.on(
        "worker_started",
        lambda: logger.info(
            "voice worker running: agent name %r, up to %d calls, health check on port %d",
            settings.LIVEKIT_AGENT_NAME,
            concurrency,
            server.worker_info.http_port,
        ),
    )
    run_task = asyncio.create_task(server.run(devmode=devmode), name="voice_worker_run")
    stop_task = asyncio.create_task(stop.wait(), name="voice_worker_stop")
    # The dialer places outbound calls only up to what the voice workers report (campaigns_app.dialer),
    # from the worker's registration with LiveKit on.
    registered, stop_reports = asyncio.Event(), asyncio.Event()
    server.on("worker_registered", lambda *_args: registered.set())
    reports = asyncio.create_task(
        report_capacity(
            server, worker_id=voice_worker_id(), concurrency=concurrency, stop=stop_reports, ready=registered
        ),
        name="voice_worker_capacity",
    )
    await asyncio.wait({run_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    stop_reports.set()  # draining or stopped: no more calls for this worker
    await reports
    if not stop_task.done():
        # run() ended on its own: LiveKit refused or could not be reached after the retries
        stop_task.cancel()
        await server.aclose()
        exc = run_task.exception()
        raise CommandError(f"voice worker stopped: {exc or 'the LiveKit connection closed'}")
    await shutdown(server)
    await run_task
