"""Phone numbers: services, the /api/v1/phone-numbers API, the portal pages and the admin."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from telephony_app.models import NumberProvider, PhoneNumber
from telephony_app.services import NUMBER_TAKEN, phone_number_assign_agent, phone_number_create

# Services ------------------------------------------------------------------------------------


def test_create_normalises_the_number_to_e164(tenant, agent):
    number = phone_number_create(tenant=tenant, number="+1 (415) 555-0123", label="Support", agent=agent)

    number.refresh_from_db()
    assert number.number == "+14155550123"
    assert number.agent == agent
    assert number.provider == NumberProvider.TWILIO
    assert number.is_active


def test_a_number_taken_by_another_tenant_is_refused_without_naming_it(tenant, other_tenant):
    phone_number_create(tenant=other_tenant, number="+14155550123", label="Globex main")

    with pytest.raises(ValidationError) as error:
        phone_number_create(tenant=tenant, number="+1 415-555-0123")

    assert error.value.message_dict == {"number": [NUMBER_TAKEN]}
    assert "Globex" not in str(error.value)
    assert PhoneNumber.objects.for_tenant(tenant).count() == 0


def test_assigning_another_tenants_agent_is_refused(tenant, other_tenant, make_agent):
    number = phone_number_create(tenant=tenant, number="+14155550123")

    with pytest.raises(ValidationError) as error:
        phone_number_assign_agent(tenant=tenant, phone_number=number, agent=make_agent(other_tenant))

    assert list(error.value.message_dict) == ["agent"]
    number.refresh_from_db()
    assert number.agent is None


# API -----------------------------------------------------------------------------------------


def _create(api, **body):
    return api.post(reverse("api-phone-number-list"), {"number": "+14155550123", **body}, format="json")


def test_api_creates_a_number_with_camel_case_fields(api, agent):
    response = _create(api, number="+1 (415) 555-0123", label="Support line", agentId=str(agent.code))

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["number"] == "+14155550123"
    assert body["agentId"] == str(agent.code)
    assert body["agentName"] == agent.name
    assert body["provider"] == "twilio"
    assert body["isActive"] is True
    assert body["sipTrunkId"] == ""
    assert set(body) == {
        "id", "number", "label", "provider", "agentId", "agentName", "isActive", "sipTrunkId", "outboundTrunkId",
        "outboundCps", "dispatchRuleId", "outboundAddress", "outboundTransport", "outboundAuthUsername",
        "outboundAuthPasswordSet", "createdAt", "updatedAt",
    }  # fmt: skip


def test_api_lists_only_own_numbers(api, tenant, other_tenant):
    mine = phone_number_create(tenant=tenant, number="+14155550123")
    phone_number_create(tenant=other_tenant, number="+14155550124")

    response = api.get(reverse("api-phone-number-list"))

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(mine.code)]


@pytest.mark.parametrize("number", ["", "hello", "4155550123", "+1 555", "+999 123456789"])
def test_api_refuses_a_bad_number_naming_the_field(api, number):
    response = _create(api, number=number)

    assert response.status_code == 400
    assert list(response.json()) == ["number"]
    assert PhoneNumber.objects.count() == 0


def test_api_refuses_a_duplicate_within_the_tenant(api, tenant):
    phone_number_create(tenant=tenant, number="+14155550123")

    response = _create(api, number="+1 415 555 0123")

    assert response.status_code == 400
    assert response.json() == {"number": [NUMBER_TAKEN]}


def test_api_refuses_a_duplicate_across_tenants_in_the_same_words(api, other_tenant):
    phone_number_create(tenant=other_tenant, number="+14155550123", label="Globex main")

    response = _create(api)

    assert response.status_code == 400
    assert response.json() == {"number": [NUMBER_TAKEN]}
    assert "Globex" not in response.text


def test_api_refuses_another_tenants_agent_on_create(api, other_tenant, make_agent):
    response = _create(api, agentId=str(make_agent(other_tenant).code))

    assert response.status_code == 400
    assert list(response.json()) == ["agentId"]
    assert PhoneNumber.objects.count() == 0


def test_api_updates_with_put_and_patch(api, tenant):
    number = phone_number_create(tenant=tenant, number="+14155550123", label="Old")
    url = reverse("api-phone-number-detail", kwargs={"id": number.code})

    put = api.put(url, {"label": "Sales", "provider": "sip", "sipTrunkId": "ST_abc123"}, format="json")
    patch = api.patch(url, {"isActive": False}, format="json")

    assert put.status_code == 200, put.json()
    assert patch.status_code == 200
    number.refresh_from_db()
    assert (number.label, number.provider, number.sip_trunk_id, number.is_active) == (
        "Sales",
        "sip",
        "ST_abc123",
        False,
    )
    assert number.number == "+14155550123"


def test_api_assigns_and_unassigns_an_agent(api, tenant, agent):
    number = phone_number_create(tenant=tenant, number="+14155550123")
    url = reverse("api-phone-number-assign-agent", kwargs={"id": number.code})

    assigned = api.post(url, {"agentId": str(agent.code)}, format="json")
    number.refresh_from_db()
    assert assigned.status_code == 200
    assert assigned.json()["agentName"] == agent.name
    assert number.agent == agent

    unassigned = api.post(url, {"agentId": None}, format="json")
    number.refresh_from_db()
    assert unassigned.status_code == 200
    assert unassigned.json()["agentId"] is None
    assert unassigned.json()["agentName"] is None
    assert number.agent is None


def test_api_refuses_to_assign_another_tenants_agent(api, tenant, agent, other_tenant, make_agent):
    number = phone_number_create(tenant=tenant, number="+14155550123", agent=agent)
    url = reverse("api-phone-number-assign-agent", kwargs={"id": number.code})

    response = api.post(url, {"agentId": str(make_agent(other_tenant).code)}, format="json")

    assert response.status_code == 400
    assert response.json() == {"agentId": ["No such agent."]}
    number.refresh_from_db()
    assert number.agent == agent


def test_api_deletes_a_number(api, tenant):
    number = phone_number_create(tenant=tenant, number="+14155550123")

    response = api.delete(reverse("api-phone-number-detail", kwargs={"id": number.code}))

    assert response.status_code == 204
    assert not PhoneNumber.objects.filter(pk=number.pk).exists()


# Portal --------------------------------------------------------------------------------------


def test_portal_lists_numbers_with_their_agent(tenant, other_tenant, owner, agent, client_for):
    phone_number_create(tenant=tenant, number="+14155550123", label="Support", agent=agent)
    phone_number_create(tenant=other_tenant, number="+14155550124", label="Globex main")

    response = client_for(owner).get(reverse("numbers-number-list"))

    assert response.status_code == 200
    assert "+14155550123" in response.text
    assert agent.name in response.text
    assert "+14155550124" not in response.text
    assert "Globex main" not in response.text


def test_portal_creates_a_number(tenant, owner, agent, client_for):
    response = client_for(owner).post(
        reverse("numbers-number-create"),
        {
            "number": "+1 (415) 555-0123",
            "label": "Support",
            "provider": "twilio",
            "agent": agent.code,
            "is_active": "on",
        },
    )

    assert response.status_code == 302
    number = PhoneNumber.objects.for_tenant(tenant).get()
    assert (number.number, number.agent, number.is_active) == ("+14155550123", agent, True)


def test_portal_shows_a_taken_number_on_the_field(other_tenant, owner, client_for):
    phone_number_create(tenant=other_tenant, number="+14155550123")

    response = client_for(owner).post(reverse("numbers-number-create"), {"number": "+14155550123", "provider": "sip"})

    assert response.status_code == 200
    assert NUMBER_TAKEN in response.text
    assert PhoneNumber.objects.count() == 1


def test_portal_edits_and_assigns_a_number(tenant, teammate, agent, client_for):
    number = phone_number_create(tenant=tenant, number="+14155550123")
    client = client_for(teammate)
    url = reverse("numbers-number-edit", kwargs={"code": number.code})

    page = client.get(url)
    response = client.post(
        url,
        {"number": "+14155550123", "label": "Sales", "provider": "sip", "agent": agent.code, "sip_trunk_id": "ST_x"},
    )

    assert page.status_code == 200
    assert response.status_code == 302
    number.refresh_from_db()
    assert (number.label, number.provider, number.agent, number.is_active) == ("Sales", "sip", agent, False)


def test_portal_cannot_assign_another_tenants_agent(tenant, owner, other_tenant, make_agent, client_for):
    number = phone_number_create(tenant=tenant, number="+14155550123")
    url = reverse("numbers-number-edit", kwargs={"code": number.code})

    response = client_for(owner).post(
        url, {"number": "+14155550123", "provider": "twilio", "agent": make_agent(other_tenant).code}
    )

    assert response.status_code == 200
    number.refresh_from_db()
    assert number.agent is None


def test_portal_deletes_a_number(tenant, owner, client_for):
    number = phone_number_create(tenant=tenant, number="+14155550123")
    url = reverse("numbers-number-delete", kwargs={"code": number.code})
    client = client_for(owner)

    confirm = client.get(url)
    response = client.post(url)

    assert confirm.status_code == 200
    assert response.status_code == 302
    assert not PhoneNumber.objects.filter(pk=number.pk).exists()


def test_viewer_reads_the_list_but_cannot_change_anything(tenant, viewer, client_for):
    number = phone_number_create(tenant=tenant, number="+14155550123", label="Support")
    client = client_for(viewer)

    listing = client.get(reverse("numbers-number-list"))
    assert listing.status_code == 200
    assert "+14155550123" in listing.text
    assert reverse("numbers-number-edit", kwargs={"code": number.code}) not in listing.text

    for url, data in (
        (reverse("numbers-number-create"), {"number": "+14155550124", "provider": "twilio"}),
        (reverse("numbers-number-edit", kwargs={"code": number.code}), {"number": "+14155550123", "label": "X"}),
        (reverse("numbers-number-delete", kwargs={"code": number.code}), {}),
    ):
        assert client.get(url).status_code == 403, url
        assert client.post(url, data).status_code == 403, url
    number.refresh_from_db()
    assert number.label == "Support"
    assert PhoneNumber.objects.count() == 1


# Admin ---------------------------------------------------------------------------------------


def test_admin_lists_numbers_with_filters(tenant, admin_client):
    phone_number_create(tenant=tenant, number="+14155550123")

    response = admin_client.get(reverse("admin:telephony_app_phonenumber_changelist"), {"provider__exact": "twilio"})

    assert response.status_code == 200
    assert "+14155550123" in response.text
