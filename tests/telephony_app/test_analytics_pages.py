"""The analytics a tenant sees (portal page, CSV export, GET /api/v1/analytics) for a known set of calls:
the right figures, the period/agent/campaign filters, another tenant's codes refused, bad parameters a
form error or a 400 (never a 500), and the home dashboard's tile from the rollups."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from agents_app.services import agent_create
from campaigns_app.services import campaign_create
from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.services import call_create, call_finish, call_transition, phone_number_create
from tests.telephony_app.conftest import USAGE, USAGE_COST
from voiceplatform.actor import SYSTEM

S = CallStatus


def _agent(tenant, name: str, **fields):
    fields.setdefault("system_prompt", "Be helpful.")
    return agent_create(tenant=tenant, actor=SYSTEM, fields={"name": name, **fields})


def _campaign(tenant, name: str):
    agent = _agent(tenant, f"{name} caller", direction="outbound")
    number = phone_number_create(
        tenant=tenant, number=f"+1415555{abs(hash(name)) % 10000:04d}", outbound_trunk_id="ST_outboundTest1"
    )
    return campaign_create(tenant=tenant, fields={"name": name, "agent": agent, "caller_id": number})


def _call(tenant, *, agent=None, status=S.COMPLETED, talk=None, days_ago=0, campaign=None, **report):
    """A call that rang, was answered `talk` seconds before it ended (None: never answered) and ended."""
    direction = CallDirection.OUTBOUND if campaign is not None else CallDirection.INBOUND
    call = call_create(
        tenant=tenant, agent=agent, direction=direction, campaign_code=campaign.code if campaign else None
    )
    if days_ago:
        Call.objects.filter(pk=call.pk).update(created_at=timezone.now() - datetime.timedelta(days=days_ago))
        call.refresh_from_db()
    start = timezone.now() - datetime.timedelta(hours=1)
    call_transition(tenant=tenant, call=call, status=S.RINGING, at=start)
    end = start + datetime.timedelta(seconds=talk or 5)
    if talk is not None:
        call_transition(tenant=tenant, call=call, status=S.IN_PROGRESS, at=start)
    return call_finish(tenant=tenant, call=call, status=status, ended_at=end, **report)


@pytest.fixture
def known(tenant, other_tenant):
    """Four calls this week (one by a campaign), one 20 days ago, one open; and the other tenant's."""
    front = _agent(tenant, "Front desk")
    campaign = _campaign(tenant, "Winter reminders")
    metrics = [{"turn": 1, "end_of_turn_delay": 0.42, "llm_ttft": 0.31, "tts_ttfb": 0.12}]
    _call(tenant, agent=front, talk=60, turn_metrics=metrics, usage=USAGE)
    _call(tenant, agent=front, status=S.TRANSFERRED, talk=120)
    _call(tenant, agent=front, status=S.NO_ANSWER)
    _call(tenant, agent=campaign.agent, talk=30, campaign=campaign)
    _call(tenant, agent=front, talk=10, days_ago=20)
    call_create(tenant=tenant, agent=front, direction=CallDirection.INBOUND, status=S.IN_PROGRESS)
    other_agent = _agent(other_tenant, "Their desk")
    other_campaign = _campaign(other_tenant, "Their campaign")
    for _ in range(3):
        _call(other_tenant, agent=other_agent, talk=300)
    return {"front": front, "campaign": campaign, "other_agent": other_agent, "other_campaign": other_campaign}


def test_the_api_gives_the_periods_figures(api, known):
    response = api.get("/api/v1/analytics", {"period": 7})

    assert response.status_code == 200
    body = response.json()
    assert (body["period"], body["agentId"], body["campaignId"], len(body["days"])) == (7, None, None, 7)
    totals = body["totals"]
    assert (totals["calls"], totals["completed"], totals["transferred"], totals["noAnswer"]) == (4, 2, 1, 1)
    assert (totals["answered"], totals["answerRate"], totals["transferRate"]) == (3, 0.75, 0.3333)
    assert totals["talkSecondsAvg"] == 70.0  # (60 + 120 + 30) / 3 answered calls
    assert 60 <= totals["talkSecondsP90"] <= 180
    assert Decimal(totals["costUsd"]) == Decimal(USAGE_COST)
    assert 0.3 <= totals["llmTtftP50"] <= 0.35 and 0.4 <= totals["endOfTurnP50"] <= 0.5
    assert body["days"][-1]["date"] == timezone.now().astimezone(datetime.UTC).date().isoformat()
    assert body["days"][-1]["calls"] == 4 and sum(day["calls"] for day in body["days"]) == 4


@pytest.mark.parametrize(
    ("params", "calls", "answered"),
    [
        ({"period": 30}, 5, 4),  # the call 20 days ago too
        ({"period": 90}, 5, 4),
        ({"period": 7, "agent": "front"}, 3, 2),
        ({"period": 30, "agent": "front"}, 4, 3),
        ({"period": 7, "campaign": "campaign"}, 1, 1),
    ],
)
def test_the_filters_choose_the_calls(api, known, params, calls, answered):
    query = {name: str(known[value].code) if name != "period" else value for name, value in params.items()}
    body = api.get("/api/v1/analytics", query).json()
    assert (body["totals"]["calls"], body["totals"]["answered"]) == (calls, answered)


