"""place_call: a claimed attempt becomes one outbound call through the fake LiveKit (room with the agent
dispatched, one SIP participant through the caller ID's trunk), exactly once, and every failure ends
in a clear state: a SIP refusal is the attempt's outcome, LiveKit down gives the contact back."""

from __future__ import annotations

import datetime
import json

import pytest

from agents_app.validation import WEEKDAYS
from campaigns_app.dialer import zones
from campaigns_app.dialer.place import LIVEKIT_RETRY_SECONDS, _prepare, place_call, release_unplaced_calls
from campaigns_app.models import AttemptOutcome, CallAttempt, Campaign, Contact, ContactStatus
from campaigns_app.services import (
    CampaignStateConflict,
    campaign_pause,
    campaign_start,
    consent_grant,
    contacts_add,
    dnc_add,
)
from campaigns_app.tasks import place_call as place_call_task
from telephony_app.models import Call, CallDirection, CallStatus
from tests.campaigns_app.test_single_outbound_call import number_at_local_hours
from tests.conftest import AGENT_NAME
from voiceplatform.actor import SYSTEM

# Tuesday 11:00 in New York: inside the legal window and the default campaign window (weekdays 09-17).
NOW = datetime.datetime(2026, 11, 24, 16, 0, tzinfo=datetime.UTC)
NUMBER = "+12125550100"
TRUNK = "ST_outboundTest1"


@pytest.fixture
def running(tenant, make_campaign) -> Campaign:
    campaign = make_campaign(tenant, requires_consent=False, max_attempts=3, retry_backoff_minutes=30)
    contacts_add(
        tenant=tenant,
        campaign=campaign,
        rows=[{"number": NUMBER, "name": "Ada Lovelace", "variables": {"first_name": "Ada"}}],
    )
    return campaign_start(tenant=tenant, campaign=campaign, now=NOW)


def claim(campaign: Campaign, number: str = NUMBER) -> CallAttempt:
    """What the tick's claim writes: the contact dialing with a lease, one attempt."""
    contact = Contact.objects.for_tenant(campaign.tenant).get(campaign=campaign, number=number)
    contact.status = ContactStatus.DIALING
    contact.attempts += 1
    contact.dial_zone = zones.dial_zone_for(number)
    contact.lease_expires_at = NOW + datetime.timedelta(seconds=120)
    contact.save()
    return CallAttempt.objects.create(
        tenant=campaign.tenant, campaign=campaign, contact=contact, attempt_no=contact.attempts, number=number
    )


def reread(attempt: CallAttempt) -> tuple[CallAttempt, Contact]:
    attempt = CallAttempt.objects.for_tenant(attempt.tenant).select_related("call").get(pk=attempt.pk)
    return attempt, Contact.objects.for_tenant(attempt.tenant).get(pk=attempt.contact_id)


def test_a_placed_call_has_its_call_room_with_the_agent_and_one_sip_participant(tenant, running, livekit, settings):
    settings.DIALER_RING_TIMEOUT_SECONDS = 25
    attempt = claim(running)

    assert place_call(attempt.pk, now=NOW) == "placed"

    attempt, contact = reread(attempt)
    call = attempt.call
    assert call is not None and call.direction == CallDirection.OUTBOUND and call.status == CallStatus.RINGING
    assert (call.from_number, call.to_number, call.agent_id) == (running.caller_id.number, NUMBER, running.agent_id)
    assert call.context["campaign_id"] == str(running.code) and call.context["attempt_id"] == str(attempt.code)
    assert call.campaign_code == running.code  # the analytics filter campaigns by it
    assert attempt.started_at == NOW and attempt.outcome == ""
    assert contact.status == ContactStatus.DIALING
    assert contact.lease_expires_at == NOW + datetime.timedelta(seconds=settings.DIALER_LEASE_SECONDS)

    (room,) = livekit.messages("RoomService/CreateRoom")
    assert room.name == call.room_name == f"out-{call.code}"
    metadata = json.loads(room.metadata)
    assert metadata["call_type"] == "outbound" and metadata["call_id"] == str(call.code)
    assert metadata["agent_id"] == str(running.agent.code) and metadata["campaign_id"] == str(running.code)
    assert metadata["attempt_id"] == str(attempt.code) and metadata["to"] == NUMBER
    assert metadata["variables"] == contact.variables and metadata["variables"]["first_name"] == "Ada"
    (dispatch,) = room.agents
    assert dispatch.agent_name == AGENT_NAME and json.loads(dispatch.metadata) == metadata

    (sip,) = livekit.messages("SIP/CreateSIPParticipant")
    assert (sip.sip_trunk_id, sip.sip_call_to, sip.room_name) == (TRUNK, NUMBER, call.room_name)
    assert sip.sip_number == running.caller_id.number
    assert sip.ringing_timeout.seconds == 25 and not sip.wait_until_answered


