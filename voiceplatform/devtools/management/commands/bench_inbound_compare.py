"""The inbound webhook's CPU in two checkouts, measured side by side; the last line is machine-readable.

bench_inbound_webhook measures the shipped server, but its CPU per webhook moves by a factor of
two from one minute to the next on a shared machine, far more than most changes make. This command
compares two checkouts' code under the same conditions instead: one process per checkout
(voiceplatform/devtools/inbound_child.py) answers signed voice webhooks through that checkout's
WSGI application, in process (no gunicorn, no sockets to the client), against the same fake
LiveKit, database, Redis and number; both run each round at the same time, so a slow stretch of the
machine slows both. Reported: each side's CPU per webhook (the process's, its relay thread included;
PostgreSQL's is not), and the median over rounds of this checkout's CPU over the other's.

    manage.py bench_inbound_compare --other /path/to/other/checkout [--rounds 10] [--per-round 200]

Both checkouts use this database, so the other must work with its schema (same migrations, or
only additions it ignores). Everything it wrote is removed at the end.
"""

from __future__ import annotations

import json
import secrets
import statistics
import subprocess
import sys
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from agents_app.models import Agent
from agents_app.services import agent_create
from telephony_app.models import Call
from telephony_app.services import phone_number_create
from voiceplatform.actor import SYSTEM
from voiceplatform.devtools.fake_livekit import FakeLiveKit
from voiceplatform.devtools.management.commands.bench_inbound_webhook import (
    CALLER,
    WEBHOOK_URL,
    _free_number,
    platform_environment,
)
from voiceplatform.services import credential_set, tenant_create, tenant_delete
from voiceplatform.webhooks.models import WebhookDelivery
from voiceplatform.webhooks.services import endpoint_create

BASE_DIR = Path(settings.BASE_DIR)
CHILD = Path(__file__).resolve().parents[2] / "inbound_child.py"
PUBLIC_BASE_URL = "http://127.0.0.1:8000"  # what the children's requests say they were sent to
WARM_UP = 50


class _Side:
    def __init__(self, checkout: Path, env: dict[str, str], config: str) -> None:
        self.checkout = checkout
        self.process = subprocess.Popen(
            [sys.executable, str(CHILD), config],
            cwd=checkout,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, count: int) -> None:
        stdin: IO[str] = self.process.stdin  # type: ignore[assignment]
        stdin.write(f"{count}\n")
        stdin.flush()

    def cpu_seconds(self) -> float:
        line = self.process.stdout.readline() if self.process.stdout else ""
        if not line:
            raise CommandError(f"the process serving {self.checkout} stopped (exit code {self.process.wait()})")
        return float(json.loads(line)["cpu"])

    def stop(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()


class Command(BaseCommand):
    help = "Compares the inbound webhook's CPU per call in this checkout and another, side by side."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--other", required=True, help="the other checkout's directory")
        parser.add_argument("--rounds", type=int, default=10)
        parser.add_argument("--per-round", type=int, default=200, help="webhooks per side and round")

    def handle(self, *args: Any, **options: Any) -> None:
        other = Path(options["other"]).resolve()
        rounds, per_round = options["rounds"], options["per_round"]
        if not (other / "voiceplatform" / "wsgi.py").is_file():
            raise CommandError(f"{other} is not a voiceplatform checkout (no voiceplatform/wsgi.py)")
        if rounds < 1 or per_round < 1:
            raise CommandError("--rounds and --per-round must be at least 1")
        livekit = FakeLiveKit(key="APIbenchKey", secret=secrets.token_urlsafe(32)).start()
        tenant = tenant_create(name="Inbound comparison", slug=f"bench-compare-{secrets.token_hex(4)}")
        sides: list[_Side] = []
        try:
            token, account_sid = secrets.token_hex(16), "AC" + secrets.token_hex(16)
            credential_set(tenant=tenant, provider="twilio", secret=token, account_id=account_sid)
            agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Bench agent", "system_prompt": "Hi."})
            # No caller hangs up here: the limit is out of reach so that every webhook connects.
            Agent.objects.for_tenant(tenant).filter(pk=agent.pk).update(max_concurrent_calls=1_000_000)
            number = phone_number_create(tenant=tenant, number=_free_number(), agent=agent).number
            endpoint_create(tenant=tenant, url=WEBHOOK_URL, event_types=["call.started", "call.ended"])
            env = platform_environment(livekit=livekit, public_base_url=PUBLIC_BASE_URL)
            config = json.dumps(
                {
                    "token": token,
                    "account_sid": account_sid,
                    "to": number,
                    "from": CALLER,
                    "public_base_url": PUBLIC_BASE_URL,
                }
            )
            sides = [_Side(BASE_DIR, env, config), _Side(other, env, config)]
            for side in sides:
                side.ask(WARM_UP)
            for side in sides:
                side.cpu_seconds()
            this_ms, other_ms = self._rounds(sides, rounds, per_round)
        finally:
            for side in sides:
                side.stop()
            livekit.stop()
            tenant_delete(tenant=tenant)
            with connection.cursor() as cursor:
                for model in (Call, WebhookDelivery):
                    cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")
        ratios = [mine / theirs for mine, theirs in zip(this_ms, other_ms, strict=True)]
        self.stdout.write(
            f"bench_inbound_compare this_ms={statistics.mean(this_ms):.3f} other_ms={statistics.mean(other_ms):.3f}"
            f" ratio_median={statistics.median(ratios):.3f}"
        )

    def _rounds(self, sides: list[_Side], rounds: int, per_round: int) -> tuple[list[float], list[float]]:
        this_ms: list[float] = []
        other_ms: list[float] = []
        for number in range(1, rounds + 1):
            for side in sides:  # both at once: the same minute of the machine for each
                side.ask(per_round)
            mine, theirs = (side.cpu_seconds() * 1000 / per_round for side in sides)
            this_ms.append(mine)
            other_ms.append(theirs)
            self.stdout.write(f"round {number}: this {mine:.3f} ms, other {theirs:.3f} ms, ratio {mine / theirs:.3f}")
        return this_ms, other_ms
