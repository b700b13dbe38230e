"""The typed runtime config serializes to the very document the API and the cache had before it.

_reference_document is the builder of the untyped document (a dict built from the agent) as it
was when the document became a frozen dataclass, kept verbatim: to_document() must give the same
JSON for the demo agents and for an agent with every section filled, and a document read back
(from_document, the cache's path) must be the same config.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from agents_app import catalog
from agents_app.demo import demo_agents_ensure
from agents_app.models import Agent
from agents_app.references import dangling_ivr_targets
from agents_app.runtime_config import (
    DEFAULT_APOLOGY,
    IvrOption,
    RuntimeConfig,
    build_runtime_config,
    default_config,
    loader,
)
from agents_app.services import agent_create
from agents_app.validation import HoursRange, business_hours_document
from tests.agents_app.conftest import BRITISH_LADY
from voiceplatform.actor import SYSTEM
from voiceplatform.models import Tenant

pytestmark = pytest.mark.django_db


def _reference_document(agent: Agent, *, is_saved: bool = True) -> dict[str, Any]:
    """The document as the untyped builder wrote it (verbatim, with its IVR helper below)."""
    llm = catalog.llm_model(agent.llm_provider, agent.llm_model)
    hours = agent.business_hours.all() if is_saved else []
    holidays = agent.holidays.all() if is_saved else []
    ranges = [HoursRange(h.weekday, h.start, h.end) for h in hours]
    return {
        "agent_id": str(agent.code),
        "tenant_id": str(agent.tenant.code),
        "tenant_name": agent.tenant.name,
        "tenant_timezone": agent.tenant.timezone,
        "name": agent.name,
        "description": agent.description,
        "is_active": agent.is_active,
        "is_default": False,
        "system_prompt": agent.system_prompt,
        "personality": agent.personality,
        "greeting_message": agent.greeting_message,
        "llm_provider": agent.llm_provider,
        "llm_model": agent.llm_model,
        "llm_context_window": llm.context_window if llm else None,
        "temperature": agent.temperature,
        "max_output_tokens": agent.max_output_tokens,
        "voice_id": agent.voice_id,
        "tts_provider": agent.tts_provider,
        "tts_voice_id": agent.voice_id,
        "tts_model": agent.effective_tts_model,
        "voice_is_custom": agent.is_custom_voice,
        "speaking_speed": agent.speaking_speed,
        "stt_provider": agent.stt_provider,
        "stt_model": agent.effective_stt_model,
        "stt_language": agent.stt_language,
        "turn_taking": {
            "allow_interruptions": agent.allow_interruptions,
            "min_endpointing_delay": agent.min_endpointing_delay,
            "max_endpointing_delay": agent.max_endpointing_delay,
            "preemptive_generation": agent.preemptive_generation,
        },
        "direction": agent.direction,
        "max_concurrent_calls": agent.max_concurrent_calls,
        "recording_enabled": agent.recording_enabled,
        "inbound": {
            "timezone": agent.timezone,
            "business_hours_enabled": agent.business_hours_enabled,
            "business_hours": business_hours_document(ranges),
            "holidays": [{"date": h.date.isoformat(), "name": h.name} for h in holidays],
            "transfer_number": agent.transfer_number or None,
            "fallback_number": agent.fallback_number or None,
            "out_of_hours_message": agent.out_of_hours_message,
            "ivr_menu": _reference_ivr_menu(agent),
        },
        "outbound": {
            "dialer_type": agent.dialer_type,
            "max_retries": agent.max_retries,
            "retry_delay_minutes": agent.retry_delay_minutes,
            "voicemail_action": agent.voicemail_action,
            "voicemail_message": agent.voicemail_message,
            "consent_required": agent.consent_required,
            "dnc_enabled": agent.dnc_enabled,
        },
        "updated_at": agent.updated_at.isoformat(),
    }


def _reference_ivr_menu(agent: Agent) -> dict[str, Any] | None:
    menu = agent.ivr_menu
    if not menu:
        return None
    dangling = set(dangling_ivr_targets(tenant=agent.tenant, menu=menu, own_code=agent.code))
    if not dangling:
        return menu
    options = [
        option
        for option in menu.get("options", [])
        if not (isinstance(option, dict) and option.get("action") == "agent" and str(option.get("agentId")) in dangling)
    ]
    return {**menu, "options": options}


REFERENCE_DEFAULT = {
    "agent_id": "",
    "tenant_id": "",
    "is_active": True,
    "is_default": True,
    "name": "Fallback",
    "system_prompt": "Apologise briefly for technical difficulties and offer a transfer. Do not improvise.",
    "greeting_message": DEFAULT_APOLOGY,
    "inbound": {"transfer_number": None, "fallback_number": None, "business_hours_enabled": False},
}


def _same_json(config: RuntimeConfig, reference: dict[str, Any]) -> None:
    document = config.to_document()
    assert document == reference
    assert json.dumps(document) == json.dumps(reference)  # same fields, in the same order
    assert RuntimeConfig.from_document(json.loads(json.dumps(document))) == config  # the cache's round trip


def _loaded(agent: Agent) -> Agent:
    return Agent.objects.select_related("tenant").prefetch_related("business_hours", "holidays").get(pk=agent.pk)


def test_the_demo_agents_documents_are_unchanged(tenant: Tenant) -> None:
    agents = demo_agents_ensure(tenant=tenant, actor=SYSTEM)
    assert agents
    for agent in agents:
        agent = _loaded(agent)
        _same_json(build_runtime_config(agent), _reference_document(agent))


def test_a_richly_configured_agents_document_is_unchanged(tenant: Tenant) -> None:
    billing = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Billing"})
    gone = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Gone"})
    menu = {
        "prompt": "For sales press 1, billing 2, our address 3, a person 0.",
        "options": [
            {"digit": "1", "label": "Sales", "action": "message", "message": "Sales is open from nine."},
            {"digit": "2", "label": "Billing", "action": "agent", "agentId": str(billing.code)},
            {"digit": "3", "action": "message", "message": "We are at 1 Main Street."},
            {"digit": "0", "label": "A person", "action": "transfer", "number": "+14155550100"},
            {"digit": "9", "label": "Gone", "action": "agent", "agentId": str(gone.code)},
        ],
    }
    agent = agent_create(
        tenant=tenant,
        actor=SYSTEM,
        fields={
            "name": "Front desk",
            "description": "Answers everything.",
            "system_prompt": "You answer calls for {{company_name}}.",
            "personality": "Warm.",
            "greeting_message": "Hello {{first_name}}!",
            "llm_provider": "anthropic",
            "llm_model": "claude-sonnet-4-20250514",
            "temperature": 0.2,
            "max_output_tokens": 400,
            "tts_provider": "cartesia",
            "voice_id": BRITISH_LADY,
            "speaking_speed": 1.25,
            "stt_provider": "deepgram",
            "stt_model": "nova-3",
            "stt_language": "en-US",
            "allow_interruptions": False,
            "min_endpointing_delay": 0.3,
            "max_endpointing_delay": 2.5,
            "preemptive_generation": True,
            "timezone": "America/New_York",
            "transfer_number": "+14155550100",
            "fallback_number": "+14155550199",
            "out_of_hours_message": "We are closed.",
            "ivr_menu": menu,
            "max_concurrent_calls": 7,
            "recording_enabled": True,
            "dialer_type": "predictive",
            "max_retries": 4,
            "retry_delay_minutes": 30,
            "voicemail_action": "leave_message",
            "voicemail_message": "Please call us back.",
            "consent_required": False,
            "dnc_enabled": False,
        },
        business_hours={
            "monday": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}],
            "friday": {"start": "22:00", "end": "06:00"},
            "sunday": {"start": "00:00", "end": "24:00"},
        },
        holidays=["2026-12-25", {"date": "2027-01-01", "name": "New Year"}],
    )
    gone.delete()  # option 9 now dangles: the document leaves it out
    agent = _loaded(agent)
    reference = _reference_document(agent)
    assert [option["digit"] for option in reference["inbound"]["ivr_menu"]["options"]] == ["1", "2", "3", "0"]

    config = build_runtime_config(agent)

    _same_json(config, reference)
    assert config.inbound.ivr_menu is not None and config.inbound.ivr_menu.options is not None
    assert config.inbound.ivr_menu.options[1] == IvrOption(
        digit="2", action="agent", label="Billing", agent_id=str(billing.code)
    )
    assert config.turn_taking.allow_interruptions is False and config.outbound.max_retries == 4


def test_an_unsaved_agents_document_is_unchanged(tenant: Tenant) -> None:
    agent = Agent(tenant=tenant, code=uuid.uuid4(), name="Rehearsal", updated_at=tenant.created_at)
    _same_json(build_runtime_config(agent, is_saved=False), _reference_document(agent, is_saved=False))


def test_the_default_configs_document_is_unchanged() -> None:
    agent_code, tenant_code = uuid.uuid4(), uuid.uuid4()
    reference = {**REFERENCE_DEFAULT, "agent_id": str(agent_code), "tenant_id": str(tenant_code)}
    _same_json(default_config(agent_code=agent_code, tenant_code=tenant_code), reference)


def test_the_api_and_the_cache_hold_that_document(tenant: Tenant, api_client_for: Any) -> None:
    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Desk", "greeting_message": "Hi."})

    response = api_client_for(tenant).get(f"/api/v1/agents/{agent.code}/runtime-config")

    reference = _reference_document(_loaded(agent))
    assert response.status_code == 200 and response.json()["config"] == reference
    cached = json.loads(loader.client.get(f"vp:agentcfg:v1:{tenant.code}:{agent.code}"))["config"]
    assert cached == reference
    loaded = loader.get(tenant_code=tenant.code, agent_code=agent.code, count=False)
    assert loaded.source == "cache" and loaded.config == build_runtime_config(_loaded(agent))
