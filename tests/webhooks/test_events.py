"""The events the apps emit: written in the transaction of the change, once per change."""

from __future__ import annotations

import datetime
import json

from django.utils import timezone

from agents_app.services import agent_create
from campaigns_app.models import DncSource
from campaigns_app.services import campaign_create, campaign_pause, campaign_start, contacts_add, dnc_add
from telephony_app.models import CallDirection, CallStatus
from telephony_app.services import call_create, call_finish, call_transition, calls_reap_stale, phone_number_create
from voiceplatform.actor import SYSTEM
from voiceplatform.webhooks.events import EVENT_TYPES
from voiceplatform.webhooks.models import WebhookDelivery

ALL_EVENTS = ["call.started", "call.ended", "campaign.status_changed", "contact.opted_out"]


def _make_agent(tenant):
    return agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Caller", "system_prompt": "Be helpful."})


def _make_campaign_with_a_contact(tenant):
    agent = agent_create(
        tenant=tenant,
        actor=SYSTEM,
        fields={"name": "Reminders", "direction": "outbound", "system_prompt": "Remind {{first_name}}."},
    )
    number = phone_number_create(tenant=tenant, number="+14155550111", outbound_trunk_id="ST_outboundTest1")
    campaign = campaign_create(tenant=tenant, fields={"name": "December", "agent": agent, "caller_id": number})
    contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": "+12125550100", "name": "Ada"}])
    return campaign


def _events(tenant) -> list[tuple[str, dict]]:
    rows = WebhookDelivery.objects.for_tenant(tenant).order_by("id")
    return [(row.event_type, json.loads(row.body)) for row in rows]


def _assert_documented(body: dict) -> None:
    """The body is the envelope the schema documents, its data exactly the event's payload fields."""
    assert set(body) == {"type", "timestamp", "data"}
    assert set(body["data"]) == set(EVENT_TYPES[body["type"]].payload().fields)


def test_a_calls_start_and_end_are_each_emitted_once(tenant, make_endpoint, django_capture_on_commit_callbacks):
    make_endpoint(tenant, "http://127.0.0.1:9/hooks", ALL_EVENTS)
    agent = _make_agent(tenant)
    with django_capture_on_commit_callbacks(execute=False):
        call = call_create(tenant=tenant, agent=agent, direction=CallDirection.OUTBOUND, to_number="+14155550100")
        assert _events(tenant) == []  # queued: nothing happened yet
        call_transition(tenant=tenant, call=call, status=CallStatus.RINGING)
        call_transition(tenant=tenant, call=call, status=CallStatus.IN_PROGRESS)
        call_finish(tenant=tenant, call=call, status=CallStatus.COMPLETED, end_reason="callee hung up")
        # Twilio's late status callback and a repeated report change nothing and say nothing.
        call_transition(tenant=tenant, call=call, status=CallStatus.COMPLETED, ended_by="twilio")
        call_finish(tenant=tenant, call=call, status=CallStatus.FAILED, end_reason="again")

    events = _events(tenant)
    assert [name for name, _ in events] == ["call.started", "call.ended"]
    started, ended = (body["data"] for _, body in events)
    assert started["id"] == str(call.code) and started["status"] == "ringing" and started["agentId"] == str(agent.code)
    assert ended["status"] == "completed" and ended["endReason"] == "callee hung up"
    assert ended["endedAt"] is not None and ended["durationSeconds"] is not None
    for _, body in events:
        _assert_documented(body)


def test_a_provisional_end_is_emitted_once_when_the_worker_replaces_it(
    tenant, make_endpoint, django_capture_on_commit_callbacks
):
    make_endpoint(tenant, "http://127.0.0.1:9/hooks", ["call.ended"])
    with django_capture_on_commit_callbacks(execute=False):
        call = call_create(tenant=tenant, direction=CallDirection.INBOUND, status=CallStatus.IN_PROGRESS)
        call_transition(tenant=tenant, call=call, status=CallStatus.COMPLETED, ended_by="livekit_webhook")
        assert _events(tenant) == []  # provisional: the worker's report may still correct it
        call_finish(tenant=tenant, call=call, status=CallStatus.TRANSFERRED, end_reason="transferred")

    ((name, body),) = _events(tenant)
    assert name == "call.ended" and body["data"]["status"] == "transferred"


def test_a_call_created_answered_is_started_at_once_and_the_reaper_ends_it(
    tenant, make_endpoint, django_capture_on_commit_callbacks
):
    make_endpoint(tenant, "http://127.0.0.1:9/hooks", ["call.started", "call.ended"])
    with django_capture_on_commit_callbacks(execute=False):
        call = call_create(tenant=tenant, direction=CallDirection.INBOUND, status=CallStatus.IN_PROGRESS)
        type(call).objects.for_tenant(tenant).filter(pk=call.pk).update(
            updated_at=timezone.now() - datetime.timedelta(hours=5)
        )
        assert calls_reap_stale(older_than=datetime.timedelta(hours=4)) == 1

    assert [(name, body["data"]["status"]) for name, body in _events(tenant)] == [
        ("call.started", "in_progress"),
        ("call.ended", "failed"),
    ]


def test_campaign_status_changes_are_emitted_with_the_previous_status(
    tenant, make_endpoint, django_capture_on_commit_callbacks
):
    make_endpoint(tenant, "http://127.0.0.1:9/hooks", ["campaign.status_changed"])
    campaign = _make_campaign_with_a_contact(tenant)
    with django_capture_on_commit_callbacks(execute=False):
        campaign_start(tenant=tenant, campaign=campaign)
        campaign_pause(tenant=tenant, campaign=campaign)

    changes = [(b["data"]["previousStatus"], b["data"]["status"]) for _, b in _events(tenant)]
    assert changes == [("draft", "running"), ("running", "paused")]
    assert all(b["data"]["id"] == str(campaign.code) for _, b in _events(tenant))
    _assert_documented(_events(tenant)[0][1])


def test_an_in_call_opt_out_is_emitted_and_a_manual_dnc_entry_is_not(
    tenant, make_endpoint, django_capture_on_commit_callbacks
):
    make_endpoint(tenant, "http://127.0.0.1:9/hooks", ["contact.opted_out"])
    call = call_create(tenant=tenant, direction=CallDirection.OUTBOUND, to_number="+12125550100")
    with django_capture_on_commit_callbacks(execute=False):
        dnc_add(tenant=tenant, number="+13125550100", source=DncSource.MANUAL, actor=SYSTEM)
        dnc_add(
            tenant=tenant,
            number="+12125550100",
            source=DncSource.IN_CALL_OPT_OUT,
            reason="the callee opted out during the call (pressed 9)",
            actor=SYSTEM,
            call=call,
        )
        # Already on the list: no new row, no second event.
        dnc_add(tenant=tenant, number="+12125550100", source=DncSource.IN_CALL_OPT_OUT, actor=SYSTEM, call=call)

    ((name, body),) = _events(tenant)
    assert name == "contact.opted_out"
    assert body["data"]["number"] == "+12125550100" and body["data"]["callId"] == str(call.code)
    _assert_documented(body)


def test_every_registered_event_has_a_documented_example():
    for event in EVENT_TYPES.values():
        assert set(event.example) == set(event.payload().fields), event.name
