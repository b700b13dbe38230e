"""Shared fixtures for the agents app: agents made through the services, real Redis, a database outage."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.db import connections
from redis.backoff import NoBackoff
from redis.retry import Retry

from agents_app.models import Agent
from agents_app.services import agent_create
from voiceplatform.actor import SYSTEM
from voiceplatform.models import Tenant

BRITISH_LADY = "79a125e8-cd45-4c13-8a67-188112f4dd22"  # Cartesia's "British Lady", the reference's voiceId

# The reference design's "Task 1" request body, unchanged.
TASK1_PAYLOAD: dict[str, Any] = {
    "name": "Sales Agent",
    "description": "Handles product inquiries and sales",
    "systemPrompt": "You are a friendly sales agent. Help customers find the right product.",
    "personality": "Enthusiastic and helpful",
    "llmModel": "gpt-4o-mini",
    "voiceId": BRITISH_LADY,
    "metadata": {
        "voiceProvider": "cartesia",
        "sttProvider": "assemblyai",
        "sttModel": "universal-streaming",
        "transferNumber": "+18005551234",
        "fallbackNumber": "+18005556789",
        "businessHours": {
            "monday": {"start": "09:00", "end": "17:00"},
            "tuesday": {"start": "09:00", "end": "17:00"},
        },
        "outboundConfig": {"dialerType": "predictive", "maxRetries": 3, "dncEnabled": True},
    },
}

# The same agent in service (model field) terms.
SALES_FIELDS: dict[str, Any] = {
    "name": "Sales Agent",
    "description": "Handles product inquiries and sales",
    "system_prompt": "You are a friendly sales agent. Help customers find the right product.",
    "personality": "Enthusiastic and helpful",
    "llm_model": "gpt-4o-mini",
    "voice_id": BRITISH_LADY,
    "tts_provider": "cartesia",
    "stt_provider": "assemblyai",
    "stt_model": "universal-streaming",
    "transfer_number": "+18005551234",
    "max_concurrent_calls": 3,
}


@pytest.fixture
def make_agent() -> Callable[..., Agent]:
    """Create an agent through agent_create (so a PromptVersion exists), Sales Agent by default."""

    def make(tenant: Tenant, **fields: Any) -> Agent:
        business_hours = fields.pop("business_hours", None)
        holidays = fields.pop("holidays", None)
        kwargs: dict[str, Any] = {}
        if business_hours is not None:
            kwargs["business_hours"] = business_hours
            fields.setdefault("business_hours_enabled", True)
        if holidays is not None:
            kwargs["holidays"] = holidays
        return agent_create(tenant=tenant, actor=SYSTEM, fields={**SALES_FIELDS, **fields}, **kwargs)

    return make


@pytest.fixture
def redis_conn() -> redis.Redis:
    """A plain client on the test Redis, to look at the keys the loader writes."""
    return redis.Redis.from_url(settings.REDIS_URL)


@pytest.fixture
def dead_redis() -> redis.Redis:
    """A client whose server is not there (port 1 is closed): every command raises ConnectionError.

    Without retries, as the platform's own client: redis-py's default retries with backoff would
    only make each failing command take seconds."""
    return redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))


@pytest.fixture
def database_unreachable() -> Callable[[], contextlib.AbstractContextManager[None]]:
    """Inside the block the default connection points at a closed port, so every query raises
    OperationalError. Only for transaction=True tests: closing the connection ends the test's transaction."""

    @contextlib.contextmanager
    def outage() -> Iterator[None]:
        connection = connections["default"]
        saved_port = connection.settings_dict["PORT"]
        connection.close()
        connection.settings_dict["PORT"] = 1
        try:
            yield
        finally:
            connection.close()
            connection.settings_dict["PORT"] = saved_port

    return outage
