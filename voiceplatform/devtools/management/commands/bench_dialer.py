"""Benchmark of the dialer: claim throughput with several processes ticking at once, duplicates and
losses, place_call redelivered to every process against a fake LiveKit on loopback, and the pacing
tick's duration with many running campaigns.

1. Claims: one campaign with `--contacts` due contacts (US numbers over every US zone, classified),
   pacing unlimited (cps 99,999, concurrency above the contact count, voice capacity reported above
   it). `--workers` forked processes each call dialer_tick(enqueue=False) in a loop until nothing is
   due; ticks contend for the advisory lock as Celery workers would. claims_per_s = contacts claimed
   / wall time. duplicates = contacts with more than one attempt; lost = contacts without one.
2. Placing: the first `--place` attempts are handed to EVERY process (a redelivery storm), each calls
   place_call against the fake LiveKit; the fake must see exactly one SIP participant per attempt
   (more is counted in duplicates, fewer in lost).
3. Tick: `--campaigns` running campaigns over 100 tenants (10 contacts each, 1 cps, the campaigns'
   calls ended between ticks so every campaign wants a call every tick); `--ticks` ticks one
   simulated second apart; tick_p99_ms is the 99th percentile of their durations. For comparison
   (not in the last line), as many ticks again with a tick's claims capped at 100.

Time is simulated (a weekday 19:00 UTC: inside every US zone's legal window). Last line:
bench_dialer contacts=<n> workers=<n> claims_per_s=<x> duplicates=<n> lost=<n> campaigns=<n> tick_p99_ms=<x>
Exits non-zero when duplicates or lost is not 0.
"""

from __future__ import annotations

import datetime
import gc
import io
import multiprocessing
import secrets
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, connections

from agents_app.runtime_config import redis_client
from agents_app.services import agent_create
from campaigns_app.dialer import capacity, pace, zones
from campaigns_app.dialer.tick import ROUND_ROBIN_KEY
from campaigns_app.models import AttemptOutcome, CallAttempt, Campaign, CampaignStatus, Contact, ContactStatus
from campaigns_app.services import campaign_create
from telephony_app.services import phone_number_create
from voiceplatform.actor import SYSTEM
from voiceplatform.devtools.fake_livekit import FakeLiveKit
from voiceplatform.models import Tenant
from voiceplatform.services import tenant_create, tenant_delete

NOW = datetime.datetime(2026, 12, 2, 19, 0, tzinfo=datetime.UTC)  # a Wednesday: 14:00 New York, 09:00 Honolulu
AREA_CODES = ("212", "404", "617", "312", "214", "713", "303", "801", "602", "213", "415", "206", "907", "808")
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALWAYS = {day: [{"start": "00:00", "end": "23:59"}] for day in DAYS}
BENCH_WORKER = "bench-dialer"


def _numbers(count: int, seed: int) -> list[str]:
    numbers = []
    for index in range(count):
        area = AREA_CODES[index % len(AREA_CODES)]
        line = index // len(AREA_CODES)
        numbers.append(f"+1{area}{200 + (line // 10000 + seed) % 700}{line % 10000:04d}")
    return numbers


def _copy_contacts(tenant: Tenant, campaign: Campaign, numbers: list[str]) -> None:
    """The contacts, classified as the classifier would (one dial zone per area code), by COPY."""
    keys = {area: zones.dial_zone_for(f"+1{area}2015550") for area in AREA_CODES}
    buffer = io.StringIO()
    due = (NOW - datetime.timedelta(minutes=1)).isoformat()
    for number in numbers:
        buffer.write(
            f"{uuid.uuid4()}\t{tenant.pk}\t{campaign.pk}\t{number}\t\t\t{{}}\tpending\t0\t{due}\t"
            f"{keys[number[2:5]]}\t\t\t{due}\t{due}\n"
        )
    columns = (
        "code, tenant_id, campaign_id, number, name, timezone, variables, status, attempts, next_attempt_at, "
        "dial_zone, last_outcome, reason, created_at, updated_at"
    )
    with connection.cursor() as cursor, cursor.copy(f"COPY {Contact._meta.db_table} ({columns}) FROM STDIN") as copy:
        copy.write(buffer.getvalue())
    campaign.dial_zones = sorted({key for key in keys.values() if key})
    campaign.zones_pending = False
    campaign.save(update_fields=["dial_zones", "zones_pending"])


