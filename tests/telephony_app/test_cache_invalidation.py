"""Explicit cache invalidation (agents_app/config_cache.py, voiceplatform/change_hooks.py): every
write through a service or the admin refreshes the agent's runtime config on commit and THEN drops
the inbound number cache's entries, so an entry filled right after reads the new config. No model
signal handler is involved, so the order of INSTALLED_APPS does not matter."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db.models.signals import post_delete, post_save, pre_save
from django.test import Client

from agents_app import config_cache
from agents_app.models import Agent, BusinessHours, Holiday, PromptVersion
from agents_app.runtime_config import fresh_key, loader
from agents_app.services import agent_update
from telephony_app import number_cache
from telephony_app.models import PhoneNumber
from telephony_app.services import phone_number_create
from tests.factories import UserFactory
from voiceplatform.actor import SYSTEM
from voiceplatform.models import ProviderCredential, Tenant
from voiceplatform.services import credential_set, tenant_delete, tenant_update

NUMBER = "+14155550100"
RENUMBERED = "+14155550177"
OLD_MESSAGE = "We are closed."
NEW_MESSAGE = "Closed for the holidays."


@pytest.fixture
def agent(tenant: Tenant, make_agent) -> Agent:
    return make_agent(tenant, name="Front desk", out_of_hours_message=OLD_MESSAGE)


@pytest.fixture
def number(tenant: Tenant, agent: Agent) -> PhoneNumber:
    return phone_number_create(tenant=tenant, number=NUMBER, agent=agent, label="Main line")


@pytest.fixture
def events(monkeypatch) -> list[tuple[str, Any]]:
    """What happened on commit, in order: each config refreshed, each number forgotten, with the
    out-of-hours message the config cache held for the agent at the moment the number was forgotten."""
    happened: list[tuple[str, Any]] = []
    refresh, forget = config_cache.refresh_agent_config, number_cache.inbound_numbers_forget

    def refreshing(*, tenant_code: Any, agent_code: Any) -> None:
        refresh(tenant_code=tenant_code, agent_code=agent_code)
        happened.append(("refresh", str(agent_code)))

    def forgetting(numbers: Any) -> None:
        cached = {key: loader.client.get(key) for key in loader.client.scan_iter(match=fresh_key("*", "*"))}
        messages = sorted({json.loads(raw)["config"]["inbound"]["out_of_hours_message"] for raw in cached.values()})
        happened.append(("forget", (sorted(numbers), messages)))
        forget(numbers)

    monkeypatch.setattr(config_cache, "refresh_agent_config", refreshing)
    monkeypatch.setattr(number_cache, "inbound_numbers_forget", forgetting)
    return happened


def _cached_rules(number: str = NUMBER) -> dict | None:
    entry = number_cache.inbound_number(number)
    return None if entry is None or entry.inbound_rules is None else entry.inbound_rules.to_document()


def _admin() -> Client:
    client = Client()
    client.force_login(UserFactory(username="root@ops.test", is_staff=True, is_superuser=True))
    return client


def _agent_change_data(client: Client, agent: Agent, **changes: str) -> dict[str, str]:
    page = client.get(f"/admin/agents_app/agent/{agent.pk}/change/")
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "tenant"}
    data["ivr_menu"] = "{}"
    for prefix in ("business_hours", "holidays"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    versions = list(PromptVersion.objects.for_tenant(agent.tenant).filter(agent=agent).order_by("-version"))
    data["prompt_versions-INITIAL_FORMS"] = data["prompt_versions-TOTAL_FORMS"] = str(len(versions))
    for index, version in enumerate(versions):
        data[f"prompt_versions-{index}-id"] = str(version.pk)
        data[f"prompt_versions-{index}-agent"] = str(agent.pk)
    return {**data, **changes}


def test_no_signal_handler_listens_to_the_cached_models():
    for model in (Agent, BusinessHours, Holiday, PhoneNumber, Tenant, ProviderCredential):
        for signal in (pre_save, post_save, post_delete):
            assert not signal.has_listeners(model), (signal, model)


def test_a_service_edit_refreshes_the_config_then_drops_the_numbers(
    tenant, agent, number, events, django_capture_on_commit_callbacks
):
    assert _cached_rules()["out_of_hours_message"] == OLD_MESSAGE

    with django_capture_on_commit_callbacks(execute=True):
        agent_update(tenant=tenant, agent=agent, actor=SYSTEM, fields={"out_of_hours_message": NEW_MESSAGE})

    assert events == [("refresh", str(agent.code)), ("forget", ([NUMBER], [NEW_MESSAGE]))]
    assert _cached_rules()["out_of_hours_message"] == NEW_MESSAGE  # refilled from the refreshed config
    assert loader.get(tenant_code=tenant.code, agent_code=agent.code).source == "cache"


def test_an_admin_edit_with_its_inlines_refreshes_the_config_then_drops_the_numbers(
    tenant, agent, number, events, django_capture_on_commit_callbacks
):
    client = _admin()
    assert _cached_rules()["business_hours"]["friday"] == []
    data = _agent_change_data(client, agent, out_of_hours_message=NEW_MESSAGE, business_hours_enabled="on")
    data.update({"business_hours-TOTAL_FORMS": "1", "business_hours-0-weekday": "4"})
    data.update({"business_hours-0-start": "10:00", "business_hours-0-end": "14:00"})

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/admin/agents_app/agent/{agent.pk}/change/", data)

    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else response
    assert events[0] == ("refresh", str(agent.code))
    forgets = [index for index, (kind, _) in enumerate(events) if kind == "forget"]
    assert forgets and all(events[index - 1][0] == "refresh" for index in forgets)
    assert all(events[index][1] == ([NUMBER], [NEW_MESSAGE]) for index in forgets)
    rules = _cached_rules()
    assert rules["out_of_hours_message"] == NEW_MESSAGE
    assert rules["business_hours"]["friday"] == [{"start": "10:00", "end": "14:00"}]  # the inline, saved after


def test_a_tenant_admin_edit_refreshes_its_agents_configs_then_drops_its_numbers(
    tenant, agent, number, events, django_capture_on_commit_callbacks
):
    assert _cached_rules() is not None
    data = {"name": tenant.name, "slug": tenant.slug, "timezone": "Asia/Tokyo"}

    with django_capture_on_commit_callbacks(execute=True):
        response = _admin().post(f"/admin/voiceplatform/tenant/{tenant.pk}/change/", data)

    assert response.status_code == 302
    assert events == [("refresh", str(agent.code)), ("forget", ([NUMBER], [OLD_MESSAGE]))]
    assert loader.get(tenant_code=tenant.code, agent_code=agent.code).config.tenant_timezone == "Asia/Tokyo"
    assert number_cache.inbound_number(NUMBER).phone_number.tenant.timezone == "Asia/Tokyo"


def test_the_tenant_service_edit_does_the_same(tenant, agent, number, events, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        tenant_update(tenant=tenant, fields={"timezone": "Europe/Paris"})

    assert events == [("refresh", str(agent.code)), ("forget", ([NUMBER], [OLD_MESSAGE]))]
    assert number_cache.inbound_number(NUMBER).phone_number.tenant.timezone == "Europe/Paris"


def test_a_deleted_tenant_leaves_neither_configs_nor_number_entries(
    tenant, agent, number, events, django_capture_on_commit_callbacks
):
    assert _cached_rules() is not None

    with django_capture_on_commit_callbacks(execute=True):
        tenant_delete(tenant=tenant)

    assert [kind for kind, _ in events] == ["refresh", "forget"]
    assert not loader.client.exists(fresh_key(agent.tenant.code, agent.code))
    assert number_cache.inbound_number(NUMBER) is None


def test_a_twilio_credential_changed_in_the_admin_drops_the_numbers(
    tenant, agent, number, events, django_capture_on_commit_callbacks
):
    credential_set(tenant=tenant, provider="twilio", secret="old-token-1234", account_id="AC1")
    assert number_cache.inbound_number(NUMBER).twilio_credential.get_secret() == "old-token-1234"
    credential = ProviderCredential.objects.for_tenant(tenant).get(provider="twilio")
    data = {"tenant": tenant.pk, "provider": "twilio", "account_id": "AC1", "secret": "new-token-5678"}

    with django_capture_on_commit_callbacks(execute=True):
        response = _admin().post(f"/admin/voiceplatform/providercredential/{credential.pk}/change/", data)

    assert response.status_code == 302
    assert events == [("forget", ([NUMBER], [OLD_MESSAGE]))]  # no agent config holds a credential
    assert number_cache.inbound_number(NUMBER).twilio_credential.get_secret() == "new-token-5678"


def test_a_number_renumbered_in_the_admin_drops_both_entries(
    tenant, agent, number, events, django_capture_on_commit_callbacks
):
    assert _cached_rules(NUMBER) is not None and _cached_rules(RENUMBERED) is None  # "nobody has it", cached
    data = {"tenant": tenant.pk, "number": RENUMBERED, "label": "Main line", "provider": "twilio"}
    data.update({"agent": agent.pk, "is_active": "on", "sip_trunk_id": ""})

    with django_capture_on_commit_callbacks(execute=True):
        response = _admin().post(f"/admin/telephony_app/phonenumber/{number.pk}/change/", data)

    assert response.status_code == 302
    assert events == [("forget", ([NUMBER, RENUMBERED], [OLD_MESSAGE]))]
    assert number_cache.inbound_number(NUMBER) is None
    assert number_cache.inbound_number(RENUMBERED).phone_number.pk == number.pk
