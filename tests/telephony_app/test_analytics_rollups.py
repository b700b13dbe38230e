"""The call rollups: kept as calls end, in the same transaction, each call counted once whatever the
order and number of end reports (duplicates, a provisional end then the worker's report), and equal to
a from-scratch recomputation, in Python and by the set-based rebuild (`manage.py analytics_rebuild`)."""

from __future__ import annotations

import datetime
import random
import threading
import time
import uuid
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from telephony_app.analytics import buckets
from telephony_app.analytics.rollups import COUNT_COLUMNS, HIST_COLUMNS, Share, shares_of
from telephony_app.analytics.services import analytics_rebuild
from telephony_app.models import TERMINAL_STATUSES, Call, CallDirection, CallRollup, CallStatus
from telephony_app.services import call_create, call_fail, call_finish, call_transition, calls_reap_stale
from tests.telephony_app.conftest import USAGE

S = CallStatus
TERMINAL = sorted(TERMINAL_STATUSES)


def _rollups(tenant) -> dict[tuple, tuple]:
    """The tenant's rollup rows as comparable tuples (talk time rounded: float sums depend on order)."""
    rows = {}
    for row in CallRollup.objects.for_tenant(tenant):
        key = (row.tenant_id, row.day, row.agent_id, row.campaign_code, row.direction)
        value = (
            tuple(getattr(row, name) for name in COUNT_COLUMNS),
            round(row.talk_seconds, 6),
            row.cost_usd,
            tuple(tuple(getattr(row, name)) for name in HIST_COLUMNS),
        )
        if any(value[0]) or value[1] or value[2] or any(any(h) for h in value[3]):
            rows[key] = value
    return rows


def _expected(tenant) -> dict[tuple, tuple]:
    """The rollups recomputed from scratch in Python from the tenant's calls as they are now."""
    totals: dict[tuple, Share] = shares_of(Call.objects.for_tenant(tenant))
    return {
        key: (
            tuple(part.counts[name] for name in COUNT_COLUMNS),
            round(part.talk_seconds, 6),
            part.cost_usd,
            tuple(tuple(part.hists[name]) for name in HIST_COLUMNS),
        )
        for key, part in totals.items()
    }


def _metrics(rng: random.Random) -> list[dict]:
    turns = []
    for n in range(rng.randint(0, 4)):
        turn = {
            "turn": n + 1,
            "end_of_turn_delay": round(rng.uniform(0, 2), 4),
            "llm_ttft": round(rng.uniform(0, 3), 4),
        }
        if rng.random() < 0.8:
            turn["tts_ttfb"] = round(rng.uniform(0, 1), 4)
        turns.append(turn)
    return turns


def _random_life(rng: random.Random, tenant, call: Call) -> None:
    """One call's reports in a random, realistic order, with duplicates and re-orderings."""
    if rng.random() < 0.2:  # created days ago (the rollup's day comes from the creation)
        Call.objects.filter(pk=call.pk).update(created_at=timezone.now() - datetime.timedelta(days=rng.randint(1, 40)))
    if rng.random() < 0.6:
        call_transition(tenant=tenant, call=call, status=S.RINGING)
    if rng.random() < 0.7:
        call_transition(tenant=tenant, call=call, status=S.IN_PROGRESS)
    choice = rng.random()
    final = rng.choice([S.COMPLETED, S.TRANSFERRED, S.COMPLETED, S.FAILED])
    report = {"turn_metrics": _metrics(rng), "usage": USAGE if rng.random() < 0.5 else []}
    if choice < 0.25:  # a provisional end (LiveKit's webhook), then the worker's report replaces it
        call_transition(
            tenant=tenant, call=call, status=S.COMPLETED, ended_by=rng.choice(["livekit_webhook", "reconcile"])
        )
        call_finish(tenant=tenant, call=call, status=final, end_reason="worker", **report)
    elif choice < 0.45:  # the worker's report, delivered twice
        call_finish(tenant=tenant, call=call, status=final, **report)
        call_finish(tenant=tenant, call=call, status=final, **report)
    elif choice < 0.6:  # a status callback ends it first, the worker's metrics come after
        call_transition(
            tenant=tenant, call=call, status=rng.choice([S.NO_ANSWER, S.BUSY, S.COMPLETED]), ended_by="twilio"
        )
        call_finish(tenant=tenant, call=call, status=final, **report)
        call_transition(tenant=tenant, call=call, status=S.COMPLETED)  # a late duplicate callback
    elif choice < 0.7:
        call_fail(tenant=tenant, call=call, reason="provider down")
        call_fail(tenant=tenant, call=call, reason="provider down")
    elif choice < 0.8:  # left open: not counted until it ends (the reaper below ends some)
        if rng.random() < 0.5:
            Call.objects.filter(pk=call.pk).update(updated_at=timezone.now() - datetime.timedelta(hours=3))
    else:  # a provisional end the worker never replaces
        call_transition(tenant=tenant, call=call, status=S.COMPLETED, ended_by="livekit_webhook")
        call_transition(tenant=tenant, call=call, status=S.FAILED, ended_by="reconcile")


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollups_equal_a_recomputation_after_a_random_mix_of_calls(tenant, make_agent, seed):
    rng = random.Random(seed)
    agents = [make_agent(tenant, name="Front desk"), make_agent(tenant, name="Billing"), None]
    campaigns = [uuid.uuid4(), uuid.uuid4(), None]
    for _ in range(60):
        if rng.random() < 0.1:  # created already ended (the inbound routing's out-of-hours calls)
            call_create(tenant=tenant, agent=rng.choice(agents), direction=CallDirection.INBOUND, status=S.TRANSFERRED)
            continue
        direction = rng.choice([CallDirection.INBOUND, CallDirection.OUTBOUND, CallDirection.CHAT])
        campaign = rng.choice(campaigns) if direction == CallDirection.OUTBOUND else None
        call = call_create(tenant=tenant, agent=rng.choice(agents), direction=direction, campaign_code=campaign)
        _random_life(rng, tenant, call)
    calls_reap_stale(older_than=datetime.timedelta(hours=1))

    incremental = _rollups(tenant)
    expected = _expected(tenant)
    assert incremental == expected
    finished = Call.objects.for_tenant(tenant).filter(status__in=TERMINAL).count()
    assert sum(value[0][0] for value in incremental.values()) == finished > 30
    assert len({key[1] for key in incremental}) > 1  # several days
    # Every finished call is marked rolled up, every open one is not.
    assert set(Call.objects.for_tenant(tenant).values_list("status", "is_rolled_up")) <= {
        *((status, True) for status in TERMINAL),
        *((status, False) for status in (S.QUEUED, S.RINGING, S.IN_PROGRESS)),
    }

    result = analytics_rebuild(tenant=tenant)  # the set-based SQL agrees with the Python recomputation
    assert _rollups(tenant) == expected
    assert result.calls == finished


