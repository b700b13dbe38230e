"""A call whose worker crashed is marked failed by the reaper, never left in progress forever."""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from telephony_app import tasks
from telephony_app.models import Call, CallStatus
from telephony_app.services import REAPED_REASON, call_transition, calls_reap_stale
from voiceplatform.celery import app as celery_app

S = CallStatus
HOUR = datetime.timedelta(hours=1)


def _last_heard(call: Call, ago: datetime.timedelta) -> datetime.datetime:
    when = timezone.now() - ago
    Call.objects.filter(pk=call.pk).update(updated_at=when)  # update() leaves auto_now alone
    return when


@pytest.fixture
def calls(tenant, other_tenant, make_call):
    """Stale and fresh calls in every state, in both tenants."""
    made = {}
    for status in (S.QUEUED, S.RINGING, S.IN_PROGRESS, S.COMPLETED, S.NO_ANSWER):
        made[f"stale {status.value}"] = make_call(tenant, status=status)
        made[f"fresh {status.value}"] = make_call(tenant, status=status)
    made["stale other tenant"] = make_call(other_tenant, status=S.IN_PROGRESS)
    for name, call in made.items():
        if name.startswith("stale"):
            _last_heard(call, 5 * HOUR)
    return made


def test_only_stale_open_calls_are_marked_failed_in_every_tenant(calls):
    before = {name: Call.objects.filter(pk=call.pk).values().get() for name, call in calls.items()}

    reaped = calls_reap_stale(older_than=4 * HOUR)

    statuses = {name: Call.objects.get(pk=call.pk).status for name, call in calls.items()}
    expected_failed = {"stale queued", "stale ringing", "stale in_progress", "stale other tenant"}
    assert reaped == 4
    assert {name for name, status in statuses.items() if status == S.FAILED} == expected_failed
    for name in set(calls) - expected_failed:
        assert Call.objects.filter(pk=calls[name].pk).values().get() == before[name], name


def test_a_reaped_call_ends_when_it_was_last_heard_of(tenant, make_call):
    call = make_call(tenant)
    answered = timezone.now() - 6 * HOUR
    call_transition(tenant=tenant, call=call, status=S.IN_PROGRESS, at=answered)
    last_heard = _last_heard(call, 5 * HOUR)

    calls_reap_stale(older_than=4 * HOUR)

    reaped = Call.objects.get(pk=call.pk)
    assert reaped.status == S.FAILED
    assert reaped.end_reason == REAPED_REASON == "no report from the voice worker (crashed or lost)"
    assert reaped.error == REAPED_REASON
    assert reaped.ended_at == last_heard
    assert reaped.duration_seconds == pytest.approx(HOUR.total_seconds(), abs=1)


def test_reaping_twice_changes_nothing_the_second_time(calls):
    assert calls_reap_stale(older_than=4 * HOUR) == 4
    after_first = list(Call.objects.order_by("pk").values())

    assert calls_reap_stale(older_than=4 * HOUR) == 0
    assert list(Call.objects.order_by("pk").values()) == after_first


def test_a_late_worker_report_cannot_reopen_a_reaped_call(tenant, make_call):
    call = make_call(tenant, status=S.IN_PROGRESS)
    _last_heard(call, 5 * HOUR)
    calls_reap_stale(older_than=4 * HOUR)

    call_transition(tenant=tenant, call=call, status=S.COMPLETED, reason="worker came back")

    assert Call.objects.get(pk=call.pk).status == S.FAILED


def test_the_celery_task_reaps_with_the_configured_limit(tenant, make_call, settings):
    settings.CALL_STALE_AFTER_SECONDS = 60
    stale = make_call(tenant, status=S.RINGING)
    _last_heard(stale, datetime.timedelta(minutes=2))
    fresh = make_call(tenant, status=S.RINGING)

    assert tasks.reap_stale_calls() == 1
    assert Call.objects.get(pk=stale.pk).status == S.FAILED
    assert Call.objects.get(pk=fresh.pk).status == S.RINGING


def test_the_celery_task_defaults_to_four_hours(tenant, make_call, settings):
    del settings.CALL_STALE_AFTER_SECONDS  # not set: the default applies
    three_hours = make_call(tenant, status=S.IN_PROGRESS)
    _last_heard(three_hours, 3 * HOUR)
    five_hours = make_call(tenant, status=S.IN_PROGRESS)
    _last_heard(five_hours, 5 * HOUR)

    result = tasks.reap_stale_calls.apply()

    assert result.get() == 1
    assert Call.objects.get(pk=three_hours.pk).status == S.IN_PROGRESS
    assert Call.objects.get(pk=five_hours.pk).status == S.FAILED


def test_beat_runs_the_registered_task_every_five_minutes():
    entry = django_settings.CELERY_BEAT_SCHEDULE["telephony-reap-stale-calls"]

    assert entry["task"] == tasks.reap_stale_calls.name
    assert entry["task"] in celery_app.tasks
    assert entry["schedule"] == 300.0
