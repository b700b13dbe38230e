"""Estimated vendor cost of a call from its usage rows (tokens, characters, audio seconds).

THESE ARE LIST-PRICE ESTIMATES, NOT INVOICES. The rates below are the vendors' public pay-as-you-go
list prices in US dollars as compiled on 2026-11-25; a tenant's contract, plan discounts, cached
input tokens, batch pricing, taxes and free tiers are not modelled. Sources (vendor pages):
- OpenAI: "API Pricing" (platform.openai.com/docs/pricing): text tokens per model; TTS-1 / TTS-1 HD
  per 1M characters; gpt-4o-mini-tts and the gpt-4o transcribe models by OpenAI's own
  "estimated cost per minute" column.
- Google: "Gemini Developer API pricing" (ai.google.dev/gemini-api/docs/pricing), paid tier, text
  input, prompts up to 200k tokens; "Speech-to-Text pricing" (cloud.google.com/speech-to-text/pricing),
  V2 standard models, first 500,000 minutes a month.
- Anthropic: the model overview pages (platform.claude.com/docs/en/models/...) and "Pricing"
  (claude.com/pricing), base input and output tokens.
- Groq: "Pricing" (groq.com/pricing), on-demand tokens.
- ElevenLabs: "API pricing" (elevenlabs.io/pricing/api): Flash/Turbo and Multilingual v2/v3 per 1K
  characters.
- Cartesia: "Pricing" (cartesia.ai/pricing, docs.cartesia.ai/pricing): about 1 credit per character;
  the Pro plan's $5 per 100,000 credits is used (larger plans are a little cheaper per credit).
- Deepgram: "Pricing" (deepgram.com/pricing), Pay As You Go: Aura / Aura-2 per 1K characters,
  streaming speech-to-text per minute.
- AssemblyAI: "Pricing" (assemblyai.com/pricing): streaming per hour of session.
Models without a published list price (self-hosted OpenAI-compatible servers, anything not in the
table) are not priced: their rows add nothing and the estimate says so.
Model ids are the ones in agents_app/catalog.py.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

from agents_app import catalog

RATES_COMPILED_ON = datetime.date(2026, 11, 25)
ZERO = Decimal(0)
MILLION = Decimal(1_000_000)
CENT_FRACTION = Decimal("0.00001")  # Call.estimated_cost_usd has 5 decimal places


@dataclass(frozen=True)
class Rate:
    """List prices for one model; every unit present in a usage row is charged."""

    input_per_1m_tokens: Decimal = ZERO
    output_per_1m_tokens: Decimal = ZERO
    per_1m_characters: Decimal = ZERO
    per_minute: Decimal = ZERO  # of audio (STT) or of generated speech (per-minute TTS)


def _llm(input_per_1m: str, output_per_1m: str) -> Rate:
    return Rate(input_per_1m_tokens=Decimal(input_per_1m), output_per_1m_tokens=Decimal(output_per_1m))


def _chars(per_1m: str) -> Rate:
    return Rate(per_1m_characters=Decimal(per_1m))


def _minute(per_minute: str) -> Rate:
    return Rate(per_minute=Decimal(per_minute))


# (kind, provider, model) -> Rate. Providers are the agents_app.catalog provider ids.
RATES: dict[tuple[str, str, str], Rate] = {
    # LLMs, USD per 1M input / output tokens.
    ("llm", "openai", "gpt-4o-mini"): _llm("0.15", "0.60"),
    ("llm", "openai", "gpt-4o"): _llm("2.50", "10.00"),
    ("llm", "openai", "gpt-4.1"): _llm("2.00", "8.00"),
    ("llm", "openai", "gpt-4.1-mini"): _llm("0.40", "1.60"),
    ("llm", "openai", "gpt-4.1-nano"): _llm("0.10", "0.40"),
    ("llm", "openai", "gpt-5"): _llm("1.25", "10.00"),
    ("llm", "openai", "gpt-5-mini"): _llm("0.25", "2.00"),
    ("llm", "openai", "gpt-5-nano"): _llm("0.05", "0.40"),
    ("llm", "openai", "gpt-5.4-mini"): _llm("0.75", "4.50"),
    ("llm", "google", "gemini-2.5-flash"): _llm("0.30", "2.50"),
    ("llm", "google", "gemini-3-flash-preview"): _llm("0.50", "3.00"),
    ("llm", "google", "gemini-3.8-flash"): _llm("0.75", "3.75"),  # introductory; see RATE_CHANGES
    ("llm", "anthropic", "claude-3-haiku-20240307"): _llm("0.25", "1.25"),
    ("llm", "anthropic", "claude-sonnet-4-20250514"): _llm("3.00", "15.00"),
    ("llm", "anthropic", "claude-opus-4-1-20250805"): _llm("15.00", "75.00"),
    ("llm", "anthropic", "claude-sonnet-4-6"): _llm("3.00", "15.00"),
    ("llm", "anthropic", "claude-opus-4-6"): _llm("5.00", "25.00"),
    ("llm", "groq", "llama-3.1-8b-instant"): _llm("0.05", "0.08"),
    ("llm", "groq", "llama-3.3-70b-versatile"): _llm("0.59", "0.79"),
    ("llm", "groq", "meta-llama/llama-4-scout-17b-16e-instruct"): _llm("0.11", "0.34"),
    ("llm", "groq", "openai/gpt-oss-120b"): _llm("0.15", "0.60"),
    ("llm", "groq", "openai/gpt-oss-20b"): _llm("0.075", "0.30"),
    # Text-to-speech, USD per 1M characters (or per minute of speech where the vendor prices so).
    ("tts", "openai", "tts-1"): _chars("15.00"),
    ("tts", "openai", "tts-1-hd"): _chars("30.00"),
    ("tts", "openai", "gpt-4o-mini-tts"): _minute("0.015"),
    ("tts", "elevenlabs", "eleven_flash_v2_5"): _chars("50.00"),
    ("tts", "elevenlabs", "eleven_flash_v2"): _chars("50.00"),
    ("tts", "elevenlabs", "eleven_turbo_v2_5"): _chars("50.00"),
    ("tts", "elevenlabs", "eleven_turbo_v2"): _chars("50.00"),
    ("tts", "elevenlabs", "eleven_multilingual_v2"): _chars("100.00"),
    ("tts", "elevenlabs", "eleven_v3"): _chars("100.00"),
    ("tts", "cartesia", "sonic-3"): _chars("50.00"),
    ("tts", "cartesia", "sonic-2"): _chars("50.00"),
    ("tts", "cartesia", "sonic-turbo"): _chars("50.00"),
    ("tts", "cartesia", "sonic"): _chars("50.00"),
    ("tts", "deepgram", "aura-2"): _chars("30.00"),
    ("tts", "deepgram", "aura"): _chars("15.00"),
    # Speech-to-text, USD per minute of audio.
    ("stt", "deepgram", "nova-3"): _minute("0.0077"),
    ("stt", "deepgram", "nova-3-medical"): _minute("0.0077"),
    ("stt", "deepgram", "flux-general-en"): _minute("0.0077"),
    ("stt", "deepgram", "nova-2-general"): _minute("0.0058"),
    ("stt", "deepgram", "nova-2-phonecall"): _minute("0.0058"),
    ("stt", "deepgram", "nova-2-conversationalai"): _minute("0.0058"),
    ("stt", "deepgram", "nova-2-meeting"): _minute("0.0058"),
    ("stt", "assemblyai", "universal-streaming-english"): _minute("0.0025"),  # $0.15 per hour
    ("stt", "assemblyai", "universal-streaming-multilingual"): _minute("0.0025"),
    ("stt", "assemblyai", "u3-rt-pro"): _minute("0.0075"),  # $0.45 per hour
    ("stt", "openai", "gpt-4o-mini-transcribe"): _minute("0.003"),
    ("stt", "openai", "gpt-4o-transcribe"): _minute("0.006"),
    ("stt", "openai", "whisper-1"): _minute("0.006"),
    ("stt", "google", "latest_long"): _minute("0.016"),
    ("stt", "google", "latest_short"): _minute("0.016"),
    ("stt", "google", "telephony"): _minute("0.016"),
    ("stt", "google", "chirp_2"): _minute("0.016"),
    ("stt", "google", "chirp_3"): _minute("0.016"),
}

# Announced price changes: from that date on, the rate replaces the one in RATES.
RATE_CHANGES: dict[tuple[str, str, str], tuple[tuple[datetime.date, Rate], ...]] = {
    # Google lists $0.75 / $3.75 "through December 31, 2026" and $1.50 / $7.50 from January 1, 2027.
    ("llm", "google", "gemini-3.8-flash"): ((datetime.date(2027, 1, 1), _llm("1.50", "7.50")),),
}

# What LiveKit plugins report as `provider` (their base URL host or a display name) -> catalog id.
PROVIDER_ALIASES: dict[str, str] = {
    "api.openai.com": "openai",
    "gemini": "google",
    "vertex ai": "google",  # Vertex AI's list prices for these Gemini models match the Gemini API's
    "google cloud platform": "google",
    "api.anthropic.com": "anthropic",
    "api.groq.com": "groq",
}
_DATE_SUFFIX = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8})$")  # gpt-4o-mini-2024-07-18, sonic-2-2025-03-07


@dataclass(frozen=True)
class CostLine:
    """One usage row and what it is estimated to cost; cost_usd None means it could not be priced."""

    kind: str
    provider: str
    model: str
    cost_usd: Decimal | None
    note: str = ""


@dataclass(frozen=True)
class CostEstimate:
    total_usd: Decimal | None  # None only when no row could be priced
    lines: tuple[CostLine, ...] = field(default_factory=tuple)

    @property
    def unpriced(self) -> tuple[CostLine, ...]:
        return tuple(line for line in self.lines if line.cost_usd is None)

    @property
    def notes(self) -> list[str]:
        return [f"{line.kind} {line.provider}/{line.model}: {line.note}" for line in self.unpriced]


def _text(row: Mapping[str, Any], key: str) -> str:
    value = row.get(key)
    return value.strip() if isinstance(value, str) else ""


def _quantity(row: Mapping[str, Any], key: str) -> Decimal:
    """A non-negative number from a usage row; anything else counts as zero."""
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return ZERO
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return ZERO
    return number if number.is_finite() and number > 0 else ZERO


def normalize_provider(provider: str) -> str:
    """The catalog provider id for what a plugin reports ("api.openai.com", "Deepgram", ...)."""
    key = provider.strip().lower()
    return PROVIDER_ALIASES.get(key, key)


def _model_candidates(kind: str, provider: str, model: str) -> list[str]:
    model = model.strip().removeprefix("models/")  # Gemini sometimes reports "models/<id>"
    candidates = [model]
    if kind == "stt":
        candidates.append(catalog.stt_model_id(provider, model))  # "universal-streaming" and other aliases
    if kind == "tts" and provider == "deepgram" and model.startswith("aura"):
        # The voice id is the model string: aura-2-thalia-en -> aura-2, aura-asteria-en -> aura.
        candidates.append("aura-2" if model.startswith("aura-2") else "aura")
    candidates.append(_DATE_SUFFIX.sub("", model))  # dated snapshots cost what their alias costs
    return candidates


def find_rate(*, kind: str, provider: str, model: str, on: datetime.date | None = None) -> Rate | None:
    """The list price in force on that day (today by default) for a model, or None when unknown."""
    provider = normalize_provider(provider)
    day = on or timezone.now().date()
    for candidate in _model_candidates(kind, provider, model):
        key = (kind, provider, candidate)
        if key in RATES:
            rate = RATES[key]
            for starts, changed in RATE_CHANGES.get(key, ()):
                if day >= starts:
                    rate = changed
            return rate
    return None


def _row_cost(row: Mapping[str, Any], rate: Rate) -> Decimal:
    return (
        _quantity(row, "input_tokens") * rate.input_per_1m_tokens / MILLION
        + _quantity(row, "output_tokens") * rate.output_per_1m_tokens / MILLION
        + _quantity(row, "characters") * rate.per_1m_characters / MILLION
        + _quantity(row, "audio_seconds") / 60 * rate.per_minute
    )


def estimate_cost(usage: list[dict[str, Any]] | None, *, on: datetime.date | None = None) -> CostEstimate:
    """Per-row estimated costs and their total; rows of unknown models are listed, not counted."""
    lines: list[CostLine] = []
    total = ZERO
    for row in usage or []:
        if not isinstance(row, Mapping):
            lines.append(CostLine("?", "?", "?", None, "not a usage row"))
            continue
        kind, provider, model = _text(row, "kind").lower(), _text(row, "provider"), _text(row, "model")
        if kind not in ("llm", "tts", "stt"):
            lines.append(CostLine(kind or "?", provider, model, None, "unknown usage kind"))
            continue
        rate = find_rate(kind=kind, provider=provider, model=model, on=on)
        if rate is None:
            lines.append(CostLine(kind, provider, model, None, "no list price on file"))
            continue
        cost = _row_cost(row, rate)
        total += cost
        lines.append(CostLine(kind, provider, model, cost.quantize(CENT_FRACTION, rounding=ROUND_HALF_UP)))
    if not lines or all(line.cost_usd is None for line in lines):
        return CostEstimate(total_usd=None, lines=tuple(lines))
    return CostEstimate(total_usd=total.quantize(CENT_FRACTION, rounding=ROUND_HALF_UP), lines=tuple(lines))


def estimate_cost_usd(usage: list[dict[str, Any]] | None, *, on: datetime.date | None = None) -> Decimal | None:
    """The estimated USD cost of these usage rows; None when no row could be priced."""
    return estimate_cost(usage, on=on).total_usd
