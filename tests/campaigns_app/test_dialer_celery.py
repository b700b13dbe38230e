"""The dialer in real Celery worker processes: exactly-once claims and calls, redelivery, kill -9.

The workers run on this test's database and Redis, with the fake LiveKit of this process on loopback.
Their clock is the real one, so the contacts are given an explicit time zone where it is early
afternoon now (inside every window) and the campaign calls around the clock."""

from __future__ import annotations

import datetime
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from campaigns_app.dialer.outcome import reap_expired_leases
from campaigns_app.dialer.place import release_unplaced_calls
from campaigns_app.models import CallAttempt, Campaign, CampaignStatus, Contact, ContactStatus
from campaigns_app.tasks import dialer_tick, place_call
from telephony_app.models import Call, CallStatus
from tests.campaigns_app.conftest import _live_database_url
from voiceplatform.celery import app as celery_app
from voiceplatform.devtools.fake_livekit import FakeLiveKit
from voiceplatform.models import Tenant

pytestmark = pytest.mark.django_db(transaction=True)

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALWAYS = {day: [{"start": "00:00", "end": "23:59"}] for day in DAYS}
TICK_QUEUE = "dialer-test-ticks"
SIP_METHOD = "SIP/CreateSIPParticipant"


def _afternoon_zone() -> str:
    """An IANA zone where it is 13:00-14:00 now (Etc/GMT-N is UTC+N)."""
    offset = (13 - timezone.now().hour + 12) % 24 - 12
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


@pytest.fixture(scope="module")
def fake_livekit() -> Iterator[FakeLiveKit]:
    with FakeLiveKit() as fake:
        yield fake


