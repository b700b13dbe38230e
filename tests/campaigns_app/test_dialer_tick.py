"""The pacing tick: what it claims, within which budgets, for whom first, and what it refuses."""

from __future__ import annotations

import datetime
import itertools
import threading
import zoneinfo
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.db import connection

from campaigns_app.dialer import capacity, outcome
from campaigns_app.dialer.outcome import attempt_finish, reap_expired_leases
from campaigns_app.dialer.tick import TICK_LOCK, claim_preview_contact, dialer_tick, forget_idle
from campaigns_app.dialer.zones import classify_campaign_contacts
from campaigns_app.models import (
    AttemptOutcome,
    CallAttempt,
    Campaign,
    CampaignStatus,
    Contact,
    ContactStatus,
    DialerMode,
)
from campaigns_app.services import (
    campaign_pause,
    campaign_resume,
    campaign_start,
    consent_grant,
    consent_revoke,
    contacts_add,
    dnc_add,
)
from tests.campaigns_app.conftest import _live_database_url
from voiceplatform.actor import SYSTEM
from voiceplatform.models import Tenant

pytestmark = pytest.mark.django_db

# A Wednesday, 19:00 UTC: 14:00 in New York, 11:00 in Los Angeles, 09:00 in Honolulu.
T0 = datetime.datetime(2026, 12, 2, 19, 0, tzinfo=datetime.UTC)
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
ALWAYS = {day: [{"start": "00:00", "end": "23:59"}] for day in DAYS}


def _numbers(count: int, area: str = "212", start: int = 0) -> list[str]:
    return [f"+1{area}{201 + (start + i) // 10000}{(start + i) % 10000:04d}" for i in range(count)]


@pytest.fixture(autouse=True)
def _voice_capacity(settings: Any) -> None:
    """Voice capacity from the setting (no voice worker reports in these tests), pace limiters fresh."""
    settings.DIALER_VOICE_CAPACITY = 1000
    settings.TENANT_MAX_CONCURRENT_CALLS = 1000  # the tenant's cap is tested on its own
    forget_idle(now=T0.timestamp() + 10**7)


@pytest.fixture
def running(make_campaign: Callable[..., Campaign]) -> Callable[..., Campaign]:
    """running(tenant, numbers, **fields): a started campaign whose contacts are classified."""

    def make(tenant: Tenant, numbers: list[str], **fields: Any) -> Campaign:
        fields.setdefault("calling_window", ALWAYS)
        fields.setdefault("requires_consent", False)
        fields.setdefault("max_calls_per_second", "20")
        fields.setdefault("max_concurrent_calls", 50)
        campaign = make_campaign(tenant, **fields)
        campaign.caller_id.outbound_cps = 20
        campaign.caller_id.save(update_fields=["outbound_cps"])
        campaign.agent.max_concurrent_calls = 1000  # the agent's own cap is tested on its own
        campaign.agent.save(update_fields=["max_concurrent_calls"])
        added = contacts_add(
            tenant=tenant, campaign=campaign, rows=[{"number": n, "name": f"Person {i}"} for i, n in enumerate(numbers)]
        )
        assert not added.errors
        Contact.objects.for_tenant(tenant).filter(campaign=campaign).update(
            next_attempt_at=T0 - datetime.timedelta(hours=1)
        )
        classify_campaign_contacts(campaign.pk)
        campaign_start(tenant=tenant, campaign=campaign, now=T0)
        campaign.refresh_from_db()
        assert campaign.status == CampaignStatus.RUNNING
        return campaign

    return make


def _attempts(campaign: Campaign) -> list[CallAttempt]:
    return list(CallAttempt.objects.for_tenant(campaign.tenant).filter(campaign=campaign).order_by("id"))


def _end_open_attempts(campaign: Campaign, at: datetime.datetime, result: str = AttemptOutcome.NO_ANSWER) -> None:
    for attempt in CallAttempt.objects.for_tenant(campaign.tenant).filter(campaign=campaign, outcome=""):
        assert attempt_finish(attempt_id=attempt.pk, outcome=result, at=at)