def test_the_ring_timeout_is_never_under_15_seconds(tenant, running, livekit, settings):
    settings.DIALER_RING_TIMEOUT_SECONDS = 5
    place_call(claim(running).pk, now=NOW)
    (sip,) = livekit.messages("SIP/CreateSIPParticipant")
    assert sip.ringing_timeout.seconds == 15


def test_a_redelivered_task_dials_once(tenant, running, livekit):
    attempt = claim(running)

    assert place_call(attempt.pk, now=NOW) == "placed"
    assert place_call(attempt.pk, now=NOW) == "done"
    assert place_call(attempt.pk, now=NOW) == "done"

    assert len(livekit.messages("SIP/CreateSIPParticipant")) == 1
    assert len(livekit.messages("RoomService/CreateRoom")) == 1
    assert Call.objects.for_tenant(tenant).count() == 1


def test_an_attempt_with_an_outcome_is_not_dialed(tenant, running, livekit):
    attempt = claim(running)
    CallAttempt.objects.for_tenant(tenant).filter(pk=attempt.pk).update(outcome=AttemptOutcome.FAILED)

    assert place_call(attempt.pk, now=NOW) == "done"
    assert livekit.received == [] and not Call.objects.for_tenant(tenant).exists()


@pytest.mark.parametrize(
    ("sip_code", "sip_status", "outcome", "call_status"),
    [
        (486, "Busy Here", AttemptOutcome.BUSY, CallStatus.BUSY),
        (600, "Busy Everywhere", AttemptOutcome.BUSY, CallStatus.BUSY),
        (480, "Temporarily Unavailable", AttemptOutcome.NO_ANSWER, CallStatus.NO_ANSWER),
        (408, "Request Timeout", AttemptOutcome.NO_ANSWER, CallStatus.NO_ANSWER),
        (603, "Decline", AttemptOutcome.REJECTED, CallStatus.FAILED),
        (404, "Not Found", AttemptOutcome.REJECTED, CallStatus.FAILED),
        (503, "Service Unavailable", AttemptOutcome.FAILED, CallStatus.FAILED),
    ],
)
def test_a_sip_failure_is_the_attempts_outcome_and_the_contact_is_retried(
    tenant, running, livekit, sip_code, sip_status, outcome, call_status
):
    livekit.sip_fail(sip_code, sip_status)
    attempt = claim(running)

    assert place_call(attempt.pk, now=NOW) == "sip_failed"

    attempt, contact = reread(attempt)
    assert attempt.outcome == outcome and str(sip_code) in attempt.detail
    assert attempt.call.status == call_status and attempt.call.ended_at is not None
    assert contact.status == ContactStatus.RETRY and contact.attempts == 1 and contact.lease_expires_at is None
    assert contact.next_attempt_at > NOW + datetime.timedelta(minutes=29)
    # The room the agent was sent to is closed again.
    assert livekit.messages("RoomService/DeleteRoom")[0].room == attempt.call.room_name
    assert livekit.rooms == {}


def test_the_last_attempt_failing_exhausts_the_contact(tenant, running, livekit):
    livekit.sip_fail(486, "Busy Here")
    Contact.objects.for_tenant(tenant).filter(campaign=running).update(attempts=2)
    attempt = claim(running)

    place_call(attempt.pk, now=NOW)

    _, contact = reread(attempt)
    assert contact.status == ContactStatus.EXHAUSTED and "busy" in contact.reason


