"""An outbound-only agent cannot answer a phone number (issue 12, item 9): the numbers API, the
portal's number form and the admin refuse it with one rule's message; and an agent that answers a
number cannot be made outbound-only (agent service, API, portal form, admin)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from agents_app.models import Agent
from agents_app.services import agent_create, agent_update
from telephony_app.models import PhoneNumber
from telephony_app.services import phone_number_create
from tests.agents_app.test_portal_agents import _edit_data
from voiceplatform.actor import SYSTEM

NUMBER = "+14155550123"
OUTBOUND_ONLY = "is outbound-only: it places calls and cannot answer a number"
CANNOT_BECOME = "cannot become outbound-only"


@pytest.fixture
def dialer(tenant) -> Agent:
    return agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Dialer", "direction": "outbound"})


def test_service_refuses_an_outbound_only_agent_for_a_number(tenant, dialer):
    with pytest.raises(ValidationError) as refused:
        phone_number_create(tenant=tenant, number=NUMBER, agent=dialer)

    assert OUTBOUND_ONLY in refused.value.message_dict["agent"][0]
    assert not PhoneNumber.objects.exists()


def test_api_create_and_assign_refuse_it_naming_agent_id(api, tenant, dialer):
    created = api.post("/api/v1/phone-numbers", {"number": NUMBER, "agentId": str(dialer.code)}, format="json")
    number = phone_number_create(tenant=tenant, number=NUMBER)
    assigned = api.post(
        f"/api/v1/phone-numbers/{number.code}/assign-agent", {"agentId": str(dialer.code)}, format="json"
    )

    for response in (created, assigned):
        assert response.status_code == 400, response.content
        assert "agentId" in response.text
        assert OUTBOUND_ONLY in response.text
    number.refresh_from_db()
    assert number.agent is None


def test_portal_number_form_refuses_it_on_the_field(tenant, owner, client_for, dialer):
    response = client_for(owner).post(
        reverse("numbers-number-create"), {"number": NUMBER, "provider": "twilio", "agent": dialer.code}
    )

    assert response.status_code == 200
    assert OUTBOUND_ONLY in response.context["form"].errors["agent"][0]
    assert not PhoneNumber.objects.exists()


def test_admin_number_form_refuses_it(tenant, admin_client, dialer):
    response = admin_client.post(
        reverse("admin:telephony_app_phonenumber_add"),
        {"tenant": tenant.pk, "number": NUMBER, "provider": "twilio", "agent": dialer.pk, "is_active": "on"},
    )

    assert response.status_code == 200
    assert OUTBOUND_ONLY in response.text
    assert not PhoneNumber.objects.exists()


# The reverse: the agent answering a number is changed to outbound-only -----------------------


@pytest.fixture
def answering(tenant, agent) -> Agent:
    phone_number_create(tenant=tenant, number=NUMBER, label="Main line", agent=agent)
    return agent


def test_agent_service_refuses_outbound_only_while_it_answers_a_number(tenant, answering):
    with pytest.raises(ValidationError) as refused:
        agent_update(tenant=tenant, agent=answering, actor=SYSTEM, fields={"direction": "outbound"})

    message = refused.value.message_dict["direction"][0]
    assert CANNOT_BECOME in message
    assert NUMBER in message
    answering.refresh_from_db()
    assert answering.direction == "both"


def test_agent_api_refuses_it_naming_direction(api, answering):
    response = api.patch(f"/api/v1/agents/{answering.code}", {"direction": "outbound"}, format="json")

    assert response.status_code == 400
    assert "direction" in response.text
    assert CANNOT_BECOME in response.text


def test_inbound_and_both_stay_allowed(tenant, answering):
    agent_update(tenant=tenant, agent=answering, actor=SYSTEM, fields={"direction": "inbound"})
    agent_update(tenant=tenant, agent=answering, actor=SYSTEM, fields={"direction": "both"})


def test_agent_portal_form_refuses_it_on_the_direction_field(tenant, owner, client_for, answering):
    client = client_for(owner)
    url = reverse("agents-agent-edit", kwargs={"code": answering.code})
    page = client.get(url)

    response = client.post(url, {**_edit_data(page), "direction": "outbound"})

    assert response.status_code == 400
    assert CANNOT_BECOME in " ".join(response.context["form"].errors["direction"])


def test_portal_number_form_marks_outbound_only_agents(tenant, owner, client_for, dialer, agent):
    page = client_for(owner).get(reverse("numbers-number-create"))

    assert "Dialer (outbound-only: cannot answer)" in page.text
    assert f">{agent.name}</option>" in page.text


def test_admin_refuses_making_the_answering_agent_outbound_only(tenant, admin_client, answering):
    url = reverse("admin:agents_app_agent_change", args=[answering.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "tenant"}
    data.update({"ivr_menu": "{}", "direction": "outbound"})
    for prefix in ("business_hours", "holidays", "prompt_versions"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert CANNOT_BECOME in " ".join(response.context["adminform"].form.errors["direction"])
    answering.refresh_from_db()
    assert answering.direction == "both"