def test_a_tick_claims_due_contacts_moves_them_to_dialing_with_a_lease_and_writes_their_attempts(
    tenant, running, settings
):
    campaign = running(tenant, _numbers(3), max_concurrent_calls=5)

    result = dialer_tick(now=T0, enqueue=False)

    assert result.claimed == 3 and len(result.attempt_ids) == 3
    contacts = Contact.objects.for_tenant(tenant).filter(campaign=campaign)
    assert {c.status for c in contacts} == {ContactStatus.DIALING}
    assert {c.attempts for c in contacts} == {1}
    assert {c.lease_expires_at for c in contacts} == {T0 + datetime.timedelta(seconds=settings.DIALER_LEASE_SECONDS)}
    attempts = _attempts(campaign)
    assert sorted(a.pk for a in attempts) == sorted(result.attempt_ids)
    assert {(a.attempt_no, a.outcome) for a in attempts} == {(1, "")}
    assert sorted(a.number for a in attempts) == sorted(c.number for c in contacts)
    # Nothing is due any more: a second tick claims nothing.
    assert dialer_tick(now=T0 + datetime.timedelta(seconds=1), enqueue=False).claimed == 0


def test_each_tick_adds_its_claims_to_the_claims_counter_and_observes_its_duration_once(tenant, running):
    from voiceplatform.metrics import DIALER_CLAIMS, DIALER_TICK_SECONDS

    def figures() -> tuple[float, float]:
        claims = DIALER_CLAIMS.collect()[0].samples[0].value
        ticks = next(s.value for s in DIALER_TICK_SECONDS.collect()[0].samples if s.name.endswith("_count"))
        return claims, ticks

    running(tenant, _numbers(3), max_concurrent_calls=5)
    claims, ticks = figures()
    dialer_tick(now=T0, enqueue=False)
    dialer_tick(now=T0 + datetime.timedelta(seconds=1), enqueue=False)  # nothing due: claims nothing

    assert figures() == (claims + 3, ticks + 2)


def test_the_campaigns_concurrency_caps_claims_until_a_call_ends(tenant, running):
    campaign = running(tenant, _numbers(10), max_concurrent_calls=2)

    assert dialer_tick(now=T0, enqueue=False).claimed == 2
    assert dialer_tick(now=T0 + datetime.timedelta(seconds=1), enqueue=False).claimed == 0
    first = _attempts(campaign)[0]
    attempt_finish(attempt_id=first.pk, outcome=AttemptOutcome.ANSWERED, at=T0 + datetime.timedelta(seconds=2))
    assert dialer_tick(now=T0 + datetime.timedelta(seconds=3), enqueue=False).claimed == 1


def test_agent_tenant_and_voice_capacity_each_cap_the_claims(tenant, running, settings, make_outbound_agent):
    campaign = running(tenant, _numbers(20), max_concurrent_calls=20)
    campaign.agent.max_concurrent_calls = 3
    campaign.agent.save(update_fields=["max_concurrent_calls"])
    assert dialer_tick(now=T0, enqueue=False).claimed == 3

    campaign.agent.max_concurrent_calls = 100
    campaign.agent.save(update_fields=["max_concurrent_calls"])
    Tenant.objects.filter(pk=tenant.pk).update(max_concurrent_calls=5)
    assert dialer_tick(now=T0 + datetime.timedelta(seconds=1), enqueue=False).claimed == 2

    Tenant.objects.filter(pk=tenant.pk).update(max_concurrent_calls=None)
    settings.DIALER_VOICE_CAPACITY = 6
    assert dialer_tick(now=T0 + datetime.timedelta(seconds=2), enqueue=False).claimed == 1


def test_with_no_voice_worker_and_no_setting_nothing_is_dialed_and_the_campaign_says_why(tenant, running, settings):
    campaign = running(tenant, _numbers(2))
    settings.DIALER_VOICE_CAPACITY = 0

    result = dialer_tick(now=T0, enqueue=False)

    assert result.claimed == 0
    campaign.refresh_from_db()
    assert "No voice worker is running" in campaign.dialer_error
    # A worker reports: the next tick dials and clears the error.
    capacity.report_voice_worker(worker_id="test-worker", capacity=4, active=0)
    try:
        assert dialer_tick(now=T0 + datetime.timedelta(seconds=1), enqueue=False).claimed == 2
    finally:
        capacity.withdraw_voice_worker(worker_id="test-worker")
    campaign.refresh_from_db()
    assert campaign.dialer_error == ""


def _launches(campaign: Campaign) -> list[float]:
    return sorted(a.created_at.timestamp() - T0.timestamp() for a in _attempts(campaign))


