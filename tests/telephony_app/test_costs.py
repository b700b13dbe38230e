"""Estimated call cost from usage rows, with list-price rates kept as data."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from agents_app import catalog
from telephony_app.costs import RATES, estimate_cost, estimate_cost_usd, find_rate
from tests.telephony_app.conftest import USAGE, USAGE_COST


def test_each_kind_of_row_is_priced_by_its_unit():
    assert estimate_cost_usd(USAGE) == Decimal(USAGE_COST)
    lines = estimate_cost(USAGE).lines
    assert [line.cost_usd for line in lines] == [Decimal("0.21000"), Decimal("0.50000"), Decimal("0.01540")]


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        # What LiveKit plugins report: base-URL hosts and display names for providers.
        ({"kind": "llm", "provider": "api.openai.com", "model": "gpt-4o", "input_tokens": 2000}, "0.00500"),
        ({"kind": "llm", "provider": "Gemini", "model": "gemini-2.5-flash", "output_tokens": 4000}, "0.01000"),
        (
            {"kind": "llm", "provider": "api.groq.com", "model": "llama-3.1-8b-instant", "input_tokens": 10**6},
            "0.05000",
        ),
        ({"kind": "stt", "provider": "Deepgram", "model": "nova-3", "audio_seconds": 60}, "0.00770"),
        ({"kind": "stt", "provider": "AssemblyAI", "model": "universal-streaming", "audio_seconds": 3600}, "0.15000"),
        ({"kind": "tts", "provider": "ElevenLabs", "model": "eleven_flash_v2_5", "characters": 1000}, "0.05000"),
        # A dated snapshot costs what its alias costs; a Deepgram voice id names its model family.
        ({"kind": "llm", "provider": "openai", "model": "gpt-4o-mini-2024-07-18", "output_tokens": 10**6}, "0.60000"),
        ({"kind": "tts", "provider": "Deepgram", "model": "aura-2-thalia-en", "characters": 1000}, "0.03000"),
        ({"kind": "tts", "provider": "Deepgram", "model": "aura-asteria-en", "characters": 1000}, "0.01500"),
        ({"kind": "tts", "provider": "openai", "model": "gpt-4o-mini-tts", "audio_seconds": 120}, "0.03000"),
    ],
)
def test_provider_and_model_names_as_plugins_report_them_are_priced(row, expected):
    assert estimate_cost_usd([row]) == Decimal(expected)


def test_an_unknown_model_adds_nothing_and_is_named_in_the_notes():
    unknown = {"kind": "llm", "provider": "openai_compatible", "model": "llama3.1:8b", "input_tokens": 5000}

    estimate = estimate_cost([*USAGE, unknown])

    assert estimate.total_usd == Decimal(USAGE_COST)
    assert [line.model for line in estimate.unpriced] == ["llama3.1:8b"]
    assert estimate.notes == ["llm openai_compatible/llama3.1:8b: no list price on file"]


@pytest.mark.parametrize(
    "usage",
    [
        None,
        [],
        [{"kind": "llm", "provider": "openai", "model": "gpt-99", "input_tokens": 10}],
        [{"kind": "video", "provider": "openai", "model": "gpt-4o", "input_tokens": 10}],
        ["not a row", 42],
    ],
)
def test_no_estimate_when_no_row_can_be_priced(usage):
    assert estimate_cost_usd(usage) is None


def test_odd_quantities_count_as_zero_instead_of_failing():
    rows = [
        {"kind": "llm", "provider": "openai", "model": "gpt-4o-mini", "input_tokens": -5, "output_tokens": "lots"},
        {"kind": "stt", "provider": "deepgram", "model": "nova-3", "audio_seconds": True},
        {"kind": "tts", "provider": "cartesia", "model": "sonic-3", "characters": "2000"},
        {"kind": "stt", "provider": "deepgram", "model": "nova-3", "audio_seconds": float("nan")},
    ]

    assert estimate_cost_usd(rows) == Decimal("0.10000")  # only the 2,000 characters (given as text)


def test_an_announced_price_change_applies_from_its_day():
    row = {"kind": "llm", "provider": "google", "model": "gemini-3.8-flash", "input_tokens": 10**6}

    assert estimate_cost_usd([row], on=datetime.date(2026, 12, 31)) == Decimal("0.75000")
    assert estimate_cost_usd([row], on=datetime.date(2027, 1, 1)) == Decimal("1.50000")


def test_every_rate_names_a_catalog_model():
    lookups = {"llm": catalog.llm_model, "tts": catalog.tts_model, "stt": catalog.stt_model}

    unknown = [key for key in RATES if lookups[key[0]](key[1], key[2]) is None]

    assert unknown == []


def _catalog_models() -> list[tuple[str, str, str]]:
    models = [("llm", p.id, m.id) for p in catalog.LLM_PROVIDERS.values() for m in p.models]
    models += [("tts", p.id, m.id) for p in catalog.TTS_PROVIDERS.values() for m in p.models]
    models += [("stt", p.id, m.id) for p in catalog.STT_PROVIDERS.values() for m in p.models]
    return models


def test_every_catalog_model_with_a_list_price_has_a_rate():
    """A model added to agents_app/catalog.py needs its list price here, or calls using it show no cost."""
    missing = [key for key in _catalog_models() if find_rate(kind=key[0], provider=key[1], model=key[2]) is None]

    assert missing == [], "add these to telephony_app/costs.py RATES"