_caller_ids = iter(range(secrets.randbelow(10**6), 10**7))


def _campaign(tenant: Tenant, *, cps: str, concurrency: int, agent_cap: int, tenant_cap: int) -> Campaign:
    agent = agent_create(
        tenant=tenant,
        actor=SYSTEM,
        fields={"name": "Bench caller", "direction": "outbound", "system_prompt": "Remind them."},
    )
    type(agent).objects.filter(pk=agent.pk).update(max_concurrent_calls=agent_cap)
    serial = next(_caller_ids)
    caller_id = phone_number_create(tenant=tenant, number=f"+1415{200 + (serial // 10**4) % 700}{serial % 10**4:04d}")
    type(caller_id).objects.filter(pk=caller_id.pk).update(outbound_trunk_id="ST_bench", outbound_cps="99999")
    Tenant.objects.filter(pk=tenant.pk).update(max_concurrent_calls=tenant_cap)
    campaign = campaign_create(
        tenant=tenant,
        fields={
            "name": "Bench",
            "agent": agent,
            "caller_id": caller_id,
            "calling_window": ALWAYS,
            "requires_consent": False,
        },
    )
    Campaign.objects.for_tenant(tenant).filter(pk=campaign.pk).update(
        status=CampaignStatus.RUNNING, max_calls_per_second=cps, max_concurrent_calls=concurrency
    )
    campaign.refresh_from_db()
    # Ids are reused after a database is recreated: start from fresh pace limiters and round-robin entries.
    client = redis_client()
    client.hdel(pace.HASH_KEY, pace.limiter_key("campaign", campaign.pk), pace.limiter_key("number", caller_id.pk))
    client.zrem(ROUND_ROBIN_KEY, campaign.pk)
    return campaign


def _tick_until_drained(worker: int, t0: float, results: Any) -> None:
    from campaigns_app.dialer.tick import dialer_tick

    connections.close_all()
    claimed = ticks = 0
    while True:
        # Simulated time, shared by the processes, runs 100 times faster than the wall clock (it stays
        # inside every US legal window for 250 s) so the pace limiters (9,999 cps) never bind: pacing
        # unlimited, as the benchmark asks.
        now = NOW + datetime.timedelta(seconds=(time.time() - t0) * 100)
        result = dialer_tick(now=now, enqueue=False)
        if result.locked_out:
            time.sleep(0.0005)
            continue
        ticks += 1
        claimed += result.claimed
        if not result.claimed:
            break
    results.put((worker, claimed, ticks))


def _place_all(worker: int, attempt_ids: list[int], results: Any) -> None:
    from campaigns_app.dialer.place import place_call

    connections.close_all()
    outcomes: Counter[str] = Counter()
    order = attempt_ids if worker % 2 == 0 else list(reversed(attempt_ids))
    for attempt_id in order:
        outcomes[str(place_call(attempt_id, now=NOW))] += 1
    results.put((worker, dict(outcomes)))


def _heartbeat(total: int, stop: threading.Event) -> None:
    while True:
        capacity.report_voice_worker(worker_id=BENCH_WORKER, capacity=total, active=0)
        if stop.wait(capacity.VOICE_WORKER_TTL / 3):
            return


def _delete_tenants(tenants: list[Tenant]) -> None:
    while tenants:
        tenant = tenants.pop()
        Campaign.objects.for_tenant(tenant).delete()  # a campaign holds its agent and caller ID: first
        tenant_delete(tenant=tenant)


