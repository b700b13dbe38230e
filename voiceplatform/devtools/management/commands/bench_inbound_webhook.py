"""Benchmark of Twilio's voice webhook under a production server; the last line is machine-readable.

Starts a fake LiveKit Twirp API on loopback (voiceplatform.devtools.fake_livekit), the platform under
gunicorn with the shipped settings (voiceplatform/gunicorn_conf.py: by default its own worker count)
against the same DATABASE_URL/REDIS_URL, seeds a throw-away tenant
with a Twilio credential, an agent, a number and (unless --without-webhooks) a webhook endpoint
subscribed to the call events, and has a separate process
(voiceplatform.devtools.bench_load) send correctly signed voice webhooks at a fixed, open-loop rate.
Each call is ended CALL_SECONDS after it rang, as callers hang up, so the agent's open calls stay
under its max_concurrent_calls (1000 here) and every webhook takes the connect path.
Everything it started and wrote is removed at the end.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import random
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.utils import timezone

from agents_app.services import agent_create
from telephony_app.models import Call, CallStatus, PhoneNumber
from telephony_app.services import phone_number_create
from voiceplatform.actor import SYSTEM
from voiceplatform.config import default_web_workers
from voiceplatform.devtools.fake_livekit import FakeLiveKit
from voiceplatform.models import Tenant
from voiceplatform.services import credential_set, tenant_create, tenant_delete
from voiceplatform.webhooks.models import WebhookDelivery, WebhookEndpoint
from voiceplatform.webhooks.services import endpoint_create

BASE_DIR = Path(settings.BASE_DIR)
VOICE_PATH = "/api/v1/telephony/twilio/voice"
SIP_HOST = "bench.sip.invalid"
CALLER = "+12125550100"
CALL_SECONDS = 1.0
WEBHOOK_URL = "https://crm.bench.invalid/voiceplatform-events"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _database_url() -> str:
    """The database this process really uses (under pytest that is the test database, not DATABASE_URL)."""
    db = connection.settings_dict
    user, password = quote(db["USER"] or "", safe=""), quote(db["PASSWORD"] or "", safe="")
    auth = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host, port, name = db["HOST"] or "", db["PORT"] or "", quote(db["NAME"], safe="")
    # Options such as a Unix socket directory (the embedded PostgreSQL) travel as query parameters.
    options = {key: str(value) for key, value in (db.get("OPTIONS") or {}).items() if isinstance(value, str | int)}
    if host.startswith("/"):
        options["host"], host = host, ""
    query = f"?{urlencode(options)}" if options else ""
    return f"postgresql://{auth}{host}{':' + str(port) if port else ''}/{name}{query}"


def platform_environment(*, livekit: FakeLiveKit, public_base_url: str) -> dict[str, str]:
    """The environment of a platform process this benchmark starts: this process's settings and
    database, the fake LiveKit, and the public URL its signed requests are addressed to."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "voiceplatform.settings",
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "PUBLIC_BASE_URL": public_base_url,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback
        "LIVEKIT_URL": livekit.url,
        "LIVEKIT_API_KEY": livekit.key,
        "LIVEKIT_API_SECRET": livekit.secret,
        "LIVEKIT_SIP_HOST": SIP_HOST,
        "LOG_LEVEL": "warning",
    }


def _free_number() -> str:
    """A valid US number no tenant has (numbers are unique platform-wide)."""
    for _ in range(100):
        number = f"+1415555{random.randint(0, 9999):04d}"
        # Looks past tenants on purpose: only to avoid a number some tenant already has.
        if not PhoneNumber.objects.filter(number=number).exists():
            return number
    raise CommandError("could not find a free +1415555xxxx number")


class _CallerHangUps(threading.Thread):
    """Ends the tenant's ringing calls CALL_SECONDS after they rang, a few times a second."""

    def __init__(self, tenant: Tenant) -> None:
        super().__init__(daemon=True)
        self.tenant, self.stopping = tenant, threading.Event()
        self.start()

    def run(self) -> None:
        try:
            while not self.stopping.wait(0.25):
                rang_before = timezone.now() - datetime.timedelta(seconds=CALL_SECONDS)
                ringing = Call.objects.for_tenant(self.tenant).filter(status=CallStatus.RINGING)
                ringing.filter(created_at__lt=rang_before).update(status=CallStatus.COMPLETED)
        finally:
            connection.close()  # this thread's own connection

    def stop(self) -> None:
        self.stopping.set()
        self.join()