def test_another_tenants_agent_or_campaign_is_a_404_in_the_api(api, known):
    for name, code in (("agent", known["other_agent"].code), ("campaign", known["other_campaign"].code)):
        response = api.get("/api/v1/analytics", {name: str(code)})
        assert response.status_code == 404, name
        assert "Their" not in response.content.decode()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"period": "5"}, "period"),
        ({"period": "seven"}, "period"),
        ({"agent": "not-a-uuid"}, "agent"),
        ({"campaign": "zz\x00"}, "campaign"),
        ({"agent": "x" * 5000}, "agent"),
    ],
)
def test_bad_parameters_are_a_400_naming_them(api, known, params, field):
    response = api.get("/api/v1/analytics", params)
    assert response.status_code == 400
    assert field in response.content.decode()  # the field's messages, or the NUL guard's naming it


def test_the_page_shows_the_figures_and_its_charts(tenant, owner, client_for, known):
    response = client_for(owner).get(reverse("analytics-dashboard"), {"period": 7})

    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="total-calls">4<' in page
    assert 'id="total-answer-rate">75 %<' in page
    assert 'id="total-talk-avg">70.0 s<' in page
    for title in ("Calls per day by outcome", "Answer and transfer rates", "Talk time", "Cost per day", "latency"):
        assert title in page
    assert page.count("<svg") >= 5
    assert "2 completed" in page and "1 transferred" in page and "1 no answer" in page  # bar titles
    assert "Winter reminders" in page and "Their campaign" not in page and "Their desk" not in page
    assert f'href="{reverse("analytics-dashboard")}"' in page  # in the navigation


def test_the_page_filters_by_agent_and_campaign(owner, client_for, known):
    client = client_for(owner)
    by_agent = client.get(reverse("analytics-dashboard"), {"period": 90, "agent": str(known["front"].code)})
    by_campaign = client.get(reverse("analytics-dashboard"), {"campaign": str(known["campaign"].code)})
    assert 'id="total-calls">4<' in by_agent.content.decode()
    assert 'id="total-calls">1<' in by_campaign.content.decode()


@pytest.mark.parametrize(
    "params",
    [
        {"period": "5"},
        {"period": "\x00"},
        {"agent": "nonsense"},
        {"campaign": "nonsense"},
        {"agent": "other_agent"},
        {"campaign": "other_campaign"},
    ],
)
def test_bad_or_foreign_parameters_are_a_form_error_on_the_page(owner, client_for, known, params):
    query = {k: str(known[v].code) if v in known else v for k, v in params.items()}
    client = client_for(owner)

    response = client.get(reverse("analytics-dashboard"), query)
    export = client.get(reverse("analytics-export"), query)

    assert response.status_code == 400
    page = response.content.decode()
    # A form error on the field (a NUL byte is refused before the view by the portal's input guard).
    assert 'class="field has-error"' in page or "NUL" in page
    assert "total-calls" not in page and "Their" not in page
    assert export.status_code == 400 and export["Content-Type"].startswith("text/plain")


def test_the_csv_has_the_same_figures(owner, client_for, known, api):
    response = client_for(owner).get(reverse("analytics-export"), {"period": 7, "agent": str(known["front"].code)})

    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 8 and rows[-1]["date"] == "total"
    total = rows[-1]
    assert (total["calls"], total["answered"], total["transferred"], total["no_answer"]) == ("3", "2", "1", "1")
    assert (total["answer_rate"], total["talk_seconds_avg"], Decimal(total["cost_usd"])) == (
        "0.6667",
        "90.0",
        Decimal(USAGE_COST),
    )
    assert rows[-2]["calls"] == "3" and all(row["calls"] == "0" for row in rows[:-2])
    api_totals = api.get("/api/v1/analytics", {"period": 7, "agent": str(known["front"].code)}).json()["totals"]
    assert api_totals["talkSecondsP90"] == float(total["talk_seconds_p90"])
    assert api_totals["llmTtftP90"] == float(total["llm_ttft_p90"])


def test_another_tenant_sees_only_its_own_calls(outsider, client_for, known):
    page = client_for(outsider).get(reverse("analytics-dashboard"), {"period": 7}).content.decode()
    assert 'id="total-calls">3<' in page
    assert "Winter reminders" not in page and "Front desk" not in page


def test_the_page_reads_the_rollups_never_the_calls(owner, client_for, known):
    with CaptureQueriesContext(connection) as queries:
        response = client_for(owner).get(reverse("analytics-dashboard"), {"period": 90})
    assert response.status_code == 200
    assert not [q["sql"] for q in queries.captured_queries if '"telephony_app_call"' in q["sql"]]


def test_the_dashboard_tile_counts_calls_from_the_rollups(owner, client_for, known):
    with CaptureQueriesContext(connection) as queries:
        page = client_for(owner).get(reverse("portal-dashboard")).content.decode()
    assert '6</span><span class="stat-label">calls (1 open)' in page
    call_queries = [q["sql"] for q in queries.captured_queries if '"telephony_app_call"' in q["sql"]]
    # The only query of the call log is the open calls' count (the status index's short range).
    assert len(call_queries) == 1 and '"status" IN' in call_queries[0]
