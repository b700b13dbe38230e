"""/api/v1/campaigns: create, read, update and delete through the services, the status actions and
their 409s, and the audit export."""

from __future__ import annotations

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns_app import services
from campaigns_app.models import Campaign, CampaignStatus

URL = "/api/v1/campaigns"


@pytest.fixture
def agent(tenant, make_outbound_agent):
    return make_outbound_agent(tenant)


@pytest.fixture
def caller_id(tenant, make_caller_id):
    return make_caller_id(tenant)


def _body(agent, caller_id, **fields):
    return {"name": "November reminders", "agentId": str(agent.code), "callerId": str(caller_id.code), **fields}


def _add_contacts(tenant, campaign, count=1):
    rows = [{"number": f"+1415555{3000 + i:04d}", "variables": {"first_name": "Ann"}} for i in range(count)]
    services.contacts_add(tenant=tenant, campaign=campaign, rows=rows)


def test_creating_a_campaign_answers_201_with_its_fields_in_camel_case(api, tenant, agent, caller_id):
    window = {"monday": {"start": "09:00", "end": "12:00"}, "friday": [{"start": "13:00", "end": "17:00"}]}
    body = _body(agent, caller_id, callingWindow=window, maxCallsPerSecond=2.5, startDate="2026-12-01")

    response = api.post(URL, body, format="json")

    assert response.status_code == 201, response.json()
    data = response.json()
    campaign = Campaign.objects.for_tenant(tenant).get()
    assert data["id"] == str(campaign.code)
    assert data["agentId"] == str(agent.code)
    assert data["callerId"] == str(caller_id.code)
    assert data["callerIdNumber"] == caller_id.number
    assert data["callingWindow"]["monday"] == [{"start": "09:00", "end": "12:00"}]
    assert data["callingWindow"]["tuesday"] == []
    assert data["maxCallsPerSecond"] == 2.5
    assert data["startDate"] == "2026-12-01"
    assert data["status"] == "draft"
    assert data["startedAt"] is None
    assert data["contacts"]["total"] == 0
    assert data["contacts"]["pending"] == 0


def test_a_campaign_without_a_window_gets_weekdays_nine_to_five(api, agent, caller_id):
    response = api.post(URL, _body(agent, caller_id), format="json")

    assert response.json()["callingWindow"]["wednesday"] == [{"start": "09:00", "end": "17:00"}]
    assert response.json()["callingWindow"]["sunday"] == []


def test_a_caller_id_of_another_tenant_is_no_such_phone_number(api, agent, other_tenant, make_caller_id):
    theirs = make_caller_id(other_tenant)

    response = api.post(URL, _body(agent, theirs), format="json")

    assert response.status_code == 400
    assert response.json() == {"callerId": ["No such phone number."]}


def test_an_agent_of_another_tenant_is_no_such_agent(api, caller_id, other_tenant, make_outbound_agent):
    theirs = make_outbound_agent(other_tenant)

    response = api.post(URL, _body(theirs, caller_id), format="json")

    assert response.status_code == 400
    assert response.json() == {"agentId": ["No such agent."]}


@pytest.mark.parametrize(
    ("fields", "field", "fragment"),
    [
        ({"maxCallsPerSecond": 0}, "maxCallsPerSecond", "more than 0"),
        ({"maxCallsPerSecond": 5000}, "maxCallsPerSecond", "calls per second"),
        ({"maxCallsPerSecond": 1e300}, "maxCallsPerSecond", "digits"),
        ({"maxConcurrentCalls": 10**30}, "maxConcurrentCalls", "less than or equal"),
        ({"maxAttempts": 0}, "maxAttempts", "greater than or equal"),
        ({"callingWindow": {"monday": {"start": "17:00", "end": "09:00"}}}, "callingWindow", "ends before it starts"),
        ({"callingWindow": {"funday": {"start": "09:00", "end": "17:00"}}}, "callingWindow", "funday"),
        ({"callingWindow": "always"}, "callingWindow", "weekday"),
        ({"startDate": "2026-12-10", "endDate": "2026-12-01"}, "endDate", "before the start date"),
        ({"dialerMode": "turbo"}, "dialerMode", "not a valid choice"),
        ({"voicemailAction": "leave_message"}, "voicemailMessage", "message to leave"),
        ({"name": ""}, "name", "blank"),
    ],
)
def test_bad_settings_are_400s_naming_the_field(api, agent, caller_id, fields, field, fragment):
    response = api.post(URL, _body(agent, caller_id, **fields), format="json")

    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert fragment in " ".join(map(str, response.json()[field])), response.json()


def test_an_inactive_caller_id_and_an_inbound_only_agent_are_refused(api, tenant, make_outbound_agent, make_caller_id):
    inbound = make_outbound_agent(tenant, name="Front desk", direction="inbound")
    switched_off = make_caller_id(tenant, is_active=False)

    response = api.post(URL, _body(inbound, switched_off), format="json")

    assert response.status_code == 400
    errors = response.json()
    assert "inbound-only" in errors["agentId"][0]
    assert "switched off" in errors["callerId"][0]
    assert not Campaign.objects.for_tenant(tenant).exists()


