"""The call log at scale: keyset pages that see every call exactly once while calls arrive, filters by
end reason and numbers, full-text search of transcripts, and every filter served by an index in order."""

from __future__ import annotations

import base64
import datetime
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from agents_app.models import Agent
from telephony_app import selectors
from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.services import call_finish, calls_reap_stale
from voiceplatform.models import Tenant

URL = "/api/v1/calls"
LIST = reverse("calls-call-list")
WHEN = datetime.datetime(2026, 11, 20, 14, 0, tzinfo=datetime.UTC)


def _turns(*texts: str) -> list[dict[str, str]]:
    return [
        {"role": "user" if index % 2 else "assistant", "text": text, "at": "2026-11-20T14:00:00+00:00"}
        for index, text in enumerate(texts)
    ]


def _bulk(tenant: Tenant, count: int, **fields: Any) -> list[Call]:
    fields.setdefault("direction", CallDirection.INBOUND)
    return Call.objects.bulk_create([Call(tenant=tenant, **fields) for _ in range(count)])


def _same_moment(calls: list[Call], when: datetime.datetime) -> None:
    """Several calls created in the same microsecond: only the id tells them apart."""
    Call.objects.filter(pk__in=[call.pk for call in calls]).update(created_at=when)


def _cursor(keys: list[Any]) -> str:
    text = json.dumps({"k": keys, "d": "next"})
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


# Keyset pages --------------------------------------------------------------------------------


def test_paging_the_api_returns_every_call_once_while_new_calls_arrive(tenant, make_call, api):
    older = _bulk(tenant, 70)
    _same_moment(older[10:70], WHEN)  # 60 ties straddle the first page boundary (50)
    existing = {str(code) for code in Call.objects.for_tenant(tenant).values_list("code", flat=True)}
    assert len(existing) == 70

    seen: list[str] = []
    response = api.get(URL).json()
    while True:
        seen += [row["id"] for row in response["results"]]
        for _ in range(7):  # calls keep coming in between pages
            make_call(tenant)
        if response["next"] is None:
            break
        response = api.get(response["next"]).json()

    assert len(seen) == len(set(seen)) == 70  # nothing twice, and the new calls do not push old ones along
    assert set(seen) == existing


def test_the_previous_link_returns_the_page_before(tenant, api):
    _same_moment(_bulk(tenant, 120), WHEN)

    first = api.get(URL).json()
    second = api.get(first["next"]).json()
    back = api.get(second["previous"]).json()

    assert back["results"] == first["results"]
    assert back["previous"] is None


def test_paging_the_portal_returns_every_call_once_while_new_calls_arrive(tenant, owner, make_call, client_for):
    _same_moment(_bulk(tenant, 130), WHEN)
    client = client_for(owner)

    seen: list[Call] = []
    response = client.get(LIST)
    while True:
        assert response.status_code == 200
        seen += [call for call, _duration in response.context["calls"]]
        make_call(tenant)
        cursor = response.context["page"].next_cursor
        if cursor is None:
            break
        assert f"cursor={cursor}" in response.text  # the "Older" link
        response = client.get(LIST, {"cursor": cursor})

    assert len(seen) == len({call.pk for call in seen}) == 130
    assert [call.pk for call in seen] == sorted((call.pk for call in seen), reverse=True)


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!",
        "x" * 201,
        _cursor([1, 2]),  # keys in the wrong places: an id where the time goes
        _cursor(["2026-11-20T14:00:00+00:00", "2026-11-20T14:00:00+00:00"]),  # a time where the id goes
        _cursor(["2026-11-20T14:00:00", 5]),  # a time without a zone
        _cursor([5]),  # one key of two
    ],
)
def test_a_cursor_the_platform_did_not_write_is_a_400_in_the_api_and_the_first_page_in_the_portal(
    cursor, tenant, owner, api, client_for
):
    _bulk(tenant, 3)

    response = api.get(URL, {"cursor": cursor})
    page = client_for(owner).get(LIST, {"cursor": cursor})

    assert response.status_code == 400
    assert set(response.json()) == {"cursor"}
    assert page.status_code == 200
    assert len(page.context["calls"]) == 3


def test_the_portal_says_about_how_many_calls_from_postgresqls_estimate(tenant, other_tenant, owner, client_for):
    _bulk(tenant, 260, status=CallStatus.COMPLETED)
    _bulk(tenant, 40, status=CallStatus.FAILED)
    _bulk(other_tenant, 500)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE telephony_app_call")
    client = client_for(owner)

    everything = client.get(LIST).context["count_text"]
    failed = client.get(LIST, {"status": "failed"}).context["count_text"]

    assert everything == "about 300 calls"  # the tenant's rows, not the table's 800
    assert failed == "40 calls"  # one page holds them: counted as shown, no estimate


# Filters -------------------------------------------------------------------------------------


