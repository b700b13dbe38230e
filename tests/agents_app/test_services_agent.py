"""agents_app.services and selectors: prompt history, revert, duplicate, activate, delete, atomic writes."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404

from agents_app import selectors
from agents_app.models import Agent, BusinessHours, Holiday, PromptVersion
from agents_app.services import (
    agent_create,
    agent_delete,
    agent_duplicate,
    agent_revert_prompt,
    agent_set_active,
    agent_update,
)
from voiceplatform.actor import SYSTEM, Actor

WEEKDAYS_9_TO_5 = {day: {"start": "09:00", "end": "17:00"} for day in ("monday", "tuesday", "wednesday")}


def _versions(agent: Agent) -> list[PromptVersion]:
    return list(PromptVersion.objects.for_tenant(agent.tenant).filter(agent=agent).order_by("version"))


def _hours(agent: Agent) -> list[tuple[int, datetime.time, datetime.time]]:
    return list(
        BusinessHours.objects.for_tenant(agent.tenant).filter(agent=agent).values_list("weekday", "start", "end")
    )


# --- prompt history ----------------------------------------------------------------------------


def test_creating_an_agent_writes_prompt_version_1_with_its_texts_and_author(tenant, owner):
    agent = agent_create(
        tenant=tenant,
        actor=Actor(user=owner),
        fields={"name": "Support", "system_prompt": "Help callers.", "personality": "Calm", "greeting_message": "Hi!"},
    )

    [version] = _versions(agent)
    assert version.version == 1
    assert (version.system_prompt, version.personality, version.greeting_message) == ("Help callers.", "Calm", "Hi!")
    assert version.author_user == owner
    assert version.author_label == "owner@acme.test"
    assert version.note == "Created"


@pytest.mark.parametrize(
    ("field", "value"),
    [("system_prompt", "A new prompt."), ("personality", "Grumpy"), ("greeting_message", "Welcome back!")],
)
def test_changing_a_prompt_text_writes_a_new_version(tenant, make_agent, field, value):
    agent = make_agent(tenant)

    agent_update(tenant=tenant, agent=agent, actor=SYSTEM, fields={field: value}, note="tweak")

    versions = _versions(agent)
    assert [v.version for v in versions] == [1, 2]
    assert getattr(versions[1], field) == value
    assert versions[1].note == "tweak"
    assert versions[1].system_prompt == (value if field == "system_prompt" else versions[0].system_prompt)


@pytest.mark.parametrize(
    "fields",
    [
        {"temperature": 1.3},
        {"name": "Renamed", "max_concurrent_calls": 9, "direction": "inbound"},
        {"system_prompt": "You are a friendly sales agent. Help customers find the right product."},
    ],
)
def test_changes_that_leave_the_prompt_texts_alone_write_no_version(tenant, make_agent, fields):
    agent = make_agent(tenant)

    updated = agent_update(tenant=tenant, agent=agent, actor=SYSTEM, fields=fields)

    assert [v.version for v in _versions(agent)] == [1]
    for name, value in fields.items():
        assert getattr(Agent.objects.get(pk=updated.pk), name) == value


def test_reverting_brings_back_the_old_texts_as_a_new_version(tenant, make_agent, owner):
    agent = make_agent(tenant, system_prompt="Original prompt.", personality="Warm")
    agent_update(
        tenant=tenant, agent=agent, actor=SYSTEM, fields={"system_prompt": "Bad prompt.", "personality": "Cold"}
    )

    reverted = agent_revert_prompt(tenant=tenant, agent=agent, version=1, actor=Actor(user=owner))

    reverted.refresh_from_db()
    assert (reverted.system_prompt, reverted.personality) == ("Original prompt.", "Warm")
    versions = _versions(agent)
    assert [v.version for v in versions] == [1, 2, 3]
    assert (versions[1].system_prompt, versions[1].personality) == ("Bad prompt.", "Cold")  # history kept
    assert (versions[2].system_prompt, versions[2].personality) == ("Original prompt.", "Warm")
    assert versions[2].note == "Reverted to version 1"
    assert versions[2].author_user == owner


def test_reverting_to_a_version_that_does_not_exist_is_a_validation_error(tenant, make_agent):
    agent = make_agent(tenant)

    with pytest.raises(ValidationError) as excinfo:
        agent_revert_prompt(tenant=tenant, agent=agent, version=7, actor=SYSTEM)

    assert "Version 7 does not exist" in excinfo.value.message_dict["version"][0]
    assert len(_versions(agent)) == 1


def test_prompt_diff_marks_only_the_texts_that_changed(tenant, make_agent):
    agent = make_agent(tenant, system_prompt="Sell shoes.", personality="Warm", greeting_message="Hello")
    agent_update(tenant=tenant, agent=agent, actor=SYSTEM, fields={"system_prompt": "Sell boots."})
    older, newer = _versions(agent)

    diff = {d.field: d for d in selectors.prompt_diff(older=older, newer=newer)}

    assert diff["system_prompt"].changed is True
    assert "shoes" in diff["system_prompt"].table_html and "boots" in diff["system_prompt"].table_html
    assert diff["personality"].changed is False
    assert diff["greeting_message"].changed is False


# --- create / update ---------------------------------------------------------------------------


def test_phone_numbers_are_stored_in_e164(tenant, make_agent):
    agent = make_agent(tenant, transfer_number="+1 (800) 555-1234", fallback_number=" +44 20 7946 0958 ")

    agent.refresh_from_db()
    assert (agent.transfer_number, agent.fallback_number) == ("+18005551234", "+442079460958")


def test_an_invalid_update_changes_nothing(tenant, make_agent):
    agent = make_agent(tenant, business_hours=WEEKDAYS_9_TO_5)
    hours_before = _hours(agent)

    with pytest.raises(ValidationError) as excinfo:
        agent_update(
            tenant=tenant,
            agent=agent,
            actor=SYSTEM,
            fields={"system_prompt": "Changed.", "temperature": 7, "transfer_number": "12"},
            business_hours={"friday": {"start": "08:00", "end": "18:00"}},
        )

    assert set(excinfo.value.message_dict) == {"temperature", "transfer_number"}
    agent.refresh_from_db()
    assert agent.system_prompt.startswith("You are a friendly sales agent")
    assert agent.temperature == 0.7
    assert agent.transfer_number == "+18005551234"
    assert _hours(agent) == hours_before
    assert len(_versions(agent)) == 1


def test_updating_business_hours_and_holidays_replaces_them(tenant, make_agent):
    agent = make_agent(tenant, business_hours=WEEKDAYS_9_TO_5, holidays=["2026-12-25"])

    agent_update(
        tenant=tenant,
        agent=agent,
        actor=SYSTEM,
        fields={},
        business_hours={"saturday": [{"start": "10:00", "end": "12:00"}, {"start": "14:00", "end": "16:00"}]},
        holidays=[{"date": "2027-01-01", "name": "New Year"}],
    )

    assert _hours(agent) == [
        (5, datetime.time(10), datetime.time(12)),
        (5, datetime.time(14), datetime.time(16)),
    ]
    assert list(Holiday.objects.for_tenant(tenant).filter(agent=agent).values_list("date", "name")) == [
        (datetime.date(2027, 1, 1), "New Year")
    ]


def test_creating_an_agent_with_business_hours_switches_them_on(tenant):
    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Support"}, business_hours=WEEKDAYS_9_TO_5)

    agent.refresh_from_db()
    assert agent.business_hours_enabled is True
    assert len(_hours(agent)) == 3


def test_business_hours_can_be_stored_switched_off(tenant):
    agent = agent_create(
        tenant=tenant,
        actor=SYSTEM,
        fields={"name": "Support", "business_hours_enabled": False},
        business_hours=WEEKDAYS_9_TO_5,
    )

    agent.refresh_from_db()
    assert agent.business_hours_enabled is False
    assert len(_hours(agent)) == 3


def test_an_ivr_option_may_route_to_another_agent_of_the_same_tenant(tenant, make_agent):
    support = make_agent(tenant, name="Support")
    menu = {
        "prompt": "Press 2 for support.",
        "options": [{"digit": "2", "action": "agent", "agentId": str(support.code)}],
    }

    front_desk = make_agent(tenant, name="Front desk", ivr_menu=menu)

    assert front_desk.ivr_menu == menu


def test_an_ivr_option_may_not_route_to_the_agent_itself(tenant, make_agent):
    agent = make_agent(tenant)
    menu = {"prompt": "Press 1.", "options": [{"digit": "1", "action": "agent", "agentId": str(agent.code)}]}

    with pytest.raises(ValidationError) as excinfo:
        agent_update(tenant=tenant, agent=agent, actor=SYSTEM, fields={"ivr_menu": menu})

    assert "no other agent" in excinfo.value.message_dict["ivr_menu"][0]


# --- duplicate / activate / delete -------------------------------------------------------------


def test_duplicate_copies_fields_hours_and_holidays_under_its_own_id(tenant, make_agent, owner):
    source = make_agent(
        tenant,
        greeting_message="Hello!",
        temperature=1.1,
        direction="inbound",
        timezone="America/Chicago",
        business_hours=WEEKDAYS_9_TO_5,
        holidays=[{"date": "2026-12-25", "name": "Christmas"}],
    )

    copy = agent_duplicate(tenant=tenant, agent=source, actor=Actor(user=owner))

    assert copy.pk != source.pk and copy.code != source.code
    assert copy.name == "Sales Agent (copy)"
    copied = (
        "system_prompt", "personality", "greeting_message", "temperature", "voice_id", "tts_provider",
        "stt_provider", "stt_model", "direction", "timezone", "transfer_number", "business_hours_enabled",
    )  # fmt: skip
    for field in copied:
        assert getattr(copy, field) == getattr(source, field), field
    assert _hours(copy) == _hours(source) and len(_hours(copy)) == 3
    assert list(Holiday.objects.filter(agent=copy).values_list("date", "name")) == [
        (datetime.date(2026, 12, 25), "Christmas")
    ]
    [version] = _versions(copy)
    assert version.version == 1 and version.system_prompt == source.system_prompt
    assert version.note == "Duplicated from Sales Agent"
    assert len(_hours(source)) == 3 and len(_versions(source)) == 1  # the source is untouched


def test_duplicate_takes_a_new_name(tenant, make_agent):
    copy = agent_duplicate(tenant=tenant, agent=make_agent(tenant), actor=SYSTEM, name="Sales Agent EMEA")

    assert copy.name == "Sales Agent EMEA"
    assert Agent.objects.for_tenant(tenant).count() == 2


def test_set_active_switches_an_agent_off_and_on(tenant, make_agent):
    agent = make_agent(tenant)

    agent_set_active(tenant=tenant, agent=agent, is_active=False)
    assert Agent.objects.get(pk=agent.pk).is_active is False
    assert list(selectors.agent_list(tenant=tenant, is_active=True)) == []

    agent_set_active(tenant=tenant, agent=agent, is_active=True)
    assert Agent.objects.get(pk=agent.pk).is_active is True


def test_delete_removes_the_agent_with_its_hours_holidays_and_versions(tenant, make_agent):
    agent = make_agent(tenant, business_hours=WEEKDAYS_9_TO_5, holidays=["2026-12-25"])
    keep = make_agent(tenant, name="Keep me")

    agent_delete(tenant=tenant, agent=agent)

    assert list(Agent.objects.for_tenant(tenant)) == [keep]
    assert not BusinessHours.objects.filter(agent_id=agent.pk).exists()
    assert not Holiday.objects.filter(agent_id=agent.pk).exists()
    assert not PromptVersion.objects.filter(agent_id=agent.pk).exists()


def test_delete_of_another_tenants_agent_is_refused(tenant, other_tenant, make_agent):
    agent = make_agent(other_tenant)

    with pytest.raises(Agent.DoesNotExist):
        agent_delete(tenant=tenant, agent=agent)

    assert Agent.objects.filter(pk=agent.pk).exists()


# --- selectors ---------------------------------------------------------------------------------


def test_agent_get_finds_the_tenants_agent_by_its_code(tenant, make_agent):
    agent = make_agent(tenant)

    assert selectors.agent_get(tenant=tenant, code=str(agent.code)) == agent


@pytest.mark.parametrize("code", ["not-a-uuid", "", "12345"])
def test_agent_get_with_a_malformed_code_is_a_404(tenant, code):
    with pytest.raises(Http404):
        selectors.agent_get(tenant=tenant, code=code)


def test_agent_get_of_another_tenants_agent_is_a_404(tenant, other_tenant, make_agent):
    agent = make_agent(other_tenant)

    with pytest.raises(Http404):
        selectors.agent_get(tenant=tenant, code=agent.code)


def test_agent_list_searches_and_filters(tenant, other_tenant, make_agent):
    make_agent(tenant, name="Sales outbound", direction="outbound")
    make_agent(tenant, name="Support", direction="inbound", is_active=False)
    make_agent(other_tenant, name="Sales elsewhere")

    assert [a.name for a in selectors.agent_list(tenant=tenant)] == ["Sales outbound", "Support"]
    assert [a.name for a in selectors.agent_list(tenant=tenant, search="SALES")] == ["Sales outbound"]
    assert [a.name for a in selectors.agent_list(tenant=tenant, is_active=False)] == ["Support"]
    assert [a.name for a in selectors.agent_list(tenant=tenant, direction="inbound")] == ["Support"]
    assert selectors.agent_list(tenant=tenant).get(name="Support").prompt_version == 1
