"""/api/v1/dnc and /api/v1/consents: append-only ledgers through the API. Writes add rows, reads name
the deciding row, and no row can be changed or deleted (405)."""

from __future__ import annotations

import datetime

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from campaigns_app import services
from campaigns_app.models import Consent, DncEntry
from voiceplatform.actor import SYSTEM
from voiceplatform.pagination import StrictCursorPagination

NUMBER = "+14155550123"
ENCODED = "%2B14155550123"


def test_adding_a_number_writes_an_api_entry_and_adding_it_again_answers_the_deciding_one(api, tenant):
    first = api.post("/api/v1/dnc", {"number": "+1 (415) 555-0123", "reason": "Asked by email"}, format="json")
    again = api.post("/api/v1/dnc", {"number": NUMBER}, format="json")

    assert first.status_code == 201
    assert first.json()["number"] == NUMBER
    assert first.json()["source"] == "api"
    assert first.json()["actor"].startswith("API key tests")
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert DncEntry.objects.for_tenant(tenant).count() == 1


def test_a_number_s_status_names_the_deciding_entry_and_its_history(api, tenant, other_tenant):
    entry = services.dnc_add(tenant=tenant, number=NUMBER, reason="opted out", actor=SYSTEM).entry
    services.dnc_add(tenant=other_tenant, number="+14155550124", actor=SYSTEM)

    listed = api.get(f"/api/v1/dnc/{ENCODED}").json()
    elsewhere = api.get("/api/v1/dnc/+14155550124").json()

    assert listed["blocked"] is True
    assert listed["decidingEntry"]["id"] == str(entry.code)
    assert [row["action"] for row in listed["history"]] == ["add"]
    assert elsewhere == {"number": "+14155550124", "blocked": False, "decidingEntry": None, "history": []}


def test_removing_writes_a_removal_event_and_keeps_the_history(api, tenant):
    services.dnc_add(tenant=tenant, number=NUMBER, actor=SYSTEM)

    removed = api.post(f"/api/v1/dnc/{ENCODED}/remove", {"reason": "Asked to be called"}, format="json")
    status = api.get(f"/api/v1/dnc/{ENCODED}").json()
    again = api.post(f"/api/v1/dnc/{ENCODED}/remove", {"reason": "twice"}, format="json")

    assert removed.status_code == 201
    assert removed.json()["action"] == "remove"
    assert status["blocked"] is False
    assert status["decidingEntry"] is None
    assert [row["action"] for row in status["history"]] == ["remove", "add"]
    assert again.status_code == 400
    assert "not on the do-not-call list" in again.json()["number"][0]


def test_a_removal_needs_a_reason(api, tenant):
    services.dnc_add(tenant=tenant, number=NUMBER, actor=SYSTEM)

    response = api.post(f"/api/v1/dnc/{ENCODED}/remove", {}, format="json")

    assert response.status_code == 400
    assert "reason" in response.json()
    assert DncEntry.objects.for_tenant(tenant).count() == 1


@pytest.mark.parametrize("ledger", ["dnc", "consents"])
@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_ledger_rows_cannot_be_changed_or_deleted_through_the_api(api, tenant, ledger, method):
    services.dnc_add(tenant=tenant, number=NUMBER, actor=SYSTEM)
    services.consent_grant(tenant=tenant, number=NUMBER, evidence="form 1", actor=SYSTEM)

    response = getattr(api, method)(f"/api/v1/{ledger}/{ENCODED}", {"reason": "edited"}, format="json")

    assert response.status_code == 405
    assert DncEntry.objects.for_tenant(tenant).get().reason == ""
    assert Consent.objects.for_tenant(tenant).count() == 1


@pytest.mark.parametrize("number", ["not-a-number", "12", "+1" + "9" * 40])
def test_a_bad_number_in_the_path_is_a_400_naming_it(api, number):
    for url in (f"/api/v1/dnc/{number}", f"/api/v1/consents/{number}"):
        response = api.get(url)

        assert response.status_code == 400, url
        assert "number" in response.json()


@pytest.mark.parametrize("body", [{"number": "hello"}, {"number": ""}, {}, {"number": NUMBER, "reason": "x" * 501}])
def test_a_bad_dnc_body_is_a_400_naming_the_field(api, tenant, body):
    response = api.post("/api/v1/dnc", body, format="json")

    assert response.status_code == 400
    assert set(response.json()) & {"number", "reason"}
    assert not DncEntry.objects.for_tenant(tenant).exists()


