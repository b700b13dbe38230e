"""Campaign admin: scoped to the staff member's tenants, saves and status changes through the
services, a started campaign never deleted, and the DNC and consent ledgers read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from campaigns_app.models import Campaign, CampaignStatus, Contact, ContactStatus
from campaigns_app.services import consent_grant, contacts_add, dnc_add
from tests.factories import MembershipFactory, UserFactory
from voiceplatform.actor import SYSTEM
from voiceplatform.models import Role


@pytest.fixture
def staff_client(tenant):
    """A staff member of tenant A with every permission of campaigns_app (and of the apps it refers to)."""
    user = UserFactory(username="staff@acme.test", is_staff=True)
    MembershipFactory(tenant=tenant, user=user, role=Role.ADMIN)
    user.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label__in=["campaigns_app", "agents_app", "telephony_app", "voiceplatform"]
        )
    )
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def ledgers(tenant, other_tenant):
    """One DNC entry and one consent per tenant: (mine, theirs) each."""
    dnc = (
        dnc_add(tenant=tenant, number="+12125550101", actor=SYSTEM).entry,
        dnc_add(tenant=other_tenant, number="+12125550199", actor=SYSTEM).entry,
    )
    consent = (
        consent_grant(tenant=tenant, number="+12125550102", evidence="web form 42", actor=SYSTEM),
        consent_grant(tenant=other_tenant, number="+12125550198", evidence="web form 43", actor=SYSTEM),
    )
    return {"dncentry": dnc, "consent": consent}


def _form_data(client: Client, campaign: Campaign) -> dict:
    form = client.get(f"/admin/campaigns_app/campaign/{campaign.pk}/change/").context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "tenant"}
    for name in ("agent", "caller_id"):
        data[name] = str(data[name])
    data["calling_window"] = form["calling_window"].value()
    return data


def _started(tenant, campaign: Campaign) -> Campaign:
    from campaigns_app.services import campaign_start

    contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": "+12125550111", "variables": {"first_name": "A"}}])
    return campaign_start(tenant=tenant, campaign=campaign)


# Scope ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", ["campaign", "contact", "dncentry", "consent"])
def test_staff_see_only_their_tenants_rows(model, tenant, campaign, other_campaign, ledgers, staff_client):
    contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": "+12125550121", "variables": {"first_name": "A"}}])
    contacts_add(
        tenant=other_campaign.tenant,
        campaign=other_campaign,
        rows=[{"number": "+12125550122", "variables": {"first_name": "B"}}],
    )
    mine_text, theirs_text, theirs_pk = {
        "campaign": (campaign.name, other_campaign.name, other_campaign.pk),
        "contact": ("+12125550121", "+12125550122", other_campaign.contacts.get().pk),
        "dncentry": ("+12125550101", "+12125550199", ledgers["dncentry"][1].pk),
        "consent": ("+12125550102", "+12125550198", ledgers["consent"][1].pk),
    }[model]

    listing = staff_client.get(f"/admin/campaigns_app/{model}/")
    other = staff_client.get(f"/admin/campaigns_app/{model}/{theirs_pk}/change/")

    assert listing.status_code == 200
    assert mine_text in listing.text and theirs_text not in listing.text
    assert other.status_code in (302, 404)


def test_the_ledger_changelists_filter_by_action_and_source_and_search_by_number(ledgers, staff_client):
    dnc = staff_client.get("/admin/campaigns_app/dncentry/", {"action": "add", "source": "manual", "q": "+1212555"})
    consent = staff_client.get("/admin/campaigns_app/consent/", {"action": "grant", "q": "0102"})

    assert dnc.status_code == 200 and "+12125550101" in dnc.text
    assert consent.status_code == 200 and "+12125550102" in consent.text


# The ledgers are read-only -------------------------------------------------------------------


@pytest.mark.parametrize("model", ["dncentry", "consent"])
def test_a_ledger_row_cannot_be_changed_deleted_or_added_in_the_admin(model, ledgers, staff_client):
    row = ledgers[model][0]
    Model = type(row)
    base = f"/admin/campaigns_app/{model}/"

    page = staff_client.get(f"{base}{row.pk}/change/")
    change = staff_client.post(f"{base}{row.pk}/change/", {"number": "+19995550000", "reason": "edited"})
    delete_page = staff_client.get(f"{base}{row.pk}/delete/")
    delete = staff_client.post(f"{base}{row.pk}/delete/", {"post": "yes"})
    bulk = staff_client.post(base, {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"})
    add = staff_client.get(f"{base}add/")

    assert page.status_code == 200  # viewable...
    assert "deletelink" not in page.text and 'name="_save"' not in page.text  # ...with no save or delete button
    assert change.status_code == 403
    assert delete_page.status_code == 403 and delete.status_code == 403
    assert add.status_code == 403
    assert bulk.status_code in (200, 302)  # the action is not offered: nothing happens
    assert "delete_selected" not in staff_client.get(base).text
    stored = Model.objects.get(pk=row.pk)
    assert stored.number == row.number and Model.objects.count() == 2


def test_contacts_and_imports_are_read_only_in_the_admin(tenant, campaign, staff_client):
    contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": "+12125550131", "variables": {"first_name": "A"}}])
    contact = campaign.contacts.get()

    change = staff_client.post(f"/admin/campaigns_app/contact/{contact.pk}/change/", {"status": "completed"})
    delete = staff_client.post(f"/admin/campaigns_app/contact/{contact.pk}/delete/", {"post": "yes"})
    listing = staff_client.get("/admin/campaigns_app/contact/", {"status": "pending", "q": "+12125550131"})

    assert change.status_code == 403 and delete.status_code == 403
    contact.refresh_from_db()
    assert contact.status == ContactStatus.PENDING
    assert listing.status_code == 200 and "+12125550131" in listing.text
    assert staff_client.get("/admin/campaigns_app/contactimport/").status_code == 200
    assert staff_client.get("/admin/campaigns_app/callattempt/").status_code == 200


# Campaigns through the services ----------------------------------------------------------------


def test_campaign_admin_shows_the_services_rules_as_form_errors(tenant, campaign, staff_client):
    data = _form_data(staff_client, campaign)
    data.update({"max_calls_per_second": "0", "voicemail_action": "leave_message", "voicemail_message": ""})

    bad = staff_client.post(f"/admin/campaigns_app/campaign/{campaign.pk}/change/", data)

    assert bad.status_code == 200
    errors = bad.context["adminform"].form.errors
    assert "The pace must be more than 0 calls per second (e.g. 1)." in errors["max_calls_per_second"]
    assert "Write the message to leave on voicemail." in errors["voicemail_message"]
    campaign.refresh_from_db()
    assert campaign.max_calls_per_second == 1


def test_campaign_admin_refuses_an_inbound_only_agent_and_an_inactive_caller_id(
    tenant, campaign, staff_client, make_caller_id
):
    from agents_app.services import agent_create

    inbound = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Front desk", "direction": "inbound"})
    off = make_caller_id(tenant, is_active=False)
    data = {**_form_data(staff_client, campaign), "agent": str(inbound.pk), "caller_id": str(off.pk)}

    bad = staff_client.post(f"/admin/campaigns_app/campaign/{campaign.pk}/change/", data)

    errors = bad.context["adminform"].form.errors
    assert "Front desk is inbound-only" in errors["agent"][0]
    assert "is switched off" in errors["caller_id"][0]


def test_campaign_admin_saves_through_the_services(tenant, campaign, staff_client):
    data = {**_form_data(staff_client, campaign), "name": "December reminders", "max_calls_per_second": "2.5"}

    saved = staff_client.post(f"/admin/campaigns_app/campaign/{campaign.pk}/change/", data)

    assert saved.status_code == 302, saved.context and saved.context["adminform"].form.errors
    campaign.refresh_from_db()
    assert campaign.name == "December reminders" and str(campaign.max_calls_per_second) == "2.50"
    assert campaign.status == CampaignStatus.DRAFT


def test_the_status_is_not_a_field_and_moves_only_through_the_actions(tenant, campaign, staff_client):
    contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": "+12125550141", "variables": {"first_name": "A"}}])
    data = {**_form_data(staff_client, campaign), "status": "running"}

    staff_client.post(f"/admin/campaigns_app/campaign/{campaign.pk}/change/", data)
    campaign.refresh_from_db()
    status_after_edit = campaign.status
    start = staff_client.post(
        "/admin/campaigns_app/campaign/", {"action": "start", "_selected_action": [campaign.pk]}, follow=True
    )
    campaign.refresh_from_db()
    started_status = campaign.status
    refused = staff_client.post(
        "/admin/campaigns_app/campaign/", {"action": "resume", "_selected_action": [campaign.pk]}, follow=True
    )
    staff_client.post("/admin/campaigns_app/campaign/", {"action": "pause", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()

    assert status_after_edit == CampaignStatus.DRAFT
    assert started_status == CampaignStatus.RUNNING and "1 campaign started." in start.text
    assert "Only a paused campaign can be resumed; this one is running." in refused.text
    assert campaign.status == CampaignStatus.PAUSED


def test_starting_a_campaign_without_contacts_says_why_in_the_admin(campaign, staff_client):
    response = staff_client.post(
        "/admin/campaigns_app/campaign/", {"action": "start", "_selected_action": [campaign.pk]}, follow=True
    )

    assert "The campaign has no contact left to call; import contacts first." in response.text
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_a_running_campaign_is_shown_not_edited(tenant, campaign, staff_client):
    _started(tenant, campaign)

    page = staff_client.get(f"/admin/campaigns_app/campaign/{campaign.pk}/change/")
    post = staff_client.post(f"/admin/campaigns_app/campaign/{campaign.pk}/change/", {"name": "Renamed"})

    assert page.status_code == 200 and 'name="_save"' not in page.text
    assert post.status_code == 403
    campaign.refresh_from_db()
    assert campaign.name == "November reminders"


def test_a_draft_campaign_is_deleted_through_the_admin_with_its_contacts(tenant, campaign, staff_client):
    contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": "+12125550151", "variables": {"first_name": "A"}}])

    response = staff_client.post(f"/admin/campaigns_app/campaign/{campaign.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Campaign.objects.filter(pk=campaign.pk).exists()
    assert not Contact.objects.filter(number="+12125550151").exists()


def test_a_started_campaign_is_not_deleted_by_the_admin(tenant, campaign, staff_client):
    _started(tenant, campaign)

    single = staff_client.post(f"/admin/campaigns_app/campaign/{campaign.pk}/delete/", {"post": "yes"}, follow=True)
    bulk = staff_client.post(
        "/admin/campaigns_app/campaign/",
        {"action": "delete_selected", "_selected_action": [campaign.pk], "post": "yes"},
        follow=True,
    )

    assert "has started and is kept for its record of calls: cancel it instead." in single.text
    assert "Nothing was deleted: November reminders started and is kept for the record of calls." in bulk.text
    assert Campaign.objects.filter(pk=campaign.pk).exists()


def test_a_superuser_creates_a_campaign_through_the_admin(tenant, campaign, staff_client):
    """The add form: the tenant chosen, the rest checked by the services' rules, a draft created."""
    from tests.factories import UserFactory as Factory

    root = Factory(username="root@ops.test", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(root)
    data = {**_form_data(client, campaign), "tenant": str(tenant.pk), "name": "Spring renewals"}

    bad = client.post("/admin/campaigns_app/campaign/add/", {**data, "calling_window": "{}"})
    good = client.post("/admin/campaigns_app/campaign/add/", data)

    assert bad.status_code == 200
    assert "Give at least one day a calling window" in str(bad.context["adminform"].form.errors["calling_window"])
    assert good.status_code == 302, good.context and good.context["adminform"].form.errors
    created = Campaign.objects.for_tenant(tenant).get(name="Spring renewals")
    assert created.status == CampaignStatus.DRAFT and created.agent == campaign.agent
