"""The calls list refreshes itself: its htmx poll fetches only the rows partial, which shows calls that
arrived since the page loaded, through the shared inbound routing, and keeps the list's filters."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from telephony_app.inbound import inbound_call_connect, inbound_route
from telephony_app.models import CallDirection
from telephony_app.services import phone_number_create

LIST = reverse("calls-call-list")
POLL = {"HX-Request": "true", "HX-Target": "call-results"}


@pytest.fixture
def number(tenant, agent):
    return phone_number_create(tenant=tenant, number="+14155550123", label="Main line", agent=agent)


def _ring(number, from_number: str = "+14155559876"):
    """A call arriving now, recorded by the shared inbound routing (no LiveKit room needed here)."""
    route = inbound_route(to_number=number.number)
    assert route.outcome == "connect", route.reason
    return inbound_call_connect(route, from_number=from_number, create_room=False).call


def test_a_new_inbound_call_appears_in_the_next_poll_of_a_filtered_list(
    tenant, owner, agent, number, make_call, client_for
):
    client = client_for(owner)
    filters = {"direction": "inbound", "agent": str(agent.code)}
    page = client.get(LIST, filters)
    assert '<tr id="call-' not in page.text  # no call yet

    arrived = _ring(number)
    outbound = make_call(tenant, agent=agent, direction=CallDirection.OUTBOUND)
    poll = client.get(LIST, filters, headers=POLL)

    assert poll.status_code == 200
    assert "<html" not in poll.text
    assert f'id="call-{arrived.code}"' in poll.text
    assert "+14155559876 → +14155550123" in poll.text
    assert "Ringing" in poll.text
    assert f'id="call-{outbound.code}"' not in poll.text  # the filter still applies
    [next_poll_url] = re.findall(r'hx-get="([^"]+)"', poll.text)
    assert next_poll_url.startswith(LIST + "?")
    assert "direction=inbound" in next_poll_url and f"agent={agent.code}" in next_poll_url
    assert 'hx-trigger="every 5s"' in poll.text


def test_the_page_polls_with_its_filters_from_the_start(tenant, owner, agent, client_for):
    page = client_for(owner).get(LIST, {"status": "ringing"})

    [poll_url] = re.findall(r'hx-get="([^"]+)"[^>]*hx-trigger="every 5s"', page.text)
    assert poll_url == f"{LIST}?status=ringing"


def test_the_poll_shows_only_the_tenants_calls(tenant, other_tenant, owner, number, make_call, client_for):
    theirs = make_call(other_tenant)
    mine = _ring(number)

    poll = client_for(owner).get(LIST, headers=POLL)

    assert f'id="call-{mine.code}"' in poll.text
    assert f'id="call-{theirs.code}"' not in poll.text
