"""Settings that nothing uses yet are said to be so (issue 12, item 13, recording and the outbound
section): the portal form and detail page, the admin and the API docs, so no one believes they work.
max_concurrent_calls is enforced for inbound calls, so it is not marked."""

from __future__ import annotations

import re

from django.urls import reverse

from agents_app.services import agent_create
from voiceplatform.actor import SYSTEM

NOT_ACTIVE = "Not active yet"


def _section(html: str, section_id: str) -> str:
    match = re.search(rf'<(fieldset|section) class="card" id="{section_id}">(.*?)</\1>', html, re.S)
    assert match, section_id
    return match.group(2)


def test_the_form_marks_recording_and_the_outbound_section_not_active(tenant, owner, client_for):
    page = client_for(owner).get(reverse("agents-agent-create")).text

    outbound = _section(page, "outbound")
    operations = _section(page, "operations")
    assert NOT_ACTIVE in outbound
    assert "the dialer that places their calls is not built yet" in outbound
    assert "calls are not recorded" in operations
    recording_help = re.search(r'id="field-max_concurrent_calls".*?</div>', operations, re.S).group(0)
    assert NOT_ACTIVE not in recording_help  # enforced for inbound calls: not marked


def test_the_detail_page_says_so_too(tenant, owner, client_for):
    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Desk", "recording_enabled": True})

    page = client_for(owner).get(reverse("agents-agent-detail", kwargs={"code": agent.code})).text

    assert NOT_ACTIVE in _section(page, "outbound")
    assert "calls are not recorded" in _section(page, "operations")


def test_the_api_docs_say_which_fields_are_not_active(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]
    agent = components["Agent"]["properties"]
    outbound = components["OutboundConfig"]["properties"]

    assert agent["recordingEnabled"]["description"].startswith(NOT_ACTIVE)
    assert all(field["description"].startswith(NOT_ACTIVE) for field in outbound.values())
    assert NOT_ACTIVE not in agent["maxConcurrentCalls"].get("description", "")


def test_the_admin_says_so(tenant, admin_client):
    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Desk"})

    page = admin_client.get(reverse("admin:agents_app_agent_change", args=[agent.pk])).text

    assert "Not active yet: campaigns can be set up with this agent" in page
    assert "Recording is not active yet" in page
