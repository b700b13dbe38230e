"""POST /api/v1/calls: one outbound call placed now through the dialer's checks (legal window in the
callee's zones, DNC, consent when the agent requires it, the agent's and tenant's limits), with the
fake LiveKit on loopback. The legal window is checked against the real clock, so the tests pick a
callee whose local time is comfortably inside (or outside) 08:00-21:00 right now."""

from __future__ import annotations

import datetime
import json
import zoneinfo

import pytest
from django.utils import timezone

from campaigns_app.dialer import zones
from campaigns_app.dialer.single import single_call_place
from campaigns_app.services import consent_grant, consent_revoke, dnc_add
from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.outbound import OutboundCallRefused, OutboundCallRequest
from telephony_app.services import call_create
from tests.conftest import AGENT_NAME
from voiceplatform.actor import SYSTEM
from voiceplatform.models import Tenant

URL = "/api/v1/calls"
TRUNK = "ST_outboundTest1"
# Valid mobile numbers with one time zone each, spread round the clock (UTC-10 to UTC+9).
ZONED_NUMBERS = [
    "+18085550123",  # Pacific/Honolulu
    "+522221234567",  # America/Mexico_City
    "+12015550123",  # America/New_York
    "+5511961234567",  # America/Sao_Paulo
    "+4915123456789",  # Europe/Berlin
    "+27711234567",  # Africa/Johannesburg
    "+971501234567",  # Asia/Dubai
    "+918123456789",  # Asia/Calcutta
    "+6581234567",  # Asia/Singapore
    "+819012345678",  # Asia/Tokyo
]
UNKNOWN_ZONE_NUMBER = "+80012345678"  # international freephone: no time zone


def number_at_local_hours(hours: range) -> str:
    """A callee whose local hour now is in `hours`."""
    now = timezone.now()
    for number in ZONED_NUMBERS:
        (zone,) = zones.parse_key(zones.dial_zone_for(number) or "")[1]
        if now.astimezone(zoneinfo.ZoneInfo(zone)).hour in hours:
            return number
    pytest.fail(f"no test number has a local hour in {hours} at {now}")


@pytest.fixture
def callee() -> str:
    return number_at_local_hours(range(10, 19))  # well inside the legal window


@pytest.fixture
def agent(tenant, make_outbound_agent):
    return make_outbound_agent(tenant, consent_required=False, system_prompt="Remind {{first_name}}.")


@pytest.fixture
def caller_id(tenant, make_caller_id):
    return make_caller_id(tenant)


def body(agent, caller_id, to: str, **extra) -> dict:
    return {"agentId": str(agent.code), "from": caller_id.number, "to": to, "variables": {"first_name": "Ada"}, **extra}


def test_a_call_is_placed_and_returned(api, tenant, agent, caller_id, callee, livekit):
    response = api.post(URL, body(agent, caller_id, callee), format="json")

    assert response.status_code == 201, response.json()
    data = response.json()
    assert data["direction"] == CallDirection.OUTBOUND and data["status"] == CallStatus.RINGING
    assert (data["fromNumber"], data["toNumber"], data["agentId"]) == (caller_id.number, callee, str(agent.code))
    call = Call.objects.for_tenant(tenant).get(code=data["id"])
    assert call.room_name == data["roomName"] == f"out-{call.code}"

    (room,) = livekit.messages("RoomService/CreateRoom")
    metadata = json.loads(room.metadata)
    assert metadata["call_type"] == "outbound" and metadata["call_id"] == str(call.code)
    assert metadata["agent_id"] == str(agent.code) and metadata["variables"]["first_name"] == "Ada"
    assert room.agents[0].agent_name == AGENT_NAME
    (sip,) = livekit.messages("SIP/CreateSIPParticipant")
    assert (sip.sip_trunk_id, sip.sip_call_to, sip.sip_number) == (TRUNK, callee, caller_id.number)
    assert sip.ringing_timeout.seconds >= 15


def test_the_consent_relied_on_is_recorded_when_the_agent_requires_it(
    api, tenant, make_outbound_agent, caller_id, callee, livekit
):
    agent = make_outbound_agent(tenant, name="Careful caller", consent_required=True, system_prompt="Hello.")
    consent = consent_grant(tenant=tenant, number=callee, evidence="signed form", actor=SYSTEM)

    response = api.post(URL, body(agent, caller_id, callee), format="json")

    assert response.status_code == 201, response.json()
    assert Call.objects.for_tenant(tenant).get().context["consent_id"] == str(consent.code)


