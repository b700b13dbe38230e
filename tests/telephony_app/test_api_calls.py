"""/api/v1/calls: paginated list with filters, one call's report, 400s that name the parameter."""

from __future__ import annotations

import datetime
import uuid

import pytest
import yaml
from django.core.management import call_command

from agents_app.services import agent_delete
from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.services import call_finish
from tests.telephony_app.conftest import TRANSCRIPT, TURN_METRICS, USAGE, USAGE_COST

URL = "/api/v1/calls"
SUMMARY_KEYS = {
    "id", "agentId", "agentName", "direction", "status", "fromNumber", "toNumber", "roomName", "startedAt",
    "answeredAt", "endedAt", "durationSeconds", "endReason", "estimatedCostUsd", "configSource", "error", "createdAt",
}  # fmt: skip
DETAIL_KEYS = SUMMARY_KEYS | {"transcript", "turnMetrics", "usage", "analysis"}


def _created(call: Call, when: datetime.datetime) -> Call:
    Call.objects.filter(pk=call.pk).update(created_at=when)
    return call


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def test_list_shows_only_this_tenants_calls_newest_first_without_the_report(
    tenant, other_tenant, agent, make_call, api
):
    older = make_call(tenant, agent=agent)
    newer = make_call(tenant, direction=CallDirection.OUTBOUND)
    call_finish(tenant=tenant, call=newer, status=CallStatus.COMPLETED, transcript=TRANSCRIPT, usage=USAGE)
    make_call(other_tenant)

    response = api.get(URL)

    assert _ids(response) == [str(newer.code), str(older.code)]
    body = response.json()
    assert set(body) == {"next", "previous", "results"}  # keyset pages: no count of a million rows
    assert set(body["results"][0]) == SUMMARY_KEYS
    assert body["results"][0]["estimatedCostUsd"] == USAGE_COST
    assert body["results"][1]["agentId"] == str(agent.code)
    assert body["results"][1]["agentName"] == "Front desk"


def test_list_is_paginated(tenant, make_call, api):
    Call.objects.bulk_create(
        [Call(tenant=tenant, direction=CallDirection.INBOUND, from_number=f"+1415555{i:04d}") for i in range(55)]
    )

    first = api.get(URL).json()
    second = api.get(first["next"]).json()

    assert (len(first["results"]), len(second["results"])) == (50, 5)
    assert (first["previous"], second["next"]) == (None, None)
    assert second["previous"] is not None


def test_filters_by_agent_direction_and_status(tenant, make_agent, make_call, api):
    desk, sales = make_agent(tenant, name="Desk"), make_agent(tenant, name="Sales")
    desk_inbound = make_call(tenant, agent=desk)
    sales_outbound = make_call(tenant, agent=sales, direction=CallDirection.OUTBOUND)
    sales_chat = make_call(tenant, agent=sales, direction=CallDirection.CHAT, status=CallStatus.IN_PROGRESS)

    assert _ids(api.get(URL, {"agent": str(desk.code)})) == [str(desk_inbound.code)]
    assert _ids(api.get(URL, {"agent": str(sales.code)})) == [str(sales_chat.code), str(sales_outbound.code)]
    assert _ids(api.get(URL, {"direction": "outbound"})) == [str(sales_outbound.code)]
    assert _ids(api.get(URL, {"status": "in_progress"})) == [str(sales_chat.code)]
    assert _ids(api.get(URL, {"agent": str(sales.code), "status": "queued"})) == [str(sales_outbound.code)]


