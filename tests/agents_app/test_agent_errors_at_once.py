"""One save reports every invalid field (issue 12, item 10): type errors from the form or the
serializer no longer hide the service's and the model's checks until a second round."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from agents_app.models import Agent, PromptVersion
from agents_app.services import agent_check, agent_create
from tests.agents_app.conftest import TASK1_PAYLOAD
from tests.agents_app.test_portal_agents import VALID_FORM
from voiceplatform.actor import SYSTEM


def _at(body: dict[str, Any], path: str) -> list[str]:
    node: Any = body
    for part in path.split("."):
        assert isinstance(node, dict) and part in node, f"no error at {path}: {body}"
        node = node[part]
    return node


# Several independent mistakes: a type error the serializer catches, model and service checks.
API_MISTAKES = {
    "temperature": "hot",
    "maxConcurrentCalls": "many",
    "llmModel": "gpt-99",
    "metadata": {
        "sttLanguage": "xx",
        "holidays": ["2026-13-45"],
        "businessHours": {"funday": {"start": "09:00", "end": "17:00"}},
        "outboundConfig": {"voicemailAction": "leave_message", "voicemailMessage": ""},
        "ivrMenu": {"prompt": "Press 1", "options": [{"digit": "x", "action": "message", "message": "Hi"}]},
    },
}
API_PATHS = [
    "temperature",
    "maxConcurrentCalls",
    "llmModel",
    "metadata.sttLanguage",
    "metadata.holidays",
    "metadata.businessHours",
    "metadata.outboundConfig.voicemailMessage",
    "metadata.ivrMenu",
]


def test_api_create_reports_every_mistake_in_one_400(api):
    body = {**TASK1_PAYLOAD, **API_MISTAKES, "metadata": {**TASK1_PAYLOAD["metadata"], **API_MISTAKES["metadata"]}}

    response = api.post("/api/v1/agents", body, format="json")

    assert response.status_code == 400
    errors = response.json()
    for path in API_PATHS:
        assert _at(errors, path), path
    assert "OpenAI does not offer 'gpt-99'" in _at(errors, "llmModel")[0]
    assert not Agent.objects.exists()


def test_api_update_reports_every_mistake_in_one_400(api, tenant):
    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Desk"})

    response = api.patch(f"/api/v1/agents/{agent.code}", API_MISTAKES, format="json")

    assert response.status_code == 400
    for path in API_PATHS:
        assert _at(response.json(), path), path
    agent.refresh_from_db()
    assert agent.temperature == 0.7
    assert PromptVersion.objects.count() == 1


def test_a_check_that_depends_on_an_unreadable_field_is_not_reported(api):
    response = api.post("/api/v1/agents", {"name": "X", "llmProvider": 5, "llmModel": "claude-x"}, format="json")

    assert response.status_code == 400
    errors = response.json()
    assert "llmModel" not in errors  # judged against a provider nobody sent, it would mislead


PORTAL_MISTAKES = {
    "temperature": "warm",
    "max_concurrent_calls": "lots",
    "llm_model": "gpt-99",
    "transfer_number": "12345",
    "holidays": "2026-13-45 Nope",
    "voicemail_action": "leave_message",
    "voicemail_message": "",
    "stt_language": "xx",
}


def test_portal_form_reports_every_mistake_at_once(tenant, owner, client_for):
    response = client_for(owner).post(reverse("agents-agent-create"), {**VALID_FORM, **PORTAL_MISTAKES})

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert set(PORTAL_MISTAKES) - {"voicemail_action"} <= set(errors), errors
    assert "OpenAI does not offer 'gpt-99'" in errors["llm_model"][0]
    assert 'value="Front desk"' in response.text  # what was typed is still there
    assert not Agent.objects.exists()


def test_portal_edit_reports_every_mistake_at_once(tenant, owner, client_for):
    from tests.agents_app.test_portal_agents import _edit_data

    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Desk"})
    client = client_for(owner)
    url = reverse("agents-agent-edit", kwargs={"code": agent.code})
    data = {**_edit_data(client.get(url)), **PORTAL_MISTAKES}

    response = client.post(url, data)

    assert response.status_code == 400
    assert set(PORTAL_MISTAKES) - {"voicemail_action"} <= set(response.context["form"].errors)


def test_admin_reports_model_checks_alongside_field_errors(tenant, admin_client):
    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Desk"})
    page = admin_client.get(reverse("admin:agents_app_agent_change", args=[agent.pk]))
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "tenant"}
    data.update({"ivr_menu": "{}", "temperature": "warm", "llm_model": "gpt-99", "voice_id": "not-a-voice"})
    for prefix in ("business_hours", "holidays", "prompt_versions"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})

    response = admin_client.post(reverse("admin:agents_app_agent_change", args=[agent.pk]), data)

    errors = response.context["adminform"].form.errors
    assert {"temperature", "llm_model", "voice_id"} <= set(errors), errors


def test_agent_check_writes_nothing(tenant):
    problems = agent_check(tenant=tenant, agent=None, fields={"name": "", "llm_model": "gpt-99"})

    assert set(problems) == {"name", "llm_model"}
    assert not Agent.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"name": "X", "metadata": "not an object"},
        {"name": "X", "metadata": {"turnTaking": "no", "outboundConfig": [1]}},
        {"name": 5, "temperature": None, "metadata": {"businessHours": "always"}},
        {"name": "X", "voiceId": {"nested": True}, "metadata": {"ivrMenu": [1, 2]}},
    ],
)
def test_odd_shapes_still_get_one_400_and_never_a_500(api, body):
    response = api.post("/api/v1/agents", body, format="json")

    assert response.status_code == 400, response.content
    assert not Agent.objects.exists()


def test_every_ivr_menu_problem_is_reported_at_once(tenant):
    menu = {
        "prompt": "Press 1 or 2",
        "options": [
            {"digit": "x", "action": "message", "message": "Hi"},
            {"digit": "2", "action": "transfer", "number": "911"},
            {"digit": "2", "action": "message", "message": "Again"},
        ],
    }

    problems = agent_check(tenant=tenant, agent=None, fields={"name": "Menu", "ivr_menu": menu})

    text = " ".join(problems["ivr_menu"])
    assert "'x' is not a keypad key" in text
    assert "'911' is not an E.164 number" in text
    assert "digit '2' is used more than once" in text
