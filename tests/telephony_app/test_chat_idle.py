"""Abandoned text chats end (issue 12, item 12): idle for CHAT_IDLE_TIMEOUT -> ended "idle" by the
periodic reconcile job; leaving the chat page ends the chat (the page's beacon posts the end form)."""

from __future__ import annotations

import datetime
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agents_app.services import agent_create
from telephony_app import tasks
from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.services import call_create
from voiceplatform.actor import SYSTEM

IDLE = 600


@pytest.fixture
def agent(tenant):
    return agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Maya", "system_prompt": "Be brief."})


@pytest.fixture(autouse=True)
def _idle_timeout(settings):
    settings.CHAT_IDLE_TIMEOUT = IDLE
    settings.LIVEKIT_URL = ""  # the LiveKit half of the job has nothing to do here


def _chat(tenant, agent, *, last_turn_ago: float, direction=CallDirection.CHAT) -> Call:
    call = call_create(tenant=tenant, agent=agent, direction=direction, status=CallStatus.IN_PROGRESS)
    call.transcript = [{"role": "assistant", "text": "Hi!", "at": timezone.now().isoformat()}]
    call.save(update_fields=["transcript", "updated_at"])
    when = timezone.now() - datetime.timedelta(seconds=last_turn_ago)
    Call.objects.filter(pk=call.pk).update(updated_at=when, answered_at=when - datetime.timedelta(minutes=2))
    return Call.objects.get(pk=call.pk)


def test_the_periodic_job_ends_a_chat_idle_for_the_timeout(tenant, agent):
    idle = _chat(tenant, agent, last_turn_ago=IDLE + 5)

    tasks.reconcile_calls()

    idle.refresh_from_db()
    assert idle.status == CallStatus.COMPLETED
    assert idle.end_reason == "idle"
    assert idle.ended_at is not None
    assert idle.duration_seconds == pytest.approx(120, abs=1)  # the conversation, not the wait after it
    assert idle.transcript[0]["text"] == "Hi!"


def test_a_recent_chat_and_an_idle_phone_call_are_left_alone(tenant, agent):
    recent = _chat(tenant, agent, last_turn_ago=IDLE - 30)
    phone = _chat(tenant, agent, last_turn_ago=IDLE + 5, direction=CallDirection.INBOUND)

    tasks.reconcile_calls()

    assert Call.objects.get(pk=recent.pk).status == CallStatus.IN_PROGRESS
    assert Call.objects.get(pk=phone.pk).status == CallStatus.IN_PROGRESS


def test_the_timeout_is_the_setting(tenant, agent, settings):
    settings.CHAT_IDLE_TIMEOUT = 120
    chat = _chat(tenant, agent, last_turn_ago=180)

    tasks.reconcile_calls()

    assert Call.objects.get(pk=chat.pk).end_reason == "idle"


def test_an_idle_ended_chat_refuses_more_messages(tenant, agent, api_client_for):
    chat = _chat(tenant, agent, last_turn_ago=IDLE + 5)
    tasks.reconcile_calls()

    response = api_client_for(tenant).post(
        reverse("api-agent-chat", kwargs={"id": agent.code}),
        {"action": "send", "chatId": str(chat.code), "message": "Still there?"},
        format="json",
    )

    assert response.status_code == 409


def test_the_chat_page_loads_the_leave_script_and_marks_the_end_form(tenant, agent, owner):
    chat = _chat(tenant, agent, last_turn_ago=5)
    client = Client()
    client.force_login(owner)

    page = client.get(reverse("agents-agent-chat", kwargs={"code": agent.code}) + f"?chat={chat.code}").text

    assert re.search(r'<script src="[^"]*js/chat_leave\.js"', page)
    assert re.search(r"<form [^>]*class=\"chat-end\" data-end-on-leave>", page)
    assert "<script>" not in page  # no inline script: the Content-Security-Policy allows none


def test_the_beacon_request_ends_the_chat_with_the_pages_csrf_token(tenant, agent, owner):
    """What navigator.sendBeacon sends: the end form's fields as multipart, with the session cookie."""
    chat = _chat(tenant, agent, last_turn_ago=5)
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    url = reverse("agents-agent-chat", kwargs={"code": agent.code})
    page = client.get(f"{url}?chat={chat.code}").text
    end_form = page[page.index('class="chat-end"') :]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', end_form).group(1)

    response = client.post(url, {"csrfmiddlewaretoken": token, "action": "end", "chat": str(chat.code)})

    assert response.status_code == 302
    chat.refresh_from_db()
    assert chat.status == CallStatus.COMPLETED
