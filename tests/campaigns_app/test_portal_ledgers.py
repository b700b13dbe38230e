"""The do-not-call and consent pages: search a number's history, add/remove, grant/revoke, bulk
upload, the ledger newest first by cursor; viewers read only; nothing edits or deletes a row."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns_app.models import Consent, ConsentAction, DncAction, DncEntry
from campaigns_app.services import consent_grant, dnc_add, dnc_add_many
from voiceplatform.actor import SYSTEM

NUMBER = "+14155550123"


def _dnc(client, **params):
    return client.get(reverse("dnc-entry-list"), params)


def _consents(client, **params):
    return client.get(reverse("consents-consent-list"), params)


# Do not call ----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "teammate", "viewer"])
def test_the_ledger_pages_render_for_each_role(role, request, tenant, client_for):
    dnc_add(tenant=tenant, number=NUMBER, reason="asked", actor=SYSTEM)
    consent_grant(tenant=tenant, number=NUMBER, evidence="form #12", actor=SYSTEM)
    client = client_for(request.getfixturevalue(role))

    for response in (_dnc(client), _dnc(client, number=NUMBER), _consents(client), _consents(client, number=NUMBER)):
        assert response.status_code == 200
        assert NUMBER in response.text
    can_write = role != "viewer"
    assert (reverse("dnc-entry-add") in _dnc(client).text) is can_write
    assert (reverse("dnc-entry-remove") in _dnc(client, number=NUMBER).text) is can_write
    assert (reverse("consents-consent-revoke") in _consents(client, number=NUMBER).text) is can_write


def test_an_editor_adds_a_national_number_and_its_history_shows_it_blocked(tenant, teammate, client_for):
    client = client_for(teammate)

    response = client.post(
        reverse("dnc-entry-add"), {"number": "(415) 555-0123", "country": "US", "reason": "asked on the phone"}
    )
    page = client.get(response["Location"]).text

    assert response.status_code == 302
    entry = DncEntry.objects.for_tenant(tenant).get()
    assert (entry.number, entry.action, entry.source, entry.actor) == (NUMBER, "add", "manual", "editor@acme.test")
    assert "Blocked" in page and "asked on the phone" in page
    assert f"{NUMBER} is on the do-not-call list" in page


def test_adding_a_number_already_listed_writes_nothing(tenant, owner, client_for):
    dnc_add(tenant=tenant, number=NUMBER, actor=SYSTEM)

    response = client_for(owner).post(reverse("dnc-entry-add"), {"number": NUMBER}, follow=True)

    assert "already on the do-not-call list" in response.text
    assert DncEntry.objects.for_tenant(tenant).count() == 1


@pytest.mark.parametrize(
    ("number", "country", "says"),
    [
        ("not a number", "", "needs a default country"),
        ("+44 not a number", "", "not a phone number"),
        ("4155550123", "", "needs a default country"),
        ("+1 555", "", "not a valid phone number"),
        ("9" * 39, "US", ""),
        ("+14155550123", "ZZ", "Select a valid choice"),
    ],
)
def test_a_bad_number_is_a_form_error(number, country, says, tenant, owner, client_for):
    client = client_for(owner)

    added = client.post(reverse("dnc-entry-add"), {"number": number, "country": country})
    searched = _dnc(client, number=number, country=country)

    assert added.status_code == 400
    assert says in " ".join(
        added.context["add_form"].errors.get("number", []) + added.context["add_form"].errors.get("country", [])
    )
    assert searched.status_code == 200
    assert searched.context["search"].errors
    assert not DncEntry.objects.for_tenant(tenant).exists()


def test_a_nul_byte_or_an_overlong_number_is_refused(tenant, owner, client_for):
    client = client_for(owner)

    assert client.post(reverse("dnc-entry-add"), {"number": "+1415\x00"}).status_code == 400
    assert client.post(reverse("dnc-entry-add"), {"number": "+1" * 5000}).status_code == 400
    assert _dnc(client, number="+1" * 5000).status_code == 200
    assert not DncEntry.objects.for_tenant(tenant).exists()


def test_removing_needs_a_reason_and_writes_a_removal_row(tenant, owner, client_for):
    dnc_add(tenant=tenant, number=NUMBER, reason="asked", actor=SYSTEM)
    client = client_for(owner)

    refused = client.post(reverse("dnc-entry-remove"), {"number": NUMBER, "reason": ""})
    removed = client.post(reverse("dnc-entry-remove"), {"number": NUMBER, "reason": "asked to be called again"})
    page = client.get(removed["Location"]).text

    assert refused.status_code == 400
    assert refused.context["remove_form"].errors["reason"]
    assert removed.status_code == 302
    rows = list(DncEntry.objects.for_tenant(tenant).order_by("created_at", "id").values_list("action", "reason"))
    assert rows == [(DncAction.ADD, "asked"), (DncAction.REMOVE, "asked to be called again")]
    assert "Not blocked" in page and "Taken off the list." in page
    assert "asked to be called again" in page and "asked" in page


def test_removing_a_number_not_on_the_list_is_a_form_error(tenant, owner, client_for):
    response = client_for(owner).post(reverse("dnc-entry-remove"), {"number": NUMBER, "reason": "why not"})

    assert response.status_code == 400
    assert "is not on the do-not-call list" in " ".join(response.context["remove_form"].errors["number"])


def test_a_bulk_upload_adds_numbers_and_lists_refused_lines(tenant, owner, client_for):
    dnc_add(tenant=tenant, number="+12125550100", actor=SYSTEM)
    upload = SimpleUploadedFile(
        "dnc.csv", b"phone\n(212) 555-0100\n+13125550101\nnonsense\n312 555 0102\n", content_type="text/csv"
    )

    response = client_for(owner).post(
        reverse("dnc-entry-upload"), {"file": upload, "default_country": "US", "reason": "old list"}
    )

    assert response.status_code == 200
    result = response.context["upload_result"]
    assert (result.added, result.already_listed, result.errors_total) == (2, 1, 1)
    assert "2 numbers added to the list; 1 already on it; 1 line refused." in response.text
    assert "nonsense" in response.text
    assert set(DncEntry.objects.for_tenant(tenant).values_list("number", flat=True)) == {
        "+12125550100",
        "+13125550101",
        "+13125550102",
    }


def test_a_bad_bulk_upload_is_a_form_error(tenant, owner, client_for):
    client = client_for(owner)
    empty = SimpleUploadedFile("dnc.csv", b"", content_type="text/csv")
    wide = SimpleUploadedFile("dnc.csv", b"a,b\n1,2\n", content_type="text/csv")

    assert client.post(reverse("dnc-entry-upload"), {}).status_code == 400
    assert client.post(reverse("dnc-entry-upload"), {"file": empty}).status_code == 400
    response = client.post(reverse("dnc-entry-upload"), {"file": wide})

    assert response.status_code == 400
    assert response.context["upload_form"].errors["file"]
    assert not DncEntry.objects.for_tenant(tenant).exists()


def test_the_dnc_ledger_pages_newest_first_by_cursor(tenant, other_tenant, owner, client_for):
    dnc_add_many(tenant=tenant, numbers=[f"+1415555{index:04d}" for index in range(1000, 1060)], actor=SYSTEM)
    dnc_add(tenant=other_tenant, number="+19175550100", actor=SYSTEM)
    client = client_for(owner)
    expected = list(DncEntry.objects.for_tenant(tenant).order_by("-created_at", "-id").values_list("number", flat=True))

    first = _dnc(client)
    second = _dnc(client, cursor=first.context["page"].next_cursor)
    back = _dnc(client, cursor=second.context["page"].previous_cursor)
    garbage = _dnc(client, cursor="!!not-a-cursor!!")

    def shown(response):
        return [row.number for row in response.context["page"].rows]

    assert shown(first) == expected[:50]
    assert shown(second) == expected[50:]
    assert second.context["page"].next_cursor is None
    assert shown(back) == expected[:50]
    assert garbage.status_code == 200 and shown(garbage) == expected[:50]
    assert "+19175550100" not in first.text + second.text


def test_a_viewer_cannot_write_either_ledger(tenant, viewer, client_for):
    dnc_add(tenant=tenant, number=NUMBER, actor=SYSTEM)
    consent_grant(tenant=tenant, number=NUMBER, evidence="form", actor=SYSTEM)
    client = client_for(viewer)
    upload = SimpleUploadedFile("dnc.csv", b"+13125550101\n", content_type="text/csv")

    for url, data in (
        (reverse("dnc-entry-add"), {"number": "+13125550101"}),
        (reverse("dnc-entry-remove"), {"number": NUMBER, "reason": "x"}),
        (reverse("dnc-entry-upload"), {"file": upload}),
        (reverse("consents-consent-grant"), {"number": "+13125550101", "evidence": "x", "kind": "prior_express"}),
        (reverse("consents-consent-revoke"), {"number": NUMBER}),
    ):
        assert client.post(url, data).status_code == 403, url
    assert DncEntry.objects.for_tenant(tenant).count() == 1
    assert Consent.objects.for_tenant(tenant).count() == 1


def test_no_ledger_url_edits_or_deletes_a_row(tenant, owner, client_for):
    dnc_add(tenant=tenant, number=NUMBER, actor=SYSTEM)
    client = client_for(owner)

    for url in (reverse("dnc-entry-list"), reverse("consents-consent-list")):
        assert client.delete(url).status_code == 405
        assert client.put(url).status_code == 405
    assert DncEntry.objects.for_tenant(tenant).count() == 1


def test_another_tenants_ledger_is_not_shown(tenant, other_tenant, owner, client_for):
    dnc_add(tenant=other_tenant, number=NUMBER, reason="their reason", actor=SYSTEM)
    consent_grant(tenant=other_tenant, number=NUMBER, evidence="their evidence", actor=SYSTEM)
    client = client_for(owner)

    dnc_page = _dnc(client, number=NUMBER).text
    consent_page = _consents(client, number=NUMBER).text

    assert "Never on the list." in dnc_page and "their reason" not in dnc_page
    assert "Never recorded." in consent_page and "their evidence" not in consent_page


# Consents -------------------------------------------------------------------------------------


def test_an_editor_grants_then_revokes_consent(tenant, teammate, client_for):
    client = client_for(teammate)

    granted = client.post(
        reverse("consents-consent-grant"),
        {
            "number": "415 555 0123",
            "country": "US",
            "kind": "prior_express_written",
            "source": "web_form",
            "evidence": "https://example.test/forms/12",
            "granted_at": "2026-11-20T14:30",
        },
    )
    consented = client.get(granted["Location"]).text
    revoked = client.post(reverse("consents-consent-revoke"), {"number": NUMBER, "evidence": "said stop"})
    after = client.get(revoked["Location"]).text

    assert granted.status_code == 302 and revoked.status_code == 302
    grant, revoke = Consent.objects.for_tenant(tenant).order_by("created_at", "id")
    assert (grant.number, grant.action, grant.source, grant.kind) == (
        NUMBER,
        ConsentAction.GRANT,
        "web_form",
        "prior_express_written",
    )
    assert grant.granted_at.isoformat().startswith("2026-11-20T")
    assert revoke.action == ConsentAction.REVOKE and revoke.evidence == "said stop"
    assert "Consented" in consented and "2026-11-20 14:30" in consented
    assert "No consent" in after and "Revoked." in after


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"evidence": ""}, "evidence", "required"),
        ({"granted_at": "yesterday"}, "granted_at", "valid date/time"),
        ({"granted_at": "2999-01-01T10:00"}, "granted_at", "in the future"),
        ({"granted_at": "99999-01-01T10:00"}, "granted_at", ""),
        ({"kind": "verbal maybe"}, "kind", "Select a valid choice"),
        ({"number": "12"}, "number", "needs a default country"),
        ({"number": "+1 12"}, "number", "not a valid phone number"),
    ],
)
def test_a_bad_grant_is_a_form_error(fields, field, says, tenant, owner, client_for):
    data = {"number": NUMBER, "kind": "prior_express_written", "source": "manual", "evidence": "paper form", **fields}

    response = client_for(owner).post(reverse("consents-consent-grant"), data)

    assert response.status_code == 400
    errors = response.context["grant_form"].errors
    assert field in errors, dict(errors)
    assert says in " ".join(errors[field])
    assert not Consent.objects.for_tenant(tenant).exists()


def test_revoking_without_consent_is_a_form_error(tenant, owner, client_for):
    response = client_for(owner).post(reverse("consents-consent-revoke"), {"number": NUMBER})

    assert response.status_code == 400
    assert "has no consent to revoke" in " ".join(response.context["revoke_form"].errors["number"])