def _most_in_one_second(launches: list[float]) -> int:
    return max(
        (sum(1 for other in launches[index:] if other < at + 1.0) for index, at in enumerate(launches)), default=0
    )


def test_two_calls_per_second_over_a_minute_launch_120_and_never_more_than_2_in_any_second(tenant, running):
    campaign = running(tenant, _numbers(300), max_calls_per_second="2", max_concurrent_calls=500)
    campaign.caller_id.outbound_cps = 5
    campaign.caller_id.save(update_fields=["outbound_cps"])

    for second in range(60):  # Celery beat's one tick a second, 60 s of simulated time
        dialer_tick(now=T0 + datetime.timedelta(seconds=second), enqueue=False)

    launches = _launches(campaign)
    assert 114 <= len(launches) <= 126
    assert _most_in_one_second(launches) == 2


def test_ticks_arriving_irregularly_never_put_more_than_the_pace_in_any_second(tenant, running):
    campaign = running(tenant, _numbers(300), max_calls_per_second="2", max_concurrent_calls=500)
    campaign.caller_id.outbound_cps = 5
    campaign.caller_id.save(update_fields=["outbound_cps"])

    # Late and early ticks, some two in the same second (a delayed beat, a second beat).
    offsets = sorted({round(i * 0.5 + (0.3 if i % 3 == 0 else 0.0), 3) for i in range(120)})
    for offset in offsets:
        dialer_tick(now=T0 + datetime.timedelta(seconds=offset), enqueue=False)

    launches = _launches(campaign)
    assert _most_in_one_second(launches) <= 2
    assert len(launches) >= 60  # irregular ticks cost pace (a launch waits for its second to pass), never safety


def test_the_caller_ids_trunk_cps_caps_every_campaign_using_it(tenant, running, make_campaign):
    first = running(tenant, _numbers(20), max_calls_per_second="10")
    second = running(tenant, _numbers(20, start=100), max_calls_per_second="10", caller_id=first.caller_id)
    first.caller_id.outbound_cps = 3
    first.caller_id.save(update_fields=["outbound_cps"])

    result = dialer_tick(now=T0, enqueue=False)

    assert result.claimed == 3
    assert len(_attempts(first)) + len(_attempts(second)) == 3


def test_another_tenants_first_call_goes_out_in_the_next_tick_despite_a_huge_backlog(
    tenant, other_tenant, running, settings
):
    settings.DIALER_VOICE_CAPACITY = 5
    backlog = running(tenant, _numbers(400), max_concurrent_calls=50, max_calls_per_second="20")
    for second in range(3):
        dialer_tick(now=T0 + datetime.timedelta(seconds=second), enqueue=False)
        _end_open_attempts(backlog, T0 + datetime.timedelta(seconds=second, milliseconds=500))

    newcomer = running(other_tenant, _numbers(1, area="415"))
    dialer_tick(now=T0 + datetime.timedelta(seconds=3), enqueue=False)

    assert len(_attempts(newcomer)) == 1


def test_a_second_tick_while_one_holds_the_lock_claims_nothing(tenant, running):
    campaign = running(tenant, _numbers(2))
    holder = psycopg.connect(_live_database_url())  # a second connection: another tick's, holding the lock
    try:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", [TICK_LOCK])
        result = dialer_tick(now=T0, enqueue=False)
        assert result.locked_out and result.claimed == 0
    finally:
        holder.rollback()
        holder.close()
    assert dialer_tick(now=T0, enqueue=False).claimed == 2
    assert len(_attempts(campaign)) == 2


def test_dnc_numbers_are_skipped_and_contacts_without_consent_held_with_the_rule(tenant, running):
    numbers = _numbers(3)
    campaign = running(tenant, numbers, requires_consent=True)
    consent_grant(tenant=tenant, number=numbers[0], actor=SYSTEM, evidence="web form, 2026-11-30")
    consent_grant(tenant=tenant, number=numbers[1], actor=SYSTEM, evidence="web form, 2026-11-30")
    dnc_add(tenant=tenant, number=numbers[1], actor=SYSTEM, reason="asked by email")

    result = dialer_tick(now=T0, enqueue=False)

    assert (result.claimed, result.skipped, result.held) == (1, 1, 1)
    by_number = {c.number: c for c in Contact.objects.for_tenant(tenant).filter(campaign=campaign)}
    assert by_number[numbers[0]].status == ContactStatus.DIALING
    assert by_number[numbers[1]].status == ContactStatus.SKIPPED and by_number[numbers[1]].reason.startswith("dnc: ")
    assert by_number[numbers[2]].status == ContactStatus.HELD and by_number[numbers[2]].reason.startswith("consent: ")
    (attempt,) = _attempts(campaign)
    assert attempt.consent is not None and attempt.consent.number == numbers[0]