@pytest.mark.parametrize("down", ["unreachable", "room_refused", "too_slow", "not_configured"])
def test_livekit_down_loses_no_contact_and_says_so_on_the_campaign(tenant, running, livekit, settings, down):
    if down == "unreachable":
        livekit.stop()
    elif down == "room_refused":
        livekit.fail("RoomService/CreateRoom", status=401, code="unauthenticated", msg="invalid token")
    elif down == "too_slow":
        livekit.delay_seconds = 3
        livekit.failures.clear()
        settings.WEB_REQUEST_BUDGET_SECONDS = 1.5  # the client's request timeout: 0.5 s
    else:
        settings.LIVEKIT_URL = ""
    attempt = claim(running)

    assert place_call(attempt.pk, now=NOW) == "unavailable"

    attempt, contact = reread(attempt)
    assert attempt.outcome == AttemptOutcome.NOT_DIALED and attempt.call is None
    assert attempt.detail.startswith("livekit: LiveKit")
    # The contact is due again soon, with its attempt given back.
    assert contact.status == ContactStatus.PENDING and contact.attempts == 0
    assert contact.next_attempt_at >= NOW + datetime.timedelta(seconds=LIVEKIT_RETRY_SECONDS)
    call = Call.objects.for_tenant(tenant).get()
    assert call.status == CallStatus.FAILED and "LiveKit" in call.error
    running.refresh_from_db()
    assert running.dialer_error.startswith("LiveKit") and running.dialer_error_at is not None


def test_a_successful_dial_clears_the_campaign_error(tenant, running, livekit):
    Campaign.objects.for_tenant(tenant).filter(pk=running.pk).update(
        dialer_error="LiveKit unreachable: earlier", dialer_error_at=NOW
    )

    assert place_call(claim(running).pk, now=NOW) == "placed"

    running.refresh_from_db()
    assert running.dialer_error == "" and running.dialer_error_at is None


def test_an_attempt_whose_contact_was_deleted_is_a_clean_no_op(tenant, running, livekit):
    attempt = claim(running)
    Contact.objects.for_tenant(tenant).filter(pk=attempt.contact_id).delete()

    assert place_call(attempt.pk, now=NOW) == "gone"
    assert livekit.received == [] and not Call.objects.for_tenant(tenant).exists()


def test_a_number_put_on_the_dnc_list_after_the_claim_is_not_dialed(tenant, running, livekit):
    attempt = claim(running)
    dnc_add(tenant=tenant, number=NUMBER, reason="asked on another call", actor=SYSTEM)

    assert place_call(attempt.pk, now=NOW) == "not_dialed"

    attempt, contact = reread(attempt)
    assert attempt.outcome == AttemptOutcome.NOT_DIALED and attempt.detail.startswith("dnc:")
    assert contact.status == ContactStatus.SKIPPED and contact.reason.startswith("dnc:")
    assert livekit.received == [] and not Call.objects.for_tenant(tenant).exists()


def test_a_closed_window_at_the_recheck_puts_the_contact_back_for_when_it_opens(tenant, running, livekit):
    attempt = claim(running)
    night = datetime.datetime(2026, 11, 25, 4, 0, tzinfo=datetime.UTC)  # 23:00 in New York

    assert place_call(attempt.pk, now=night) == "not_dialed"

    attempt, contact = reread(attempt)
    assert attempt.detail.startswith(("legal_window:", "window:"))
    assert contact.status == ContactStatus.PENDING and contact.next_attempt_at > night
    assert livekit.received == []


def test_a_paused_campaign_places_no_call(tenant, running, livekit):
    attempt = claim(running)
    campaign_pause(tenant=tenant, campaign=running, now=NOW)

    assert place_call(attempt.pk, now=NOW) == "not_dialed"
    assert livekit.received == []


