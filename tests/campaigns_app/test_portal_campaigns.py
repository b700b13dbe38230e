"""The campaigns portal: list, create/edit form, detail with its status buttons, contacts table,
audit export and the dashboard tile."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from agents_app.services import agent_update
from campaigns_app.models import Campaign, CampaignStatus, Contact, ContactStatus
from campaigns_app.services import campaign_pause, campaign_start, contacts_add
from voiceplatform.actor import SYSTEM

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def form_data(agent_row: Any, number_row: Any, /, **overrides: Any) -> dict[str, Any]:
    """A complete, valid campaign form as the browser posts it (weekdays 09:00-17:00)."""
    data: dict[str, Any] = {
        "name": "Spring renewals",
        "objective": "Remind members to renew.",
        "agent": str(agent_row.code),
        "caller_id": str(number_row.code),
        "start_date": "",
        "end_date": "",
        "dialer_mode": "progressive",
        "max_calls_per_second": "1",
        "max_concurrent_calls": "5",
        "max_attempts": "3",
        "retry_backoff_minutes": "60",
        "requires_consent": "on",
        "voicemail_action": "inherit",
        "voicemail_message": "",
        "recording_notice": "",
    }
    for day in WEEKDAYS:
        if day in ("saturday", "sunday"):
            data[f"calling_window_{day}_closed"] = "on"
        else:
            data[f"calling_window_{day}_0_start"] = "09:00"
            data[f"calling_window_{day}_0_end"] = "17:00"
    data.update(overrides)
    return data


def add_contacts(tenant, campaign, count: int) -> None:
    rows = [{"number": f"+1415555{1000 + index:04d}", "name": f"Person {index}"} for index in range(count)]
    result = contacts_add(tenant=tenant, campaign=campaign, rows=rows)
    assert not result.errors


@pytest.fixture
def agent(tenant, make_outbound_agent):
    return make_outbound_agent(tenant)


@pytest.fixture
def caller_id(tenant, make_caller_id):
    return make_caller_id(tenant)


# Pages render for every role -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "teammate", "viewer"])
def test_every_campaign_page_renders_for_each_role(role, request, tenant, campaign, client_for):
    add_contacts(tenant, campaign, 2)
    client = client_for(request.getfixturevalue(role))
    urls = [
        reverse("campaigns-campaign-list"),
        reverse("campaigns-campaign-detail", kwargs={"code": campaign.code}),
        reverse("campaigns-contact-list", kwargs={"code": campaign.code}),
        reverse("campaigns-campaign-audit", kwargs={"code": campaign.code}),
    ]

    for url in urls:
        assert client.get(url).status_code == 200, url


def test_the_write_pages_render_for_editors_and_refuse_viewers(tenant, campaign, teammate, viewer, client_for):
    pages = [
        reverse("campaigns-campaign-create"),
        reverse("campaigns-campaign-edit", kwargs={"code": campaign.code}),
        reverse("campaigns-campaign-delete", kwargs={"code": campaign.code}),
        reverse("campaigns-import-create", kwargs={"code": campaign.code}),
    ]

    for url in pages:
        assert client_for(teammate).get(url).status_code == 200, url
        assert client_for(viewer).get(url).status_code == 403, url


@pytest.mark.parametrize("action", ["start", "pause", "resume", "cancel", "delete", "edit"])
def test_a_viewer_cannot_change_a_campaign(action, tenant, campaign, viewer, client_for, agent, caller_id):
    url = reverse(f"campaigns-campaign-{action}", kwargs={"code": campaign.code})

    response = client_for(viewer).post(url, form_data(agent, caller_id, name="Viewer's"))

    assert response.status_code == 403
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    assert campaign.name == "November reminders"


def test_the_viewer_sees_no_write_buttons(tenant, campaign, viewer, client_for):
    page = client_for(viewer).get(reverse("campaigns-campaign-detail", kwargs={"code": campaign.code})).text

    assert reverse("campaigns-campaign-start", kwargs={"code": campaign.code}) not in page
    assert reverse("campaigns-campaign-edit", kwargs={"code": campaign.code}) not in page
    assert "Export audit CSV" in page


# List -----------------------------------------------------------------------------------------


def test_the_empty_list_offers_to_create_the_first_campaign(tenant, owner, client_for):
    page = client_for(owner).get(reverse("campaigns-campaign-list")).text

    assert "No campaigns yet" in page
    assert reverse("campaigns-campaign-create") in page


def test_the_list_shows_each_campaign_with_agent_caller_id_status_and_progress(
    tenant, other_tenant, make_campaign, owner, client_for, django_assert_max_num_queries
):
    first = make_campaign(tenant, name="First")
    second = make_campaign(tenant, name="Second")
    theirs = make_campaign(other_tenant, name="Theirs")
    add_contacts(tenant, first, 4)
    Contact.objects.for_tenant(tenant).filter(campaign=first, number="+14155551000").update(
        status=ContactStatus.COMPLETED
    )
    client = client_for(owner)

    with django_assert_max_num_queries(12):  # one grouped count for the page, not one per campaign
        page = client.get(reverse("campaigns-campaign-list")).text

    assert "First" in page and "Second" in page and "Theirs" not in page
    assert str(theirs.code) not in page
    assert first.agent.name in page and first.caller_id.number in page
    assert 'class="badge status-draft off">Draft<' in page
    assert '<progress max="100" value="25"' in page
    assert "1 of 4 done" in page
    assert reverse("campaigns-campaign-detail", kwargs={"code": second.code}) in page


def test_the_list_filters_by_status_and_name(tenant, make_campaign, owner, client_for):
    running = make_campaign(tenant, name="Spring renewals")
    make_campaign(tenant, name="Autumn survey")
    add_contacts(tenant, running, 1)
    campaign_start(tenant=tenant, campaign=running)
    client = client_for(owner)

    def names(**params):
        return [
            campaign.name
            for campaign, _counts, _badge in client.get(reverse("campaigns-campaign-list"), params).context["rows"]
        ]

    assert names(status="running") == ["Spring renewals"]
    assert names(q="autumn") == ["Autumn survey"]
    assert sorted(names(status="bogus")) == ["Autumn survey", "Spring renewals"]
    assert "No campaign matches these filters." in client.get(reverse("campaigns-campaign-list"), {"q": "x"}).text


# Create and edit ------------------------------------------------------------------------------


def test_an_editor_creates_a_campaign_through_the_form(tenant, teammate, client_for, agent, caller_id):
    data = form_data(agent, caller_id, start_date="2026-12-01", end_date="2026-12-31")
    data["calling_window_saturday_closed"] = ""
    data["calling_window_saturday_0_start"] = "10:00"
    data["calling_window_saturday_0_end"] = "13:00"

    response = client_for(teammate).post(reverse("campaigns-campaign-create"), data)

    campaign = Campaign.objects.for_tenant(tenant).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns-campaign-detail", kwargs={"code": campaign.code})
    assert campaign.name == "Spring renewals"
    assert campaign.agent == agent and campaign.caller_id == caller_id
    assert campaign.calling_window["saturday"] == [{"start": "10:00", "end": "13:00"}]
    assert campaign.calling_window["sunday"] == []
    assert campaign.status == CampaignStatus.DRAFT
    assert str(campaign.end_date) == "2026-12-31"


def test_the_form_reuses_the_business_hours_grid(tenant, owner, client_for):
    page = client_for(owner).get(reverse("campaigns-campaign-create")).text

    assert 'class="table hours-grid"' in page
    assert 'name="calling_window_monday_0_start" value="09:00"' in page
    assert 'name="calling_window_sunday_closed"' in page


def test_the_form_says_where_to_start_without_an_agent_or_a_number(tenant, owner, client_for, make_outbound_agent):
    make_outbound_agent(tenant, name="Front desk", direction="inbound")

    page = client_for(owner).get(reverse("campaigns-campaign-create")).text

    assert 'id="no-agent"' in page and reverse("agents-agent-create") in page
    assert 'id="no-number"' in page and reverse("numbers-number-create") in page


def test_the_menus_offer_only_agents_that_call_out_and_active_numbers(
    tenant, other_tenant, owner, client_for, make_outbound_agent, make_caller_id, agent, caller_id
):
    inbound = make_outbound_agent(tenant, name="Front desk", direction="inbound")
    switched_off = agent_update(
        tenant=tenant, agent=make_outbound_agent(tenant, name="Old caller"), actor=SYSTEM, fields={"is_active": False}
    )
    both = make_outbound_agent(tenant, name="Two-way", direction="both")
    theirs = make_outbound_agent(other_tenant, name="Their caller")
    inactive_number = make_caller_id(tenant, is_active=False)
    their_number = make_caller_id(other_tenant)

    page = client_for(owner).get(reverse("campaigns-campaign-create")).text

    assert str(agent.code) in page and str(both.code) in page
    for hidden in (inbound, switched_off, theirs):
        assert str(hidden.code) not in page
    assert str(caller_id.code) in page
    assert str(inactive_number.code) not in page and str(their_number.code) not in page


def _post_create(client, data):
    return client.post(reverse("campaigns-campaign-create"), data)


def _errors(response) -> dict[str, list[str]]:
    return {name: list(errors) for name, errors in response.context["form"].errors.items()}


@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        ({"calling_window_monday_0_start": "17:00", "calling_window_monday_0_end": "09:00"}, "calling_window", "ends"),
        ({"calling_window_monday_0_end": ""}, "calling_window", "both a start and an end"),
        ({"calling_window_monday_0_start": "25:99"}, "calling_window", "valid time"),
        ({"max_calls_per_second": "0"}, "max_calls_per_second", "more than 0"),
        ({"max_calls_per_second": "5000"}, "max_calls_per_second", "At most"),
        ({"max_calls_per_second": "1e300"}, "max_calls_per_second", ""),
        ({"max_calls_per_second": "NaN"}, "max_calls_per_second", ""),
        ({"max_concurrent_calls": "0"}, "max_concurrent_calls", ""),
        ({"max_concurrent_calls": "99999999999999999999"}, "max_concurrent_calls", ""),
        ({"max_attempts": "50"}, "max_attempts", ""),
        ({"start_date": "2026-12-31", "end_date": "2026-12-01"}, "end_date", "before the start date"),
        ({"start_date": "31/12/2026"}, "start_date", "valid date"),
        ({"start_date": "99999-01-01"}, "start_date", ""),
        ({"name": ""}, "name", "required"),
        ({"agent": "not-a-uuid"}, "agent", "Choose one of your agents"),
        ({"voicemail_action": "leave_message"}, "voicemail_message", "message"),
    ],
)
def test_bad_input_is_a_form_error_on_its_field(overrides, field, says, tenant, owner, client_for, agent, caller_id):
    response = _post_create(client_for(owner), form_data(agent, caller_id, **overrides))

    assert response.status_code == 400
    errors = _errors(response)
    assert field in errors, errors
    assert says in " ".join(errors[field])
    assert not Campaign.objects.for_tenant(tenant).exists()


def test_a_nul_byte_is_refused_before_the_form(tenant, owner, client_for, agent, caller_id):
    response = _post_create(client_for(owner), form_data(agent, caller_id, name="Bad\x00name"))

    assert response.status_code == 400
    assert not Campaign.objects.for_tenant(tenant).exists()


def test_an_inbound_only_agent_is_refused_with_the_rule_s_words(
    tenant, owner, client_for, make_outbound_agent, caller_id
):
    inbound = make_outbound_agent(tenant, name="Front desk", direction="inbound")

    response = _post_create(client_for(owner), form_data(inbound, caller_id))

    assert response.status_code == 400
    assert "Front desk is inbound-only" in " ".join(_errors(response)["agent"])


def test_another_tenants_caller_id_or_agent_is_not_a_choice(
    tenant, other_tenant, owner, client_for, make_caller_id, make_outbound_agent, agent, caller_id
):
    their_number = make_caller_id(other_tenant)
    their_agent = make_outbound_agent(other_tenant)

    response = _post_create(client_for(owner), form_data(their_agent, their_number))

    assert response.status_code == 400
    errors = _errors(response)
    assert errors["caller_id"] == ["Choose one of your phone numbers as the caller ID."]
    assert errors["agent"] == ["Choose one of your agents."]


def test_one_save_reports_the_form_s_errors_and_the_service_s_together(
    tenant, owner, client_for, make_outbound_agent, caller_id
):
    inbound = make_outbound_agent(tenant, name="Front desk", direction="inbound")
    data = form_data(inbound, caller_id, max_calls_per_second="fast", start_date="2026-12-31", end_date="2026-12-01")

    response = _post_create(client_for(owner), data)

    errors = _errors(response)
    assert response.status_code == 400
    assert set(errors) >= {"max_calls_per_second", "agent", "end_date"}
    assert "inbound-only" in " ".join(errors["agent"])


def test_an_inactive_caller_id_is_refused(tenant, owner, client_for, make_caller_id, agent):
    number = make_caller_id(tenant, is_active=False)

    response = _post_create(client_for(owner), form_data(agent, number))

    assert response.status_code == 400
    assert "switched off" in " ".join(_errors(response)["caller_id"])


def test_an_editor_changes_a_draft(tenant, campaign, teammate, client_for):
    data = form_data(campaign.agent, campaign.caller_id, name="Renamed", max_calls_per_second="2.5")

    response = client_for(teammate).post(reverse("campaigns-campaign-edit", kwargs={"code": campaign.code}), data)

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.name == "Renamed"
    assert str(campaign.max_calls_per_second) == "2.50"


def test_editing_a_running_campaign_is_refused_with_a_message(tenant, campaign, owner, client_for):
    add_contacts(tenant, campaign, 1)
    campaign_start(tenant=tenant, campaign=campaign)
    url = reverse("campaigns-campaign-edit", kwargs={"code": campaign.code})

    response = client_for(owner).post(url, form_data(campaign.agent, campaign.caller_id, name="Renamed"))

    assert response.status_code == 409
    assert "A running campaign cannot be changed. Pause the campaign first." in response.text
    campaign.refresh_from_db()
    assert campaign.name == "November reminders"


# Detail and status buttons --------------------------------------------------------------------


def test_the_detail_page_shows_settings_counts_and_buttons_of_a_draft(tenant, campaign, owner, client_for):
    add_contacts(tenant, campaign, 3)

    page = client_for(owner).get(reverse("campaigns-campaign-detail", kwargs={"code": campaign.code})).text

    assert campaign.agent.name in page and campaign.caller_id.number in page
    assert "09:00-17:00" in page and "No calls" in page
    assert "0 of 3 done" in page
    for action in ("start", "delete", "edit"):
        assert reverse(f"campaigns-campaign-{action}", kwargs={"code": campaign.code}) in page
    for action in ("pause", "resume", "cancel"):
        assert reverse(f"campaigns-campaign-{action}", kwargs={"code": campaign.code}) not in page
    assert reverse("campaigns-import-create", kwargs={"code": campaign.code}) in page
    assert reverse("campaigns-campaign-audit", kwargs={"code": campaign.code}) in page


def test_the_buttons_move_the_status_start_pause_resume_cancel(tenant, campaign, owner, client_for):
    add_contacts(tenant, campaign, 2)
    client = client_for(owner)
    detail = reverse("campaigns-campaign-detail", kwargs={"code": campaign.code})

    for action, status in (
        ("start", CampaignStatus.RUNNING),
        ("pause", CampaignStatus.PAUSED),
        ("resume", CampaignStatus.RUNNING),
        ("cancel", CampaignStatus.CANCELLED),
    ):
        response = client.post(reverse(f"campaigns-campaign-{action}", kwargs={"code": campaign.code}))
        assert response.status_code == 302 and response["Location"] == detail
        campaign.refresh_from_db()
        assert campaign.status == status, action

    page = client.get(detail).text
    assert "is now cancelled" in page
    assert reverse("campaigns-campaign-cancel", kwargs={"code": campaign.code}) not in page


def test_a_start_that_is_refused_shows_its_problems(tenant, campaign, owner, client_for):
    response = client_for(owner).post(reverse("campaigns-campaign-start", kwargs={"code": campaign.code}), follow=True)

    assert "The campaign cannot start yet. The campaign has no contact left to call; import contacts first." in (
        response.text
    )
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT


def test_pausing_a_draft_is_a_message_not_an_error_page(tenant, campaign, owner, client_for):
    response = client_for(owner).post(reverse("campaigns-campaign-pause", kwargs={"code": campaign.code}), follow=True)

    assert response.status_code == 200
    assert "Only a running or scheduled campaign can be paused" in response.text


def test_a_started_campaign_offers_cancel_not_delete(tenant, campaign, owner, client_for):
    add_contacts(tenant, campaign, 1)
    campaign_pause(tenant=tenant, campaign=campaign_start(tenant=tenant, campaign=campaign))
    client = client_for(owner)

    page = client.get(reverse("campaigns-campaign-detail", kwargs={"code": campaign.code})).text
    response = client.post(reverse("campaigns-campaign-delete", kwargs={"code": campaign.code}), follow=True)

    assert reverse("campaigns-campaign-delete", kwargs={"code": campaign.code}) not in page
    assert reverse("campaigns-campaign-cancel", kwargs={"code": campaign.code}) in page
    assert reverse("campaigns-campaign-resume", kwargs={"code": campaign.code}) in page
    assert "Cancel it instead." in response.text
    assert Campaign.objects.for_tenant(tenant).filter(pk=campaign.pk).exists()


def test_a_draft_is_deleted_after_confirmation(tenant, campaign, owner, client_for):
    add_contacts(tenant, campaign, 2)
    url = reverse("campaigns-campaign-delete", kwargs={"code": campaign.code})
    client = client_for(owner)

    confirm = client.get(url)
    response = client.post(url)

    assert "Delete November reminders?" in confirm.text
    assert response.status_code == 302 and response["Location"] == reverse("campaigns-campaign-list")
    assert not Campaign.objects.for_tenant(tenant).exists()
    assert not Contact.objects.for_tenant(tenant).exists()


# Contacts ------------------------------------------------------------------------------------


def _contacts_page(client, campaign, **params):
    return client.get(reverse("campaigns-contact-list", kwargs={"code": campaign.code}), params)


def test_the_contacts_table_pages_by_cursor_forward_and_back(
    tenant, campaign, owner, client_for, django_assert_max_num_queries
):
    add_contacts(tenant, campaign, 120)
    client = client_for(owner)
    numbers = list(
        Contact.objects.for_tenant(tenant).filter(campaign=campaign).order_by("id").values_list("number", flat=True)
    )

    first = _contacts_page(client, campaign)
    second = _contacts_page(client, campaign, cursor=first.context["page"].next_cursor)
    third = _contacts_page(client, campaign, cursor=second.context["page"].next_cursor)
    back = _contacts_page(client, campaign, cursor=third.context["page"].previous_cursor)

    def shown(response):
        return [contact.number for contact in response.context["page"].rows]

    assert shown(first) == numbers[:50] and first.context["page"].previous_cursor is None
    assert shown(second) == numbers[50:100]
    assert shown(third) == numbers[100:] and third.context["page"].next_cursor is None
    assert shown(back) == numbers[50:100]
    assert 'rel="next"' in second.text and 'rel="prev"' in second.text
    with django_assert_max_num_queries(10):
        _contacts_page(client, campaign, cursor=second.context["page"].next_cursor)


@pytest.mark.parametrize(
    "cursor",
    ["garbage", "eyJrIjpbXX0", "eyJrIjpbIngiXSwiZCI6Im5leHQifQ", "%00", "A" * 5000, "eyJrIjpbMWUzMDBdLCJkIjoibmV4dCJ9"],
)
def test_a_garbage_cursor_shows_the_first_page(cursor, tenant, campaign, owner, client_for):
    add_contacts(tenant, campaign, 3)

    response = _contacts_page(client_for(owner), campaign, cursor=cursor)

    assert response.status_code == 200
    assert len(response.context["page"].rows) == 3


def test_the_contacts_filters_by_status_reason_and_search(tenant, campaign, owner, client_for):
    add_contacts(tenant, campaign, 4)
    contacts = Contact.objects.for_tenant(tenant).filter(campaign=campaign)
    contacts.filter(number="+14155551001").update(status=ContactStatus.SKIPPED, reason="dnc: on the list")
    contacts.filter(number="+14155551002").update(status=ContactStatus.HELD, reason="timezone: unknown")
    client = client_for(owner)

    def numbers(**params):
        return [contact.number for contact in _contacts_page(client, campaign, **params).context["page"].rows]

    assert numbers(status="skipped") == ["+14155551001"]
    assert numbers(reason="dnc") == ["+14155551001"]
    assert numbers(q="+1415555100") == ["+14155551000", "+14155551001", "+14155551002", "+14155551003"]
    assert numbers(q="Person 3") == ["+14155551003"]
    assert numbers(status="no-such-status") == numbers()
    page = _contacts_page(client, campaign, status="skipped").text
    assert "dnc: on the list" in page and "first_name" in page


def test_another_tenants_campaign_pages_are_404(tenant, other_campaign, owner, client_for):
    client = client_for(owner)

    for name in ("detail", "edit", "delete", "audit"):
        assert (
            client.get(reverse(f"campaigns-campaign-{name}", kwargs={"code": other_campaign.code})).status_code == 404
        )
    assert client.get(reverse("campaigns-contact-list", kwargs={"code": other_campaign.code})).status_code == 404
    assert client.get(reverse("campaigns-import-create", kwargs={"code": other_campaign.code})).status_code == 404


# Audit export and dashboard --------------------------------------------------------------------


def test_the_audit_button_streams_the_campaign_s_csv(tenant, campaign, owner, client_for):
    add_contacts(tenant, campaign, 2)

    response = client_for(owner).get(reverse("campaigns-campaign-audit", kwargs={"code": campaign.code}))

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    assert "+14155551000" in body and "+14155551001" in body


def test_the_dashboard_counts_campaigns_of_the_tenant(tenant, other_tenant, make_campaign, owner, client_for):
    running = make_campaign(tenant, name="Running")
    make_campaign(tenant, name="Draft")
    make_campaign(other_tenant, name="Theirs")
    add_contacts(tenant, running, 1)
    campaign_start(tenant=tenant, campaign=running)

    page = client_for(owner).get(reverse("portal-dashboard")).text

    assert '<span class="stat-value">2</span><span class="stat-label">campaigns (1 running)</span>' in page
    assert reverse("campaigns-campaign-list") in page