def test_dnc_added_or_consent_revoked_mid_campaign_stops_every_later_dial(tenant, running):
    numbers = _numbers(2)
    campaign = running(tenant, numbers, requires_consent=True, max_attempts=3, retry_backoff_minutes=1)
    for number in numbers:
        consent_grant(tenant=tenant, number=number, actor=SYSTEM, evidence="signed form")
    assert dialer_tick(now=T0, enqueue=False).claimed == 2
    _end_open_attempts(campaign, T0 + datetime.timedelta(seconds=10))  # no answer: retry in a minute

    dnc_add(tenant=tenant, number=numbers[0], actor=SYSTEM, reason="asked by email")
    consent_revoke(tenant=tenant, number=numbers[1], actor=SYSTEM, evidence="withdrew by phone")
    for minute in range(2, 6):
        dialer_tick(now=T0 + datetime.timedelta(minutes=minute), enqueue=False)

    assert len(_attempts(campaign)) == 2
    statuses = dict(Contact.objects.for_tenant(tenant).filter(campaign=campaign).values_list("number", "status"))
    assert statuses == {numbers[0]: ContactStatus.SKIPPED, numbers[1]: ContactStatus.HELD}


def test_florida_numbers_get_at_most_three_calls_in_24_hours_across_campaigns(tenant, running):
    number = "+13055550123"
    campaigns = [
        running(tenant, [number], name=f"Campaign {i}", max_attempts=10, retry_backoff_minutes=1) for i in range(4)
    ]
    for minute in range(0, 40, 2):
        dialer_tick(now=T0 + datetime.timedelta(minutes=minute), enqueue=False)
        for campaign in campaigns:
            _end_open_attempts(campaign, T0 + datetime.timedelta(minutes=minute, seconds=30))

    dialed = CallAttempt.objects.for_tenant(tenant).filter(number=number).exclude(outcome=AttemptOutcome.NOT_DIALED)
    assert dialed.count() == 3
    deferred = Contact.objects.for_tenant(tenant).filter(number=number, status=ContactStatus.PENDING)
    assert deferred.exists()
    assert all(c.reason.startswith("region_24h: ") for c in deferred)


def test_no_claims_outside_the_window_in_the_callees_zone(tenant, running):
    weekday_mornings = {day: [{"start": "09:00", "end": "12:00"}] for day in DAYS}
    campaign = running(tenant, _numbers(2) + _numbers(2, area="808"), calling_window=weekday_mornings)

    # 19:00 UTC = 14:00 New York (closed), 09:00 Honolulu (open).
    result = dialer_tick(now=T0, enqueue=False)

    assert result.claimed == 2
    assert {a.number[:5] for a in _attempts(campaign)} == {"+1808"}


def test_pause_stops_claims_at_the_next_tick_and_resume_carries_on(tenant, running):
    campaign = running(tenant, _numbers(6), max_calls_per_second="2")
    assert dialer_tick(now=T0, enqueue=False).claimed == 2

    campaign_pause(tenant=tenant, campaign=campaign, now=T0 + datetime.timedelta(seconds=1))
    assert dialer_tick(now=T0 + datetime.timedelta(seconds=2), enqueue=False).claimed == 0

    campaign_resume(tenant=tenant, campaign=campaign, now=T0 + datetime.timedelta(seconds=3))
    assert dialer_tick(now=T0 + datetime.timedelta(seconds=4), enqueue=False).claimed == 2


def test_a_finished_campaign_with_nothing_left_completes(tenant, running):
    campaign = running(tenant, _numbers(1))
    dialer_tick(now=T0, enqueue=False)
    _end_open_attempts(campaign, T0 + datetime.timedelta(seconds=30), AttemptOutcome.ANSWERED)

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED


def test_retries_follow_the_backoff_until_attempts_run_out(tenant, running):
    campaign = running(tenant, _numbers(1), max_attempts=2, retry_backoff_minutes=30)
    assert dialer_tick(now=T0, enqueue=False).claimed == 1
    _end_open_attempts(campaign, T0 + datetime.timedelta(seconds=40), AttemptOutcome.BUSY)
    contact = Contact.objects.for_tenant(tenant).get(campaign=campaign)
    assert contact.status == ContactStatus.RETRY
    assert contact.next_attempt_at == T0 + datetime.timedelta(minutes=30, seconds=40)

    assert dialer_tick(now=T0 + datetime.timedelta(minutes=29), enqueue=False).claimed == 0
    assert dialer_tick(now=T0 + datetime.timedelta(minutes=31), enqueue=False).claimed == 1
    _end_open_attempts(campaign, T0 + datetime.timedelta(minutes=32), AttemptOutcome.NO_ANSWER)

    contact.refresh_from_db()
    assert contact.status == ContactStatus.EXHAUSTED and contact.attempts == 2
    assert [a.attempt_no for a in _attempts(campaign)] == [1, 2]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.COMPLETED


def test_an_outcome_reported_twice_counts_once(tenant, running):
    campaign = running(tenant, _numbers(1), max_attempts=3)
    dialer_tick(now=T0, enqueue=False)
    (attempt,) = _attempts(campaign)

    assert attempt_finish(attempt_id=attempt.pk, outcome=AttemptOutcome.NO_ANSWER, at=T0)
    assert not attempt_finish(attempt_id=attempt.pk, outcome=AttemptOutcome.ANSWERED, at=T0)

    attempt.refresh_from_db()
    contact = attempt.contact
    assert attempt.outcome == AttemptOutcome.NO_ANSWER
    assert contact.status == ContactStatus.RETRY and contact.attempts == 1


def test_the_reaper_returns_a_claim_whose_lease_expired_without_a_call(tenant, running, settings):
    campaign = running(tenant, _numbers(1))
    dialer_tick(now=T0, enqueue=False)
    (attempt,) = _attempts(campaign)

    assert reap_expired_leases(now=T0 + datetime.timedelta(seconds=settings.DIALER_LEASE_SECONDS - 1)) == 0
    later = T0 + datetime.timedelta(seconds=settings.DIALER_LEASE_SECONDS + 1)
    assert reap_expired_leases(now=later) == 1
    assert reap_expired_leases(now=later) == 0

    attempt.refresh_from_db()
    assert attempt.outcome == AttemptOutcome.FAILED and "lease expired" in attempt.detail
    contact = attempt.contact
    assert contact.status == ContactStatus.PENDING and contact.attempts == 0 and contact.next_attempt_at == later
    # Dialed again once, as attempt 2.
    assert dialer_tick(now=later + datetime.timedelta(seconds=1), enqueue=False).claimed == 1
    assert [a.attempt_no for a in _attempts(campaign)] == [1, 2]


def test_predictive_campaigns_overdial_by_the_answer_rate_but_not_past_capacity(tenant, running, settings):
    campaign = running(tenant, _numbers(80), dialer_mode=DialerMode.PREDICTIVE, max_concurrent_calls=4)
    # A history of 40 dials, one in four answered, none abandoned.
    for second in range(10):
        dialer_tick(now=T0 + datetime.timedelta(seconds=second * 2), enqueue=False)
        for index, attempt in enumerate(CallAttempt.objects.for_tenant(tenant).filter(campaign=campaign, outcome="")):
            result = AttemptOutcome.ANSWERED if index == 0 else AttemptOutcome.NO_ANSWER
            attempt_finish(attempt_id=attempt.pk, outcome=result, at=T0 + datetime.timedelta(seconds=second * 2 + 1))
    from agents_app.runtime_config import redis_client

    redis_client().delete(f"vp:dialer:ratio:{campaign.pk}")
    settings.DIALER_VOICE_CAPACITY = 10

    result = dialer_tick(now=T0 + datetime.timedelta(seconds=30), enqueue=False)

    assert result.claimed == 10  # 4 slots x ratio 4 = 16, capped by the 10 free voice slots


