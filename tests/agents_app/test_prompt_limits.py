"""Prompt size (issue 12, item 11): limits that follow the model's context window plus a hard cap per
text, a live counter in the form (a static script, CSP-safe), and a clear page instead of Django's
RequestDataTooBig when the posted form is over DATA_UPLOAD_MAX_MEMORY_SIZE."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from agents_app.models import Agent
from agents_app.services import agent_check
from agents_app.validation import PROMPT_FIELD_MAX_CHARS, prompt_budget_tokens, prompt_size_problems
from tests.agents_app.test_portal_agents import VALID_FORM

# The rule ------------------------------------------------------------------------------------


def test_the_three_texts_may_use_a_quarter_of_the_context_window():
    fits = prompt_size_problems(
        texts={"system_prompt": "x" * 7_000, "personality": "y" * 500, "greeting_message": "z" * 500},
        context_window=8_000,
        max_output_tokens=None,
        model_name="Small model",
    )
    too_long = prompt_size_problems(
        texts={"system_prompt": "x" * 7_600, "personality": "y" * 500, "greeting_message": "z" * 500},
        context_window=8_000,
        max_output_tokens=None,
        model_name="Small model",
    )

    assert fits == {}
    assert list(too_long) == ["system_prompt"]
    assert "at most 2,000 of its context window of 8000 tokens" in too_long["system_prompt"]


def test_the_budget_also_keeps_room_for_the_longest_reply():
    assert prompt_budget_tokens(context_window=128_000, max_output_tokens=16_384) == 32_000
    assert prompt_budget_tokens(context_window=8_000, max_output_tokens=7_000) == 1_000
    assert prompt_budget_tokens(context_window=0, max_output_tokens=None) is None  # unknown window: caps only


def test_every_text_over_its_cap_is_reported_at_once(tenant):
    problems = agent_check(
        tenant=tenant,
        agent=None,
        fields={
            "name": "Long",
            "system_prompt": "a" * (PROMPT_FIELD_MAX_CHARS["system_prompt"] + 1),
            "personality": "b" * (PROMPT_FIELD_MAX_CHARS["personality"] + 1),
            "greeting_message": "c" * (PROMPT_FIELD_MAX_CHARS["greeting_message"] + 1),
        },
    )

    assert set(problems) == {"system_prompt", "personality", "greeting_message"}
    assert "the limit is 32,000" in problems["system_prompt"][0]
    assert "the limit is 2,000" in problems["personality"][0]
    assert "the limit is 1,000" in problems["greeting_message"][0]


def test_an_unknown_free_model_gets_the_caps_only(tenant):
    fields = {
        "name": "Local",
        "llm_provider": "openai_compatible",
        "llm_model": "my-llama",
        "system_prompt": "a" * 30_000,
    }

    assert "system_prompt" not in agent_check(tenant=tenant, agent=None, fields=fields)


# The portal form -----------------------------------------------------------------------------


def test_over_long_text_comes_back_in_the_form_with_its_error(tenant, owner, client_for):
    typed = "Be helpful and kind. " * 2_000  # 42,000 characters
    response = client_for(owner).post(reverse("agents-agent-create"), {**VALID_FORM, "system_prompt": typed})

    assert response.status_code == 400
    assert response.context["form"]["system_prompt"].value() == typed  # nothing typed is lost
    assert "the limit is 32,000" in response.context["form"].errors["system_prompt"][0]
    assert not Agent.objects.exists()


def test_the_form_loads_the_counter_from_a_static_file_with_the_limits_as_data(tenant, owner, client_for):
    page = client_for(owner).get(reverse("agents-agent-create"))

    assert '<script src="/static/js/agent_form.js" defer></script>' in page.text
    assert '<script id="prompt-limits" type="application/json">' in page.text
    scripts = re.findall(r"<script(?P<attrs>[^>]*)>", page.text)
    assert all("src=" in attrs or 'type="application/json"' in attrs for attrs in scripts), scripts
    assert not re.search(r"\son[a-z]+=", page.text)  # no inline event handlers
    assert "At most 32,000 characters" in page.text


@pytest.fixture
def small_upload_limit(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 20_000
    return 20_000


@pytest.mark.parametrize("enforce_csrf", [False, True])
def test_a_form_over_the_upload_limit_gets_a_clear_page_not_djangos_400(
    tenant, owner, small_upload_limit, enforce_csrf
):
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(owner)

    response = client.post(reverse("agents-agent-create"), {**VALID_FORM, "system_prompt": "x" * 30_000})

    assert response.status_code == 413
    assert "Nothing was saved" in response.text
    assert "Your text is still in your browser" in response.text
    assert "System prompt: 32,000 characters" in response.text
    assert not Agent.objects.exists()


def test_the_edit_form_over_the_limit_changes_nothing(tenant, owner, client_for, small_upload_limit):
    from agents_app.services import agent_create
    from voiceplatform.actor import SYSTEM

    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Desk", "system_prompt": "Short."})

    response = client_for(owner).post(
        reverse("agents-agent-edit", kwargs={"code": agent.code}), {**VALID_FORM, "system_prompt": "x" * 30_000}
    )

    assert response.status_code == 413
    agent.refresh_from_db()
    assert agent.system_prompt == "Short."


def test_other_pages_keep_their_own_answer(tenant, owner, client_for, small_upload_limit):
    response = client_for(owner).post(reverse("numbers-number-create"), {"label": "x" * 30_000})

    assert "Your text is still in your browser" not in response.content.decode()
