"""An agent or a phone number used by an open campaign is not deleted (services, API, portal, admin):
the refusal names the campaign and says what to do; the agent stays outbound-capable and the number on.
A completed or cancelled campaign lets go of both: they are deleted, and the campaign shows their
snapshots (its page, the list, the API, the admin, the audit export)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from agents_app.models import Agent
from agents_app.references import agent_references
from agents_app.services import AgentInUse, agent_create, agent_delete, agent_update
from campaigns_app.models import Campaign
from campaigns_app.services import (
    campaign_cancel,
    campaign_complete,
    campaign_delete,
    campaign_pause,
    campaign_start,
    contacts_add,
)
from telephony_app.models import PhoneNumber
from telephony_app.number_references import number_references
from telephony_app.services import phone_number_delete, phone_number_update
from tests.factories import MembershipFactory, UserFactory
from voiceplatform.actor import SYSTEM
from voiceplatform.models import Role

NAMED = "campaign November reminders (draft)"


# Agents --------------------------------------------------------------------------------------


def test_the_references_listing_names_the_open_campaign(tenant, campaign):
    found = agent_references(tenant=tenant, agent=campaign.agent)

    assert [(ref.kind, ref.id, ref.label, ref.blocks_delete) for ref in found] == [
        ("campaign", str(campaign.code), NAMED, True)
    ]


def test_an_agent_of_an_open_campaign_is_not_deleted_even_with_detach(tenant, campaign):
    for detach in (False, True):
        with pytest.raises(AgentInUse) as refused:
            agent_delete(tenant=tenant, agent=campaign.agent, detach=detach)
        assert NAMED in str(refused.value)
        assert "Finish or cancel the campaign, or give it another agent, first." in str(refused.value)
    assert Agent.objects.filter(pk=campaign.agent_id).exists()


def test_an_agent_is_deleted_once_its_draft_campaign_is_gone(tenant, campaign):
    agent = campaign.agent
    campaign_delete(tenant=tenant, campaign=campaign)

    agent_delete(tenant=tenant, agent=agent)

    assert not Agent.objects.filter(pk=agent.pk).exists()


def _started(tenant, campaign: Campaign) -> Campaign:
    contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": "+12125550111", "variables": {"first_name": "A"}}])
    return campaign_start(tenant=tenant, campaign=campaign)


def _finish(tenant, campaign: Campaign, how: str) -> Campaign:
    """The campaign cancelled (as a draft) or completed (after it ran)."""
    if how == "cancelled":
        return campaign_cancel(tenant=tenant, campaign=campaign)
    return campaign_complete(tenant=tenant, campaign=_started(tenant, campaign))


@pytest.mark.parametrize("status", ["running", "paused"])
def test_an_agent_or_number_of_a_running_or_paused_campaign_is_not_deleted(tenant, campaign, status):
    campaign = _started(tenant, campaign)
    if status == "paused":
        campaign = campaign_pause(tenant=tenant, campaign=campaign)
    named = f"campaign November reminders ({status})"

    with pytest.raises(AgentInUse) as agent_refused:
        agent_delete(tenant=tenant, agent=campaign.agent, detach=True)
    with pytest.raises(ValidationError) as number_refused:
        phone_number_delete(tenant=tenant, phone_number=campaign.caller_id)

    assert named in str(agent_refused.value) and named in number_refused.value.messages[0]
    assert Agent.objects.filter(pk=campaign.agent_id).exists()
    assert PhoneNumber.objects.filter(pk=campaign.caller_id_id).exists()


@pytest.mark.parametrize("how", ["cancelled", "completed"])
def test_a_finished_campaigns_agent_and_number_are_deleted_and_it_keeps_their_snapshots(tenant, campaign, how):
    campaign = _finish(tenant, campaign, how)
    agent, number = campaign.agent, campaign.caller_id

    assert agent_references(tenant=tenant, agent=agent) == []
    assert number_references(tenant=tenant, phone_number=number) == []
    agent_delete(tenant=tenant, agent=agent)
    phone_number_delete(tenant=tenant, phone_number=number)

    campaign.refresh_from_db()
    assert (campaign.agent_id, campaign.caller_id_id) == (None, None)
    assert (campaign.agent_name, campaign.caller_id_number) == ("Reminder caller", number.number)
    assert campaign.status == how


def test_an_edit_that_changes_the_agent_or_number_changes_the_snapshots(
    tenant, campaign, make_outbound_agent, make_caller_id
):
    from campaigns_app.services import campaign_update

    agent, number = make_outbound_agent(tenant, name="Second caller"), make_caller_id(tenant)
    campaign = campaign_update(tenant=tenant, campaign=campaign, fields={"agent": agent, "caller_id": number})

    campaign.refresh_from_db()
    assert (campaign.agent_name, campaign.caller_id_number) == ("Second caller", number.number)


@pytest.mark.parametrize("field", ["agentId", "callerId"])
def test_an_open_campaign_still_needs_an_agent_and_a_number(api, campaign, field):
    created = api.post(
        "/api/v1/campaigns",
        {"name": "No one", "agentId": str(campaign.agent.code), "callerId": str(campaign.caller_id.code), field: None},
        format="json",
    )
    edited = api.patch(f"/api/v1/campaigns/{campaign.code}", {field: None}, format="json")

    assert created.status_code == 400 and field in str(created.json())
    assert edited.status_code == 400 and field in str(edited.json())
    campaign.refresh_from_db()
    assert campaign.agent_id is not None and campaign.caller_id_id is not None


def test_an_agent_or_number_deleted_before_the_campaign_is_saved_is_not_found(
    tenant, make_outbound_agent, make_caller_id
):
    from campaigns_app.services import campaign_create

    agent, number = make_outbound_agent(tenant), make_caller_id(tenant)
    agent_delete(tenant=tenant, agent=agent)  # e.g. in another tab, after the form was filled in
    phone_number_delete(tenant=tenant, phone_number=number)

    with pytest.raises(ValidationError) as refused:
        campaign_create(tenant=tenant, fields={"name": "Late", "agent": agent, "caller_id": number})

    assert refused.value.message_dict == {"agent": ["No such agent."], "caller_id": ["No such phone number."]}
    assert not Campaign.objects.for_tenant(tenant).exists()


def test_the_snapshot_is_the_agents_name_when_the_campaign_finished(tenant, campaign):
    agent_update(tenant=tenant, agent=campaign.agent, actor=SYSTEM, fields={"name": "Renamed caller"})
    campaign_cancel(tenant=tenant, campaign=campaign)

    agent_delete(tenant=tenant, agent=campaign.agent)

    campaign.refresh_from_db()
    assert campaign.agent_name == "Renamed caller"


def test_a_finished_campaign_whose_agent_and_number_were_deleted_still_shows_everywhere(
    tenant, owner, client_for, api, staff_client, campaign
):
    contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": "+12125550111", "variables": {"first_name": "A"}}])
    campaign = campaign_cancel(tenant=tenant, campaign=campaign)
    number = campaign.caller_id.number
    agent_delete(tenant=tenant, agent=campaign.agent)
    phone_number_delete(tenant=tenant, phone_number=campaign.caller_id)
    client = client_for(owner)

    detail = client.get(reverse("campaigns-campaign-detail", kwargs={"code": campaign.code}))
    listing = client.get(reverse("campaigns-campaign-list"))
    audit = client.get(reverse("campaigns-campaign-audit", kwargs={"code": campaign.code}))
    body = api.get(f"/api/v1/campaigns/{campaign.code}").json()
    api_list = api.get("/api/v1/campaigns").json()
    api_audit = api.get(f"/api/v1/campaigns/{campaign.code}/audit.csv", HTTP_ACCEPT="text/csv")
    admin_list = staff_client.get("/admin/campaigns_app/campaign/")
    admin_page = staff_client.get(f"/admin/campaigns_app/campaign/{campaign.pk}/change/")

    assert detail.status_code == 200
    assert "Reminder caller (deleted)" in detail.text and f"{number} (deleted)" in detail.text
    assert listing.status_code == 200 and "Reminder caller (deleted)" in listing.text
    assert (body["agentId"], body["agentName"]) == (None, "Reminder caller")
    assert (body["callerId"], body["callerIdNumber"]) == (None, number)
    assert [(row["agentId"], row["agentName"]) for row in api_list["results"]] == [(None, "Reminder caller")]
    for response in (audit, api_audit):
        assert response.status_code == 200
        assert "+12125550111" in b"".join(response.streaming_content).decode()
    assert admin_list.status_code == 200 and "Reminder caller (deleted)" in admin_list.text
    assert admin_page.status_code == 200 and "Reminder caller" in admin_page.text


def test_an_open_campaign_shows_its_agent_and_number_by_their_current_names(tenant, api, campaign):
    body = api.get(f"/api/v1/campaigns/{campaign.code}").json()

    assert body["agentId"] == str(campaign.agent.code) and body["agentName"] == "Reminder caller"
    assert body["callerId"] == str(campaign.caller_id.code) and body["callerIdNumber"] == campaign.caller_id.number


def test_api_portal_and_admin_delete_a_finished_campaigns_agent_and_number(
    tenant, owner, client_for, api, staff_client, make_campaign
):
    first, second, third = (make_campaign(tenant, name=name) for name in ("First", "Second", "Third"))
    for campaign in (first, second, third):
        campaign_cancel(tenant=tenant, campaign=campaign)
    client = client_for(owner)

    by_api = (
        api.delete(f"/api/v1/agents/{first.agent.code}"),
        api.delete(reverse("api-phone-number-detail", kwargs={"id": first.caller_id.code})),
    )
    by_portal = (
        client.post(reverse("agents-agent-delete", kwargs={"code": second.agent.code})),
        client.post(reverse("numbers-number-delete", kwargs={"code": second.caller_id.code})),
    )
    by_admin = (
        staff_client.post(f"/admin/agents_app/agent/{third.agent_id}/delete/", {"post": "yes"}),
        staff_client.post(f"/admin/telephony_app/phonenumber/{third.caller_id_id}/delete/", {"post": "yes"}),
    )

    assert [response.status_code for response in by_api] == [204, 204]
    assert [response.status_code for response in (*by_portal, *by_admin)] == [302] * 4
    assert not Agent.objects.for_tenant(tenant).exists() and not PhoneNumber.objects.for_tenant(tenant).exists()
    assert set(Campaign.objects.for_tenant(tenant).values_list("agent_id", "caller_id_id")) == {(None, None)}


def test_the_migration_fills_the_snapshots_of_existing_campaigns(tenant, campaign):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("campaigns_app.migrations.0004_finished_campaigns_release_agent_and_number")
    Campaign.objects.filter(pk=campaign.pk).update(agent_name="", caller_id_number="")

    migration.fill_snapshots(apps, None)

    campaign.refresh_from_db()
    assert (campaign.agent_name, campaign.caller_id_number) == ("Reminder caller", campaign.caller_id.number)


def test_the_agent_page_lists_its_campaigns(owner, client_for, campaign):
    page = client_for(owner).get(reverse("agents-agent-detail", kwargs={"code": campaign.agent.code})).text

    assert f"{NAMED} (Finish or cancel the campaign, or give it another agent, first)" in page


def test_another_tenants_campaign_is_not_a_reference(tenant, other_campaign, make_outbound_agent):
    mine = make_outbound_agent(tenant)

    assert agent_references(tenant=tenant, agent=mine) == []


def test_an_agent_of_an_open_campaign_cannot_become_inbound_only_or_be_switched_off(tenant, campaign):
    for fields, field in (({"direction": "inbound"}, "direction"), ({"is_active": False}, "is_active")):
        with pytest.raises(ValidationError) as refused:
            agent_update(tenant=tenant, agent=campaign.agent, actor=SYSTEM, fields=fields)
        assert NAMED in refused.value.message_dict[field][0]
    campaign.agent.refresh_from_db()
    assert campaign.agent.direction == "outbound" and campaign.agent.is_active


def test_an_agent_of_a_cancelled_campaign_may_become_inbound_only(tenant, campaign):
    campaign_cancel(tenant=tenant, campaign=campaign)

    agent = agent_update(tenant=tenant, agent=campaign.agent, actor=SYSTEM, fields={"direction": "inbound"})

    assert agent.direction == "inbound"


def test_api_delete_of_a_campaigns_agent_answers_409_naming_the_campaign(api, campaign):
    response = api.delete(f"/api/v1/agents/{campaign.agent.code}?detach=true")

    assert response.status_code == 409
    body = response.json()
    assert NAMED in body["detail"] and "?detach=true" not in body["detail"]
    assert body["references"][0]["kind"] == "campaign" and body["references"][0]["blocksDelete"] is True
    assert Agent.objects.filter(pk=campaign.agent_id).exists()


def test_portal_delete_of_a_campaigns_agent_explains_and_offers_no_delete(owner, client_for, campaign):
    client = client_for(owner)
    url = reverse("agents-agent-delete", kwargs={"code": campaign.agent.code})

    page = client.get(url)
    post = client.post(url, {"detach": "1", "references": "anything"})

    assert page.status_code == 200 and NAMED in page.text
    assert "Finish or cancel the campaign" in page.text and "Detach and delete" not in page.text
    assert post.status_code == 409 and NAMED in post.text
    assert Agent.objects.filter(pk=campaign.agent_id).exists()


@pytest.fixture
def staff_client(tenant):
    user = UserFactory(username="staff@acme.test", is_staff=True)
    MembershipFactory(tenant=tenant, user=user, role=Role.ADMIN)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["agents_app", "telephony_app", "campaigns_app"])
    )
    client = Client()
    client.force_login(user)
    return client


def test_admin_delete_of_a_campaigns_agent_or_number_is_refused_with_the_reason(campaign, staff_client):
    agent = staff_client.post(f"/admin/agents_app/agent/{campaign.agent_id}/delete/", {"post": "yes"}, follow=True)
    number = staff_client.post(
        f"/admin/telephony_app/phonenumber/{campaign.caller_id_id}/delete/", {"post": "yes"}, follow=True
    )
    bulk = staff_client.post(
        "/admin/agents_app/agent/",
        {"action": "delete_selected", "_selected_action": [campaign.agent_id], "post": "yes"},
        follow=True,
    )

    assert agent.status_code == 200 and NAMED in agent.text
    assert number.status_code == 200 and NAMED in number.text
    assert bulk.status_code == 200 and NAMED in bulk.text
    assert Agent.objects.filter(pk=campaign.agent_id).exists()
    assert PhoneNumber.objects.filter(pk=campaign.caller_id_id).exists()


# Phone numbers -------------------------------------------------------------------------------


def test_a_caller_id_of_an_open_campaign_is_not_deleted(tenant, campaign):
    with pytest.raises(ValidationError) as refused:
        phone_number_delete(tenant=tenant, phone_number=campaign.caller_id)

    message = refused.value.messages[0]
    assert f"{campaign.caller_id.number} cannot be deleted while it is the caller ID of {NAMED}." in message
    assert "Finish or cancel the campaign, or give it another caller ID, first." in message
    assert PhoneNumber.objects.filter(pk=campaign.caller_id_id).exists()


def test_a_caller_id_of_an_open_campaign_is_not_switched_off(tenant, campaign):
    with pytest.raises(ValidationError) as refused:
        phone_number_update(tenant=tenant, phone_number=campaign.caller_id, is_active=False)

    assert NAMED in refused.value.message_dict["is_active"][0]
    assert PhoneNumber.objects.get(pk=campaign.caller_id_id).is_active


def test_a_caller_id_of_a_cancelled_campaign_may_be_switched_off_and_deleted(tenant, campaign):
    campaign_cancel(tenant=tenant, campaign=campaign)
    number = campaign.caller_id

    phone_number_update(tenant=tenant, phone_number=number, is_active=False)
    phone_number_delete(tenant=tenant, phone_number=number)

    assert not PhoneNumber.objects.filter(pk=number.pk).exists()
    campaign.refresh_from_db()
    assert campaign.caller_id_id is None and campaign.caller_id_number == number.number


def test_a_number_no_campaign_uses_is_deleted(tenant, campaign, make_caller_id):
    spare = make_caller_id(tenant)

    assert number_references(tenant=tenant, phone_number=spare) == []
    phone_number_delete(tenant=tenant, phone_number=spare)
    assert not PhoneNumber.objects.filter(pk=spare.pk).exists()


def test_api_delete_and_switch_off_of_a_caller_id_are_clear_errors(api, campaign):
    url = reverse("api-phone-number-detail", kwargs={"id": campaign.caller_id.code})

    delete = api.delete(url)
    patch = api.patch(url, {"isActive": False}, format="json")

    assert delete.status_code == 409 and NAMED in delete.json()["detail"]
    assert patch.status_code == 400 and NAMED in str(patch.json())
    number = PhoneNumber.objects.get(pk=campaign.caller_id_id)
    assert number.is_active


def test_portal_delete_of_a_caller_id_shows_the_campaign_not_a_500(owner, client_for, campaign):
    client = client_for(owner)
    url = reverse("numbers-number-delete", kwargs={"code": campaign.caller_id.code})

    page = client.get(url)
    post = client.post(url)

    assert page.status_code == 200 and NAMED in page.text and "Finish or cancel the campaign" in page.text
    assert post.status_code == 409 and NAMED in post.text
    assert PhoneNumber.objects.filter(pk=campaign.caller_id_id).exists()


def test_portal_edit_switching_a_caller_id_off_is_a_form_error(owner, client_for, campaign):
    number = campaign.caller_id
    url = reverse("numbers-number-edit", kwargs={"code": number.code})

    response = client_for(owner).post(url, {"number": number.number, "provider": number.provider})

    assert response.status_code == 200 and NAMED in response.text
    number.refresh_from_db()
    assert number.is_active


def test_an_inbound_agent_used_by_nothing_is_unaffected(tenant):
    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Desk", "direction": "inbound"})

    agent_delete(tenant=tenant, agent=agent)

    assert not Agent.objects.filter(pk=agent.pk).exists()


def test_a_tenant_with_campaigns_ledgers_and_attempts_is_deleted_whole(tenant, other_campaign, campaign, make_campaign):
    """The campaigns' agents and caller IDs (open or finished) do not stop the tenant's own delete."""
    from campaigns_app.models import CallAttempt, Consent, DncEntry
    from campaigns_app.services import consent_grant, dnc_add
    from voiceplatform.services import tenant_delete

    campaign_cancel(tenant=tenant, campaign=make_campaign(tenant, name="Done"))

    contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": "+12125550143", "name": "Olivia Bennett"}])
    consent = consent_grant(tenant=tenant, number="+12125550143", evidence="form 7", actor=SYSTEM)
    CallAttempt.objects.create(
        tenant=tenant, campaign=campaign, contact=campaign.contacts.get(), attempt_no=1, consent=consent
    )
    dnc_add(tenant=tenant, number="+12125550144", actor=SYSTEM)

    tenant_delete(tenant=tenant)

    assert list(Campaign.objects.values_list("pk", flat=True)) == [other_campaign.pk]
    assert not Consent.objects.exists() and not DncEntry.objects.exists() and not CallAttempt.objects.exists()


def test_switching_off_a_campaigns_agent_is_refused_in_the_portal_and_the_admin(
    tenant, owner, client_for, staff_client, campaign
):
    from agents_app.services import agent_set_active

    client = client_for(owner)
    url = reverse("agents-agent-deactivate", kwargs={"code": campaign.agent.code})

    with pytest.raises(ValidationError) as refused:
        agent_set_active(tenant=tenant, agent=campaign.agent, is_active=False)
    page = client.post(url, follow=True)
    htmx = client.post(url, HTTP_HX_REQUEST="true")
    admin = staff_client.post(
        "/admin/agents_app/agent/", {"action": "deactivate", "_selected_action": [campaign.agent_id]}, follow=True
    )

    assert NAMED in refused.value.message_dict["is_active"][0]
    assert NAMED in page.text and htmx["HX-Refresh"] == "true"
    assert NAMED in admin.text
    assert Agent.objects.get(pk=campaign.agent_id).is_active


def test_api_direction_change_of_a_campaigns_agent_is_a_400_on_direction(api, campaign):
    response = api.patch(f"/api/v1/agents/{campaign.agent.code}", {"direction": "inbound"}, format="json")

    assert response.status_code == 400
    assert NAMED in str(response.json())
    assert Agent.objects.get(pk=campaign.agent_id).direction == "outbound"


def test_admin_switching_a_caller_id_off_is_a_form_error(campaign, staff_client):
    number = campaign.caller_id
    url = f"/admin/telephony_app/phonenumber/{number.pk}/change/"
    data = {"number": number.number, "label": "", "provider": number.provider, "agent": "", "sip_trunk_id": ""}

    response = staff_client.post(url, data)  # is_active left unticked: switched off

    assert response.status_code == 200
    assert NAMED in str(response.context["adminform"].form.errors["is_active"])
    assert PhoneNumber.objects.get(pk=number.pk).is_active
