"""contacts_add (the API's JSON contacts): the importer's row rule, duplicates, the DNC list, and
all-or-nothing writing nothing when a row is refused."""

from __future__ import annotations

import pytest

from campaigns_app import services
from campaigns_app.models import Contact, ContactStatus, DncHandling
from campaigns_app.services import CampaignStateConflict
from voiceplatform.actor import SYSTEM


def _add(tenant, campaign, rows, **options) -> services.ContactsAdded:
    return services.contacts_add(tenant=tenant, campaign=campaign, rows=rows, **options)


def _numbers(campaign) -> list[str]:
    return list(Contact.objects.for_tenant(campaign.tenant).filter(campaign=campaign).values_list("number", flat=True))


def test_valid_rows_are_added_normalised_with_their_variables(tenant, campaign):
    added = _add(
        tenant,
        campaign,
        [
            {"number": "+1 (212) 555-0143", "name": "Olivia Bennett"},
            {
                "number": "+13125550123",
                "variables": {"first_name": "Ava", "Plan": "Gold"},
                "timezone": "America/Chicago",
            },
        ],
    )

    assert [c.number for c in added.created] == ["+12125550143", "+13125550123"]
    olivia, ava = Contact.objects.for_tenant(tenant).order_by("id")
    assert olivia.variables["first_name"] == "Olivia" and olivia.status == ContactStatus.PENDING
    assert ava.variables == {"first_name": "Ava", "plan": "Gold"} and ava.timezone == "America/Chicago"


def test_a_national_number_needs_a_country(tenant, campaign):
    refused = _add(tenant, campaign, [{"number": "(212) 555-0143", "name": "Olivia"}])
    accepted = _add(tenant, campaign, [{"number": "(212) 555-0143", "name": "Olivia"}], default_country="US")

    assert refused.errors == [
        {
            "index": 0,
            "field": "number",
            "value": "(212) 555-0143",
            "reason": "a national number needs a default country (choose one) or a +country code",
        }
    ]
    assert [c.number for c in accepted.created] == ["+12125550143"]


def test_duplicates_in_the_request_and_against_the_campaign_are_refused(tenant, campaign):
    _add(tenant, campaign, [{"number": "+12125550143", "name": "Olivia"}])

    result = _add(
        tenant,
        campaign,
        [
            {"number": "+13125550123", "name": "Ava"},
            {"number": "+1 312 555 0123", "name": "Ava again"},
            {"number": "+12125550143", "name": "Olivia again"},
        ],
        all_or_nothing=False,
    )

    assert [(e["index"], e["reason"]) for e in result.errors] == [
        (1, "duplicate of row 0"),
        (2, "already in this campaign"),
    ]
    assert sorted(_numbers(campaign)) == ["+12125550143", "+13125550123"]


def test_a_number_on_the_dnc_list_is_skipped_with_the_reason(tenant, campaign):
    services.dnc_add(tenant=tenant, number="+12125550143", actor=SYSTEM)

    result = _add(tenant, campaign, [{"number": "+12125550143", "name": "Olivia"}])

    contact = Contact.objects.for_tenant(tenant).get()
    assert result.skipped_dnc == 1
    assert contact.status == ContactStatus.SKIPPED
    assert contact.reason.startswith("dnc: on the do-not-call list since ")
    assert contact.reason.endswith("(added in the portal)")


def test_a_number_on_the_dnc_list_can_be_left_out(tenant, campaign):
    services.dnc_add(tenant=tenant, number="+12125550143", actor=SYSTEM)

    result = _add(
        tenant,
        campaign,
        [{"number": "+12125550143", "name": "Olivia"}, {"number": "+13125550123", "name": "Ava"}],
        dnc_handling=DncHandling.EXCLUDE,
    )

    assert result.skipped_dnc == 1 and _numbers(campaign) == ["+13125550123"]


def test_a_number_removed_from_the_dnc_list_is_added_as_pending(tenant, campaign):
    services.dnc_add(tenant=tenant, number="+12125550143", actor=SYSTEM)
    services.dnc_remove(tenant=tenant, number="+12125550143", reason="asked for calls", actor=SYSTEM)

    _add(tenant, campaign, [{"number": "+12125550143", "name": "Olivia"}])

    assert Contact.objects.for_tenant(tenant).get().status == ContactStatus.PENDING


def test_another_tenants_dnc_list_does_not_skip(tenant, other_tenant, campaign):
    services.dnc_add(tenant=other_tenant, number="+12125550143", actor=SYSTEM)

    _add(tenant, campaign, [{"number": "+12125550143", "name": "Olivia"}])

    assert Contact.objects.for_tenant(tenant).get().status == ContactStatus.PENDING


def test_a_missing_required_variable_names_it(tenant, campaign):
    # The campaign's agent says "Remind {{first_name}} of the appointment."
    result = _add(tenant, campaign, [{"number": "+12125550143"}])

    assert result.errors == [
        {
            "index": 0,
            "field": "first_name",
            "value": "",
            "reason": "the agent's prompt uses {{first_name}}; this row has no first_name",
        }
    ]


def test_all_or_nothing_writes_nothing_when_a_row_is_refused(tenant, campaign):
    services.dnc_add(tenant=tenant, number="+13125550123", actor=SYSTEM)

    result = _add(
        tenant,
        campaign,
        [
            {"number": "+12125550143", "name": "Olivia"},
            {"number": "+13125550123", "name": "Ava"},
            {"number": "not a number", "name": "Bad"},
        ],
    )

    assert result.created == [] and result.skipped_dnc == 0
    assert [e["index"] for e in result.errors] == [2]
    assert _numbers(campaign) == []


def test_valid_rows_mode_writes_the_good_rows_and_reports_the_others(tenant, campaign):
    result = _add(
        tenant,
        campaign,
        [{"number": "+12125550143", "name": "Olivia"}, {"number": "+1 555", "name": "Bad"}],
        all_or_nothing=False,
    )

    assert _numbers(campaign) == ["+12125550143"]
    assert result.errors[0]["index"] == 1 and result.errors[0]["field"] == "number"


def test_a_finished_campaign_takes_no_contacts(tenant, campaign):
    services.campaign_cancel(tenant=tenant, campaign=campaign)

    with pytest.raises(CampaignStateConflict, match=r"A cancelled campaign takes no more contacts\."):
        _add(tenant, campaign, [{"number": "+12125550143", "name": "Olivia"}])
