"""Hostile input on every campaigns portal page (garbage, huge and NUL-laden query strings and form
fields) answers a page or a 4xx, never a 500, and writes no campaign, contact or ledger row."""

from __future__ import annotations

import pytest
from django.urls import reverse

from campaigns_app.models import Campaign, Consent, Contact, ContactImport, DncEntry
from campaigns_app.services import contacts_add

HOSTILE_VALUES = [
    "\x00",
    "+1\x00415",
    "9" * 10_000,
    "1e309",
    "NaN",
    "\u202e\u00dcn\u00efc\u00f6d\u00e9 \u260e",
    "<script>alert(1)</script>",
    "2026-02-30",
    "99999-12-31T25:61",
]
FIELDS = (
    "number",
    "country",
    "reason",
    "evidence",
    "kind",
    "source",
    "granted_at",
    "name",
    "agent",
    "caller_id",
    "start_date",
    "end_date",
    "max_calls_per_second",
    "max_concurrent_calls",
    "max_attempts",
    "retry_backoff_minutes",
    "dialer_mode",
    "voicemail_action",
    "calling_window_monday_0_start",
    "calling_window_monday_closed",
    "mode",
    "encoding",
    "default_country",
    "number_column",
    "status",
    "q",
    "cursor",
    "page",
)


def _counts(tenant) -> tuple[int, ...]:
    return tuple(
        model.objects.for_tenant(tenant).count() for model in (Campaign, Contact, ContactImport, DncEntry, Consent)
    )


@pytest.fixture
def urls(tenant, campaign) -> dict[str, list[str]]:
    contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": "+12125550100", "name": "Ada"}])
    code = {"code": campaign.code}
    return {
        "get": [
            reverse("campaigns-campaign-list"),
            reverse("campaigns-campaign-create"),
            reverse("campaigns-campaign-detail", kwargs=code),
            reverse("campaigns-campaign-edit", kwargs=code),
            reverse("campaigns-contact-list", kwargs=code),
            reverse("campaigns-import-create", kwargs=code),
            reverse("dnc-entry-list"),
            reverse("consents-consent-list"),
        ],
        "post": [
            reverse("campaigns-campaign-create"),
            reverse("campaigns-campaign-edit", kwargs=code),
            reverse("campaigns-import-create", kwargs=code),
            reverse("dnc-entry-add"),
            reverse("dnc-entry-remove"),
            reverse("dnc-entry-upload"),
            reverse("consents-consent-grant"),
            reverse("consents-consent-revoke"),
        ],
    }


@pytest.mark.parametrize("value", HOSTILE_VALUES, ids=range(len(HOSTILE_VALUES)))
def test_hostile_input_is_never_a_500_and_writes_nothing(value, tenant, campaign, urls, owner, client_for):
    client = client_for(owner)
    data = dict.fromkeys(FIELDS, value)
    before = _counts(tenant)

    for url in urls["get"]:
        response = client.get(url, data)
        assert response.status_code < 500, url
    for url in urls["post"]:
        response = client.post(url, data)
        assert response.status_code in (400, 409), (url, response.status_code)

    assert _counts(tenant) == before