def test_filters_by_end_reason_and_numbers_in_the_api_and_the_portal(tenant, owner, make_call, api, client_for):
    hung_up = make_call(tenant, from_number="+14155550123", to_number="+14155550199")
    call_finish(tenant=tenant, call=hung_up, status=CallStatus.COMPLETED, end_reason="caller hung up")
    closed = make_call(tenant, from_number="+33142685300", to_number="+14155550199")
    call_finish(tenant=tenant, call=closed, status=CallStatus.COMPLETED, end_reason="out of business hours")
    outbound = make_call(tenant, direction=CallDirection.OUTBOUND, from_number="+14155550199", to_number="+33142685300")

    def api_ids(**params: str) -> set[str]:
        response = api.get(URL, params)
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    def portal_ids(**params: str) -> set[str]:
        return {str(call.code) for call, _ in client_for(owner).get(LIST, params).context["calls"]}

    for ids, names in (
        (api_ids, {"reason": "endReason", "from": "fromNumber", "to": "toNumber"}),
        (portal_ids, {"reason": "end_reason", "from": "from_number", "to": "to_number"}),
    ):
        assert ids(**{names["reason"]: "out of business hours"}) == {str(closed.code)}
        assert ids(**{names["from"]: "+1 (415) 555-0123"}) == {str(hung_up.code)}  # written as people write it
        assert ids(**{names["to"]: "+33 1 42 68 53 00"}) == {str(outbound.code)}
        assert ids(**{names["to"]: "+14155550199", names["from"]: "+33142685300"}) == {str(closed.code)}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"fromNumber": "not a number"}, "fromNumber"),
        ({"toNumber": "+1"}, "toNumber"),
        ({"endReason": "x" * 201}, "endReason"),
        ({"q": "refund " * 40}, "q"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(params, field, tenant, api):
    response = api.get(URL, params)

    assert response.status_code == 400
    assert set(response.json()) == {field}


def test_a_bad_filter_is_a_form_error_in_the_portal(tenant, owner, client_for):
    _bulk(tenant, 2)

    response = client_for(owner).get(LIST, {"from_number": "call me", "q": "refund " * 40})

    assert response.status_code == 200
    errors = response.context["filters"].errors
    assert set(errors) == {"from_number", "q"}
    assert "not a phone number" in errors["from_number"][0]
    assert "at most 200 characters" in errors["q"][0]
    assert len(response.context["calls"]) == 2  # shown unfiltered, with the errors beside the fields


# Full-text search ----------------------------------------------------------------------------


def test_search_finds_calls_by_what_was_said_once_the_transcript_is_written(
    tenant, other_tenant, owner, make_call, api, client_for
):
    refund = make_call(tenant)
    hours = make_call(tenant)
    theirs = make_call(other_tenant)
    assert _search_ids(api, "refunds") == set()  # the webhook's row: no transcript yet

    call_finish(
        tenant=tenant,
        call=refund,
        status=CallStatus.COMPLETED,
        transcript=_turns("Hello, how can I help?", "I would like a refund for my broken kettle."),
    )
    call_finish(tenant=tenant, call=hours, status=CallStatus.COMPLETED, transcript=_turns("We open at nine."))
    call_finish(tenant=other_tenant, call=theirs, status=CallStatus.COMPLETED, transcript=_turns("A refund, please."))

    assert _search_ids(api, "refunds") == {str(refund.code)}  # stemmed; another tenant's refund is not found
    assert _search_ids(api, '"broken kettle"') == {str(refund.code)}
    assert _search_ids(api, "refund -kettle") == set()
    assert _search_ids(api, "kettle or nine") == {str(refund.code), str(hours.code)}
    assert _search_ids(api, "assistant") == set()  # the turns' roles and times are not searched
    page = client_for(owner).get(LIST, {"q": "kettle"})
    assert [call.code for call, _ in page.context["calls"]] == [refund.code]
    assert 'value="kettle"' in page.text


def test_search_sees_a_text_chat_turn_by_turn(tenant, agent, make_call, api):
    chat = make_call(tenant, agent=agent, direction=CallDirection.CHAT, from_number="", to_number="")
    Call.objects.filter(pk=chat.pk).update(transcript=_turns("Do you deliver to Lisbon?"))

    assert _search_ids(api, "lisbon") == {str(chat.code)}


def test_search_finds_a_call_by_its_post_call_summary(tenant, make_call, api):
    call = make_call(tenant)
    call_finish(tenant=tenant, call=call, status=CallStatus.COMPLETED, transcript=_turns("Hello there."))
    assert _search_ids(api, "reservation") == set()

    Call.objects.filter(pk=call.pk).update(summary="The caller moved their reservation to Friday.")

    assert _search_ids(api, "reservations friday") == {str(call.code)}


def test_search_words_that_are_only_punctuation_or_stop_words_find_nothing_without_an_error(tenant, api):
    call = _bulk(tenant, 1)[0]
    Call.objects.filter(pk=call.pk).update(transcript=_turns("the and of"))

    assert _search_ids(api, "the") == set()
    assert _search_ids(api, "&|!():*'\\\"") == set()


def _search_ids(api, query: str) -> set[str]:
    response = api.get(URL, {"q": query})
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


# Indexes -------------------------------------------------------------------------------------

FILTERS: list[tuple[str, Callable[[Agent], dict[str, Any]], str]] = [
    ("none", lambda agent: {}, "call_tenant_created_idx"),
    ("dates", lambda agent: {"date_from": WHEN.date(), "date_to": WHEN.date()}, "call_tenant_created_idx"),
    ("agent", lambda agent: {"agent": agent}, "call_tenant_agent_created_idx"),
    ("direction", lambda agent: {"direction": "inbound"}, "call_tenant_direction_idx"),
    ("status", lambda agent: {"status": "completed"}, "call_tenant_status_idx"),
    ("end reason", lambda agent: {"end_reason": "caller hung up"}, "call_tenant_end_reason_idx"),
    ("caller", lambda agent: {"from_number": "+14155550123"}, "call_tenant_from_idx"),
    ("callee", lambda agent: {"to_number": "+14155550199"}, "call_tenant_to_idx"),
    ("agent and dates", lambda agent: {"agent": agent, "date_from": WHEN.date()}, "call_tenant_agent_created_idx"),
    ("status and caller", lambda agent: {"status": "completed", "from_number": "+14155550123"}, "call_tenant_"),
]


@pytest.mark.parametrize(("name", "filters", "index"), FILTERS, ids=[name for name, _, _ in FILTERS])
def test_every_filter_reads_a_page_from_an_index_in_page_order(name, filters, index, tenant, agent):
    """With sequential scans, bitmap scans and sorts priced out, a page whose plan still sorts (or scans the
    table) has no index that serves it: at a million calls that page would read every matching row."""
    # Statistics like a real tenant's, whatever earlier tests left in the table's: many calls, each
    # filter's value rare among them (on a near-empty table any index of the tenant costs the same).
    _bulk(
        tenant, 2000, direction=CallDirection.OUTBOUND, status=CallStatus.FAILED, end_reason="no answer",
        from_number="+14155550777", to_number="+14155550888",
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE telephony_app_call")
    calls = selectors.call_list(tenant=tenant, **filters(agent))
    with connection.cursor() as cursor:
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            cursor.execute(f"SET LOCAL {setting} = off")
        for cursor_value in ("", _cursor([WHEN.isoformat(), 123])):  # the first page, and one deep down
            with CaptureQueriesContext(connection) as queries:
                selectors.call_page(calls, cursor=cursor_value, size=50)
            cursor.execute("EXPLAIN " + queries[-1]["sql"])
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert "Sort" not in plan and "Seq Scan" not in plan, plan
            assert f"Index Scan using {index}" in plan, plan
            if cursor_value:  # the scan starts at the cursor (an index condition), not at the newest call
                assert "created_at <=" in plan.split("Index Cond:")[1].split("\n")[0], plan


def test_a_common_word_is_searched_by_walking_the_newest_calls_and_a_rare_one_through_its_matches(
    tenant, api, monkeypatch
):
    monkeypatch.setattr(selectors, "SEARCH_PROBE", 3)  # more than 3 matches: "common"
    calls = _bulk(tenant, 60)
    for call in calls:
        Call.objects.filter(pk=call.pk).update(transcript=_turns("I need help with my kettle."))
    rare = calls[7]
    Call.objects.filter(pk=rare.pk).update(transcript=_turns("A quokka ate my kettle."))

    common = selectors.call_list(tenant=tenant, query="kettle")
    seldom = selectors.call_list(tenant=tenant, query="quokka")

    assert "@@" in str(common.query) and "@@" not in str(seldom.query)  # the rare word: its matches' ids
    first = api.get(URL, {"q": "kettle"}).json()
    second = api.get(first["next"]).json()
    assert len({row["id"] for row in first["results"] + second["results"]}) == 60
    assert _search_ids(api, "quokka") == {str(rare.code)}


def test_the_reaper_reads_only_the_calls_in_progress_through_its_partial_index(tenant):
    # Finished calls (nearly all of a busy tenant's) are not in call_status_updated_idx at all.
    _bulk(tenant, 2000, status=CallStatus.COMPLETED)
    _bulk(tenant, 3, status=CallStatus.RINGING)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE telephony_app_call")
    with CaptureQueriesContext(connection) as queries:
        assert calls_reap_stale(older_than=datetime.timedelta(hours=4)) == 0
    [select] = [query["sql"] for query in queries if query["sql"].startswith("SELECT")]
    with connection.cursor() as cursor:
        for setting in ("enable_seqscan", "enable_bitmapscan"):
            cursor.execute(f"SET LOCAL {setting} = off")
        cursor.execute("EXPLAIN " + select)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        # The calls are found by their status in an index, never by reading the table. PostgreSQL 15
        # reads call_status_updated_idx; 18 may skip-scan call_tenant_status_idx instead, which also
        # reads only the matching entries.
        assert "Seq Scan" not in plan, plan
        assert re.search(r"Index Scan using call_\w+_idx on telephony_app_call.*\n\s+Index Cond: .*status", plan), plan
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'call_status_updated_idx'")
        assert cursor.fetchone()[0] < 100  # the three ringing calls, not the 2,000 finished ones
