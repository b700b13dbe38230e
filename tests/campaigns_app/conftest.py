"""Fixtures for campaigns: an outbound agent, a caller ID and campaigns made through the services."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from agents_app.models import Agent
from agents_app.services import agent_create
from campaigns_app.models import Campaign
from campaigns_app.services import campaign_create
from telephony_app.models import PhoneNumber
from telephony_app.services import phone_number_create
from voiceplatform.actor import SYSTEM
from voiceplatform.models import Tenant

_numbers = itertools.count(100)


@pytest.fixture
def make_outbound_agent() -> Callable[..., Agent]:
    def make(tenant: Tenant, name: str = "Reminder caller", **fields: Any) -> Agent:
        fields.setdefault("system_prompt", "Remind {{first_name}} of the appointment.")
        return agent_create(tenant=tenant, actor=SYSTEM, fields={"name": name, "direction": "outbound", **fields})

    return make


@pytest.fixture
def make_caller_id() -> Callable[..., PhoneNumber]:
    def make(tenant: Tenant, **fields: Any) -> PhoneNumber:
        fields.setdefault("number", f"+1415555{next(_numbers):04d}")
        return phone_number_create(tenant=tenant, **fields)

    return make


@pytest.fixture
def make_campaign(make_outbound_agent, make_caller_id) -> Callable[..., Campaign]:
    """make_campaign(tenant, **fields): a draft campaign from campaign_create (agent, caller ID made if absent)."""

    def make(tenant: Tenant, **fields: Any) -> Campaign:
        fields.setdefault("name", "November reminders")
        if "agent" not in fields:
            fields["agent"] = make_outbound_agent(tenant)
        if "caller_id" not in fields:
            fields["caller_id"] = make_caller_id(tenant)
        return campaign_create(tenant=tenant, fields=fields)

    return make


@pytest.fixture
def campaign(tenant, make_campaign) -> Campaign:
    return make_campaign(tenant)


@pytest.fixture
def other_campaign(other_tenant, make_campaign) -> Campaign:
    return make_campaign(other_tenant, name="Other tenant's campaign")