def test_preview_campaigns_wait_for_the_operator_and_claim_the_confirmed_contact(tenant, running):
    campaign = running(tenant, _numbers(3), dialer_mode=DialerMode.PREVIEW)
    assert dialer_tick(now=T0, enqueue=False).claimed == 0

    chosen = Contact.objects.for_tenant(tenant).filter(campaign=campaign).order_by("-id").first()
    attempt = claim_preview_contact(tenant=tenant, campaign=campaign, contact=chosen, now=T0)

    assert isinstance(attempt, CallAttempt) and attempt.contact_id == chosen.pk
    again = claim_preview_contact(tenant=tenant, campaign=campaign, contact=chosen, now=T0)
    assert isinstance(again, outcome.NotDialed) and again.rule == "contact"


@pytest.mark.django_db(transaction=True)
def test_concurrent_ticks_never_claim_a_contact_twice(tenant, running, django_db_blocker):
    campaign = running(tenant, _numbers(200), max_concurrent_calls=500, max_calls_per_second="20")
    results: list[int] = []
    seconds = itertools.count()  # one simulated clock for the three tickers

    def tick() -> None:
        with django_db_blocker.unblock():
            idle = 0
            while idle < 3:
                result = dialer_tick(now=T0 + datetime.timedelta(seconds=next(seconds)), enqueue=False)
                results.append(result.claimed)
                idle = idle + 1 if not result.claimed and not result.locked_out else 0
            connection.close()

    threads = [threading.Thread(target=tick) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    per_contact = Counter(a.contact_id for a in _attempts(campaign))
    assert sum(results) == len(per_contact) == 200
    assert set(per_contact.values()) == {1}


def test_a_week_across_the_dst_change_dials_only_inside_every_zones_windows(tenant, running):
    """Ticks every 30 minutes from Thursday 2026-10-29 to Thursday 2026-11-05 (US clocks fall back on
    Sunday 1 November); every call ends unanswered, so contacts are retried all week."""
    numbers = {
        "+12122010001": ("America/New_York",),
        "+13122010002": ("America/Chicago",),
        "+13032010003": ("America/Denver",),
        "+16022010004": ("America/Phoenix",),  # no DST
        "+14152010005": ("America/Los_Angeles",),
        "+19072010006": ("America/Adak", "America/Anchorage"),  # two zones: both must be open
        "+18082010007": ("Pacific/Honolulu",),
        "+18002010008": None,  # toll-free: many zones, from Newfoundland to Guam
        "+13052010009": ("America/New_York",),  # Florida: 08:00-20:00 and 3 calls per 24 h
    }
    window = {day: [{"start": "07:00", "end": "22:00"}] for day in DAYS}  # wider than the law
    campaign = running(
        tenant, list(numbers), calling_window=window, max_attempts=10, retry_backoff_minutes=60, max_concurrent_calls=20
    )
    start = datetime.datetime(2026, 10, 29, 0, 0, tzinfo=datetime.UTC)
    Contact.objects.for_tenant(tenant).filter(campaign=campaign).update(next_attempt_at=start)
    for step in range(7 * 48):
        now = start + datetime.timedelta(minutes=30 * step)
        dialer_tick(now=now, enqueue=False)
        _end_open_attempts(campaign, now + datetime.timedelta(minutes=1))

    attempts = _attempts(campaign)
    assert attempts
    keys = dict(Contact.objects.for_tenant(tenant).filter(campaign=campaign).values_list("number", "dial_zone"))
    for attempt in attempts:
        region, zones_of_key = keys[attempt.number].split("|")
        latest_end = datetime.time(20) if region == "US-FL" else datetime.time(21)
        for zone in zones_of_key.split(","):
            local = attempt.created_at.astimezone(zoneinfo.ZoneInfo(zone)).time()
            assert datetime.time(8) <= local < latest_end, (attempt.number, zone, attempt.created_at)
    # Every ordinary zone was called on every day of the week, before and after the change.
    by_number = Counter(attempt.number for attempt in attempts)
    assert all(by_number[number] >= 7 for number, zones in numbers.items() if zones and number != "+13052010009")
    # The toll-free number's 42 zones (Newfoundland to Guam) are all inside 08:00-21:00 only around
    # 22:00-23:00 UTC: it is called then and never otherwise (checked zone by zone above).
    assert {a.created_at.astimezone(datetime.UTC).hour for a in attempts if a.number == "+18002010008"} <= {22, 23}
    florida = sorted(a.created_at for a in attempts if a.number == "+13052010009")
    assert florida
    for index, at in enumerate(florida):
        assert sum(1 for other in florida[index:] if other < at + datetime.timedelta(hours=24)) <= 3
