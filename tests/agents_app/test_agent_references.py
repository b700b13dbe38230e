"""Deleting an agent that something still uses (issue 12, item 7): the service, API, portal and admin
name the references and refuse, or detach them with the delete after an explicit confirmation; the
runtime config never carries a dangling agent id and the readiness panel names one."""

from __future__ import annotations

import ast
import pathlib

import pytest
from django.urls import reverse

from agents_app.models import Agent
from agents_app.runtime_config import build_runtime_config
from agents_app.services import AgentInUse, agent_create, agent_delete, agent_update
from telephony_app.models import PhoneNumber
from telephony_app.services import phone_number_create
from voiceplatform.actor import SYSTEM

NUMBER = "+14155550123"


def _agent(tenant, name: str, **fields) -> Agent:
    return agent_create(tenant=tenant, actor=SYSTEM, fields={"name": name, "system_prompt": "Help.", **fields})


def _menu_to(target: Agent, digit: str = "2") -> dict:
    return {
        "prompt": "For sales press 1, for billing press 2.",
        "options": [
            {"digit": "1", "action": "transfer", "number": "+14155550199"},
            {"digit": digit, "label": "Billing", "action": "agent", "agentId": str(target.code)},
        ],
    }


@pytest.fixture
def billing(tenant) -> Agent:
    return _agent(tenant, "Billing")


@pytest.fixture
def front_desk(tenant, billing) -> Agent:
    return _agent(tenant, "Front desk", ivr_menu=_menu_to(billing))


@pytest.fixture
def number(tenant, billing) -> PhoneNumber:
    return phone_number_create(tenant=tenant, number=NUMBER, label="Billing line", agent=billing)


# Service -------------------------------------------------------------------------------------


def test_delete_refuses_and_names_every_reference(tenant, billing, front_desk, number):
    with pytest.raises(AgentInUse) as refused:
        agent_delete(tenant=tenant, agent=billing)

    labels = [ref.label for ref in refused.value.references]
    assert labels == ["IVR menu of Front desk, key 2", f"phone number {NUMBER} (Billing line)"]
    assert Agent.objects.for_tenant(tenant).filter(pk=billing.pk).exists()
    number.refresh_from_db()
    assert number.agent == billing


def test_delete_with_detach_removes_the_references_and_the_referring_agent_stays_editable(
    tenant, billing, front_desk, number
):
    detached = agent_delete(tenant=tenant, agent=billing, detach=True)

    assert len(detached) == 2
    assert not Agent.objects.for_tenant(tenant).filter(pk=billing.pk).exists()
    number.refresh_from_db()
    assert number.agent is None
    front_desk.refresh_from_db()
    assert front_desk.ivr_menu["options"] == [{"digit": "1", "action": "transfer", "number": "+14155550199"}]
    # Before the fix every later edit of the referring agent was refused ("no other agent ...").
    agent_update(tenant=tenant, agent=front_desk, actor=SYSTEM, fields={"description": "Main line"})


def test_an_agent_nobody_uses_is_deleted_without_detach(tenant, billing):
    assert agent_delete(tenant=tenant, agent=billing) == []
    assert not Agent.objects.for_tenant(tenant).exists()


def test_references_are_per_tenant(tenant, other_tenant, billing):
    other = _agent(other_tenant, "Globex desk")
    phone_number_create(tenant=other_tenant, number="+14155550124", agent=other)

    assert agent_delete(tenant=tenant, agent=billing) == []


# API -----------------------------------------------------------------------------------------


def test_api_delete_answers_409_with_the_references_and_changes_nothing(api, tenant, billing, front_desk, number):
    response = api.delete(f"/api/v1/agents/{billing.code}")

    assert response.status_code == 409, response.content
    body = response.json()
    assert "Billing is still used by 2 things" in body["detail"]
    assert "?detach=true" in body["detail"]
    assert len(body["problems"]) == 2
    assert [(ref["kind"], ref["id"]) for ref in body["references"]] == [
        ("ivr_option", str(front_desk.code)),
        ("phone_number", str(number.code)),
    ]
    assert Agent.objects.for_tenant(tenant).filter(pk=billing.pk).exists()


def test_api_delete_with_detach_true_detaches_and_deletes(api, tenant, billing, front_desk, number):
    response = api.delete(f"/api/v1/agents/{billing.code}?detach=true")

    assert response.status_code == 204
    assert not Agent.objects.for_tenant(tenant).filter(pk=billing.pk).exists()
    number.refresh_from_db()
    assert number.agent is None
    assert api.patch(f"/api/v1/agents/{front_desk.code}", {"description": "x"}, format="json").status_code == 200


def test_api_delete_refuses_a_bad_detach_value_naming_it(api, billing):
    response = api.delete(f"/api/v1/agents/{billing.code}?detach=maybe")

    assert response.status_code == 400
    assert "detach" in response.text


def test_api_schema_documents_the_409(api):
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = schema["paths"]["/api/v1/agents/{id}"]["delete"]

    assert "409" in operation["responses"]
    assert any(parameter["name"] == "detach" for parameter in operation["parameters"])