def test_the_consent_relied_on_is_recorded(tenant, make_campaign, livekit):
    campaign = make_campaign(tenant, requires_consent=True)
    consent = consent_grant(tenant=tenant, number=NUMBER, evidence="web form 2026-11-01", actor=SYSTEM)
    contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": NUMBER, "variables": {"first_name": "Ada"}}])
    campaign = campaign_start(tenant=tenant, campaign=campaign, now=NOW)
    attempt = claim(campaign)

    assert place_call(attempt.pk, now=NOW) == "placed"

    attempt, _ = reread(attempt)
    assert attempt.consent_id == consent.pk and attempt.call.context["consent_id"] == str(consent.code)


def test_a_caller_id_without_a_trunk_is_not_dialed_and_the_campaign_says_where_to_set_it(tenant, running, livekit):
    attempt = claim(running)
    running.caller_id.outbound_trunk_id = ""
    running.caller_id.save()

    assert place_call(attempt.pk, now=NOW) == "not_dialed"

    attempt, contact = reread(attempt)
    assert contact.status == ContactStatus.PENDING and contact.next_attempt_at > NOW
    running.refresh_from_db()
    assert "outbound trunk" in running.dialer_error and "Numbers" in running.dialer_error
    assert livekit.received == []


def test_a_missing_attempt_is_a_clean_no_op(db, livekit):
    assert place_call(987654321, now=NOW) == "gone"


def test_a_campaign_whose_caller_id_has_no_outbound_trunk_cannot_start(tenant, make_campaign, make_caller_id):
    campaign = make_campaign(tenant, requires_consent=False, caller_id=make_caller_id(tenant, outbound_trunk_id=""))
    contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": NUMBER, "variables": {"first_name": "Ada"}}])

    with pytest.raises(CampaignStateConflict) as refused:
        campaign_start(tenant=tenant, campaign=campaign, now=NOW)

    (problem,) = refused.value.problems
    assert "no outbound trunk" in problem and "Phone numbers page" in problem


def test_the_celery_task_places_the_call_once_however_often_it_is_delivered(tenant, make_campaign, livekit):
    """The task as Celery runs it (in this process, real clock): a callee in calling hours right now."""
    callee = number_at_local_hours(range(10, 19))
    every_day = {day: [{"start": "00:00", "end": "23:59"}] for day in WEEKDAYS}
    campaign = make_campaign(tenant, requires_consent=False, calling_window=every_day)
    contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": callee, "variables": {"first_name": "Ada"}}])
    attempt = claim(campaign_start(tenant=tenant, campaign=campaign), number=callee)

    first = place_call_task.apply(args=[attempt.pk])
    again = place_call_task.apply(args=[attempt.pk])

    assert (first.get(), again.get()) == ("placed", "done")
    assert len(livekit.messages("SIP/CreateSIPParticipant")) == 1


def test_a_call_left_queued_by_a_killed_place_call_is_failed_and_the_contact_retried(tenant, running, livekit):
    attempt = claim(running)
    _prepare(attempt.pk, NOW)  # the worker died here: the Call exists, no room, no SIP call
    assert place_call(attempt.pk, now=NOW) == "done"  # its redelivery dials nothing
    lease_end = NOW + datetime.timedelta(seconds=120)

    assert release_unplaced_calls(now=lease_end - datetime.timedelta(seconds=1)) == 0  # still within the lease
    assert release_unplaced_calls(now=lease_end + datetime.timedelta(seconds=1)) == 1
    assert release_unplaced_calls(now=lease_end + datetime.timedelta(seconds=2)) == 0

    attempt, contact = reread(attempt)
    assert attempt.outcome == AttemptOutcome.FAILED and "never completed" in attempt.detail
    assert attempt.call.status == CallStatus.FAILED
    assert contact.status == ContactStatus.RETRY
    assert [m.room for m in livekit.messages("RoomService/DeleteRoom")] == [attempt.call.room_name]
    assert livekit.messages("SIP/CreateSIPParticipant") == []


def test_a_ringing_call_is_not_released(tenant, running, livekit):
    attempt = claim(running)
    place_call(attempt.pk, now=NOW)

    assert release_unplaced_calls(now=NOW + datetime.timedelta(hours=1)) == 0
    attempt, _ = reread(attempt)
    assert attempt.outcome == "" and attempt.call.status == CallStatus.RINGING
