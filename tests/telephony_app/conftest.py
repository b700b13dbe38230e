"""Fixtures for the call log: agents made through the services and calls made through call_create."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import pytest

from agents_app.models import Agent
from agents_app.services import agent_create
from telephony_app.models import Call, CallDirection
from telephony_app.services import call_create
from tests.conftest import AGENT_NAME, SIP_HOST  # noqa: F401  (imported from here by the telephony tests)
from voiceplatform.actor import SYSTEM
from voiceplatform.models import Tenant

# The `livekit` and `unconfigured` fixtures live in tests/conftest.py (campaigns dial through LiveKit too).

T0 = datetime.datetime(2026, 11, 20, 14, 0, tzinfo=datetime.UTC)

# A worker report of a short inbound call, shaped as Call's JSON columns document.
TRANSCRIPT = [
    {"role": "assistant", "text": "Thanks for calling Acme, how can I help?", "at": "2026-11-20T14:00:01+00:00"},
    {"role": "user", "text": "What are your opening hours?", "at": "2026-11-20T14:00:05+00:00"},
    {"role": "tool", "text": "lookup_hours()", "at": "2026-11-20T14:00:06+00:00"},
    {"role": "assistant", "text": "We are open nine to five.", "at": "2026-11-20T14:00:07+00:00", "interrupted": True},
]
TURN_METRICS = [
    {"turn": 1, "end_of_turn_delay": 0.41, "transcription_delay": 0.12, "llm_ttft": 0.35, "tts_ttfb": 0.2,
     "e2e_latency": 0.96},
    {"turn": 2, "end_of_turn_delay": 0.5, "transcription_delay": 0.1, "llm_ttft": 0.6, "tts_ttfb": 0.25,
     "e2e_latency": 1.45},
]  # fmt: skip
USAGE = [
    {"kind": "llm", "provider": "openai", "model": "gpt-4o-mini", "input_tokens": 1_000_000, "output_tokens": 100_000},
    {"kind": "tts", "provider": "cartesia", "model": "sonic-3", "characters": 10_000, "audio_seconds": 42.0},
    {"kind": "stt", "provider": "deepgram", "model": "nova-3", "audio_seconds": 120.0},
]
# 0.15 + 0.06 (LLM) + 0.50 (10k characters at $50/1M) + 2 min x 0.0077 (STT)
USAGE_COST = "0.72540"


@pytest.fixture
def make_agent() -> Callable[..., Agent]:
    def make(tenant: Tenant, name: str = "Front desk", **fields: Any) -> Agent:
        return agent_create(
            tenant=tenant, actor=SYSTEM, fields={"name": name, "system_prompt": "Be helpful.", **fields}
        )

    return make


@pytest.fixture
def make_call() -> Callable[..., Call]:
    def make(tenant: Tenant, **kwargs: Any) -> Call:
        kwargs.setdefault("direction", CallDirection.INBOUND)
        kwargs.setdefault("from_number", "+14155550100")
        kwargs.setdefault("to_number", "+14155550199")
        return call_create(tenant=tenant, **kwargs)

    return make


@pytest.fixture
def agent(tenant, make_agent) -> Agent:
    return make_agent(tenant)
