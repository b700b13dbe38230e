"""{{placeholders}}: the vocabulary, rendering at call time, and rejection of unknown ones at save time."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from agents_app.demo import DEMO_AGENTS
from agents_app.models import Agent
from agents_app.placeholders import find_placeholders, render, unknown_placeholders
from agents_app.services import agent_create
from voiceplatform.actor import SYSTEM

FIELDS = {
    "name": "Reception",
    "system_prompt": "You answer the phone for {{company_name}}.",
    "greeting_message": "Hello {{first_name}}!",
    "llm_model": "gpt-4o-mini",
    "tts_provider": "openai",
    "voice_id": "alloy",
}


def test_find_placeholders_ignores_whitespace_inside_the_braces():
    text = "Hi {{first_name}}, {{ last_name }} at {{contact.plan_tier}}; {single} and {{ }} too"

    assert find_placeholders(text) == {"first_name", "last_name", "contact.plan_tier", ""}


@pytest.mark.parametrize(
    "name",
    [
        "caller_number",
        "callee_number",
        "agent_name",
        "company_name",
        "current_date",
        "current_time",
        "first_name",
        "last_name",
        "full_name",
        "email",
        "company",
        "contact.plan_tier",
        "contact.x1",
    ],
)
def test_every_name_of_the_vocabulary_is_allowed(name):
    assert unknown_placeholders(f"say {{{{{name}}}}}") == set()


@pytest.mark.parametrize("name", ["unknown", "First_Name", "contact.", "contact.Plan", "contact.a-b", "contact", ""])
def test_names_outside_the_vocabulary_are_unknown(name):
    assert unknown_placeholders(f"say {{{{{name}}}}}") == {name}


def test_render_fills_values_and_leaves_no_braces_for_missing_ones():
    text = "Hi {{ first_name }} {{last_name}}, plan {{contact.plan}}, {{unknown}}."

    assert render(text, {"first_name": "Ann", "contact.plan": "gold"}) == "Hi Ann , plan gold, ."


def test_render_leaves_single_braces_alone():
    assert render("{json: 1} {{first_name}}", {"first_name": "Ann"}) == "{json: 1} Ann"


def test_saving_an_agent_with_an_unknown_placeholder_names_it_on_the_field(tenant):
    fields = {**FIELDS, "system_prompt": "Ask {{first_name}} about {{favourite_colour}}."}

    with pytest.raises(ValidationError) as excinfo:
        agent_create(tenant=tenant, actor=SYSTEM, fields=fields)

    errors = excinfo.value.message_dict
    assert set(errors) == {"system_prompt"}
    assert "{{favourite_colour}}" in errors["system_prompt"][0]
    assert "{{first_name}}" in errors["system_prompt"][0]  # the allowed ones are listed
    assert "{{contact.<key>}}" in errors["system_prompt"][0]
    assert not Agent.objects.for_tenant(tenant).exists()


def test_an_unknown_placeholder_in_the_greeting_is_reported_on_the_greeting(tenant):
    fields = {**FIELDS, "greeting_message": "Hello {{ nickname }}!"}

    with pytest.raises(ValidationError) as excinfo:
        agent_create(tenant=tenant, actor=SYSTEM, fields=fields)

    assert set(excinfo.value.message_dict) == {"greeting_message"}
    assert "{{nickname}}" in excinfo.value.message_dict["greeting_message"][0]


def test_known_placeholders_and_contact_variables_save(tenant):
    fields = {**FIELDS, "system_prompt": "Plan: {{contact.plan_tier}}. Today is {{current_date}}."}

    agent = agent_create(tenant=tenant, actor=SYSTEM, fields=fields)

    assert agent.system_prompt == fields["system_prompt"]


@pytest.mark.parametrize("spec", DEMO_AGENTS, ids=lambda spec: spec["fields"]["name"])
def test_the_demo_agents_are_still_valid(tenant, spec):
    extra = {key: value for key, value in spec.items() if key != "fields"}

    agent = agent_create(tenant=tenant, actor=SYSTEM, fields=spec["fields"], **extra)

    assert agent.pk is not None
