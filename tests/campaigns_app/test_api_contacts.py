"""A campaign's contacts through the API: JSON rows with the importer's rules, and the contacts list's
filters and cursor pagination."""

from __future__ import annotations

import base64

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns_app import services
from campaigns_app.models import Contact, ContactStatus
from voiceplatform.actor import SYSTEM
from voiceplatform.pagination import StrictCursorPagination


def _url(campaign) -> str:
    return f"/api/v1/campaigns/{campaign.code}/contacts"


def _row(number: str, **fields):
    return {"number": number, "variables": {"first_name": "Ann"}, **fields}


def test_valid_rows_mode_adds_the_good_rows_and_lists_the_others(api, tenant, campaign):
    body = {
        "contacts": [_row("+14155550101", name="Ann"), _row("12"), _row("(212) 555-0100"), {"number": "+14155550102"}],
        "defaultCountry": "us",
        "mode": "valid_rows",
    }

    response = api.post(_url(campaign), body, format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["created"] == 2
    errors = response.json()["errors"]
    assert [(e["index"], e["field"]) for e in errors] == [(1, "number"), (3, "first_name")]
    numbers = set(Contact.objects.for_tenant(tenant).values_list("number", flat=True))
    assert numbers == {"+14155550101", "+12125550100"}


def test_all_or_nothing_refuses_every_row_when_one_is_bad(api, tenant, campaign):
    body = {"contacts": [_row("+14155550101"), _row("+14155550101")]}

    response = api.post(_url(campaign), body, format="json")

    assert response.status_code == 400
    data = response.json()
    assert data["detail"] == "No contact was added: 1 of 2 rows were refused."
    assert data["errors"] == [{"index": 1, "field": "number", "value": "+14155550101", "reason": "duplicate of row 0"}]
    assert data["problems"] == ["contacts[1].number: duplicate of row 0"]
    assert not Contact.objects.for_tenant(tenant).exists()


def test_a_number_on_the_dnc_list_is_skipped_with_the_reason_or_left_out(api, tenant, campaign):
    services.dnc_add(tenant=tenant, number="+14155550101", actor=SYSTEM)

    skipped = api.post(_url(campaign), {"contacts": [_row("+14155550101")]}, format="json")
    contact = Contact.objects.for_tenant(tenant).get()
    left_out = api.post(_url(campaign), {"contacts": [_row("+14155550101")], "dncHandling": "exclude"}, format="json")

    assert skipped.json() == {"created": 1, "skippedDnc": 1, "errors": []}
    assert contact.status == ContactStatus.SKIPPED
    assert contact.reason.startswith("dnc:")
    assert left_out.status_code == 400  # all or nothing: already in this campaign
    assert left_out.json()["errors"][0]["reason"] == "already in this campaign"


def test_more_than_a_thousand_contacts_a_request_is_a_400_pointing_to_imports(api, tenant, campaign):
    body = {"contacts": [_row(f"+1415555{i:04d}") for i in range(1001)]}

    response = api.post(_url(campaign), body, format="json")

    assert response.status_code == 400
    assert "At most 1000 contacts" in response.json()["contacts"][0]
    assert "imports" in response.json()["contacts"][0]
    assert not Contact.objects.for_tenant(tenant).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"contacts": []}, "contacts"),
        ({"contacts": "+14155550101"}, "contacts"),
        ({"contacts": [{"name": "No number"}]}, "contacts"),
        ({"contacts": [_row("+14155550101")], "mode": "some"}, "mode"),
        ({"contacts": [_row("+14155550101")], "defaultCountry": "USA"}, "defaultCountry"),
        ({"contacts": [{"number": "9" * 10_000}]}, "contacts"),
    ],
)
def test_malformed_contact_bodies_are_400s_naming_the_field(api, tenant, campaign, body, field):
    response = api.post(_url(campaign), body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Contact.objects.for_tenant(tenant).exists()


def test_a_cancelled_campaign_takes_no_contacts_409(api, tenant, campaign):
    services.campaign_cancel(tenant=tenant, campaign=campaign)

    response = api.post(_url(campaign), {"contacts": [_row("+14155550101")]}, format="json")

    assert response.status_code == 409
    assert "takes no more contacts" in response.json()["detail"]


@pytest.fixture
def five_contacts(tenant, campaign):
    rows = [_row(f"+1415555010{i}", name=f"Person {i}") for i in range(5)]
    services.contacts_add(tenant=tenant, campaign=campaign, rows=rows)
    return list(Contact.objects.for_tenant(tenant).order_by("id"))


def test_the_contacts_list_follows_next_links_in_id_order(api, campaign, five_contacts, monkeypatch):
    monkeypatch.setattr(StrictCursorPagination, "page_size", 2)

    seen, url, pages = [], _url(campaign), 0
    while url:
        page = api.get(url).json()
        assert "count" not in page
        seen += [row["id"] for row in page["results"]]
        url, pages = page["next"], pages + 1

    assert seen == [str(contact.code) for contact in five_contacts]
    assert pages == 3


def test_a_contacts_page_never_counts_the_table(api, campaign, five_contacts):
    with CaptureQueriesContext(connection) as queries:
        api.get(_url(campaign), {"status": "pending"})

    assert not [q["sql"] for q in queries.captured_queries if "COUNT(" in q["sql"].upper()]


def test_a_contact_reads_in_camel_case(api, campaign, five_contacts):
    row = api.get(_url(campaign)).json()["results"][0]
    five_contacts[0].refresh_from_db()  # a new contact is due at once: the database sets next_attempt_at

    assert row.pop("variables")["first_name"] == "Ann"
    assert row == {
        "id": str(five_contacts[0].code),
        "number": "+14155550100",
        "name": "Person 0",
        "timezone": "",
        "status": "pending",
        "attempts": 0,
        "nextAttemptAt": five_contacts[0].next_attempt_at.isoformat(),
        "lastOutcome": "",
        "reason": "",
        "createdAt": five_contacts[0].created_at.isoformat(),
    }


def test_the_contacts_list_filters_by_status_reason_and_search(api, tenant, campaign, five_contacts):
    services.dnc_add(tenant=tenant, number="+14155550199", actor=SYSTEM)
    services.contacts_add(tenant=tenant, campaign=campaign, rows=[_row("+14155550199", name="Blocked")])

    skipped = api.get(_url(campaign), {"status": "skipped"}).json()["results"]
    by_reason = api.get(_url(campaign), {"reason": "dnc"}).json()["results"]
    by_number = api.get(_url(campaign), {"search": "+1415555010"}).json()["results"]
    unencoded_plus = api.get(f"{_url(campaign)}?search=+14155550103").json()["results"]
    by_name = api.get(_url(campaign), {"search": "person 3"}).json()["results"]

    assert [row["name"] for row in skipped] == ["Blocked"]
    assert [row["name"] for row in by_reason] == ["Blocked"]
    assert len(by_number) == 5
    assert [row["name"] for row in unencoded_plus] == ["Person 3"]
    assert [row["name"] for row in by_name] == ["Person 3"]


def _cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor", ["garbage", "%%%", _cursor("p=abc"), _cursor("o=-1&p=1"), _cursor("p=1;DROP"), "x" * 500]
)
def test_a_garbage_cursor_is_a_400_naming_cursor(api, campaign, five_contacts, cursor):
    response = api.get(_url(campaign), {"cursor": cursor})

    assert response.status_code == 400
    assert "cursor" in response.json()


def test_an_unknown_status_filter_is_a_400_naming_status(api, campaign):
    response = api.get(_url(campaign), {"status": "asleep"})

    assert response.status_code == 400
    assert "status" in response.json()


def test_a_nul_in_a_contact_is_a_400(api, tenant, campaign):
    response = api.post(_url(campaign), {"contacts": [_row("+1415555\x000101")]}, format="json")

    assert response.status_code == 400
    assert not Contact.objects.for_tenant(tenant).exists()
