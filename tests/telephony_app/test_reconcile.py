"""The reconciliation: calls left open whose LiveKit room is gone are ended; LiveKit's room list comes
from a local fake of its Twirp API (voiceplatform/devtools/fake_livekit.py) speaking the real protocol."""

from __future__ import annotations

import datetime
import socket
import threading
import time
import uuid

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.utils import timezone

from telephony_app import tasks
from telephony_app.livekit_sync import RECONCILED_REASON, calls_reconcile
from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.services import call_transition
from voiceplatform.celery import app as celery_app
from voiceplatform.devtools.fake_livekit import KEY, SECRET, FakeLiveKit
from worker.call_report import write_call_log
from worker.call_state import CallState

S = CallStatus
MINUTE = datetime.timedelta(minutes=1)
LIMIT = 5 * MINUTE


def open_room(fake: FakeLiveKit, name: str) -> None:
    from livekit import api  # the fake's own protocol types; the code under test never sees them

    fake.rooms[name] = api.Room(sid=f"RM_{name}", name=name)


def last_heard(call: Call, ago: datetime.timedelta) -> datetime.datetime:
    when = timezone.now() - ago
    Call.objects.filter(pk=call.pk).update(updated_at=when)  # update() leaves auto_now alone
    return when


def row(call: Call) -> dict:
    return Call.objects.filter(pk=call.pk).values().get()


@pytest.fixture
def make_room_call(make_call, agent):
    def make(tenant, *, status=S.IN_PROGRESS, ago=10 * MINUTE, room: str | None = None, **kwargs) -> Call:
        code = uuid.uuid4()
        call = make_call(
            tenant, agent=agent if agent.tenant_id == tenant.pk else None, status=status, code=code,
            room_name=f"in-{code}" if room is None else room, **kwargs,
        )  # fmt: skip
        when = last_heard(call, ago)
        if status == S.IN_PROGRESS:  # answered two minutes before it was last heard of
            Call.objects.filter(pk=call.pk).update(answered_at=when - 2 * MINUTE)
        return Call.objects.get(pk=call.pk)

    return make


def test_a_call_whose_room_is_gone_is_failed_and_one_whose_room_is_open_is_left_alone(livekit, tenant, make_room_call):
    gone = make_room_call(tenant)
    still_talking = make_room_call(tenant)
    open_room(livekit, still_talking.room_name)
    before = row(still_talking)

    result = calls_reconcile(older_than=LIMIT)

    assert (result.checked, result.ended, result.room_open) == (2, 1, 1)
    ended = Call.objects.get(pk=gone.pk)
    assert ended.status == S.FAILED
    assert ended.end_reason == RECONCILED_REASON == "room closed without a report (worker crash or dropped webhook)"
    assert ended.context["ended_by"] == "reconcile"
    assert ended.ended_at == gone.updated_at  # the earliest it can have ended: no unproven talk time
    assert ended.duration_seconds == 120.0
    assert row(still_talking) == before
    # LiveKit was asked about exactly these rooms, not for its whole room list
    [request] = livekit.messages("RoomService/ListRooms")
    assert sorted(request.names) == sorted([gone.room_name, still_talking.room_name])


def test_only_old_open_calls_are_looked_at(livekit, tenant, other_tenant, make_room_call):
    calls = {
        "ringing, gone": make_room_call(tenant, status=S.RINGING),
        "other tenant, gone": make_room_call(other_tenant),
        "no room name": make_room_call(tenant, room=""),
        "young, gone": make_room_call(tenant, ago=MINUTE),
        "queued (the dialer's)": make_room_call(tenant, status=S.QUEUED),
        "completed": make_room_call(tenant, status=S.COMPLETED),
        "text chat": make_room_call(tenant, direction=CallDirection.CHAT, room=""),
    }
    before = {name: row(call) for name, call in calls.items()}

    result = calls_reconcile(older_than=LIMIT)

    ended = {"ringing, gone", "other tenant, gone", "no room name"}
    assert result.ended == 3
    for name, call in calls.items():
        if name in ended:
            assert Call.objects.get(pk=call.pk).status == S.FAILED, name
        else:
            assert row(call) == before[name], name
    assert Call.objects.get(pk=calls["ringing, gone"].pk).duration_seconds == 0.0


@pytest.mark.parametrize("room", [None, ""], ids=["room gone?", "no room name"])
def test_livekit_down_changes_nothing(settings, tenant, make_room_call, caplog, room):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.LIVEKIT_URL = f"http://127.0.0.1:{port}"  # nothing listens here
    settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = KEY, SECRET
    call = make_room_call(tenant, room=room)
    before = row(call)

    assert tasks.reconcile_calls() == 0

    assert row(call) == before
    assert "call reconciliation skipped" in caplog.text


def test_livekit_answering_with_an_error_changes_nothing(livekit, tenant, make_room_call):
    livekit.fail("RoomService/ListRooms", status=503, code="unavailable", msg="overloaded")
    call = make_room_call(tenant)
    before = row(call)

    assert tasks.reconcile_calls() == 0

    assert row(call) == before