def test_date_filters_are_whole_days_in_the_tenants_time_zone(tenant, make_call, api):
    assert tenant.timezone == "Europe/Paris"
    utc = datetime.UTC
    on_18th = _created(make_call(tenant), datetime.datetime(2026, 11, 18, 12, 0, tzinfo=utc))
    on_20th_paris = _created(make_call(tenant), datetime.datetime(2026, 11, 19, 23, 30, tzinfo=utc))  # 00:30 Paris
    on_21st_paris = _created(make_call(tenant), datetime.datetime(2026, 11, 20, 23, 30, tzinfo=utc))  # 00:30 Paris

    assert _ids(api.get(URL, {"from": "2026-11-20", "to": "2026-11-20"})) == [str(on_20th_paris.code)]
    assert _ids(api.get(URL, {"from": "2026-11-20"})) == [str(on_21st_paris.code), str(on_20th_paris.code)]
    assert _ids(api.get(URL, {"to": "2026-11-19"})) == [str(on_18th.code)]


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"agent": "not-a-uuid"}, "agent"),
        ({"agent": str(uuid.uuid4())}, "agent"),
        ({"direction": "sideways"}, "direction"),
        ({"status": "done"}, "status"),
        ({"from": "2026-13-01"}, "from"),
        ({"from": "20261101"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-11-21", "to": "2026-11-20"}, "to"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_parameter(api, params, parameter):
    response = api.get(URL, params)

    assert response.status_code == 400, response.content
    assert list(response.json()) == [parameter]


def test_another_tenants_agent_as_filter_is_a_400_like_an_unknown_one(other_tenant, make_agent, make_call, api):
    theirs = make_agent(other_tenant, name="Globex desk")
    make_call(other_tenant, agent=theirs)

    response = api.get(URL, {"agent": str(theirs.code)})

    assert response.status_code == 400
    assert response.json() == {"agent": "No agent with this id."}


def test_detail_has_the_whole_report_in_camel_case(tenant, agent, make_call, api):
    call = make_call(tenant, agent=agent, room_name="room-42", status=CallStatus.IN_PROGRESS)
    call_finish(
        tenant=tenant,
        call=call,
        status=CallStatus.COMPLETED,
        end_reason="caller hung up",
        transcript=TRANSCRIPT,
        turn_metrics=TURN_METRICS,
        usage=USAGE,
        config_source="cache",
    )

    response = api.get(f"{URL}/{call.code}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == DETAIL_KEYS
    assert body["id"] == str(call.code)
    assert body["agentId"] == str(agent.code)
    assert (body["direction"], body["status"], body["endReason"]) == ("inbound", "completed", "caller hung up")
    assert (body["fromNumber"], body["toNumber"], body["roomName"]) == ("+14155550100", "+14155550199", "room-42")
    assert body["transcript"] == TRANSCRIPT
    assert body["turnMetrics"] == TURN_METRICS
    assert body["usage"] == USAGE
    assert body["estimatedCostUsd"] == USAGE_COST
    assert body["configSource"] == "cache"
    assert body["durationSeconds"] >= 0
    assert body["startedAt"] and body["answeredAt"] and body["endedAt"] and body["createdAt"]
    # The agent does not analyse its calls (tests/worker/test_call_analysis.py has the analysed ones).
    assert body["analysis"] == {
        "status": "",
        "error": "",
        "summary": "",
        "extracted": {},
        "success": None,
        "costUsd": None,
        "analyzedAt": None,
    }


def test_detail_of_a_call_whose_agent_was_deleted_keeps_the_name(tenant, agent, make_call, api):
    call = make_call(tenant, agent=agent)
    agent_delete(tenant=tenant, agent=agent)

    body = api.get(f"{URL}/{call.code}").json()

    assert (body["agentId"], body["agentName"]) == (None, "Front desk")
    assert body["estimatedCostUsd"] is None
    assert body["endedAt"] is None


def test_unknown_call_is_404(api):
    assert api.get(f"{URL}/{uuid.uuid4()}").status_code == 404


# POST /api/v1/calls places a new outbound call (tests/campaigns_app/test_single_outbound_call.py); a call
# already in the log is never changed through the API.
@pytest.mark.parametrize(
    ("method", "url_suffix"), [("post", "/id"), ("put", "/id"), ("patch", "/id"), ("delete", "/id")]
)
def test_the_call_log_is_read_only(tenant, make_call, api, method, url_suffix):
    call = make_call(tenant)
    url = URL + url_suffix.replace("id", str(call.code))

    response = getattr(api, method)(url, {"status": "completed"}, format="json")

    assert response.status_code == 405
    assert Call.objects.get(pk=call.pk).status == CallStatus.QUEUED


def test_without_an_api_key_the_call_log_is_401(client, db):
    assert client.get(URL).status_code == 401


def test_the_schema_documents_the_call_log_without_warnings(tmp_path, db):
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    schema = yaml.safe_load(target.read_text())
    listing = schema["paths"]["/api/v1/calls"]["get"]
    assert listing["summary"] == "List calls, newest first"
    assert {"agent", "direction", "status", "from", "to", "cursor", "q", "fromNumber", "toNumber", "endReason"} <= {
        p["name"] for p in listing["parameters"]
    }
    assert set(schema["paths"]["/api/v1/calls/{id}"]) == {"get"}