def test_a_call_ending_twice_is_counted_once(tenant, make_agent):
    agent = make_agent(tenant)
    call = call_create(tenant=tenant, agent=agent, direction=CallDirection.INBOUND, status=S.IN_PROGRESS)
    metrics = [{"turn": 1, "end_of_turn_delay": 0.42, "llm_ttft": 0.31, "tts_ttfb": 0.12}]
    for _ in range(3):
        call_finish(tenant=tenant, call=call, status=S.COMPLETED, turn_metrics=metrics, usage=USAGE)
    call_transition(tenant=tenant, call=call, status=S.COMPLETED)

    row = CallRollup.objects.for_tenant(tenant).get()
    assert (row.calls, row.completed, row.answered, row.agent_id) == (1, 1, 1, agent.pk)
    assert row.cost_usd == Decimal("0.72540")
    assert sum(row.llm_ttft_hist) == 1
    assert row.llm_ttft_hist[buckets.bucket_index(0.31, buckets.LATENCY_LOWER)] == 1


def test_a_provisional_end_replaced_by_the_workers_report_is_counted_once_as_the_report_says(tenant):
    call = call_create(tenant=tenant, direction=CallDirection.INBOUND, status=S.IN_PROGRESS)
    call_transition(tenant=tenant, call=call, status=S.FAILED, ended_by="livekit_webhook")
    row = CallRollup.objects.for_tenant(tenant).get()
    assert (row.calls, row.failed, row.transferred, sum(row.end_of_turn_hist)) == (1, 1, 0, 0)

    metrics = [{"turn": 1, "end_of_turn_delay": 0.5}, {"turn": 2, "end_of_turn_delay": 0.7}]
    call_finish(tenant=tenant, call=call, status=S.TRANSFERRED, turn_metrics=metrics)
    call_finish(tenant=tenant, call=call, status=S.TRANSFERRED, turn_metrics=metrics)  # redelivered

    row.refresh_from_db()
    assert (row.calls, row.failed, row.transferred, sum(row.end_of_turn_hist)) == (1, 0, 1, 2)


def test_an_open_call_is_not_in_the_rollups(tenant):
    call_create(tenant=tenant, direction=CallDirection.INBOUND, status=S.IN_PROGRESS)
    assert not CallRollup.objects.for_tenant(tenant).exists()


def _bulk_calls(tenant, *, days_ago: list[int]) -> None:
    """Finished calls written around the services (as an import or the benchmark would), not rolled up."""
    now = timezone.now()
    Call.objects.bulk_create(
        [
            Call(
                tenant=tenant,
                direction=CallDirection.INBOUND,
                status=S.COMPLETED,
                answered_at=now,
                ended_at=now,
                duration_seconds=30.0 + n,
                turn_metrics=[{"turn": 1, "llm_ttft": 0.2 + n / 100, "end_of_turn_delay": "garbage"}],
                estimated_cost_usd=Decimal("0.01000"),
            )
            for n in range(len(days_ago))
        ]
    )
    for call, days in zip(Call.objects.for_tenant(tenant).order_by("id"), days_ago, strict=True):
        Call.objects.filter(pk=call.pk).update(created_at=now - datetime.timedelta(days=days))