# Refusals: 409 naming the rule -----------------------------------------------------------------


def test_a_number_on_the_dnc_list_is_refused(api, tenant, agent, caller_id, callee, livekit):
    dnc_add(tenant=tenant, number=callee, reason="asked not to be called", actor=SYSTEM)

    response = api.post(URL, body(agent, caller_id, callee), format="json")

    assert response.status_code == 409
    assert response.json()["rule"] == "dnc" and response.json()["detail"]
    assert livekit.received == [] and not Call.objects.for_tenant(tenant).exists()


def test_no_consent_is_refused_when_the_agent_requires_it(api, tenant, make_outbound_agent, caller_id, callee, livekit):
    agent = make_outbound_agent(tenant, name="Careful caller", consent_required=True, system_prompt="Hello.")
    consent_grant(tenant=tenant, number=callee, evidence="signed form", actor=SYSTEM)
    consent_revoke(tenant=tenant, number=callee, evidence="asked by email", actor=SYSTEM)

    response = api.post(URL, body(agent, caller_id, callee), format="json")

    assert response.status_code == 409 and response.json()["rule"] == "consent"
    assert "revoked" in response.json()["detail"]
    assert livekit.received == []


def test_a_callee_outside_the_legal_hours_is_refused(api, tenant, agent, caller_id, livekit):
    night = number_at_local_hours(range(0, 6))

    response = api.post(URL, body(agent, caller_id, night), format="json")

    assert response.status_code == 409 and response.json()["rule"] == "legal_window"
    assert livekit.received == [] and not Call.objects.for_tenant(tenant).exists()


def test_a_number_without_a_time_zone_is_refused(api, agent, caller_id, livekit):
    response = api.post(URL, body(agent, caller_id, UNKNOWN_ZONE_NUMBER), format="json")

    assert response.status_code == 409 and response.json()["rule"] == "zone"


def test_an_agent_at_its_limit_is_refused(api, tenant, make_outbound_agent, caller_id, callee, livekit):
    agent = make_outbound_agent(tenant, consent_required=False, max_concurrent_calls=1, system_prompt="Hi.")
    call_create(tenant=tenant, agent=agent, direction=CallDirection.OUTBOUND, status=CallStatus.IN_PROGRESS)

    response = api.post(URL, body(agent, caller_id, callee), format="json")

    assert response.status_code == 409 and response.json()["rule"] == "agent_concurrency"
    assert livekit.received == []


def test_a_tenant_at_its_limit_is_refused(api, tenant, agent, make_outbound_agent, caller_id, callee, livekit):
    Tenant.objects.filter(pk=tenant.pk).update(max_concurrent_calls=1)
    other = make_outbound_agent(tenant, name="Other caller", system_prompt="Hi.")
    call_create(tenant=tenant, agent=other, direction=CallDirection.INBOUND, status=CallStatus.IN_PROGRESS)

    response = api.post(URL, body(agent, caller_id, callee), format="json")

    assert response.status_code == 409 and response.json()["rule"] == "tenant_concurrency"


# Bad requests: 400 naming the field ------------------------------------------------------------


def test_another_tenants_agent_or_number_reads_as_none(
    api, tenant, other_tenant, agent, caller_id, callee, make_outbound_agent, make_caller_id, livekit
):
    theirs = make_outbound_agent(other_tenant, consent_required=False, system_prompt="Hi.")
    their_number = make_caller_id(other_tenant)

    wrong_agent = api.post(URL, body(theirs, caller_id, callee), format="json")
    wrong_number = api.post(URL, body(agent, their_number, callee), format="json")

    assert wrong_agent.status_code == 400 and wrong_agent.json() == {"agentId": ["No such agent."]}
    assert wrong_number.status_code == 400 and list(wrong_number.json()) == ["from"]
    assert "No such phone number" in wrong_number.json()["from"][0]
    assert livekit.received == [] and not Call.objects.for_tenant(other_tenant).exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"to": "12345"}, "to"),
        ({"to": ""}, "to"),
        ({"from": "not a number"}, "from"),
        ({"agentId": "nope"}, "agentId"),
        ({"variables": ["first_name"]}, "variables"),
        ({"variables": {}}, "variables"),  # the agent's prompt uses {{first_name}}
    ],
)
def test_a_bad_body_is_a_400_naming_the_field(api, tenant, agent, caller_id, callee, livekit, change, field):
    response = api.post(URL, {**body(agent, caller_id, callee), **change}, format="json")

    assert response.status_code == 400, response.json()
    assert field in response.json()
    assert livekit.received == [] and not Call.objects.for_tenant(tenant).exists()


