"""The calls list in real Chromium: a call that comes in while the page is open appears in it within a
poll (5 s), without a reload, and the list's filter still applies."""

from __future__ import annotations

from django.urls import reverse
from playwright.sync_api import expect

from agents_app.services import agent_create
from telephony_app.inbound import inbound_call_connect, inbound_route
from telephony_app.models import CallDirection
from telephony_app.services import call_create, phone_number_create
from voiceplatform.actor import SYSTEM


def test_a_new_inbound_call_appears_without_a_reload(tenant, owner, open_page, orm):
    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Front desk", "system_prompt": "Be helpful."})
    number = phone_number_create(tenant=tenant, number="+14155550123", agent=agent)
    page = open_page(owner, reverse("calls-call-list") + "?direction=inbound")
    expect(page.get_by_text("No call matches these filters.")).to_be_visible()
    page.evaluate("window.loadedOnce = true")  # gone if the page reloads

    def ring():
        route = inbound_route(to_number=number.number)
        inbound = inbound_call_connect(route, from_number="+14155559876", create_room=False).call
        outbound = call_create(tenant=tenant, agent=agent, direction=CallDirection.OUTBOUND)
        return inbound, outbound

    inbound, outbound = orm(ring)

    row = page.locator(f"#call-{inbound.code}")
    expect(row).to_be_visible(timeout=12_000)
    expect(row).to_contain_text("+14155559876 → +14155550123")
    expect(row).to_contain_text("Ringing")
    expect(page.locator(f"#call-{outbound.code}")).to_have_count(0)
    assert page.evaluate("window.loadedOnce") is True
    assert page.url.endswith("/calls/?direction=inbound")
