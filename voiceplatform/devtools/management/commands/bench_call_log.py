"""Benchmark of the call log at scale: one tenant with `--calls` synthetic calls, then the reads a
person or an integration makes, in process (the whole Django stack, no network), p50 of `--runs` each.

1. Load: five agents, three numbers, `--calls` calls spread over the last 90 days (ids grow with time,
   as in production), inserted by COPY in batches. Realistic rows: inbound, outbound, chats and test
   calls with their statuses, end reasons, durations and costs, and transcripts of 4-10 turns built
   from a few hundred sentences (a support line: hours, bookings, refunds, deliveries, billing). One
   call in RARE_EVERY (at least one) mentions RARE_WORD. Then VACUUM ANALYZE, as autovacuum would.
2. Times: `GET /api/v1/calls` (first page), the page 10,000 calls deep (reached by following `next`,
   as a client does; the timed request is that page's cursor), the dashboard (`_dashboard`), and
   `GET /api/v1/calls?q=<RARE_WORD>`.

Everything it wrote is removed at the end. Last line:
bench_call_log calls=<n> list_p50_ms=<x> deep_page_p50_ms=<x> dashboard_p50_ms=<x> search_p50_ms=<x>
"""

from __future__ import annotations

import datetime
import io
import json
import random
import secrets
import statistics
import time
import uuid
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, transaction
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from agents_app.services import agent_create
from telephony_app.analytics.services import analytics_rebuild
from telephony_app.models import Call
from telephony_app.services import phone_number_create
from voiceplatform.actor import SYSTEM
from voiceplatform.models import Membership, Role, Tenant
from voiceplatform.services import api_key_create, tenant_create, tenant_delete

RARE_WORD = "quokka"
RARE_EVERY = 100_000
DEEP = 10_000  # calls before the deep page
BATCH = 50_000
API = "/api/v1/calls"
NULL = "\\N"  # COPY's NULL
TABLE = Call._meta.db_table

GREETINGS = [
    "Thanks for calling {company}, this is {agent}. How can I help you today?",
    "Hello, you've reached {company}. What can I do for you?",
    "Good {daypart}, {company} customer care, {agent} speaking.",
    "Hi {name}, this is {agent} from {company} calling about your {thing}.",
]
ASKS = [
    "What time do you open on {day}?",
    "I'd like to book a table for {count} on {day} evening.",
    "My {thing} arrived broken and I want a refund.",
    "Can you tell me where my order is? It was due {day}.",
    "I was charged twice on my last invoice.",
    "Do you deliver to {city}?",
    "I need to change my appointment to {day} at {hour}.",
    "Can I speak to someone in billing please?",
    "How much is the {thing} in the large size?",
    "I want to cancel my subscription.",
    "Is the {thing} still under warranty?",
    "My password reset email never came.",
]
ANSWERS = [
    "We are open from nine to {hour} on {day}.",
    "I have booked a table for {count} on {day}; you will get a text confirmation.",
    "I'm sorry about the {thing}. I've started a refund, it takes three to five business days.",
    "Your order left our warehouse yesterday and should reach {city} by {day}.",
    "I can see the duplicate charge; I've reversed it, you'll see the credit within a week.",
    "Yes, we deliver to {city}, usually within two days.",
    "Done, your appointment is now {day} at {hour}.",
    "Let me transfer you to billing, one moment please.",
    "The large {thing} is forty nine dollars.",
    "I've cancelled it; you keep access until the end of the month.",
    "Your {thing} is covered for another eight months.",
    "I've sent a new reset link, please check your spam folder too.",
]
CLOSINGS = [
    "Great, thank you so much.",
    "Perfect, that's all I needed.",
    "Okay, thanks for your help. Bye.",
    "Is there anything else I can help you with?",
    "Thanks for calling, have a lovely {daypart}.",
]
FILL = {
    "company": ["Acme", "Northwind", "Bluebird Dental", "Cafe Roma", "Peak Fitness"],
    "agent": ["Ava", "Sam", "Maya", "Leo"],
    "daypart": ["morning", "afternoon", "evening"],
    "name": ["John", "Priya", "Carlos", "Mei", "Fatima", "Olga", "Kwame"],
    "thing": ["kettle", "blender", "subscription", "order", "headphones", "membership", "bike"],
    "day": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
    "count": ["two", "four", "six"],
    "city": ["Boston", "Denver", "Austin", "Seattle", "Miami", "Chicago"],
    "hour": ["five", "six", "seven", "ten thirty"],
}
END_REASONS = ["caller hung up", "agent ended the call", "transferred to a human", "silence timeout", ""]
# (direction, share) and (status, share) of a busy support line with some outbound reminders.
DIRECTIONS = [("inbound", 60), ("outbound", 33), ("chat", 5), ("test", 2)]
STATUSES = [("completed", 72), ("no_answer", 8), ("busy", 4), ("voicemail", 5), ("failed", 4), ("transferred", 7)]
COLUMNS = (
    "code, tenant_id, agent_id, agent_name, direction, status, from_number, to_number, room_name, "
    "started_at, answered_at, ended_at, duration_seconds, end_reason, transcript, turn_metrics, usage, "
    "estimated_cost_usd, provider_call_id, config_source, first_words_ms, amd_result, error, context, "
    "created_at, updated_at, analysis_status, analysis_error, summary, extracted, is_rolled_up"
)


