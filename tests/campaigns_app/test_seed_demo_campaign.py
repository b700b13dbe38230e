"""seed_demo's demo campaign: a draft of ten contacts across the US zones, one skipped for the DNC list."""

from __future__ import annotations

from io import StringIO

import phonenumbers
from django.core.management import call_command
from phonenumbers import timezone as number_zones

from campaigns_app.models import Campaign, CampaignStatus, Contact, ContactStatus
from campaigns_app.selectors import consents_granted, dnc_blocked
from voiceplatform.models import Tenant


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_seed_demo_adds_a_draft_campaign_with_ten_contacts_across_us_zones(db):
    output = _seed()

    tenant = Tenant.objects.get(slug="demo")
    campaign = Campaign.objects.for_tenant(tenant).get()
    contacts = list(Contact.objects.for_tenant(tenant).filter(campaign=campaign))
    zones = {number_zones.time_zones_for_number(phonenumbers.parse(c.number))[-1] for c in contacts}
    assert campaign.status == CampaignStatus.DRAFT and campaign.requires_consent
    assert campaign.agent.name == "Sales" and campaign.agent.direction == "outbound"
    assert campaign.caller_id.tenant_id == tenant.pk and campaign.caller_id.is_active
    assert len(contacts) == 10
    assert zones >= {
        "America/New_York",
        "America/Chicago",
        "America/Denver",
        "America/Los_Angeles",
        "America/Anchorage",
        "Pacific/Honolulu",
    }
    assert "Demo campaign: Demo callback requests (draft; 10 contacts" in output


def test_the_demo_dnc_contact_is_skipped_by_the_import_rule_and_the_others_have_consent(db):
    _seed()

    tenant = Tenant.objects.get(slug="demo")
    contacts = Contact.objects.for_tenant(tenant)
    skipped = contacts.get(status=ContactStatus.SKIPPED)
    numbers = list(contacts.values_list("number", flat=True))
    blocked = dnc_blocked(tenant=tenant, numbers=numbers)
    consented = consents_granted(tenant=tenant, numbers=numbers)

    assert set(blocked) == {skipped.number}
    assert skipped.reason.startswith("dnc: on the do-not-call list since")
    assert contacts.filter(status=ContactStatus.PENDING).count() == 9
    assert set(consented) == set(numbers) - {skipped.number}


def test_the_demo_campaign_is_created_once(db):
    _seed()
    tenant = Tenant.objects.get(slug="demo")
    Campaign.objects.for_tenant(tenant).update(name="Renamed by the user")

    output = _seed()

    assert Campaign.objects.for_tenant(tenant).count() == 1
    assert "Demo campaign" not in output


def test_the_demo_can_start_once_its_window_and_dates_allow(db):
    """The demo is a valid campaign: start would take it once its caller ID has the operator's LiveKit
    outbound trunk (the demo cannot invent one), and says so."""
    from django.utils import timezone

    from campaigns_app.services import start_problems

    _seed()
    tenant = Tenant.objects.get(slug="demo")
    campaign = Campaign.objects.for_tenant(tenant).get()

    (problem,) = start_problems(tenant=tenant, campaign=campaign, now=timezone.now())
    assert "no outbound trunk" in problem
    campaign.caller_id.outbound_trunk_id = "ST_operatorsTrunk"
    campaign.caller_id.save()
    assert start_problems(tenant=tenant, campaign=campaign, now=timezone.now()) == []
