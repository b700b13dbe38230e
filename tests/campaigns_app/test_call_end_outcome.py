"""A campaign call's end reaches its attempt and contact once, whoever reports it: the LiveKit
webhook, Twilio's status callback, the voice worker's report, the stale-call reaper."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

import pytest
from django.db import transaction
from django.utils import timezone

from campaigns_app.dialer.call_end import SETTLE_GRACE, attempt_outcome_for, settle_ended_calls
from campaigns_app.models import AttemptOutcome, CallAttempt, Campaign, CampaignStatus, Contact, ContactStatus
from campaigns_app.services import contacts_add
from telephony_app import call_hooks
from telephony_app.livekit_client import WebhookEvent
from telephony_app.livekit_sync import livekit_event_apply
from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.services import call_create, call_finish, call_transition, calls_reap_stale
from telephony_app.twilio import twilio_status_apply

pytestmark = pytest.mark.django_db


@dataclass
class Dialed:
    campaign: Campaign
    contact: Contact
    attempt: CallAttempt
    call: Call

    def reload(self) -> Dialed:
        self.contact.refresh_from_db()
        self.attempt.refresh_from_db()
        self.campaign.refresh_from_db()
        self.call.refresh_from_db()
        return self


@pytest.fixture
def dial(tenant, make_campaign):
    """dial(**campaign_fields): a running campaign whose contact is being dialed by attempt 1, with
    its outbound Call ringing in a LiveKit room, as the dialer and place_call leave them."""

    def make(*, numbers: tuple[str, ...] = ("+12125550101",), status: str = CallStatus.RINGING, **fields) -> Dialed:
        campaign = make_campaign(tenant, max_attempts=fields.pop("max_attempts", 3), **fields)
        rows = [{"number": number, "variables": {"first_name": "Ann"}} for number in numbers]
        contacts_add(tenant=tenant, campaign=campaign, rows=rows)
        Campaign.objects.for_tenant(tenant).filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)
        contact = Contact.objects.for_tenant(tenant).get(campaign=campaign, number=numbers[0])
        contact.status, contact.attempts = ContactStatus.DIALING, 1
        contact.lease_expires_at = timezone.now() + datetime.timedelta(minutes=2)
        contact.save()
        call = call_create(
            tenant=tenant,
            agent=campaign.agent,
            direction=CallDirection.OUTBOUND,
            to_number=contact.number,
            room_name=f"out-{uuid.uuid4()}",
            status=status,
            provider_call_id=f"CA{uuid.uuid4().hex}",
        )
        attempt = CallAttempt.objects.create(
            tenant=tenant, campaign=campaign, contact=contact, attempt_no=1, number=contact.number, call=call
        )
        return Dialed(campaign, contact, attempt, call).reload()

    return make


def webhook(kind: str, call: Call, *, participant_kind: str = "sip") -> WebhookEvent:
    return WebhookEvent(
        id=f"EV_{uuid.uuid4().hex[:8]}",
        event=kind,
        created_at=timezone.now(),
        room_name=call.room_name,
        room_metadata="",
        participant_identity="callee" if participant_kind else "",
        participant_kind=participant_kind,
        participant_attributes={},
    )


def test_a_livekit_webhook_end_waits_for_the_workers_report_and_the_backstop_writes_it_when_none_comes(
    dial, django_capture_on_commit_callbacks
):
    dialed = dial(retry_backoff_minutes=30)

    with django_capture_on_commit_callbacks(execute=True):
        livekit_event_apply(webhook("participant_left", dialed.call))
    dialed.reload()
    assert dialed.call.status == CallStatus.NO_ANSWER
    assert dialed.attempt.outcome == ""  # provisional: the worker's report, when it comes, has the last word

    # No report comes (the worker died): once the grace has passed, the webhook's end is the outcome.
    assert settle_ended_calls(now=dialed.call.ended_at + SETTLE_GRACE + datetime.timedelta(seconds=1)) == 1
    dialed.reload()
    assert dialed.attempt.outcome == AttemptOutcome.NO_ANSWER
    assert dialed.attempt.detail == "the callee left before the agent answered"
    assert dialed.contact.status == ContactStatus.RETRY
    assert dialed.contact.next_attempt_at == dialed.attempt.ended_at + datetime.timedelta(minutes=30)
    first_end = dialed.attempt.ended_at

    # A report arriving even later changes the call's record, never the attempt's one outcome.
    with django_capture_on_commit_callbacks(execute=True):
        livekit_event_apply(webhook("room_finished", dialed.call, participant_kind=""))
        call_finish(tenant=dialed.call.tenant, call=dialed.call, status=CallStatus.BUSY, end_reason="busy")
    dialed.reload()
    assert (dialed.attempt.outcome, dialed.attempt.ended_at) == (AttemptOutcome.NO_ANSWER, first_end)
    assert dialed.contact.status == ContactStatus.RETRY and dialed.contact.attempts == 1


def test_twilio_status_callbacks_end_the_attempt_once_however_often_they_come(
    tenant, dial, django_capture_on_commit_callbacks
):
    dialed = dial()
    params = {"CallSid": dialed.call.provider_call_id, "CallStatus": "busy", "Direction": "outbound-api"}

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        twilio_status_apply(tenant=tenant, phone_number=None, params=params)
        twilio_status_apply(tenant=tenant, phone_number=None, params=params)  # Twilio retries
        twilio_status_apply(tenant=tenant, phone_number=None, params={**params, "CallStatus": "completed"})
    dialed.reload()
    assert len(callbacks) == 1  # the call ended once, so it was announced once
    assert dialed.call.status == CallStatus.BUSY
    assert (dialed.attempt.outcome, dialed.attempt.detail) == (AttemptOutcome.BUSY, "twilio: busy")
    assert dialed.contact.status == ContactStatus.RETRY


def test_the_worker_report_completes_the_contact_and_the_campaign_and_a_second_report_changes_nothing(
    tenant, dial, django_capture_on_commit_callbacks
):
    dialed = dial(status=CallStatus.IN_PROGRESS)

    with django_capture_on_commit_callbacks(execute=True):
        call_finish(tenant=tenant, call=dialed.call, status=CallStatus.COMPLETED, end_reason="the agent ended the call")
    dialed.reload()
    assert dialed.attempt.outcome == AttemptOutcome.ANSWERED
    assert dialed.contact.status == ContactStatus.COMPLETED and dialed.contact.next_attempt_at is None
    assert dialed.campaign.status == CampaignStatus.COMPLETED  # its only contact is done

    with django_capture_on_commit_callbacks(execute=True):
        call_finish(tenant=tenant, call=dialed.call, status=CallStatus.COMPLETED, end_reason="again")
        call_transition(tenant=tenant, call=dialed.call, status=CallStatus.FAILED, reason="late")
    dialed.reload()
    assert (dialed.attempt.outcome, dialed.attempt.detail) == (AttemptOutcome.ANSWERED, "the agent ended the call")


def test_the_workers_report_replacing_a_provisional_webhook_end_is_the_attempts_outcome(
    tenant, dial, django_capture_on_commit_callbacks
):
    dialed = dial(status=CallStatus.IN_PROGRESS, numbers=("+12125550101", "+12125550102"))
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        livekit_event_apply(webhook("participant_left", dialed.call))
        call_finish(
            tenant=tenant,
            call=dialed.call,
            status=CallStatus.VOICEMAIL,
            end_reason="answering machine (machine-vm): hung up",
        )
    dialed.reload()
    assert len(callbacks) == 1  # the final end only
    assert dialed.call.status == CallStatus.VOICEMAIL  # the worker's word on the call
    assert (dialed.attempt.outcome, dialed.attempt.detail) == (
        AttemptOutcome.VOICEMAIL,
        "answering machine (machine-vm): hung up",
    )
    assert dialed.contact.status == ContactStatus.RETRY  # no message left: tried again
    assert dialed.campaign.status == CampaignStatus.RUNNING  # another contact is still pending


@pytest.mark.parametrize(
    ("status", "reason", "outcome", "contact_status"),
    [
        (CallStatus.VOICEMAIL, "answering machine: hung up", AttemptOutcome.VOICEMAIL, ContactStatus.RETRY),
        (CallStatus.FAILED, "sip: the callee rejected the call", AttemptOutcome.REJECTED, ContactStatus.RETRY),
        (CallStatus.FAILED, "provider error: tts", AttemptOutcome.FAILED, ContactStatus.RETRY),
        (CallStatus.NO_ANSWER, "no answer", AttemptOutcome.NO_ANSWER, ContactStatus.EXHAUSTED),
    ],
)
def test_each_end_maps_to_its_outcome(
    tenant, dial, django_capture_on_commit_callbacks, status, reason, outcome, contact_status
):
    # the last attempt allowed exhausts the contact unless it counts as reached
    dialed = dial(max_attempts=1 if contact_status == ContactStatus.EXHAUSTED else 3)
    with django_capture_on_commit_callbacks(execute=True):
        call_finish(tenant=tenant, call=dialed.call, status=status, end_reason=reason)
    dialed.reload()
    assert (dialed.attempt.outcome, dialed.contact.status) == (outcome, contact_status)


def test_voicemail_with_a_message_left_counts_as_reached(tenant, dial, django_capture_on_commit_callbacks):
    dialed = dial(voicemail_action="leave_message", voicemail_message="Please call us back.")
    with django_capture_on_commit_callbacks(execute=True):
        call_finish(tenant=tenant, call=dialed.call, status=CallStatus.VOICEMAIL, end_reason="message left")
    assert dialed.reload().contact.status == ContactStatus.COMPLETED


def test_the_stale_call_reaper_fails_the_attempt(dial, django_capture_on_commit_callbacks):
    dialed = dial(status=CallStatus.IN_PROGRESS)
    Call.objects.for_tenant(dialed.call.tenant).filter(pk=dialed.call.pk).update(
        updated_at=timezone.now() - datetime.timedelta(hours=5)
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert calls_reap_stale(older_than=datetime.timedelta(hours=4)) == 1
    dialed.reload()
    assert dialed.attempt.outcome == AttemptOutcome.FAILED and dialed.contact.status == ContactStatus.RETRY


def test_an_end_rolled_back_is_not_announced(tenant, dial, django_capture_on_commit_callbacks):
    dialed = dial()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(RuntimeError), transaction.atomic():
            call_transition(tenant=tenant, call=dialed.call, status=CallStatus.BUSY)
            raise RuntimeError("the caller's transaction failed")
    assert callbacks == []
    assert dialed.reload().attempt.outcome == "" and dialed.contact.status == ContactStatus.DIALING


def test_calls_of_no_campaign_and_a_failing_hook_leave_the_call_log_alone(
    tenant, dial, django_capture_on_commit_callbacks
):
    dialed = dial()
    inbound = call_create(tenant=tenant, direction=CallDirection.INBOUND, status=CallStatus.IN_PROGRESS)

    def broken(call_id: int, status: str, end_reason: str, at: datetime.datetime) -> None:
        raise RuntimeError("a listener's bug")

    call_hooks.register_call_end_hook("test.broken", broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            call_finish(tenant=tenant, call=inbound, status=CallStatus.COMPLETED, end_reason="done")
            call_finish(tenant=tenant, call=dialed.call, status=CallStatus.BUSY, end_reason="busy")
    finally:
        call_hooks.unregister_call_end_hook("test.broken")
    inbound.refresh_from_db()
    assert inbound.status == CallStatus.COMPLETED
    assert dialed.reload().attempt.outcome == AttemptOutcome.BUSY  # the campaign's hook still ran


def test_outcome_mapping_of_every_terminal_status():
    assert attempt_outcome_for(CallStatus.TRANSFERRED, "") == AttemptOutcome.ANSWERED
    assert attempt_outcome_for(CallStatus.FAILED, "SIP: call declined by callee") == AttemptOutcome.REJECTED
    assert attempt_outcome_for(CallStatus.IN_PROGRESS, "") is None


def test_an_end_whose_hook_never_ran_is_settled_by_the_backstop_once(tenant, dial):
    dialed = dial(status=CallStatus.IN_PROGRESS)
    ended_at = timezone.now() - datetime.timedelta(minutes=5)
    # The process that ended the call died between its commit and the hook: the row is ended, the attempt open.
    Call.objects.for_tenant(tenant).filter(pk=dialed.call.pk).update(
        status=CallStatus.NO_ANSWER, end_reason="no answer", ended_at=ended_at
    )
    recent = dial(numbers=("+12125550177",), status=CallStatus.IN_PROGRESS)
    Call.objects.for_tenant(tenant).filter(pk=recent.call.pk).update(status=CallStatus.BUSY, ended_at=timezone.now())

    assert settle_ended_calls() == 1
    assert settle_ended_calls() == 0
    dialed.reload()
    assert (dialed.attempt.outcome, dialed.attempt.ended_at) == (AttemptOutcome.NO_ANSWER, ended_at)
    assert dialed.contact.status == ContactStatus.RETRY
    assert recent.reload().attempt.outcome == ""  # its hook may still be on its way: left for a minute


def test_every_first_end_is_announced_once_with_its_status_reason_and_time(tenant, django_capture_on_commit_callbacks):
    heard: list[tuple[int, str, str, datetime.datetime]] = []
    call_hooks.register_call_end_hook("test.recorder", lambda *args: heard.append(args))
    try:
        with django_capture_on_commit_callbacks(execute=True):
            ended = call_create(tenant=tenant, direction=CallDirection.INBOUND, status=CallStatus.COMPLETED)
            live = call_create(tenant=tenant, direction=CallDirection.OUTBOUND, status=CallStatus.RINGING)
            call_transition(tenant=tenant, call=live, status=CallStatus.IN_PROGRESS)
            call_finish(tenant=tenant, call=live, status=CallStatus.NO_ANSWER, end_reason="no answer")
            call_finish(tenant=tenant, call=live, status=CallStatus.BUSY, end_reason="busy")
    finally:
        call_hooks.unregister_call_end_hook("test.recorder")
    live.refresh_from_db()
    assert [(call_id, status) for call_id, status, _reason, _at in heard] == [
        (ended.pk, CallStatus.COMPLETED),
        (live.pk, CallStatus.NO_ANSWER),
    ]
    assert heard[1][2:] == ("no answer", live.ended_at)