@dataclasses.dataclass(frozen=True)
class _ServerCpu:
    """CPU seconds used so far by the gunicorn server's processes and by this database's backends
    (the web workers' and this command's own, which ends the calls), read from /proc like `ps` (None
    where there is no /proc, or PostgreSQL runs elsewhere). They tell a saturated machine from a slow
    server: at 200 webhooks/s on 2 CPUs, every millisecond of CPU per webhook is a tenth of the machine."""

    web: float | None
    database: float | None

    @classmethod
    def read(cls, server_pid: int) -> _ServerCpu:
        processes = _processes()
        mine = [cpu for pid, (parent, cpu) in processes.items() if server_pid in (pid, parent)]
        web = sum(mine) if mine else None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
            )
            backends = [pid for (pid,) in cursor.fetchall()]
        found = [processes[pid][1] for pid in backends if pid in processes]
        return cls(web=web, database=sum(found) if found else None)

    def since(self, before: _ServerCpu) -> _ServerCpu:
        return _ServerCpu(web=_spent(self.web, before.web), database=_spent(self.database, before.database))

    def describe(self, *, answered: int) -> str:
        per = 1000 / max(answered, 1)

        def shown(seconds: float | None) -> str:
            return "n/a" if seconds is None else f"{seconds * per:.2f}"

        return f"cpu_ms_per_webhook: gunicorn={shown(self.web)} postgresql={shown(self.database)}"


def _spent(after: float | None, before: float | None) -> float | None:
    return None if after is None or before is None else after - before