def _start_worker(fake: FakeLiveKit, queues: str, log_path: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "voiceplatform.settings",
        "DATABASE_URL": _live_database_url(),
        "REDIS_URL": settings.CELERY_BROKER_URL,
        "LIVEKIT_URL": fake.url,
        "LIVEKIT_API_KEY": fake.key,
        "LIVEKIT_API_SECRET": fake.secret,
        "DIALER_VOICE_CAPACITY": "100000",
        "TENANT_MAX_CONCURRENT_CALLS": "100000",
        "DIALER_MAX_CLAIMS_PER_TICK": "2000",
        "LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "celery", "-A", "voiceplatform", "worker", "--pool", "prefork"]
    command += ["--concurrency", "4", "--loglevel", "warning", "--without-gossip", "--without-mingle", "-Q", queues]
    log = open(log_path, "w")
    return subprocess.Popen(
        command, cwd=Path(settings.BASE_DIR), env=env, stdout=log, stderr=subprocess.STDOUT, text=True
    )


@pytest.fixture(scope="module")
def workers(django_db_setup, django_db_blocker, fake_livekit) -> Iterator[Callable[[str], subprocess.Popen[str]]]:
    """workers(queues): 4 Celery worker processes (prefork) consuming `queues`, stopped at module end;
    every queue is purged at the end so no leftover task reaches another module's worker."""
    started: list[subprocess.Popen[str]] = []
    logs = tempfile.mkdtemp(prefix="dialer-workers-")

    def start(queues: str) -> subprocess.Popen[str]:
        process = _start_worker(fake_livekit, queues, f"{logs}/{len(started)}.log")
        started.append(process)
        children: list[psutil.Process] = []
        deadline = time.monotonic() + 30
        while len(children) < 4 and time.monotonic() < deadline:
            time.sleep(0.2)
            children = psutil.Process(process.pid).children()
        assert len(children) == 4, Path(f"{logs}/{len(started) - 1}.log").read_text()
        return process

    yield start
    for process in started:
        process.terminate()
    for process in started:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    _purge()


def _purge() -> None:
    with celery_app.connection_for_write() as conn:
        for queue in ("celery", TICK_QUEUE):
            conn.default_channel.queue_purge(queue)


def _campaign_with_contacts(
    tenant: Tenant, make_campaign: Callable[..., Campaign], count: int, **fields: Any
) -> Campaign:
    campaign = make_campaign(tenant, calling_window=ALWAYS, requires_consent=False)
    campaign.agent.max_concurrent_calls = 1000
    campaign.agent.save(update_fields=["max_concurrent_calls"])
    type(campaign.caller_id).objects.filter(pk=campaign.caller_id_id).update(outbound_cps="99999")
    zone = f"US|{_afternoon_zone()}"
    now = timezone.now() - datetime.timedelta(minutes=1)
    buffer = io.StringIO()
    for index in range(count):
        number = f"+1212{201 + index // 10000}{index % 10000:04d}"
        buffer.write(
            f"{uuid.uuid4()}\t{tenant.pk}\t{campaign.pk}\t{number}\t\t{_afternoon_zone()}\t{{}}\tpending\t0\t"
            f"{now.isoformat()}\t{zone}\t\t\t{now.isoformat()}\t{now.isoformat()}\n"
        )
    columns = (
        "code, tenant_id, campaign_id, number, name, timezone, variables, status, attempts, next_attempt_at, "
        "dial_zone, last_outcome, reason, created_at, updated_at"
    )
    with connection.cursor() as cursor, cursor.copy(f"COPY {Contact._meta.db_table} ({columns}) FROM STDIN") as copy:
        copy.write(buffer.getvalue())
    Campaign.objects.for_tenant(tenant).filter(pk=campaign.pk).update(
        status=CampaignStatus.RUNNING,
        dial_zones=[zone],
        zones_pending=False,
        max_calls_per_second="9999",
        max_concurrent_calls=count + 1,
        **fields,
    )
    Tenant.objects.filter(pk=tenant.pk).update(max_concurrent_calls=count + 1)
    type(campaign.agent).objects.filter(pk=campaign.agent_id).update(max_concurrent_calls=count + 1)
    return campaign


def _wait(condition: Callable[[], bool], seconds: float, what: str, *, beat: bool = False) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        if beat:
            dialer_tick.apply_async(queue=TICK_QUEUE)  # Celery beat's tick, as often as workers take it
        time.sleep(0.25)


def test_four_worker_processes_claim_10000_contacts_exactly_once(tenant, make_campaign, workers):
    workers(TICK_QUEUE)  # ticks only: the calls they enqueue wait in the default queue (purged at the end)
    campaign = _campaign_with_contacts(tenant, make_campaign, 10_000)
    attempts = CallAttempt.objects.for_tenant(tenant).filter(campaign=campaign)

    _wait(lambda: attempts.count() >= 10_000, 120, "10,000 claims", beat=True)
    time.sleep(1)  # any tick still running finishes: a duplicate would show now

    per_contact = Counter(attempts.values_list("contact_id", flat=True))
    assert len(per_contact) == 10_000  # none lost
    assert set(per_contact.values()) == {1}  # none claimed twice
    assert (
        not Contact.objects.for_tenant(tenant).filter(campaign=campaign).exclude(status=ContactStatus.DIALING).exists()
    )
    _purge()  # the 10,000 calls the ticks enqueued are not this test's subject


def test_redelivered_place_call_dials_once(tenant, make_campaign, workers, fake_livekit):
    workers(f"celery,{TICK_QUEUE}")
    campaign = _campaign_with_contacts(tenant, make_campaign, 60)
    fake_livekit.received.clear()

    _wait(
        lambda: CallAttempt.objects.for_tenant(tenant).filter(campaign=campaign).count() >= 60,
        60,
        "60 claims",
        beat=True,
    )
    attempt_ids = list(CallAttempt.objects.for_tenant(tenant).filter(campaign=campaign).values_list("pk", flat=True))
    for attempt_id in attempt_ids * 2:  # every task delivered twice more (acks_late redelivery)
        place_call.delay(attempt_id)
    _wait(lambda: Call.objects.for_tenant(tenant).filter(status=CallStatus.RINGING).count() >= 60, 60, "60 calls")
    time.sleep(1.5)  # the redelivered tasks run

    dials = Counter(r.message.sip_call_to for r in fake_livekit.received if r.method == SIP_METHOD)
    assert len(dials) == 60 and set(dials.values()) == {1}
    assert Call.objects.for_tenant(tenant).count() == 60


def test_kill_9_of_a_worker_process_loses_no_contact_and_dials_none_twice(tenant, make_campaign, workers, fake_livekit):
    process = workers(f"celery,{TICK_QUEUE}")
    fake_livekit.received.clear()
    fake_livekit.delay_seconds = 0.3  # slow calls: a worker process holds claims when it dies
    try:
        campaign = _campaign_with_contacts(tenant, make_campaign, 40, retry_backoff_minutes=60)
        contacts = Contact.objects.for_tenant(tenant).filter(campaign=campaign)
        _wait(
            lambda: not contacts.filter(status=ContactStatus.PENDING).exists(), 60, "every contact claimed", beat=True
        )
        os.kill(psutil.Process(process.pid).children()[0].pid, signal.SIGKILL)
        # The killed task is redelivered (task_reject_on_worker_lost); the others finish.
        attempts = CallAttempt.objects.for_tenant(tenant).filter(campaign=campaign)
        _wait(lambda: not attempts.filter(call__isnull=True, outcome="").exists(), 60, "every claim placed")
        time.sleep(1.5)  # tasks still running finish
    finally:
        fake_livekit.delay_seconds = 0.0
    # Whatever the lost process left half done is reaped once its lease has expired: a claim without a
    # call returns to the queue; a call that may or may not have rung is failed (retried after backoff).
    later = timezone.now() + datetime.timedelta(seconds=settings.DIALER_LEASE_SECONDS + 1)
    release_unplaced_calls(now=later)
    reap_expired_leases(now=later)
    _wait(
        lambda: not contacts.filter(status=ContactStatus.PENDING).exists(), 30, "returned contacts claimed", beat=True
    )
    _wait(lambda: not Call.objects.for_tenant(tenant).filter(status=CallStatus.QUEUED).exists(), 30, "calls placed")

    dials = Counter(r.message.sip_call_to for r in fake_livekit.received if r.method == SIP_METHOD)
    assert max(dials.values()) == 1  # none dialed twice
    for contact in contacts:
        # Dialed once (ringing), or back in the queue for a later retry: never lost.
        assert dials[contact.number] == 1 or contact.status == ContactStatus.RETRY, (contact.number, contact.status)