def test_missing_fields_are_all_named(api, livekit):
    response = api.post(URL, {}, format="json")

    assert response.status_code == 400
    assert {"agentId", "from", "to"} <= set(response.json())


def test_an_inbound_only_or_switched_off_agent_is_refused(api, tenant, make_outbound_agent, caller_id, callee, livekit):
    inbound = make_outbound_agent(tenant, name="Front desk", direction="inbound", system_prompt="Hi.")
    off = make_outbound_agent(tenant, name="Retired", is_active=False, system_prompt="Hi.")

    for agent, words in ((inbound, "inbound-only"), (off, "switched off")):
        response = api.post(URL, body(agent, caller_id, callee), format="json")
        assert response.status_code == 400 and words in response.json()["agentId"][0]
    assert livekit.received == []


def test_a_caller_id_without_an_outbound_trunk_is_refused(api, tenant, agent, make_caller_id, callee, livekit):
    no_trunk = make_caller_id(tenant, outbound_trunk_id="")

    response = api.post(URL, body(agent, no_trunk, callee), format="json")

    assert response.status_code == 400 and "outbound trunk" in response.json()["from"][0]
    assert livekit.received == []


# LiveKit -----------------------------------------------------------------------------------------


def test_livekit_down_is_a_503_and_the_call_is_marked_failed(api, tenant, agent, caller_id, callee, livekit):
    livekit.stop()

    response = api.post(URL, body(agent, caller_id, callee), format="json")

    assert response.status_code == 503
    assert response.json()["detail"].startswith("LiveKit unreachable")
    call = Call.objects.for_tenant(tenant).get(code=response.json()["callId"])
    assert call.status == CallStatus.FAILED and "LiveKit" in call.error


def test_livekit_not_configured_is_a_503(api, tenant, agent, caller_id, callee, unconfigured):
    response = api.post(URL, body(agent, caller_id, callee), format="json")

    assert response.status_code == 503 and "not configured" in response.json()["detail"]


def test_livekit_refusing_the_call_is_a_502(api, tenant, agent, caller_id, callee, livekit):
    livekit.fail("SIP/CreateSIPParticipant", status=404, code="not_found", msg="trunk not found")

    response = api.post(URL, body(agent, caller_id, callee), format="json")

    assert response.status_code == 502 and "trunk not found" in response.json()["detail"]
    assert Call.objects.for_tenant(tenant).get().status == CallStatus.FAILED
    assert livekit.rooms == {}  # the room the agent was sent to is gone again


def test_a_busy_line_is_a_placed_call_that_ended_busy(api, tenant, agent, caller_id, callee, livekit):
    livekit.sip_fail(486, "Busy Here")

    response = api.post(URL, body(agent, caller_id, callee), format="json")

    assert response.status_code == 201
    assert response.json()["status"] == CallStatus.BUSY and "486" in response.json()["endReason"]


def test_a_florida_number_called_3_times_in_24_hours_is_refused(tenant, agent, caller_id, livekit):
    florida = "+13055550123"  # Miami
    assert zones.dial_zone_for(florida) == "US-FL|America/New_York"
    now = datetime.datetime(2026, 11, 24, 16, 0, tzinfo=datetime.UTC)  # 11:00 in Miami
    for _ in range(3):
        call_create(tenant=tenant, agent=agent, direction=CallDirection.OUTBOUND, to_number=florida)
    Call.objects.for_tenant(tenant).update(created_at=now - datetime.timedelta(hours=23))
    request = OutboundCallRequest(
        tenant=tenant, agent=agent, phone_number=caller_id, to=florida, variables={"first_name": "Ada"}
    )

    with pytest.raises(OutboundCallRefused) as refused:
        single_call_place(request, now=now)

    assert refused.value.rule == "florida_24h"
    assert livekit.received == []
    # A day later the number may be called again.
    assert single_call_place(request, now=now + datetime.timedelta(days=1, hours=1)).status == CallStatus.RINGING
