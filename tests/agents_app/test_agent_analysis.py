"""An agent's post-call analysis settings in the API, the portal form and the admin: stored, shown,
validated with the same messages everywhere, and only through the agent's own tenant."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from django import forms
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from agents_app.analysis import SCHEMA_EXAMPLE, analysis_schema_problems
from agents_app.models import Agent, PromptVersion
from agents_app.services import agent_create
from telephony_app.models import AnalysisStatus, Call, CallDirection, CallStatus
from telephony_app.services import call_create
from tests.factories import MembershipFactory, UserFactory
from voiceplatform.actor import SYSTEM
from voiceplatform.models import Role

URL = "/api/v1/agents"
ANALYSIS = {
    "enabled": True,
    "summaryPrompt": "Who called and what they booked.",
    "schema": SCHEMA_EXAMPLE,
    "successRubric": "A table was booked.",
}


def _agent(tenant, **fields: Any) -> Agent:
    return agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Maya", **fields})


def _text(response) -> str:
    """The page as a reader sees it: tags removed, entities decoded, runs of white space as one space."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.text)))


# --- the rule ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ([1, 2], "schema: write a JSON object"),
        ({"type": "array"}, "schema (the whole schema): 'properties' is a required property."),
        ({"type": "object", "properties": {}}, "schema.properties: {} should be non-empty."),
        (
            {"type": "object", "properties": {"age": {"type": "int", "description": "Age."}}},
            "schema.properties.age.type: 'int' is not a field type here; use one of string, number, integer, "
            "boolean, array.",
        ),
        (
            {"type": "object", "properties": {"age": {"type": "integer"}}},
            "schema.properties.age: 'description' is a required property.",
        ),
        (
            {"type": "object", "properties": {"first name": {"type": "string", "description": "x"}}},
            "schema.properties: 'first name' is not a field name",
        ),
        (
            {"type": "object", "properties": {"tags": {"type": "array", "description": "Tags."}}},
            'schema.properties.tags: an array field needs items, e.g. {"type": "string"}.',
        ),
        (
            {"type": "object", "properties": {"n": {"type": "number", "enum": ["one"], "description": "N."}}},
            "schema.properties.n.enum: a number field's choices must all be numbers.",
        ),
        (
            {"type": "object", "properties": {"n": {"type": "string", "description": "N."}}, "required": ["m"]},
            "schema.required: 'm' not among the fields.",
        ),
        (
            {"type": "object", "properties": {"n": {"type": "string", "description": "N.", "format": "email"}}},
            "schema.properties.n: Additional properties are not allowed ('format' was unexpected).",
        ),
    ],
)
def test_a_bad_schema_gets_a_message_naming_the_place(schema, message):
    problems = analysis_schema_problems(schema)

    assert any(problem.startswith(message) for problem in problems), problems


def test_the_example_schema_and_no_schema_are_fine():
    assert analysis_schema_problems(SCHEMA_EXAMPLE) == []
    assert analysis_schema_problems({}) == []
    assert analysis_schema_problems(None) == []


# --- API ----------------------------------------------------------------------------------------------


