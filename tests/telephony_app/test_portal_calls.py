"""The call log in the portal: list with filters, pages and live refresh; one call's conversation."""

from __future__ import annotations

import datetime
import html
import re

import pytest
from django.db import connection
from django.urls import reverse

from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.services import call_finish, call_transition
from tests.telephony_app.conftest import T0, TRANSCRIPT, TURN_METRICS, USAGE

LIST = reverse("calls-call-list")


def _text(response) -> str:
    """The page as a person reads it: tags dropped, entities decoded, whitespace collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode()))).strip()


@pytest.fixture
def finished_call(tenant, agent, make_call) -> Call:
    call = make_call(tenant, agent=agent, room_name="room-7")
    call_transition(tenant=tenant, call=call, status=CallStatus.IN_PROGRESS, at=T0)
    return call_finish(
        tenant=tenant,
        call=call,
        status=CallStatus.COMPLETED,
        end_reason="caller hung up",
        transcript=TRANSCRIPT,
        turn_metrics=TURN_METRICS,
        usage=[*USAGE, {"kind": "llm", "provider": "openai_compatible", "model": "my-llama", "input_tokens": 10}],
        config_source="cache",
        error="TTS retried once",
        ended_at=T0 + datetime.timedelta(seconds=125),
    )


# List ----------------------------------------------------------------------------------------


def test_viewers_see_the_tenants_calls_and_not_other_tenants(
    tenant, other_tenant, viewer, finished_call, make_call, client_for
):
    theirs = make_call(other_tenant, from_number="+33100000000")

    response = client_for(viewer).get(LIST)

    assert response.status_code == 200
    assert f"call-{finished_call.code}" in response.text
    assert f"call-{theirs.code}" not in response.text
    text = _text(response)
    assert "Front desk" in text
    assert "+14155550100 → +14155550199" in text
    assert "Completed" in text
    assert "2 min 05 s" in text
    assert "Times in Europe/Paris" in text


def test_filters_narrow_the_list_and_a_bad_filter_is_shown_not_applied(
    tenant, owner, make_agent, make_call, client_for
):
    desk, sales = make_agent(tenant, name="Desk"), make_agent(tenant, name="Sales")
    desk_call = make_call(tenant, agent=desk)
    sales_call = make_call(tenant, agent=sales, direction=CallDirection.OUTBOUND)
    client = client_for(owner)

    by_agent = client.get(LIST, {"agent": str(desk.code)})
    by_direction = client.get(LIST, {"direction": "outbound", "status": "queued"})
    bad = client.get(LIST, {"direction": "outbound", "date_from": "not-a-date"})
    empty = client.get(LIST, {"status": "busy"})

    assert f"call-{desk_call.code}" in by_agent.text and f"call-{sales_call.code}" not in by_agent.text
    assert f"call-{sales_call.code}" in by_direction.text and f"call-{desk_call.code}" not in by_direction.text
    assert bad.status_code == 200
    assert "Enter a valid date" in _text(bad)
    assert f"call-{sales_call.code}" in bad.text and f"call-{desk_call.code}" not in bad.text
    assert "No call matches these filters." in _text(empty)


def test_date_filter_uses_the_tenants_days(tenant, owner, make_call, client_for):
    late_evening_utc = make_call(tenant)
    Call.objects.filter(pk=late_evening_utc.pk).update(
        created_at=datetime.datetime(2026, 11, 19, 23, 30, tzinfo=datetime.UTC)  # 2026-11-20 00:30 in Paris
    )

    response = client_for(owner).get(LIST, {"date_from": "2026-11-20", "date_to": "2026-11-20"})

    assert f"call-{late_evening_utc.code}" in response.text
    assert "2026-11-20 00:30:00" in _text(response)


def test_the_list_is_paginated_by_fifty_and_only_the_first_page_polls(tenant, owner, client_for):
    Call.objects.bulk_create([Call(tenant=tenant, direction=CallDirection.INBOUND) for _ in range(51)])
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE telephony_app_call")  # what autovacuum does for a real table
    client = client_for(owner)

    first = client.get(LIST)
    second = client.get(LIST, {"cursor": first.context["page"].next_cursor})

    assert first.text.count('<tr id="call-') == 50
    assert second.text.count('<tr id="call-') == 1
    assert first.context["count_text"] == "about 51 calls"  # PostgreSQL's estimate (fresh statistics: exact)
    assert "About 51 calls." in _text(first)
    assert 'rel="next"' in first.text and 'rel="next"' not in second.text
    assert 'hx-trigger="every 5s"' in first.text
    assert 'hx-trigger="every 5s"' not in second.text


def test_htmx_polling_gets_only_the_results(tenant, owner, finished_call, client_for):
    response = client_for(owner).get(
        LIST, {"status": "completed"}, headers={"HX-Request": "true", "HX-Target": "call-results"}
    )

    assert response.status_code == 200
    assert "<html" not in response.text
    assert response.text.lstrip().startswith('<div id="call-results"')
    assert f"call-{finished_call.code}" in response.text
    assert "?status=completed" in response.text  # the next poll keeps the filter


def test_empty_call_log_explains_itself(owner, client_for):
    assert "No calls yet" in _text(client_for(owner).get(LIST))


def test_the_call_log_needs_a_login(client, db):
    response = client.get(LIST)

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_nav_and_dashboard_show_calls(tenant, owner, finished_call, make_call, client_for):
    make_call(tenant, status=CallStatus.RINGING)

    response = client_for(owner).get(reverse("portal-dashboard"))

    assert f'href="{LIST}"' in response.text
    tiles = {stat.url_name: stat for stat in response.context["counts"]}
    assert tiles["calls-call-list"].value == 2
    assert "2 calls (1 open)" in _text(response)


# Detail --------------------------------------------------------------------------------------


def test_detail_shows_the_conversation_latency_usage_cost_and_error(viewer, finished_call, client_for):
    response = client_for(viewer).get(reverse("calls-call-detail", args=[finished_call.code]))

    assert response.status_code == 200
    text = _text(response)
    assert 'class="bubble assistant"' in response.text and 'class="bubble user"' in response.text
    assert "Caller · 15:00:05 What are your opening hours?" in text  # 14:00:05 UTC in Paris
    assert "Front desk · 15:00:07 We are open nine to five. (interrupted)" in text
    assert "Tool · 15:00:06 lookup_hours()" in text
    assert "End to end: median 1205 ms, worst 1450 ms over 2 turns." in text
    assert "410 ms" in text and "960 ms" in text
    assert "1,000,000 input tokens, 100,000 output tokens" in text
    assert "$0.21000" in text and "$0.72540" in text
    assert "not priced" in text
    assert "llm openai_compatible/my-llama: no list price on file" in text
    assert "TTS retried once" in text
    assert "caller hung up" in text
    assert "2 min 05 s" in text
    assert str(finished_call.code) in text
    assert 'hx-trigger="every 5s"' not in response.text  # an ended call does not refresh


def test_detail_of_an_open_call_refreshes_and_says_the_transcript_comes_later(tenant, owner, make_call, client_for):
    call = make_call(tenant, status=CallStatus.IN_PROGRESS)

    response = client_for(owner).get(reverse("calls-call-detail", args=[call.code]))

    assert 'hx-trigger="every 5s"' in response.text
    assert "The transcript is written when the call ends." in _text(response)


def test_detail_survives_a_malformed_report(tenant, owner, make_call, client_for):
    call = make_call(tenant)
    Call.objects.filter(pk=call.pk).update(
        transcript=[{"role": "narrator", "text": 5, "at": "soon"}, "garbage", None],
        turn_metrics=[{"turn": 1, "e2e_latency": "fast"}, 7],
        usage=[{"kind": "llm"}, "x"],
    )

    response = client_for(owner).get(reverse("calls-call-detail", args=[call.code]))

    assert response.status_code == 200
    assert "narrator" in _text(response)


def test_unknown_call_is_404(owner, client_for):
    response = client_for(owner).get("/calls/00000000-0000-0000-0000-000000000000/")

    assert response.status_code == 404