def test_livekit_unconfigured_changes_nothing(settings, tenant, make_room_call):
    settings.LIVEKIT_URL = ""
    call = make_room_call(tenant, room="")  # even a call with no room: no LiveKit, no judgement
    before = row(call)

    assert tasks.reconcile_calls() == 0

    assert row(call) == before


def test_a_second_run_changes_nothing(livekit, tenant, make_room_call):
    make_room_call(tenant)
    make_room_call(tenant, status=S.RINGING)
    assert calls_reconcile(older_than=LIMIT).ended == 2
    after_first = list(Call.objects.order_by("pk").values())

    assert calls_reconcile(older_than=LIMIT).checked == 0
    assert list(Call.objects.order_by("pk").values()) == after_first


@pytest.mark.django_db(transaction=True)  # write_call_log closes its connection, as the worker does
def test_the_worker_report_after_the_reconciliation_replaces_its_outcome(livekit, tenant, make_room_call):
    call = make_room_call(tenant)
    calls_reconcile(older_than=LIMIT)
    assert Call.objects.get(pk=call.pk).status == S.FAILED

    state = CallState(job_id="AJ_1", room_name=call.room_name, tenant=tenant, call=call)
    write_call_log(state, status=S.COMPLETED, end_reason="the caller hung up", transcript=[])

    ended = Call.objects.get(pk=call.pk)
    assert (ended.status, ended.end_reason) == (S.COMPLETED, "the caller hung up")
    assert ended.duration_seconds == pytest.approx((ended.ended_at - ended.answered_at).total_seconds())
    assert ended.ended_at > call.updated_at
    assert ended.context["provisional_end"]["by"] == "reconcile"


@pytest.mark.django_db(transaction=True)
def test_a_call_being_written_right_now_is_skipped(livekit, tenant, make_room_call):
    busy = make_room_call(tenant)
    idle = make_room_call(tenant)
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:  # another process (a worker's report) holding the row
        try:
            with transaction.atomic():
                Call.objects.for_tenant(tenant).select_for_update().get(pk=busy.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        started = time.monotonic()
        result = calls_reconcile(older_than=LIMIT)
        assert time.monotonic() - started < 5  # did not wait for the lock
    finally:
        release.set()
        holder.join()

    assert result.ended == 1
    assert Call.objects.get(pk=busy.pk).status == S.IN_PROGRESS
    assert Call.objects.get(pk=idle.pk).status == S.FAILED
    assert calls_reconcile(older_than=LIMIT).ended == 1  # the next run takes it
    assert Call.objects.get(pk=busy.pk).status == S.FAILED


def test_a_late_webhook_cannot_reopen_or_replace_a_reconciled_call(livekit, tenant, make_room_call):
    call = make_room_call(tenant)
    calls_reconcile(older_than=LIMIT)
    before = row(call)

    call_transition(tenant=tenant, call=call, status=S.COMPLETED, reason="the room closed", ended_by="livekit_webhook")

    assert row(call) == before


def test_the_task_uses_the_configured_limit(livekit, settings, tenant, make_room_call):
    settings.CALL_RECONCILE_AFTER_SECONDS = 60
    two_minutes = make_room_call(tenant, ago=2 * MINUTE)
    half_a_minute = make_room_call(tenant, ago=datetime.timedelta(seconds=30))

    result = tasks.reconcile_calls.apply()  # Celery's own task API, run in this process

    assert result.get() == 1
    assert Call.objects.get(pk=two_minutes.pk).status == S.FAILED
    assert Call.objects.get(pk=half_a_minute.pk).status == S.IN_PROGRESS


def test_beat_runs_the_registered_task_every_minute():
    entry = django_settings.CELERY_BEAT_SCHEDULE["telephony-reconcile-calls"]

    assert entry["task"] == tasks.reconcile_calls.name == "telephony_app.tasks.reconcile_calls"
    assert entry["task"] in celery_app.tasks
    assert entry["schedule"] == 60.0
    assert entry["options"]["expires"] < entry["schedule"]  # a tick that waited too long is dropped
    assert django_settings.CALL_RECONCILE_AFTER_SECONDS == 300


@pytest.mark.django_db(transaction=True)
def test_a_celery_worker_runs_the_task_from_the_redis_broker(livekit, tenant, make_room_call):
    gone = make_room_call(tenant)

    # A real worker thread consuming from the Redis broker (REDIS_URL); the task runs there, with its
    # own database connection, exactly as beat's message would be run.
    with start_worker(celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        tasks.reconcile_calls.delay()
        deadline = time.monotonic() + 15
        while Call.objects.get(pk=gone.pk).status != S.FAILED and time.monotonic() < deadline:
            time.sleep(0.1)

    assert Call.objects.get(pk=gone.pk).status == S.FAILED