def test_the_api_stores_and_returns_the_analysis_settings(api):
    response = api.post(URL, {"name": "Maya", "analysis": ANALYSIS}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["analysis"] == ANALYSIS
    agent = Agent.objects.get(code=response.json()["id"])
    assert agent.analysis_enabled is True
    assert agent.analysis_schema == SCHEMA_EXAMPLE
    assert api.get(f"{URL}/{agent.code}").json()["analysis"] == ANALYSIS


def test_a_new_agent_has_analysis_off_and_null_clears_the_schema(api):
    created = api.post(URL, {"name": "Maya"}, format="json").json()
    assert created["analysis"] == {"enabled": False, "summaryPrompt": "", "schema": None, "successRubric": ""}

    api.patch(f"{URL}/{created['id']}", {"analysis": ANALYSIS}, format="json")
    response = api.patch(f"{URL}/{created['id']}", {"analysis": {"schema": None}}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["analysis"]["schema"] is None
    assert response.json()["analysis"]["enabled"] is True
    assert Agent.objects.get(code=created["id"]).analysis_schema == {}


def test_a_bad_schema_is_a_400_on_the_field_and_changes_nothing(api, tenant):
    agent = _agent(tenant)
    bad = {"type": "object", "properties": {"age": {"type": "int", "description": "Age."}, "x": {"type": "string"}}}

    response = api.patch(f"{URL}/{agent.code}", {"analysis": {"enabled": True, "schema": bad}}, format="json")

    assert response.status_code == 400, response.content
    messages = response.json()["analysis"]["schema"]
    assert any("schema.properties.age.type: 'int' is not a field type here" in m for m in messages), messages
    assert any("schema.properties.x: 'description' is a required property." in m for m in messages), messages
    agent.refresh_from_db()
    assert (agent.analysis_enabled, agent.analysis_schema) == (False, {})


@pytest.mark.parametrize("schema", ["not an object", 42, [{"type": "string"}]])
def test_a_schema_of_the_wrong_json_type_is_a_400(api, tenant, schema):
    agent = _agent(tenant)

    response = api.patch(f"{URL}/{agent.code}", {"analysis": {"schema": schema}}, format="json")

    assert response.status_code == 400, response.content
    assert "schema" in response.json()["analysis"]


def test_another_tenants_agent_analysis_settings_are_a_404_and_unchanged(api, other_tenant):
    theirs = _agent(other_tenant, analysis_enabled=True, analysis_success_rubric="Theirs.")

    assert api.get(f"{URL}/{theirs.code}").status_code == 404
    response = api.patch(f"{URL}/{theirs.code}", {"analysis": {"enabled": False}}, format="json")

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert (theirs.analysis_enabled, theirs.analysis_success_rubric) == (True, "Theirs.")


# --- portal -------------------------------------------------------------------------------------------


def _edit_data(response) -> dict[str, Any]:
    form = response.context["form"]
    data: dict[str, Any] = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field.widget, forms.MultiWidget):
            for suffix, sub in zip(field.widget.widgets_names, field.widget.decompress(value), strict=True):
                if sub is True:
                    data[name + suffix] = "on"
                elif sub:
                    data[name + suffix] = sub
        elif isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
        else:
            data[name] = "" if value is None else field.widget.format_value(field.prepare_value(value)) or ""
    return data


def test_the_portal_form_saves_the_analysis_section(tenant, owner, client_for):
    agent = _agent(tenant)
    client = client_for(owner)
    edit = reverse("agents-agent-edit", kwargs={"code": agent.code})
    page = client.get(edit)
    assert "Post-call analysis" in _text(page)
    data = _edit_data(page)

    data.update(
        analysis_enabled="on",
        analysis_summary_prompt="Who called.",
        analysis_schema=json.dumps(SCHEMA_EXAMPLE),
        analysis_success_rubric="A table was booked.",
    )
    response = client.post(edit, data)

    assert response.status_code == 302, _text(response)[:3000]
    agent.refresh_from_db()
    assert agent.analysis_enabled is True
    assert agent.analysis_schema == SCHEMA_EXAMPLE
    assert agent.analysis_success_rubric == "A table was booked."
    detail = _text(client.get(reverse("agents-agent-detail", kwargs={"code": agent.code})))
    assert "customer_name (string)" in detail and "A table was booked." in detail


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ('{"type": "object", "properties": {"age": {"type": "int"', "Enter a valid JSON."),
        (
            '{"type": "object", "properties": {"age": {"type": "int", "description": "Age."}}}',
            "schema.properties.age.type: 'int' is not a field type here",
        ),
    ],
)
def test_the_portal_form_shows_schema_errors_and_saves_nothing(tenant, owner, client_for, raw, message):
    agent = _agent(tenant)
    client = client_for(owner)
    edit = reverse("agents-agent-edit", kwargs={"code": agent.code})
    data = _edit_data(client.get(edit))
    before = Agent.objects.filter(pk=agent.pk).values().get()

    data.update(analysis_enabled="on", analysis_schema=raw)
    response = client.post(edit, data)

    assert response.status_code == 400
    assert message in _text(response)
    assert Agent.objects.filter(pk=agent.pk).values().get() == before