def test_the_ledger_lists_newest_first_by_cursor_and_only_the_tenants_rows(api, tenant, other_tenant, monkeypatch):
    monkeypatch.setattr(StrictCursorPagination, "page_size", 2)
    for i in range(3):
        services.dnc_add(tenant=tenant, number=f"+1415555010{i}", actor=SYSTEM)
    services.dnc_add(tenant=other_tenant, number="+14155550109", actor=SYSTEM)

    first = api.get("/api/v1/dnc").json()
    second = api.get(first["next"]).json()
    filtered = api.get("/api/v1/dnc", {"number": "+14155550101"}).json()

    assert [row["number"] for row in first["results"] + second["results"]] == [
        "+14155550102",
        "+14155550101",
        "+14155550100",
    ]
    assert second["next"] is None
    assert [row["number"] for row in filtered["results"]] == ["+14155550101"]
    unencoded_plus = api.get("/api/v1/dnc?number=+14155550101").json()
    assert [row["number"] for row in unencoded_plus["results"]] == ["+14155550101"]
    assert api.get("/api/v1/dnc", {"cursor": "nope"}).status_code == 400
    assert api.get("/api/v1/dnc", {"number": "abc"}).status_code == 400


def test_a_csv_upload_adds_its_numbers_and_reports_bad_lines(api, tenant):
    services.dnc_add(tenant=tenant, number=NUMBER, actor=SYSTEM)
    csv = b"number,reason\n+14155550123,x\n(212) 555-0100,y\nnot a number,z\n"
    upload = SimpleUploadedFile("dnc.csv", csv, content_type="text/csv")

    response = api.post("/api/v1/dnc/upload", {"file": upload, "defaultCountry": "US"}, format="multipart")

    assert response.status_code == 200, response.json()
    data = response.json()
    assert (data["added"], data["alreadyListed"], data["errorsTotal"]) == (1, 1, 1)
    assert data["errors"][0]["line"] == 4
    assert DncEntry.objects.for_tenant(tenant).filter(number="+12125550100").exists()


def test_a_dnc_upload_without_a_file_is_a_400_naming_file(api):
    response = api.post("/api/v1/dnc/upload", {"defaultCountry": "US"}, format="multipart")

    assert response.status_code == 400
    assert "file" in response.json()


# --- Consents -------------------------------------------------------------------------------------


def test_granting_consent_writes_a_row_and_the_status_names_it(api, tenant):
    body = {
        "number": NUMBER,
        "kind": "prior_express_written",
        "source": "web_form",
        "evidence": "https://crm.example.com/forms/8812",
        "grantedAt": "2026-11-01T15:04:00Z",
    }

    granted = api.post("/api/v1/consents", body, format="json")
    status = api.get(f"/api/v1/consents/{ENCODED}").json()

    assert granted.status_code == 201, granted.json()
    assert granted.json()["grantedAt"] == "2026-11-01T15:04:00+00:00"
    assert granted.json()["source"] == "web_form"
    assert status["consented"] is True
    assert status["decidingConsent"]["id"] == granted.json()["id"]
    assert Consent.objects.for_tenant(tenant).count() == 1


def test_revoking_writes_a_revocation_and_the_number_is_no_longer_consented(api, tenant):
    services.consent_grant(tenant=tenant, number=NUMBER, evidence="form 1", actor=SYSTEM)

    revoked = api.post(f"/api/v1/consents/{ENCODED}/revoke", {"evidence": "said stop"}, format="json")
    status = api.get(f"/api/v1/consents/{ENCODED}").json()
    again = api.post(f"/api/v1/consents/{ENCODED}/revoke", {}, format="json")

    assert revoked.status_code == 201
    assert revoked.json()["action"] == "revoke"
    assert revoked.json()["source"] == "api"
    assert status["consented"] is False
    assert status["decidingConsent"] is None
    assert [row["action"] for row in status["history"]] == ["revoke", "grant"]
    assert again.status_code == 400
    assert "no consent to revoke" in again.json()["number"][0]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"number": NUMBER}, "evidence"),
        ({"number": NUMBER, "evidence": "   "}, "evidence"),
        ({"number": NUMBER, "evidence": "form", "kind": "vibes"}, "kind"),
        ({"number": "hello", "evidence": "form"}, "number"),
        ({"number": NUMBER, "evidence": "form", "grantedAt": "yesterday"}, "grantedAt"),
    ],
)
def test_a_bad_consent_is_a_400_naming_the_field(api, tenant, body, field):
    response = api.post("/api/v1/consents", body, format="json")

    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not Consent.objects.for_tenant(tenant).exists()


def test_consent_in_the_future_is_refused_naming_granted_at(api, tenant):
    later = (timezone.now() + datetime.timedelta(days=2)).isoformat()

    response = api.post("/api/v1/consents", {"number": NUMBER, "evidence": "x", "grantedAt": later}, format="json")

    assert response.status_code == 400
    assert "future" in response.json()["grantedAt"][0]


def test_the_consent_ledger_lists_only_the_tenants_rows(api, tenant, other_tenant):
    services.consent_grant(tenant=tenant, number=NUMBER, evidence="mine", actor=SYSTEM)
    services.consent_grant(tenant=other_tenant, number=NUMBER, evidence="theirs", actor=SYSTEM)

    rows = api.get("/api/v1/consents").json()["results"]

    assert [row["evidence"] for row in rows] == ["mine"]