class Command(BaseCommand):
    help = "Measure the dialer: claim throughput, duplicates, losses, and the pacing tick's duration."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--contacts", type=int, default=100_000)
        parser.add_argument("--workers", type=int, default=4)
        parser.add_argument("--campaigns", type=int, default=1000)
        parser.add_argument("--place", type=int, default=1000, help="attempts placed by every worker (default 1000)")
        parser.add_argument("--ticks", type=int, default=50)

    def handle(self, *args: Any, **options: Any) -> None:
        contacts, workers, campaigns = options["contacts"], options["workers"], options["campaigns"]
        if contacts < 1 or workers < 1 or campaigns < 1 or options["ticks"] < 1 or options["place"] < 0:
            raise CommandError("--contacts, --workers, --campaigns and --ticks must be at least 1")
        tenants: list[Tenant] = []
        fake = FakeLiveKit().start()
        settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = fake.url, fake.key, fake.secret
        # A voice worker with room for every call reports itself, as run_voice_worker does, until the end.
        stop = threading.Event()
        heartbeat = threading.Thread(target=_heartbeat, args=(contacts + campaigns * 10 + 10, stop), daemon=True)
        heartbeat.start()
        try:
            claims = self._claims(tenants, fake, contacts, workers, options["place"])
            # The first part's calls are over: its tenant goes before the tick is timed.
            _delete_tenants(tenants)
            ticks = self._ticks(tenants, campaigns, options["ticks"])
        finally:
            stop.set()
            heartbeat.join()
            capacity.withdraw_voice_worker(worker_id=BENCH_WORKER)
            fake.stop()
            _delete_tenants(tenants)
            pace.forget_idle(now=time.time() + pace.IDLE_SECONDS + 1)
        duplicates, lost = claims["duplicates"], claims["lost"]
        for line in claims["lines"] + ticks["lines"]:
            self.stdout.write(line)
        self.stdout.write(
            f"bench_dialer contacts={contacts} workers={workers} claims_per_s={claims['per_s']:.0f} "
            f"duplicates={duplicates} lost={lost} campaigns={campaigns} tick_p99_ms={ticks['p99']:.1f}"
        )
        if duplicates or lost:
            sys.exit(1)

    def _claims(
        self, tenants: list[Tenant], fake: FakeLiveKit, contacts: int, workers: int, place: int
    ) -> dict[str, Any]:
        tenant = tenant_create(name="Bench dialer", slug=f"bench-dialer-{secrets.token_hex(4)}", timezone_name="UTC")
        tenants.append(tenant)
        campaign = _campaign(
            tenant, cps="9999", concurrency=contacts + 1, agent_cap=contacts + 1, tenant_cap=contacts + 1
        )
        _copy_contacts(tenant, campaign, _numbers(contacts, seed=0))
        connections.close_all()
        context = multiprocessing.get_context("fork")
        results = context.Queue()
        started = time.perf_counter()
        t0 = time.time()
        processes = [context.Process(target=_tick_until_drained, args=(n, t0, results)) for n in range(workers)]
        for process in processes:
            process.start()
        per_worker = [results.get() for _ in processes]
        for process in processes:
            process.join()
        seconds = time.perf_counter() - started
        attempts = CallAttempt.objects.for_tenant(tenant).filter(campaign=campaign)
        per_contact = Counter(attempts.values_list("contact_id", flat=True))
        claimed = len(per_contact)
        duplicates = sum(1 for count in per_contact.values() if count > 1)
        dialing = Contact.objects.for_tenant(tenant).filter(campaign=campaign, status=ContactStatus.DIALING).count()
        lost = contacts - claimed
        lines = [
            f"claims: {claimed} contacts claimed by {workers} processes in {seconds:.2f} s "
            f"({sorted(c for _, c, _ in per_worker)} per process, {sum(t for _, _, t in per_worker)} ticks); "
            f"{dialing} contacts dialing",
        ]
        if place:
            chosen = list(attempts.order_by("id").values_list("id", flat=True)[:place])
            fake.received.clear()
            connections.close_all()  # a child must not inherit (and close) this process's connection
            processes = [context.Process(target=_place_all, args=(n, chosen, results)) for n in range(workers)]
            started = time.perf_counter()
            for process in processes:
                process.start()
            placed = [results.get() for _ in processes]
            for process in processes:
                process.join()
            seconds_placing = time.perf_counter() - started
            dials = Counter(r.message.sip_call_to for r in fake.received if r.method == "SIP/CreateSIPParticipant")
            numbers = set(attempts.filter(pk__in=chosen).values_list("number", flat=True))
            sip_duplicates = sum(1 for count in dials.values() if count > 1)
            sip_lost = len(numbers - set(dials))
            duplicates += sip_duplicates
            lost += sip_lost
            outcomes: Counter[str] = Counter()
            for _, counts in placed:
                outcomes.update(counts)
            lines.append(
                f"placing: {len(chosen)} attempts handed to each of {workers} processes ({len(chosen) * workers} "
                f"place_call runs, {seconds_placing:.2f} s): {sum(dials.values())} SIP calls to {len(dials)} numbers, "
                f"{sip_duplicates} dialed twice, {sip_lost} never dialed; results {dict(outcomes)}"
            )
        return {"per_s": claimed / seconds, "duplicates": duplicates, "lost": lost, "lines": lines}

    def _timed_ticks(self, ids: list[int], ticks: int, cap: int | None) -> tuple[list[float], list[int]]:
        from campaigns_app.dialer.tick import dialer_tick

        durations, claimed = [], []
        previous = settings.DIALER_MAX_CLAIMS_PER_TICK
        if cap is not None:
            settings.DIALER_MAX_CLAIMS_PER_TICK = cap
        try:
            for index in range(ticks):
                now = NOW + datetime.timedelta(hours=1 if cap is None else 2, seconds=index)
                result = dialer_tick(now=now, enqueue=False)
                durations.append(result.duration_ms)
                claimed.append(result.claimed)
                # The calls end between ticks: every campaign wants a call again at the next one.
                CallAttempt.objects.filter(campaign_id__in=ids, outcome="").update(
                    outcome=AttemptOutcome.FAILED, ended_at=now
                )
                Contact.objects.filter(campaign_id__in=ids, status=ContactStatus.DIALING).update(
                    status=ContactStatus.RETRY, next_attempt_at=now, lease_expires_at=None
                )
        finally:
            settings.DIALER_MAX_CLAIMS_PER_TICK = previous
        return durations, claimed

    def _ticks(self, tenants: list[Tenant], campaigns: int, ticks: int) -> dict[str, Any]:

        per_tenant = max(1, campaigns // 100)
        made = 0
        bench_tenants = []
        while made < campaigns:
            tenant = tenant_create(
                name=f"Bench tick {len(bench_tenants)}", slug=f"bench-tick-{secrets.token_hex(4)}", timezone_name="UTC"
            )
            tenants.append(tenant)
            bench_tenants.append(tenant)
            for _ in range(min(per_tenant, campaigns - made)):
                campaign = _campaign(tenant, cps="1", concurrency=5, agent_cap=1000, tenant_cap=1000)
                _copy_contacts(tenant, campaign, _numbers(10, seed=made % 700 + 1))
                made += 1
        ids = list(Campaign.objects.filter(tenant__in=bench_tenants).values_list("pk", flat=True))
        lines = []
        p99 = 0.0
        # First as the last line reports it: every campaign claims a call each tick (1 cps each, so 1,000
        # claims a tick); then, for comparison, with the claims of a tick capped at 100 (a platform taking
        # 100 new calls a second): the same 1,000 campaigns' budgets and windows, a tenth of the claims.
        # The tick runs in a Celery worker process, which freezes its start-up objects out of the garbage
        # collector's reach (voiceplatform/celery.py): this process does the same before timing it.
        gc.freeze()
        for cap, label in ((None, "every campaign claiming"), (100, "claims capped at 100 a tick")):
            durations, claimed = self._timed_ticks(ids, ticks, cap)
            ordered = sorted(durations)
            p99_here = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
            if cap is None:
                p99 = p99_here
            lines.append(
                f"tick ({label}): {len(ids)} running campaigns over {len(bench_tenants)} tenants, {ticks} ticks: "
                f"median {statistics.median(durations):.1f} ms, p99 {p99_here:.1f} ms, max {max(durations):.1f} ms; "
                f"claims per tick median {statistics.median(claimed):.0f}"
            )
        return {"p99": p99, "lines": lines}