# --- the call page --------------------------------------------------------------------------------------


def test_the_call_page_shows_the_summary_the_extracted_fields_and_success(tenant, owner, client_for):
    agent = _agent(tenant, analysis_enabled=True, analysis_schema=SCHEMA_EXAMPLE, analysis_success_rubric="Booked.")
    call = call_create(tenant=tenant, agent=agent, direction=CallDirection.CHAT, status=CallStatus.COMPLETED)
    Call.objects.filter(pk=call.pk).update(
        analysis_status=AnalysisStatus.DONE,
        summary="Dana booked a table for four.",
        extracted={"customer_name": "Dana", "party_size": 4, "topics": ["booking", "parking"]},
        success=True,
    )

    page = _text(client_for(owner).get(reverse("calls-call-detail", kwargs={"code": call.code})))

    assert "Analysis Done" in page
    assert "Dana booked a table for four." in page
    assert re.search(r"customer_name\s+Dana\s+The caller's full name", page)
    assert re.search(r"topics\s+booking, parking", page)
    assert re.search(r"Success\s+yes", page)


def test_the_call_page_shows_why_an_analysis_failed(tenant, owner, client_for):
    agent = _agent(tenant, analysis_enabled=True)
    call = call_create(tenant=tenant, agent=agent, direction=CallDirection.CHAT, status=CallStatus.COMPLETED)
    Call.objects.filter(pk=call.pk).update(
        analysis_status=AnalysisStatus.FAILED, analysis_error="the model's answer was invalid twice: x"
    )

    page = _text(client_for(owner).get(reverse("calls-call-detail", kwargs={"code": call.code})))

    assert "Analysis Failed" in page
    assert "The analysis failed: the model's answer was invalid twice: x" in page


def test_another_tenants_call_analysis_is_a_404(tenant, other_tenant, api, owner, client_for):
    theirs = _agent(other_tenant, analysis_enabled=True)
    call = call_create(tenant=other_tenant, agent=theirs, direction=CallDirection.CHAT, status=CallStatus.COMPLETED)
    Call.objects.filter(pk=call.pk).update(analysis_status=AnalysisStatus.DONE, summary="Their secret summary.")

    assert api.get(f"/api/v1/calls/{call.code}").status_code == 404
    assert client_for(owner).get(reverse("calls-call-detail", kwargs={"code": call.code})).status_code == 404


# --- admin ----------------------------------------------------------------------------------------------


def test_the_admin_edits_the_analysis_section_with_the_same_rule(tenant):
    agent = _agent(tenant)
    user = UserFactory(username="staff@acme.test", is_staff=True)
    MembershipFactory(tenant=tenant, user=user, role=Role.ADMIN)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["agents_app", "voiceplatform"]))
    client = Client()
    client.force_login(user)
    url = f"/admin/agents_app/agent/{agent.pk}/change/"
    form = client.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "tenant"}
    data.update({"ivr_menu": "{}", "analysis_enabled": "on", "analysis_success_rubric": "Booked."})
    for prefix in ("business_hours", "holidays"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    versions = PromptVersion.objects.filter(agent=agent).order_by("-version")
    data["prompt_versions-TOTAL_FORMS"] = data["prompt_versions-INITIAL_FORMS"] = str(versions.count())
    for index, version in enumerate(versions):
        data[f"prompt_versions-{index}-id"] = str(version.pk)
        data[f"prompt_versions-{index}-agent"] = str(agent.pk)
    bad_schema = {"type": "object", "properties": {"age": {"type": "int", "description": "Age."}}}

    bad = client.post(url, {**data, "analysis_schema": json.dumps(bad_schema)})
    good = client.post(url, {**data, "analysis_schema": json.dumps(SCHEMA_EXAMPLE)})

    assert bad.status_code == 200
    assert "schema.properties.age.type: &#x27;int&#x27; is not a field type here" in bad.text
    assert good.status_code == 302, good.context["adminform"].form.errors if good.context else good
    agent.refresh_from_db()
    assert (agent.analysis_enabled, agent.analysis_schema, agent.analysis_success_rubric) == (
        True,
        SCHEMA_EXAMPLE,
        "Booked.",
    )
