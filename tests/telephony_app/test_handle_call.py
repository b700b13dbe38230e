"""POST /api/v1/phone-numbers/handle-call (the generic inbound hook) and the business-hours
decisions of inbound_route that it shares with Twilio's voice webhook and the SIP route."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
import yaml
from django.core.management import call_command

from agents_app.services import agent_create
from telephony_app.inbound import CLOSED_LINE, UNAVAILABLE_LINE, inbound_route
from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.services import phone_number_create
from tests.telephony_app.conftest import SIP_HOST
from voiceplatform.actor import SYSTEM

URL = "/api/v1/phone-numbers/handle-call"
NUMBER = "+14155550123"
CALLER = "+12125550100"
UTC = datetime.UTC


@pytest.fixture
def number(tenant, agent):
    return phone_number_create(tenant=tenant, number=NUMBER, agent=agent)


def post(client: Any, body: dict[str, Any]) -> Any:
    return client.post(URL, body, format="json")


# Outcomes ------------------------------------------------------------------------------------------


def test_connect_creates_a_ringing_call_and_a_room_with_the_agent(livekit, tenant, agent, number, api_client_for):
    response = post(api_client_for(tenant), {"from": CALLER, "to": NUMBER})

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"action", "callId", "room", "sipUri", "agentId"}
    call = Call.objects.for_tenant(tenant).get(code=body["callId"])
    assert (body["action"], body["agentId"], body["room"]) == ("connect", str(agent.code), call.room_name)
    assert body["sipUri"] == f"sip:{call.room_name}@{SIP_HOST}"
    assert (call.direction, call.status, call.from_number, call.to_number) == (
        CallDirection.INBOUND,
        CallStatus.RINGING,
        CALLER,
        NUMBER,
    )
    [room] = livekit.messages("RoomService/CreateRoom")
    assert room.name == body["room"]
    metadata = json.loads(room.metadata)
    assert (metadata["call_id"], metadata["agent_id"], metadata["call_type"]) == (
        body["callId"],
        body["agentId"],
        "inbound",
    )
    assert room.agents[0].agent_name == "voiceplatform-test"


def test_formatted_numbers_are_accepted_as_e164(livekit, tenant, number, api_client_for):
    response = post(api_client_for(tenant), {"from": "+1 (212) 555-0100", "to": "+1 415-555-0123"})

    assert response.status_code == 201
    assert Call.objects.for_tenant(tenant).get().from_number == CALLER


def test_closed_returns_the_message_and_fallback_and_logs_the_call(livekit, tenant, make_agent, api_client_for):
    agent = make_agent(
        tenant, business_hours_enabled=True, out_of_hours_message="Back at nine.", fallback_number="+14155550999"
    )
    phone_number_create(tenant=tenant, number=NUMBER, agent=agent)

    response = post(api_client_for(tenant), {"from": CALLER, "to": NUMBER})

    assert response.status_code == 200
    body = response.json()
    call = Call.objects.for_tenant(tenant).get()
    assert body == {
        "action": "closed",
        "message": "Back at nine.",
        "fallbackNumber": "+14155550999",
        "callId": str(call.code),
    }
    assert call.status == CallStatus.TRANSFERRED
    assert livekit.received == []


def test_closed_without_a_fallback_number_says_so_with_null(livekit, tenant, make_agent, api_client_for):
    phone_number_create(tenant=tenant, number=NUMBER, agent=make_agent(tenant, business_hours_enabled=True))

    body = post(api_client_for(tenant), {"from": CALLER, "to": NUMBER}).json()

    assert (body["action"], body["message"], body["fallbackNumber"]) == ("closed", CLOSED_LINE, None)


def test_unavailable_is_409_with_the_reason(livekit, tenant, agent, api_client_for):
    phone_number_create(tenant=tenant, number=NUMBER, agent=None)

    response = post(api_client_for(tenant), {"from": CALLER, "to": NUMBER})

    assert response.status_code == 409
    body = response.json()
    assert (body["action"], body["message"]) == ("unavailable", UNAVAILABLE_LINE)
    assert "no agent assigned" in body["reason"]
    assert Call.objects.for_tenant(tenant).get(code=body["callId"]).status == CallStatus.FAILED
    assert livekit.received == []


def test_livekit_unconfigured_is_503_and_writes_no_call(tenant, number, api_client_for, settings):
    settings.LIVEKIT_URL = ""

    response = post(api_client_for(tenant), {"from": CALLER, "to": NUMBER})

    assert response.status_code == 503
    assert "LIVEKIT_URL" in response.json()["detail"]
    assert not Call.objects.for_tenant(tenant).exists()


def test_sip_host_unconfigured_is_503(livekit, tenant, number, api_client_for, settings):
    settings.LIVEKIT_SIP_HOST = ""

    response = post(api_client_for(tenant), {"from": CALLER, "to": NUMBER})

    assert response.status_code == 503
    assert "LIVEKIT_SIP_HOST" in response.json()["detail"]
    assert livekit.received == []


def test_livekit_failing_is_502_and_the_call_is_failed(livekit, tenant, number, api_client_for):
    livekit.fail("RoomService/CreateRoom", status=500, code="internal", msg="no capacity")

    response = post(api_client_for(tenant), {"from": CALLER, "to": NUMBER})

    assert response.status_code == 502
    assert "no capacity" in response.json()["detail"]
    call = Call.objects.for_tenant(tenant).get()
    assert call.status == CallStatus.FAILED
    assert "no capacity" in call.error


# Validation and tenancy ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"from", "to"}),
        ({"from": CALLER}, {"to"}),
        ({"from": "12345", "to": NUMBER}, {"from"}),
        ({"from": CALLER, "to": "+1415555"}, {"to"}),
        ({"from": "not a number", "to": "also not"}, {"from", "to"}),
        ({"from": 14155550100, "to": ["+14155550123"]}, {"from", "to"}),  # a JSON number has no "+"
    ],
)
def test_bad_numbers_are_400_with_field_messages(livekit, tenant, number, api_client_for, body, fields):
    response = post(api_client_for(tenant), body)

    assert response.status_code == 400
    errors = response.json()
    assert set(errors) == fields
    assert all(isinstance(errors[f], list) and errors[f] for f in fields)
    assert not Call.objects.for_tenant(tenant).exists()


def test_another_tenants_number_is_404_and_nothing_is_written(
    livekit, tenant, other_tenant, make_agent, api_client_for
):
    phone_number_create(tenant=other_tenant, number=NUMBER, agent=make_agent(other_tenant))

    mine_asking = post(api_client_for(tenant), {"from": CALLER, "to": NUMBER})
    unknown = post(api_client_for(tenant), {"from": CALLER, "to": "+14155550188"})

    assert (mine_asking.status_code, unknown.status_code) == (404, 404)
    assert mine_asking.json() == unknown.json()
    assert not Call.objects.for_tenant(other_tenant).exists()
    assert livekit.received == []
    # The owner's own key routes the same call.
    assert post(api_client_for(other_tenant), {"from": CALLER, "to": NUMBER}).status_code == 201


def test_without_an_api_key_it_is_401(client, number):
    response = client.post(URL, {"from": CALLER, "to": NUMBER}, content_type="application/json")

    assert response.status_code == 401


def test_the_schema_documents_the_hook(tmp_path, db):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(target))
    operation = yaml.safe_load(target.read_text())["paths"]["/api/v1/phone-numbers/handle-call"]["post"]

    assert set(operation["responses"]) == {
        "200",
        "201",
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "415",
        "429",
        "502",
        "503",
    }
    assert operation["security"] == [{"ApiKey": []}]
    schemas = yaml.safe_load(target.read_text())["components"]["schemas"]
    assert set(schemas["HandleCallRequest"]["required"]) == {"from", "to"}
    assert set(schemas["HandleCallConnectResponse"]["properties"]) == {"action", "callId", "room", "sipUri", "agentId"}


# Business hours, as inbound_route decides them -----------------------------------------------------


def _routed(tenant: Any, *, timezone: str, hours: dict[str, Any], holidays: list[Any] | None = None, when: str) -> str:
    agent = agent_create(
        tenant=tenant,
        actor=SYSTEM,
        fields={"name": "Hours", "system_prompt": "Be helpful.", "timezone": timezone, "business_hours_enabled": True},
        business_hours=hours,
        holidays=holidays or [],
    )
    number = phone_number_create(tenant=tenant, number=NUMBER, agent=agent)
    now = datetime.datetime.fromisoformat(when)
    return inbound_route(to_number=NUMBER, phone_number=number, now=now).outcome


NINE_TO_FIVE = {day: {"start": "09:00", "end": "17:00"} for day in ("monday", "tuesday", "wednesday", "thursday",
                                                                     "friday", "saturday", "sunday")}  # fmt: skip


@pytest.mark.parametrize(
    ("when", "outcome"),
    [
        ("2026-11-23T08:59:59+09:00", "closed"),  # Monday in Tokyo, still Sunday 23:59 in UTC
        ("2026-11-23T00:00:00+00:00", "connect"),  # = Monday 09:00 in Tokyo
        ("2026-11-23T16:59:59+09:00", "connect"),
        ("2026-11-23T08:00:00+00:00", "closed"),  # = Monday 17:00 in Tokyo: the end is excluded
    ],
)
def test_hours_are_read_in_the_agents_timezone_not_utc(tenant, when, outcome):
    hours = {"monday": {"start": "09:00", "end": "17:00"}}

    assert _routed(tenant, timezone="Asia/Tokyo", hours=hours, when=when) == outcome


@pytest.mark.parametrize(
    ("when", "outcome"),
    [
        # 2026-03-08, New York springs forward at 02:00 EST to 03:00 EDT (UTC-5 -> UTC-4).
        ("2026-03-08T12:59:00+00:00", "closed"),  # 08:59 EDT (it would be 07:59 if the offset were stale)
        ("2026-03-08T13:00:00+00:00", "connect"),  # 09:00 EDT
        ("2026-03-08T20:59:00+00:00", "connect"),  # 16:59 EDT
        ("2026-03-08T21:00:00+00:00", "closed"),  # 17:00 EDT
        ("2026-03-07T13:59:00+00:00", "closed"),  # the day before: 08:59 EST
        ("2026-03-07T14:00:00+00:00", "connect"),  # 09:00 EST
        # 2026-11-01, New York falls back at 02:00 EDT to 01:00 EST (UTC-4 -> UTC-5).
        ("2026-11-01T13:59:00+00:00", "closed"),  # 08:59 EST
        ("2026-11-01T14:00:00+00:00", "connect"),  # 09:00 EST
        ("2026-11-01T21:59:00+00:00", "connect"),  # 16:59 EST
        ("2026-11-01T22:00:00+00:00", "closed"),  # 17:00 EST
    ],
)
def test_dst_change_days_in_new_york(tenant, when, outcome):
    assert _routed(tenant, timezone="America/New_York", hours=NINE_TO_FIVE, when=when) == outcome


@pytest.mark.parametrize(
    ("when", "outcome"),
    [
        ("2026-11-01T05:30:00+00:00", "connect"),  # 01:30 EDT, the first 01:30 of the day
        ("2026-11-01T06:30:00+00:00", "connect"),  # 01:30 EST, the repeated hour
        ("2026-11-01T07:00:00+00:00", "closed"),  # 02:00 EST
        ("2026-03-08T06:59:00+00:00", "connect"),  # 01:59 EST, just before the skipped hour
        ("2026-03-08T07:00:00+00:00", "closed"),  # 03:00 EDT: 02:00-02:59 never happened
    ],
)
def test_the_repeated_and_the_skipped_hour(tenant, when, outcome):
    hours = {"sunday": {"start": "01:00", "end": "02:00"}}

    assert _routed(tenant, timezone="America/New_York", hours=hours, when=when) == outcome


@pytest.mark.parametrize(
    ("when", "outcome"),
    [
        ("2026-12-25T17:00:00+00:00", "closed"),  # 09:00 on the holiday in Los Angeles
        ("2026-12-26T03:00:00+00:00", "closed"),  # 19:00 on the 25th there, though already the 26th in UTC
        ("2026-12-24T17:00:00+00:00", "connect"),
        ("2026-12-26T17:00:00+00:00", "connect"),
    ],
)
def test_holidays_are_whole_local_days(tenant, when, outcome):
    hours = {day: {"start": "08:00", "end": "20:00"} for day in NINE_TO_FIVE}
    holidays = [{"date": "2026-12-25", "name": "Christmas"}]

    assert _routed(tenant, timezone="America/Los_Angeles", hours=hours, holidays=holidays, when=when) == outcome


@pytest.mark.parametrize(
    ("when", "outcome"),
    [
        ("2026-11-20T21:59:00+00:00", "closed"),  # Friday 21:59
        ("2026-11-20T22:00:00+00:00", "connect"),  # Friday 22:00
        ("2026-11-20T23:59:59+00:00", "connect"),  # the last second before midnight
        ("2026-11-21T00:00:00+00:00", "connect"),  # midnight: Saturday, still the Friday night range
        ("2026-11-21T05:59:59+00:00", "connect"),
        ("2026-11-21T06:00:00+00:00", "closed"),  # Saturday 06:00: the end is excluded
        ("2026-11-21T22:30:00+00:00", "closed"),  # Saturday night has no range of its own
    ],
)
def test_an_overnight_range_runs_into_the_next_morning(tenant, when, outcome):
    hours = {"friday": {"start": "22:00", "end": "06:00"}}

    assert _routed(tenant, timezone="UTC", hours=hours, when=when) == outcome


@pytest.mark.parametrize(
    ("when", "outcome"),
    [
        ("2026-11-22T23:00:00+00:00", "connect"),  # Sunday 23:00
        ("2026-11-23T01:59:00+00:00", "connect"),  # Monday 01:59: the week wraps around
        ("2026-11-23T02:00:00+00:00", "closed"),
    ],
)
def test_sunday_night_runs_into_monday(tenant, when, outcome):
    hours = {"sunday": {"start": "22:00", "end": "02:00"}}

    assert _routed(tenant, timezone="UTC", hours=hours, when=when) == outcome


@pytest.mark.parametrize(
    ("when", "outcome"),
    [
        # Spring forward, Sunday 2026-03-08: 02:00 EST becomes 03:00 EDT (a 7-hour night)
        ("2026-03-08T02:59:00+00:00", "closed"),  # Saturday 21:59 EST
        ("2026-03-08T03:00:00+00:00", "connect"),  # Saturday 22:00 EST
        ("2026-03-08T06:59:00+00:00", "connect"),  # Sunday 01:59 EST
        ("2026-03-08T07:00:00+00:00", "connect"),  # Sunday 03:00 EDT, the moment after the jump
        ("2026-03-08T09:59:00+00:00", "connect"),  # Sunday 05:59 EDT
        ("2026-03-08T10:00:00+00:00", "closed"),  # Sunday 06:00 EDT
        # Fall back, Sunday 2026-11-01: 02:00 EDT becomes 01:00 EST (a 9-hour night)
        ("2026-11-01T02:00:00+00:00", "connect"),  # Saturday 22:00 EDT
        ("2026-11-01T10:59:00+00:00", "connect"),  # Sunday 05:59 EST
        ("2026-11-01T11:00:00+00:00", "closed"),  # Sunday 06:00 EST
    ],
)
def test_an_overnight_range_across_a_dst_change_follows_the_wall_clock(tenant, when, outcome):
    hours = {"saturday": {"start": "22:00", "end": "06:00"}}

    assert _routed(tenant, timezone="America/New_York", hours=hours, when=when) == outcome


@pytest.mark.parametrize(
    ("when", "outcome"),
    [
        ("2026-12-24T23:00:00+00:00", "connect"),  # Thursday night, before the holiday
        ("2026-12-25T01:00:00+00:00", "closed"),  # the same night's small hours fall on Christmas Day
    ],
)
def test_a_holiday_closes_the_small_hours_of_the_night_before(tenant, when, outcome):
    hours = {"thursday": {"start": "20:00", "end": "04:00"}}
    holidays = [{"date": "2026-12-25", "name": "Christmas"}]  # a Friday

    assert _routed(tenant, timezone="UTC", hours=hours, holidays=holidays, when=when) == outcome