def _fill(template: str, rng: random.Random) -> str:
    return template.format(**{key: rng.choice(values) for key, values in FILL.items()})


def _transcript(rng: random.Random, start: datetime.datetime, *, rare: bool) -> str:
    turns = [("assistant", _fill(rng.choice(GREETINGS), rng))]
    for _ in range(rng.randint(1, 4)):
        turns += [("user", _fill(rng.choice(ASKS), rng)), ("assistant", _fill(rng.choice(ANSWERS), rng))]
    if rare:
        turns.append(("user", f"By the way, my {RARE_WORD} plush toy was in the parcel too."))
    turns.append(("user", _fill(rng.choice(CLOSINGS), rng)))
    rows = [
        {"role": role, "text": text, "at": (start + datetime.timedelta(seconds=6 * index)).isoformat()}
        for index, (role, text) in enumerate(turns)
    ]
    return json.dumps(rows)


def _copy_text(value: str) -> str:
    """A value for COPY's text format: backslashes doubled (JSON's escapes), no tab or newline inside."""
    return value.replace("\\", "\\\\")


def _weighted(choices: list[tuple[str, int]], rng: random.Random) -> str:
    return rng.choices([name for name, _ in choices], weights=[share for _, share in choices])[0]


def _p50(run: Callable[[], None], runs: int) -> float:
    run()  # warm: the first request of a kind builds caches (URL resolvers, serializers, plans)
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def _ok(response: Any) -> Any:
    if response.status_code != 200:
        raise CommandError(
            f"HTTP {response.status_code} from {response.request['PATH_INFO']}: {response.content[:200]!r}"
        )
    return response


def _dashboard(client: Client, tenant: Tenant) -> Callable[[], None]:
    """The dashboard request timed: the analytics page with all its charts over 30 days."""
    url = reverse("analytics-dashboard")
    return lambda: _ok(client.get(url, {"period": "30"}, secure=True))