def _processes() -> dict[int, tuple[int, float]]:
    """Every process's parent and CPU seconds (user + system), from /proc; empty elsewhere."""
    found: dict[int, tuple[int, float]] = {}
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended meanwhile
        # after the command name: state, ppid, ... utime (14th field of the line), stime (15th)
        found[int(entry.parent.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / ticks)
    return found


class Command(BaseCommand):
    help = "Load-test POST /api/v1/telephony/twilio/voice under gunicorn with signed webhooks and a fake LiveKit."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rps", type=float, default=200, help="webhooks per second to send (default 200)")
        parser.add_argument("--seconds", type=float, default=20, help="how long to send (default 20)")
        parser.add_argument(
            "--without-webhooks",
            action="store_true",
            help="no webhook endpoint on the tenant (by default one is subscribed to its call events)",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help="gunicorn worker processes (default: the shipped WEB_WORKERS default, one per CPU plus one)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        rps, seconds = options["rps"], options["seconds"]
        workers = options["workers"] if options["workers"] is not None else default_web_workers()
        if rps <= 0 or seconds <= 0 or workers < 1 or rps * seconds < 1:
            raise CommandError("--rps and --seconds must be positive (at least one request) and --workers >= 1")
        # The secret only has to match between this process and the platform it serves: a fresh one per run.
        livekit = FakeLiveKit(key="APIbenchKey", secret=secrets.token_urlsafe(32)).start()
        tenant = tenant_create(name="Inbound benchmark", slug=f"bench-inbound-{secrets.token_hex(4)}")
        server: subprocess.Popen[bytes] | None = None
        try:
            token, account_sid = secrets.token_hex(16), "AC" + secrets.token_hex(16)
            credential_set(tenant=tenant, provider="twilio", secret=token, account_id=account_sid)
            agent = agent_create(
                tenant=tenant,
                actor=SYSTEM,
                fields={"name": "Bench agent", "system_prompt": "Hi.", "max_concurrent_calls": 1000},
            )
            number = phone_number_create(tenant=tenant, number=_free_number(), agent=agent).number
            # Webhooks switched on: every call's call.started is written to the outbox in the call's
            # transaction and handed to Celery after it commits, as for a tenant with a CRM hooked up.
            # Delivery itself is the Celery workers' job on their own machines (docs/deploy.md); the
            # deliveries go with the tenant at the end, so a worker that takes the queued tasks later
            # finds nothing to send (and the .invalid host would never resolve).
            if not options["without_webhooks"]:
                endpoint_create(tenant=tenant, url=WEBHOOK_URL, event_types=["call.started", "call.ended"])
            port = _free_port()
            base_url = f"http://127.0.0.1:{port}"
            server = self._start_gunicorn(port=port, workers=workers, livekit=livekit)
            load = {
                "base_url": base_url, "path": VOICE_PATH, "public_url": base_url + VOICE_PATH, "token": token,
                "account_sid": account_sid, "to": number, "from": CALLER,
            }  # fmt: skip
            # Warm-up: every worker imports lazily and opens its database, Redis and LiveKit connections.
            self._load({**load, "rps": 10, "seconds": 1})
            hang_ups = _CallerHangUps(tenant)
            cpu_before = _ServerCpu.read(server.pid)
            try:
                result = self._load({**load, "rps": rps, "seconds": seconds})
            finally:
                hang_ups.stop()
            cpu = _ServerCpu.read(server.pid).since(cpu_before)
            calls = Call.objects.for_tenant(tenant).count()
        finally:
            if server is not None:
                self._stop(server)
            livekit.stop()
            tenant_delete(tenant=tenant)  # its calls, number, agent and credential go with it
            self._vacuum()
        last_line = self._report(
            result, rps=rps, seconds=seconds, calls=calls, rooms=len(livekit.rooms), workers=workers
        )
        self.stdout.write(cpu.describe(answered=len(result["latencies_ms"]) - result["errors"]))
        self.stdout.write(last_line)

    def _vacuum(self) -> None:
        """Gives back the space of the thousands of Call and webhook delivery rows just deleted.
        Without it (autovacuum off, or not yet run) every later run inserts into more bloated tables
        and indexes, and the same code measures slower run after run (the delivery table had grown
        to 235,000 dead rows over a dozen runs when only the Call table was vacuumed)."""
        with connection.cursor() as cursor:
            for model in (Call, WebhookDelivery, WebhookEndpoint):
                cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")

    def _start_gunicorn(self, *, port: int, workers: int, livekit: FakeLiveKit) -> subprocess.Popen[bytes]:
        env = platform_environment(livekit=livekit, public_base_url=f"http://127.0.0.1:{port}")
        env["WEB_BIND"], env["WEB_WORKERS"] = f"127.0.0.1:{port}", str(workers)
        # The production server's own settings (voiceplatform/gunicorn_conf.py): what ships is what is measured.
        command = [
            sys.executable, "-m", "gunicorn", "-c", "python:voiceplatform.gunicorn_conf",
            "voiceplatform.wsgi:application", "--log-level", "warning",
        ]  # fmt: skip
        server = subprocess.Popen(command, cwd=BASE_DIR, env=env, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if server.poll() is not None:
                raise CommandError(f"gunicorn exited with code {server.returncode} before answering")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                    if response.status == 200:
                        return server
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self._stop(server)
        raise CommandError("gunicorn did not answer /health within 30 s")

    def _stop(self, server: subprocess.Popen[bytes]) -> None:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)  # the gunicorn master stops its workers
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()

    def _load(self, config: dict[str, Any]) -> dict[str, Any]:
        """Runs the load process to completion and returns its JSON report."""
        process = subprocess.run(
            [sys.executable, "-m", "voiceplatform.devtools.bench_load"],
            input=json.dumps(config).encode(),
            capture_output=True,
            cwd=BASE_DIR,
            timeout=config["seconds"] + 60,
            check=False,
        )
        if process.returncode != 0:
            raise CommandError(f"the load process failed: {process.stderr.decode(errors='replace')[-2000:]}")
        return json.loads(process.stdout)

    def _report(
        self, result: dict[str, Any], *, rps: float, seconds: float, calls: int, rooms: int, workers: int
    ) -> str:
        latencies = result["latencies_ms"]
        # Achieved = answered correctly per second of the run; errors and time-outs do not count.
        answered = len(latencies) - result["errors"]
        achieved = answered / result["elapsed_s"] if result["elapsed_s"] else 0.0
        p50, p99 = _percentile(latencies, 0.50), _percentile(latencies, 0.99)
        self.stdout.write(
            f"target rps={rps:g} for {seconds:g}s: workers={workers} sent={result['sent']} calls_written={calls} "
            f"livekit_rooms={rooms} max_ms={max(latencies):.1f} p90_ms={_percentile(latencies, 0.90):.1f}"
        )
        if result["error_samples"]:
            self.stdout.write(f"error kinds: {', '.join(result['error_samples'])}")
        # The machine-readable line, which handle() writes last.
        return f"bench_inbound_webhook rps={achieved:.1f} p50_ms={p50:.1f} p99_ms={p99:.1f} errors={result['errors']}"