def test_the_rebuild_command_counts_calls_written_around_the_services(tenant, other_tenant, capsys):
    _bulk_calls(tenant, days_ago=[0, 0, 3, 10])
    _bulk_calls(other_tenant, days_ago=[0])
    assert not CallRollup.objects.exists()

    call_command("analytics_rebuild", "--tenant", tenant.slug)

    assert _rollups(tenant) == _expected(tenant)
    assert sum(row.calls for row in CallRollup.objects.for_tenant(tenant)) == 4
    assert not CallRollup.objects.for_tenant(other_tenant).exists()  # only the tenant asked for
    assert "4 finished calls" in capsys.readouterr().out
    assert not Call.objects.for_tenant(tenant).filter(is_rolled_up=False).exists()

    # A call ending later adds to the rebuilt rows; a second rebuild changes nothing.
    call = call_create(tenant=tenant, direction=CallDirection.INBOUND, status=S.IN_PROGRESS)
    call_finish(tenant=tenant, call=call, status=S.COMPLETED)
    before = _rollups(tenant)
    call_command("analytics_rebuild", "--tenant", str(tenant.code))
    assert _rollups(tenant) == before == _expected(tenant)


def test_the_rebuild_since_a_day_leaves_earlier_days_alone(tenant):
    _bulk_calls(tenant, days_ago=[0, 5])
    analytics_rebuild(tenant=tenant)
    old_day = (timezone.now() - datetime.timedelta(days=5)).astimezone(datetime.UTC).date()
    # Tamper with both days' rows: only the days from --since are recomputed.
    CallRollup.objects.for_tenant(tenant).update(calls=99)

    call_command("analytics_rebuild", "--since", (old_day + datetime.timedelta(days=1)).isoformat())

    by_day = {row.day: row.calls for row in CallRollup.objects.for_tenant(tenant)}
    assert by_day[old_day] == 99
    assert [calls for day, calls in by_day.items() if day != old_day] == [1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "yesterday"], "is not a date"),
        (["--tenant", "no-such-tenant"], "no tenant"),
        (["--tenant", str(uuid.uuid4())], "no tenant"),
    ],
)
def test_the_rebuild_command_refuses_bad_arguments_in_one_line(db, args, message):
    with pytest.raises(CommandError, match=message) as error:
        call_command("analytics_rebuild", *args)
    assert "\n" not in str(error.value)


def _in_thread(fn, *args):
    def run() -> None:
        try:
            fn(*args)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_during_a_call_end_waits_for_it_and_counts_the_call_once(tenant):
    call = call_create(tenant=tenant, direction=CallDirection.INBOUND, status=S.IN_PROGRESS)
    ended, release = threading.Event(), threading.Event()

    def end_and_hold() -> None:
        with transaction.atomic():
            call_finish(tenant=tenant, call=call, status=S.COMPLETED)
            ended.set()
            release.wait(10)  # the call's end (and its rollup share) not committed yet

    ending = _in_thread(end_and_hold)
    assert ended.wait(10)
    rebuilding = _in_thread(lambda: analytics_rebuild(tenant=tenant))
    deadline = time.monotonic() + 10
    while _lock_waiters() == 0 and time.monotonic() < deadline:  # the rebuild waits for the end's commit
        time.sleep(0.02)
    assert _lock_waiters() == 1
    release.set()
    ending.join(10)
    rebuilding.join(10)

    assert CallRollup.objects.for_tenant(tenant).get().calls == 1
    assert _rollups(tenant) == _expected(tenant)


def test_percentiles_come_from_the_buckets():
    counts = buckets.empty(buckets.LATENCY_LOWER)
    for value in [0.12, 0.14, 0.42, 0.44, 0.46, 2.2]:
        counts[buckets.bucket_index(value, buckets.LATENCY_LOWER)] += 1
    p50 = buckets.percentile(counts, buckets.LATENCY_LOWER, 0.5)
    assert 0.4 <= p50 <= 0.5
    assert buckets.percentile(counts, buckets.LATENCY_LOWER, 1.0) <= 2.5
    assert buckets.percentile(buckets.empty(buckets.LATENCY_LOWER), buckets.LATENCY_LOWER, 0.9) is None
    assert buckets.bucket_index(-1, buckets.LATENCY_LOWER) is None
    assert buckets.bucket_index(True, buckets.LATENCY_LOWER) is None
    assert buckets.bucket_index(99, buckets.LATENCY_LOWER) == len(buckets.LATENCY_LOWER) - 1