# Portal --------------------------------------------------------------------------------------


def test_portal_confirmation_lists_the_references_and_offers_detach_and_delete(
    tenant, owner, client_for, billing, front_desk, number
):
    page = client_for(owner).get(reverse("agents-agent-delete", kwargs={"code": billing.code}))

    assert page.status_code == 200
    assert "IVR menu of Front desk, key 2" in page.text
    assert f"phone number {NUMBER} (Billing line)" in page.text
    assert "Detach and delete Billing" in page.text


def test_portal_post_without_the_confirmed_list_deletes_nothing(tenant, owner, client_for, billing, number):
    response = client_for(owner).post(reverse("agents-agent-delete", kwargs={"code": billing.code}))

    assert response.status_code == 409
    assert "Nothing was deleted" in response.text
    assert Agent.objects.for_tenant(tenant).filter(pk=billing.pk).exists()


def test_portal_detach_and_delete(tenant, owner, client_for, billing, front_desk, number):
    client = client_for(owner)
    url = reverse("agents-agent-delete", kwargs={"code": billing.code})
    page = client.get(url)

    response = client.post(url, {"detach": "1", "references": page.context["fingerprint"]})

    assert response.status_code == 302
    assert not Agent.objects.for_tenant(tenant).filter(pk=billing.pk).exists()
    number.refresh_from_db()
    assert number.agent is None


def test_portal_asks_again_when_a_reference_appeared_after_the_page(tenant, owner, client_for, billing, front_desk):
    client = client_for(owner)
    url = reverse("agents-agent-delete", kwargs={"code": billing.code})
    fingerprint = client.get(url).context["fingerprint"]
    phone_number_create(tenant=tenant, number=NUMBER, agent=billing)

    response = client.post(url, {"detach": "1", "references": fingerprint})

    assert response.status_code == 409
    assert f"phone number {NUMBER}" in response.text
    assert Agent.objects.for_tenant(tenant).filter(pk=billing.pk).exists()


# Admin ---------------------------------------------------------------------------------------


def test_admin_delete_page_lists_the_references_and_deleting_detaches(
    tenant, admin_client, billing, front_desk, number
):
    url = reverse("admin:agents_app_agent_delete", args=[billing.pk])
    page = admin_client.get(url)

    response = admin_client.post(url, {"post": "yes"})

    assert "IVR menu of Front desk, key 2" in page.text
    assert f"phone number {NUMBER}" in page.text
    assert response.status_code == 302
    assert not Agent.objects.filter(pk=billing.pk).exists()
    front_desk.refresh_from_db()
    assert len(front_desk.ivr_menu["options"]) == 1


def test_admin_bulk_delete_lists_references_and_detaches(tenant, admin_client, billing, number):
    changelist = reverse("admin:agents_app_agent_changelist")
    data = {"action": "delete_selected", "_selected_action": [billing.pk]}
    page = admin_client.post(changelist, data)

    response = admin_client.post(changelist, {**data, "post": "yes"})

    assert f"phone number {NUMBER}" in page.text
    assert response.status_code == 302
    number.refresh_from_db()
    assert number.agent is None


# Dangling ids (rows written before this check, or by a raw delete) ---------------------------


def test_runtime_config_leaves_out_an_option_to_a_missing_agent_and_readiness_names_it(
    tenant, owner, client_for, api, billing, front_desk
):
    Agent.objects.filter(pk=billing.pk).delete()  # bypasses the service, as old data or a cascade would
    front_desk.refresh_from_db()

    config = build_runtime_config(front_desk)
    page = client_for(owner).get(reverse("agents-agent-detail", kwargs={"code": front_desk.code}))
    api_body = api.get(f"/api/v1/agents/{front_desk.code}/runtime-config").json()

    assert [o["digit"] for o in config.to_document()["inbound"]["ivr_menu"]["options"]] == ["1"]
    assert str(billing.code) not in str(config.to_document())
    assert "IVR menu key 2 hands the call to agent" in page.text
    assert any("IVR menu key 2" in problem for problem in api_body["readiness"]["problems"])
    assert api_body["readiness"]["ready"] is False


# Layering ------------------------------------------------------------------------------------


@pytest.mark.parametrize("module", ["references.py", "services.py", "models.py", "runtime_config.py"])
def test_agents_app_learns_about_references_without_importing_telephony(module):
    source = (pathlib.Path(__file__).parents[2] / "agents_app" / module).read_text()
    imported = {node.module or "" for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)} | {
        alias.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import) for alias in node.names
    }

    assert not any(name.startswith(("telephony_app", "campaigns_app", "worker")) for name in imported)


def test_detail_page_shows_what_uses_the_agent(tenant, owner, client_for, billing, front_desk, number):
    page = client_for(owner).get(reverse("agents-agent-detail", kwargs={"code": billing.code}))
    unused = client_for(owner).get(reverse("agents-agent-detail", kwargs={"code": front_desk.code}))

    assert "IVR menu of Front desk, key 2" in page.text
    assert f"phone number {NUMBER} (Billing line)" in page.text
    assert "No phone number, other agent's IVR menu or campaign uses this agent." in unused.text