class Command(BaseCommand):
    help = "Time the call log's API pages, a deep page, the dashboard and a transcript search at N calls."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--calls", type=int, default=1_000_000, help="synthetic calls (default 1,000,000)")
        parser.add_argument("--runs", type=int, default=9, help="timed requests of each kind (default 9)")

    def handle(self, *args: Any, **options: Any) -> None:
        calls, runs = options["calls"], options["runs"]
        if calls < 1 or runs < 1:
            raise CommandError("--calls and --runs must be at least 1")
        tenant = tenant_create(name="Call log benchmark", slug=f"bench-call-log-{secrets.token_hex(4)}")
        user = get_user_model().objects.create_user(username=f"bench-{secrets.token_hex(4)}@bench.invalid")
        try:
            Membership.objects.create(tenant=tenant, user=user, role=Role.OWNER)
            started = time.perf_counter()
            self._load(tenant, calls)
            self.stdout.write(f"loaded {calls} calls in {time.perf_counter() - started:.1f} s (COPY, VACUUM ANALYZE)")
            figures = self._time(tenant, user, calls=calls, runs=runs)
        finally:
            with transaction.atomic():
                with connection.cursor() as cursor:  # one statement, not a million cascaded objects
                    cursor.execute(f"DELETE FROM {TABLE} WHERE tenant_id = %s", [tenant.pk])  # noqa: S608 (our table)
                tenant_delete(tenant=tenant)
            user.delete()
        self.stdout.write(
            f"bench_call_log calls={calls} list_p50_ms={figures['list']:.1f} deep_page_p50_ms={figures['deep']:.1f} "
            f"dashboard_p50_ms={figures['dashboard']:.1f} search_p50_ms={figures['search']:.1f}"
        )

    def _load(self, tenant: Tenant, calls: int) -> None:
        agents = [
            agent_create(tenant=tenant, actor=SYSTEM, fields={"name": f"Agent {index}", "system_prompt": "Help."})
            for index in range(5)
        ]
        base = 2_000_000 + secrets.randbelow(7_000_000)
        numbers = [phone_number_create(tenant=tenant, number=f"+1415{base + index:07d}").number for index in range(3)]
        rng = random.Random(16)
        now = timezone.now()
        first = now - datetime.timedelta(days=90)
        step = datetime.timedelta(days=90) / calls
        rare_every = min(RARE_EVERY, calls)
        buffer = io.StringIO()
        for index in range(calls):
            created = first + step * index
            agent = agents[index % len(agents)]
            direction, status = _weighted(DIRECTIONS, rng), _weighted(STATUSES, rng)
            counterpart = f"+1{rng.choice(('212', '312', '415', '617', '713'))}{rng.randrange(2_000_000, 9_999_999)}"
            ours = numbers[index % len(numbers)]
            caller, callee = (counterpart, ours) if direction == "inbound" else (ours, counterpart)
            if direction in ("chat", "test"):
                caller = callee = ""
            talked = status in ("completed", "transferred")
            duration = rng.uniform(20, 600) if talked else 0.0
            answered = created + datetime.timedelta(seconds=rng.uniform(1, 15))
            ended = answered + datetime.timedelta(seconds=duration)
            transcript = _transcript(rng, answered, rare=index % rare_every == rare_every // 2) if talked else "[]"
            reason = rng.choice(END_REASONS) if talked else status.replace("_", " ")
            buffer.write(
                f"{uuid.uuid4()}\t{tenant.pk}\t{agent.pk}\t{agent.name}\t{direction}\t{status}\t{caller}\t{callee}\t"
                f"call-{index}\t{created.isoformat()}\t{answered.isoformat() if talked else NULL}\t"
                f"{ended.isoformat()}\t"
                f"{duration:.1f}\t{reason}\t{_copy_text(transcript)}\t[]\t[]\t{duration * 0.0012:.5f}\t\tdatabase\t"
                f"{NULL}\t\t\t{{}}\t{created.isoformat()}\t{ended.isoformat()}\t\t\t\t{{}}\tt\n"
            )
            if (index + 1) % BATCH == 0 or index + 1 == calls:
                with (
                    connection.cursor() as cursor,
                    cursor.copy(f"COPY {Call._meta.db_table} ({COLUMNS}) FROM STDIN") as copy,
                ):
                    copy.write(buffer.getvalue())
                buffer = io.StringIO()
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (ANALYZE) {TABLE}")
        # The calls went in counted (is_rolled_up): their rollups are built from them, as after a restore.
        started = time.perf_counter()
        analytics_rebuild(tenant=tenant)
        self.stdout.write(f"rollups rebuilt in {time.perf_counter() - started:.1f} s")

    def _time(self, tenant: Tenant, user: Any, *, calls: int, runs: int) -> dict[str, float]:
        _key, raw_key = api_key_create(tenant=tenant, name="benchmark")
        with override_settings(ALLOWED_HOSTS=["testserver"]):
            api = Client(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
            portal = Client()
            portal.force_login(user)
            first = _ok(api.get(API, secure=True)).json()
            # Follow `next` until the page after DEEP calls (the last page, with fewer calls).
            deep_url, seen = first["next"] or API, len(first["results"]) if first["next"] else 0
            while seen < DEEP:
                page = _ok(api.get(deep_url, secure=True)).json()
                if page["next"] is None:
                    break
                deep_url, seen = page["next"], seen + len(page["results"])
            found = _ok(api.get(API, {"q": RARE_WORD}, secure=True)).json()["results"]
            self.stdout.write(f"deep page after {seen} calls; {len(found)} calls mention {RARE_WORD!r}")
            if not found:
                raise CommandError(f"the search for {RARE_WORD!r} found no call")
            return {
                "list": _p50(lambda: _ok(api.get(API, secure=True)), runs),
                "deep": _p50(lambda: _ok(api.get(deep_url, secure=True)), runs),
                "dashboard": _p50(_dashboard(portal, tenant), runs),
                "search": _p50(lambda: _ok(api.get(API, {"q": RARE_WORD}, secure=True)), runs),
            }
