"""The text chat page in real Chromium: leaving the page ends the open chat (static/js/chat_leave.js
sends the end form with navigator.sendBeacon as the page goes away)."""

from __future__ import annotations

import time

from django.urls import reverse

from agents_app.services import agent_create
from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.services import call_create
from voiceplatform.actor import SYSTEM


def _status(orm, pk: int) -> tuple[str, str]:
    return orm(lambda: tuple(Call.objects.filter(pk=pk).values_list("status", "end_reason").get()))


def test_leaving_the_chat_page_ends_the_chat(tenant, owner, open_page, orm):
    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Maya", "system_prompt": "Be brief."})
    chat = call_create(tenant=tenant, agent=agent, direction=CallDirection.CHAT, status=CallStatus.IN_PROGRESS)
    page = open_page(owner, reverse("agents-agent-chat", kwargs={"code": agent.code}) + f"?chat={chat.code}")
    page.wait_for_selector("form[data-end-on-leave]")
    assert _status(orm, chat.pk)[0] == CallStatus.IN_PROGRESS

    page.goto(reverse("agents-agent-list"))

    deadline = time.monotonic() + 10
    while _status(orm, chat.pk)[0] != CallStatus.COMPLETED and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _status(orm, chat.pk) == (CallStatus.COMPLETED, "ended from the chat playground")