def test_required_fields_are_named(api):
    response = api.post(URL, {}, format="json")

    assert response.status_code == 400
    assert {"name", "agentId", "callerId"} <= set(response.json())


def test_put_changes_only_the_fields_sent(api, campaign):
    response = api.put(f"{URL}/{campaign.code}", {"maxAttempts": 5}, format="json")

    assert response.status_code == 200, response.json()
    campaign.refresh_from_db()
    assert campaign.max_attempts == 5
    assert campaign.name == "November reminders"


def test_the_list_counts_contacts_by_status_in_one_query_for_the_page(api, tenant, make_campaign):
    first = make_campaign(tenant, name="First")
    _add_contacts(tenant, first, count=3)
    api.get(URL)  # warm: the key's lookup, the session's settings

    with CaptureQueriesContext(connection) as one:
        api.get(URL)
    make_campaign(tenant, name="Second")
    make_campaign(tenant, name="Third")
    with CaptureQueriesContext(connection) as three:
        response = api.get(URL)

    assert len(three.captured_queries) == len(one.captured_queries)
    by_name = {row["name"]: row for row in response.json()["results"]}
    assert by_name["First"]["contacts"]["pending"] == 3
    assert by_name["First"]["contacts"]["total"] == 3
    assert by_name["Third"]["contacts"]["total"] == 0


def test_the_list_filters_by_status_and_refuses_an_unknown_one(api, tenant, make_campaign):
    make_campaign(tenant, name="Draft one")
    services.campaign_cancel(tenant=tenant, campaign=make_campaign(tenant, name="Cancelled one"))

    cancelled = api.get(URL, {"status": "cancelled"}).json()["results"]
    garbage = api.get(URL, {"status": "sleeping"})

    assert [row["name"] for row in cancelled] == ["Cancelled one"]
    assert garbage.status_code == 400
    assert "status" in garbage.json()


def test_a_draft_is_deleted(api, tenant, campaign):
    response = api.delete(f"{URL}/{campaign.code}")

    assert response.status_code == 204
    assert not Campaign.objects.for_tenant(tenant).exists()


def test_a_started_campaign_is_not_deleted_but_409_says_cancel_it(api, tenant, campaign):
    _add_contacts(tenant, campaign)
    services.campaign_start(tenant=tenant, campaign=campaign)

    response = api.delete(f"{URL}/{campaign.code}")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "A campaign that has started is kept for its record of calls.",
        "problems": ["Cancel it instead."],
    }
    assert Campaign.objects.for_tenant(tenant).filter(pk=campaign.pk).exists()


def test_a_campaign_without_contacts_cannot_start_and_409_says_why(api, campaign):
    response = api.post(f"{URL}/{campaign.code}/start")

    assert response.status_code == 409
    assert response.json()["detail"] == "The campaign cannot start yet."
    assert any("no contact" in problem for problem in response.json()["problems"])
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_start_pause_resume_cancel_move_the_status(api, tenant, campaign):
    _add_contacts(tenant, campaign)
    url = f"{URL}/{campaign.code}"

    started = api.post(f"{url}/start")
    paused = api.post(f"{url}/pause")
    paused_again = api.post(f"{url}/pause")
    resumed = api.post(f"{url}/resume")
    cancelled = api.post(f"{url}/cancel")
    restarted = api.post(f"{url}/start")

    assert (started.status_code, started.json()["status"]) == (200, "running")
    assert started.json()["startedAt"] is not None
    assert started.json()["contacts"]["pending"] == 1
    assert (paused.status_code, paused.json()["status"]) == (200, "paused")
    assert paused_again.status_code == 409
    assert "Only a running or scheduled campaign" in paused_again.json()["detail"]
    assert (resumed.status_code, resumed.json()["status"]) == (200, "running")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert cancelled.json()["finishedAt"] is not None
    assert restarted.status_code == 409
    assert restarted.json()["problems"] == []


def test_a_running_campaign_cannot_be_edited_409_says_pause_it(api, tenant, campaign):
    _add_contacts(tenant, campaign)
    services.campaign_start(tenant=tenant, campaign=campaign)

    response = api.patch(f"{URL}/{campaign.code}", {"maxAttempts": 5}, format="json")

    assert response.status_code == 409
    assert response.json()["problems"] == ["Pause the campaign first."]


def test_the_audit_export_is_a_streamed_csv_attachment(api, tenant, campaign):
    _add_contacts(tenant, campaign, count=2)

    response = api.get(f"{URL}/{campaign.code}/audit.csv", HTTP_ACCEPT="text/csv")

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(f'attachment; filename="campaign-{campaign.code}-audit-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["number"] for row in rows] == ["+14155553000", "+14155553001"]


def test_a_nul_in_a_campaign_is_a_400_and_writes_nothing(api, tenant, agent, caller_id):
    response = api.post(URL, _body(agent, caller_id, name="Nov\x00ember"), format="json")

    assert response.status_code == 400
    assert not Campaign.objects.for_tenant(tenant).exists()
