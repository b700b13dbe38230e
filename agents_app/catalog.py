"""Provider catalogs (LLM models, TTS voices and models, STT models) kept as data in code.

Validation, forms, the API and the voice worker all read these tables; nothing here does I/O.
Only identifiers that a vendor or its SDK publishes are listed. Where a fact (gender, accent) is not
documented the value is neutral ("neutral" / ""), never guessed. The qualitative columns
(cost_level, latency, best_for) are our own editorial guidance, not vendor facts.

Sources (read while writing this module):
- Installed LiveKit Agents 1.8.9 plugins, .venv/lib/python3.11/site-packages/livekit/plugins/:
  openai/models.py (ChatModels, TTSModels, TTSVoices), openai/tts.py (default gpt-4o-mini-tts),
  openai/stt.py (default gpt-4o-mini-transcribe) and openai/types/audio_model.py (AudioModel);
  google/models.py (ChatModels, SpeechModels, SpeechLanguages), google/stt.py (default latest_long);
  anthropic/models.py; groq/models.py; deepgram/models.py and stt.py (default nova-3, en-only
  nova-2 variants); assemblyai/stt.py (speech_model literal); elevenlabs/models.py and tts.py
  (default voice hpp4J3VqNfWAUOO0d1Us, model eleven_turbo_v2_5); cartesia/models.py
  (TTSModels, TTSDefaultVoiceId = Katie) and cartesia/tts.py (default model sonic-3).
- OpenAI voices: the text-to-speech guide's voice list (alloy ... verse, marin, cedar); ballad,
  verse, marin and cedar are only accepted by gpt-4o-mini-tts. OpenAI documents no gender or
  accent for its voices. Transcription languages: OpenAI speech-to-text guide, "Supported languages".
- Deepgram Aura / Aura-2 voices with accent, age and expressed gender: developers.deepgram.com/docs/
  tts-models, as mirrored in Deepgram's SDK model tables. The plugin literal also lists Aura-2 names
  that Deepgram's documentation does not (e.g. artemis, cetus, titan); those are left out.
- ElevenLabs premade voices with labels (accent, gender, description): GET /v1/voices responses
  published in public repositories (current default set incl. Bella hpp4J3VqNfWAUOO0d1Us, and the
  older premade set, tagged "legacy" because ElevenLabs hides them unless show_legacy is set).
- Cartesia voices: the public voice list returned by GET /voices (Cartesia-Version 2024-11-13),
  as reproduced on developer.signalwire.com/voice/tts/cartesia; Katie (plugin default) and
  Jacqueline (LiveKit docs' default Sonic-3 voice) are Cartesia's "stable voices for agents"
  (docs.cartesia.ai, Choosing a Voice). Gender comes only from the vendor's own voice name.
- LLM context windows / output limits: platform.openai.com model pages, ai.google.dev model pages,
  platform.claude.com model overviews, console.groq.com/docs/models.
- AssemblyAI streaming models and languages: assemblyai.com/docs/streaming (select-the-speech-model,
  multilingual-transcription, universal-3-pro supported languages).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# --------------------------------------------------------------------------------------------
# Types
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LLMModel:
    provider: str
    id: str
    name: str
    context_window: int  # tokens; 0 = unknown
    max_output_tokens: int  # tokens; 0 = unknown
    cost_level: str  # "$", "$$", "$$$"; "" = unknown
    best_for: str
    latency: str  # "low" | "medium" | "high"; "" = unknown


@dataclass(frozen=True)
class LLMProvider:
    id: str
    name: str
    models: tuple[LLMModel, ...]
    accepts_any_model: bool = False  # True only for openai_compatible
    requires_base_url: bool = False
    credential_provider: str = ""  # the ProviderCredential.provider value that holds its key


@dataclass(frozen=True)
class Voice:
    provider: str
    id: str
    name: str
    gender: str  # "female" | "male" | "neutral"
    accent: str
    language: str
    tags: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class TTSModel:
    id: str
    name: str
    description: str


@dataclass(frozen=True)
class TTSProvider:
    id: str
    name: str
    models: tuple[TTSModel, ...]
    default_model: str
    voices: tuple[Voice, ...]
    custom_voice_pattern: str  # regex (full match) for custom/cloned voice ids; "" = not supported
    credential_provider: str = ""
    lists_account_voices: bool = False  # True for elevenlabs, cartesia


@dataclass(frozen=True)
class STTModel:
    id: str
    name: str
    languages: tuple[str, ...]  # codes as the vendor takes them; "multi" = automatic / code-switching
    latency: str
    streaming: bool
    description: str


@dataclass(frozen=True)
class STTProvider:
    id: str
    name: str
    models: tuple[STTModel, ...]
    default_model: str
    credential_provider: str = ""


# --------------------------------------------------------------------------------------------
# LLMs: (id, name, context window, max output tokens, cost level, latency, best for)
# --------------------------------------------------------------------------------------------

_OPENAI_LLMS = (
    ("gpt-4o-mini", "GPT-4o mini", 128_000, 16_384, "$", "low", "Fast, low-cost phone conversations"),
    ("gpt-4o", "GPT-4o", 128_000, 16_384, "$$", "low", "General conversations that need stronger reasoning"),
    ("gpt-4.1", "GPT-4.1", 1_047_576, 32_768, "$$", "medium", "Precise instruction following, long context"),
    ("gpt-4.1-mini", "GPT-4.1 mini", 1_047_576, 32_768, "$", "low", "Balanced speed and quality for agents"),
    ("gpt-4.1-nano", "GPT-4.1 nano", 1_047_576, 32_768, "$", "low", "Simple, very fast scripted flows"),
    ("gpt-5", "GPT-5", 400_000, 128_000, "$$", "high", "Complex reasoning and multi-step tool use"),
    ("gpt-5-mini", "GPT-5 mini", 400_000, 128_000, "$", "medium", "Reasoning at a lower cost"),
    ("gpt-5-nano", "GPT-5 nano", 400_000, 128_000, "$", "medium", "High-volume tasks with light reasoning"),
    ("gpt-5.4-mini", "GPT-5.4 mini", 400_000, 128_000, "$$", "medium", "Agentic tool use at mini-tier cost"),
)

_GOOGLE_LLMS = (
    ("gemini-2.5-flash", "Gemini 2.5 Flash", 1_048_576, 65_536, "$", "low", "Fast multilingual conversations"),
    (
        "gemini-3-flash-preview",
        "Gemini 3 Flash (preview)",
        1_048_576,
        65_536,
        "$",
        "low",
        "Near-Pro reasoning at Flash speed",
    ),
    ("gemini-3.8-flash", "Gemini 3.8 Flash", 1_048_576, 65_536, "$$", "low", "Latest Flash for agentic workflows"),
)

_ANTHROPIC_LLMS = (
    ("claude-3-haiku-20240307", "Claude Haiku 3", 200_000, 4_096, "$", "low", "Short, fast, inexpensive replies"),
    ("claude-sonnet-4-20250514", "Claude Sonnet 4", 200_000, 64_000, "$$", "medium", "Careful, natural dialogue"),
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", 200_000, 32_000, "$$$", "high", "Hardest reasoning tasks"),
    ("claude-sonnet-4-6", "Claude Sonnet 4.6", 1_000_000, 128_000, "$$", "medium", "Agents with long context"),
    ("claude-opus-4-6", "Claude Opus 4.6", 1_000_000, 128_000, "$$$", "high", "Complex enterprise agents"),
)

_GROQ_LLMS = (
    ("llama-3.1-8b-instant", "Llama 3.1 8B Instant", 131_072, 131_072, "$", "low", "Lowest latency small talk"),
    ("llama-3.3-70b-versatile", "Llama 3.3 70B Versatile", 131_072, 32_768, "$", "low", "Fast open-weight agent"),
    (
        "meta-llama/llama-4-scout-17b-16e-instruct",
        "Llama 4 Scout 17B",
        131_072,
        8_192,
        "$",
        "low",
        "Fast multilingual replies",
    ),
    ("openai/gpt-oss-120b", "GPT-OSS 120B", 131_072, 65_536, "$", "low", "Open-weight reasoning with tools"),
    ("openai/gpt-oss-20b", "GPT-OSS 20B", 131_072, 65_536, "$", "low", "Cheap open-weight reasoning"),
)


def _llms(provider: str, rows: tuple[tuple[str, str, int, int, str, str, str], ...]) -> tuple[LLMModel, ...]:
    return tuple(
        LLMModel(provider, model_id, name, context, output, cost, best_for, latency)
        for model_id, name, context, output, cost, latency, best_for in rows
    )


LLM_PROVIDERS: dict[str, LLMProvider] = {
    "openai": LLMProvider("openai", "OpenAI", _llms("openai", _OPENAI_LLMS), credential_provider="openai"),
    "google": LLMProvider("google", "Google Gemini", _llms("google", _GOOGLE_LLMS), credential_provider="google"),
    "anthropic": LLMProvider(
        "anthropic", "Anthropic", _llms("anthropic", _ANTHROPIC_LLMS), credential_provider="anthropic"
    ),
    "groq": LLMProvider("groq", "Groq", _llms("groq", _GROQ_LLMS), credential_provider="groq"),
    "openai_compatible": LLMProvider(
        "openai_compatible",
        "OpenAI-compatible (self-hosted)",
        (),
        accepts_any_model=True,
        requires_base_url=True,
        credential_provider="openai_compatible",
    ),
}

# --------------------------------------------------------------------------------------------
# OpenAI voices: (id, note). OpenAI documents neither gender nor accent.
# --------------------------------------------------------------------------------------------

_MINI_TTS_ONLY = "Only with gpt-4o-mini-tts."
MINI_TTS_ONLY_TAG = "gpt-4o-mini-tts-only"  # the tag of those voices (required_tts_model reads it)
MINI_TTS_MODEL = "gpt-4o-mini-tts"
_OPENAI_VOICE_ROWS = (
    ("alloy", ""),
    ("ash", "Plugin default voice."),
    ("ballad", _MINI_TTS_ONLY),
    ("cedar", _MINI_TTS_ONLY),
    ("coral", ""),
    ("echo", ""),
    ("fable", ""),
    ("marin", _MINI_TTS_ONLY),
    ("nova", ""),
    ("onyx", ""),
    ("sage", ""),
    ("shimmer", ""),
    ("verse", _MINI_TTS_ONLY),
)


def _openai_voices() -> tuple[Voice, ...]:
    return tuple(
        Voice(
            "openai",
            voice_id,
            voice_id.title(),
            "neutral",
            "",
            "en",
            (MINI_TTS_ONLY_TAG,) if note == _MINI_TTS_ONLY else (),
            note,
        )
        for voice_id, note in _OPENAI_VOICE_ROWS
    )


# --------------------------------------------------------------------------------------------
# Deepgram Aura voices: (voice name, gender, accent, age, characteristics / use). The voice id
# is the full model string: aura-2-<name>-<lang> or aura-<name>-en.
# --------------------------------------------------------------------------------------------

_DEEPGRAM_AURA2_EN = (
    ("amalthea", "female", "Filipino", "young adult", "Engaging, natural, cheerful; casual chat"),
    ("andromeda", "female", "American", "adult", "Casual, expressive, comfortable; customer service, IVR"),
    ("apollo", "male", "American", "adult", "Confident, comfortable, casual; casual chat"),
    ("arcas", "male", "American", "adult", "Natural, smooth, clear; customer service, casual chat"),
    ("aries", "male", "American", "adult", "Warm, energetic, caring; casual chat"),
    ("asteria", "female", "American", "adult", "Clear, confident, knowledgeable; advertising"),
    ("athena", "female", "American", "mature", "Calm, smooth, professional; storytelling"),
    ("atlas", "male", "American", "mature", "Enthusiastic, confident, approachable; advertising"),
    ("aurora", "female", "American", "adult", "Cheerful, expressive, energetic; interview"),
    ("callista", "female", "American", "adult", "Clear, energetic, professional; IVR"),
    ("cora", "female", "American", "adult", "Smooth, melodic, caring; storytelling"),
    ("cordelia", "female", "American", "young adult", "Approachable, warm, polite; storytelling"),
    ("delia", "female", "American", "young adult", "Casual, friendly, cheerful; interview"),
    ("draco", "male", "British", "adult", "Warm, approachable, trustworthy baritone; storytelling"),
    ("electra", "female", "American", "adult", "Professional, engaging; IVR, advertising, customer service"),
    ("harmonia", "female", "American", "adult", "Empathetic, clear, calm; customer service"),
    ("helena", "female", "American", "adult", "Caring, natural, positive; IVR, casual chat"),
    ("hera", "female", "American", "adult", "Smooth, warm, professional; informative"),
    ("hermes", "male", "American", "adult", "Expressive, engaging, professional; informative"),
    ("hyperion", "male", "Australian", "adult", "Caring, warm, empathetic; interview"),
    ("iris", "female", "American", "young adult", "Cheerful, positive; IVR, advertising, customer service"),
    ("janus", "female", "American (Southern)", "adult", "Smooth, trustworthy; storytelling"),
    ("juno", "female", "American", "adult", "Natural, engaging, melodic; interview"),
    ("jupiter", "male", "American", "adult", "Expressive, knowledgeable baritone; informative"),
    ("luna", "female", "American", "young adult", "Friendly, natural, engaging; IVR"),
    ("mars", "male", "American", "adult", "Smooth, patient, trustworthy baritone; customer service"),
    ("minerva", "female", "American", "adult", "Positive, friendly, natural; storytelling"),
    ("neptune", "male", "American", "adult", "Professional, patient, polite; customer service"),
    ("odysseus", "male", "American", "adult", "Calm, smooth, professional; advertising"),
    ("ophelia", "female", "American", "adult", "Expressive, enthusiastic, cheerful; interview"),
    ("orion", "male", "American", "adult", "Approachable, calm, polite; informative"),
    ("orpheus", "male", "American", "adult", "Professional, clear, trustworthy; customer service"),
    ("pandora", "female", "British", "adult", "Smooth, calm, melodic; IVR, informative"),
    ("phoebe", "female", "American", "adult", "Energetic, warm, casual; customer service"),
    ("pluto", "male", "American", "adult", "Smooth, calm, empathetic baritone; interview, storytelling"),
    ("saturn", "male", "American", "adult", "Knowledgeable, confident baritone; customer service"),
    ("selene", "female", "American", "adult", "Expressive, engaging, energetic; informative"),
    ("thalia", "female", "American", "adult", "Clear, confident, energetic; casual chat, customer service, IVR"),
    ("theia", "female", "Australian", "adult", "Expressive, polite, sincere; informative"),
    ("vesta", "female", "American", "adult", "Natural, patient, empathetic; customer service, storytelling"),
    ("zeus", "male", "American", "adult", "Deep, trustworthy, smooth; IVR"),
)
_DEEPGRAM_FEATURED = frozenset(
    {"thalia", "andromeda", "helena", "apollo", "arcas", "aries", "celeste", "estrella", "nestor"}
)

_DEEPGRAM_AURA2_ES = (
    ("alvaro", "male", "Peninsular", "adult", "Calm, professional, clear; interview, customer service"),
    ("aquila", "male", "Latin American", "adult", "Expressive, confident; casual chat (code-switching)"),
    ("carina", "female", "Peninsular", "adult", "Professional, energetic; interview, IVR (code-switching)"),
    ("celeste", "female", "Colombian", "young adult", "Clear, energetic, positive; casual chat, IVR"),
    ("diana", "female", "Peninsular", "adult", "Professional, confident; storytelling (code-switching)"),
    ("estrella", "female", "Mexican", "mature", "Approachable, natural, calm; casual chat, interview"),
    ("javier", "male", "Latin American", "adult", "Approachable, friendly; IVR, storytelling (code-switching)"),
    ("nestor", "male", "Peninsular", "adult", "Calm, professional, approachable; customer service"),
    ("selena", "female", "Latin American", "young adult", "Approachable, casual, calm (code-switching)"),
    ("sirio", "male", "Mexican", "adult", "Calm, professional, empathetic baritone; casual chat, interview"),
)

_DEEPGRAM_AURA1_EN = (
    ("angus", "male", "Irish", "adult", "Warm, friendly, natural; storytelling"),
    ("arcas", "male", "American", "adult", "Natural, smooth, clear; customer service"),
    ("asteria", "female", "American", "adult", "Clear, confident, energetic; advertising"),
    ("athena", "female", "British", "mature", "Calm, smooth, professional; storytelling"),
    ("helios", "male", "British", "adult", "Professional, clear, confident; customer service"),
    ("hera", "female", "American", "adult", "Smooth, warm, professional; informative"),
    ("luna", "female", "American", "young adult", "Friendly, natural, engaging; IVR"),
    ("orion", "male", "American", "adult", "Approachable, calm, polite; informative"),
    ("orpheus", "male", "American", "adult", "Professional, clear, trustworthy; customer service"),
    ("perseus", "male", "American", "adult", "Confident, professional, clear; customer service"),
    ("stella", "female", "American", "adult", "Clear, professional, engaging; customer service"),
    ("zeus", "male", "American", "adult", "Deep, trustworthy, smooth; IVR"),
)

_DeepgramRows = tuple[tuple[str, str, str, str, str], ...]


def _deepgram(rows: _DeepgramRows, *, prefix: str, language: str, family: str) -> tuple[Voice, ...]:
    voices = []
    for name, gender, accent, age, description in rows:
        tags = (family, age) + (("featured",) if name in _DEEPGRAM_FEATURED and family == "aura-2" else ())
        if family == "aura":
            tags += ("legacy",)
        voice_id = f"{prefix}-{name}-{language}"
        voices.append(Voice("deepgram", voice_id, name.title(), gender, accent, language, tags, description))
    return tuple(voices)


def _deepgram_voices() -> tuple[Voice, ...]:
    return (
        _deepgram(_DEEPGRAM_AURA2_EN, prefix="aura-2", language="en", family="aura-2")
        + _deepgram(_DEEPGRAM_AURA2_ES, prefix="aura-2", language="es", family="aura-2")
        + _deepgram(_DEEPGRAM_AURA1_EN, prefix="aura", language="en", family="aura")
    )


# --------------------------------------------------------------------------------------------
# ElevenLabs premade voices: (voice id, name, gender, accent, labels / use case, legacy?)
# --------------------------------------------------------------------------------------------

_ELEVENLABS_ROWS = (
    ("hpp4J3VqNfWAUOO0d1Us", "Bella", "female", "American", "Professional; informative (plugin default)", False),
    ("CwhRBWXzGAHq8TQ4Fs17", "Roger", "male", "American", "Classy, easy going; conversational", False),
    ("EXAVITQu4vr4xnSDxMaL", "Sarah", "female", "American", "Professional, reassuring", False),
    ("FGY2WhTYpPnrIDTdsKH5", "Laura", "female", "American", "Sassy, upbeat; social media", False),
    ("IKne3meq5aSn9XLyUdCD", "Charlie", "male", "Australian", "Hyped, energetic; conversational", False),
    ("JBFqnCBsd6RMkjVDRZzb", "George", "male", "British", "Mature, warm; narration", False),
    ("N2lVS1w4EtoT3dr4eOWO", "Callum", "male", "American", "Husky trickster; characters", False),
    ("SAz9YHcvj6GT2YYXdXww", "River", "neutral", "American", "Calm, relaxed; conversational", False),
    ("SOYHLrjzK2X1ezoPC6cr", "Harry", "male", "American", "Rough; characters", False),
    ("TX3LPaxmHKxFdv7VOQHJ", "Liam", "male", "American", "Confident, energetic; social media", False),
    ("Xb7hH8MSUJpSbSDYk0k2", "Alice", "female", "British", "Professional, clear; e-learning", False),
    ("XrExE9yKIg1WjnnlVkGX", "Matilda", "female", "American", "Upbeat, professional; informative", False),
    ("bIHbv24MWmeRgasZH58o", "Will", "male", "American", "Chill, laid back; conversational", False),
    ("cgSgspJ2msm6clMCkdW9", "Jessica", "female", "American", "Playful; conversational", False),
    ("cjVigY5qzO86Huf0OWal", "Eric", "male", "American", "Classy, smooth; conversational", False),
    ("iP95p4xoKVk53GoZ742B", "Chris", "male", "American", "Casual, down-to-earth; conversational", False),
    ("nPczCjzI2devNBz1zQrb", "Brian", "male", "American", "Deep, resonant; narration", False),
    ("onwK4e9ZLuTAKqWW03F9", "Daniel", "male", "British", "Formal, strong; news", False),
    ("pFZP5JQG7iQjIQuC4Bku", "Lily", "female", "British", "Confident, warm; narration", False),
    ("pNInz6obpgDQGcFmaJgB", "Adam", "male", "American", "Dominant, firm; social media", False),
    ("pqHfZKP75CvOlQylNhV4", "Bill", "male", "American", "Crisp, trustworthy; advertisement", False),
    ("9BWtsMINqrJLrRacOk9x", "Aria", "female", "American", "Expressive; social media", True),
    ("21m00Tcm4TlvDq8ikWAM", "Rachel", "female", "American", "Calm; narration", True),
    ("29vD33N1CtxCmqQRPOHJ", "Drew", "male", "American", "Well-rounded; news", True),
    ("2EiwWnXFnvU5JabPnv8n", "Clyde", "male", "American", "War veteran; characters", True),
    ("5Q0t7uMcjvnagumLfvZi", "Paul", "male", "American", "Ground reporter; news", True),
    ("AZnzlk1XvdvUeBnXmlld", "Domi", "female", "American", "Strong; narration", True),
    ("CYw3kZ02Hs0563khs1Fj", "Dave", "male", "British (Essex)", "Conversational; characters", True),
    ("D38z5RcWu1voky8WS1ja", "Fin", "male", "Irish", "Sailor; characters", True),
    ("ErXwobaYiN019PkySvjV", "Antoni", "male", "American", "Well-rounded; narration", True),
    ("GBv7mTt0atIp3Br8iCZE", "Thomas", "male", "American", "Calm; meditation", True),
    ("LcfcDJNUP1GQjkzn1xUU", "Emily", "female", "American", "Calm; meditation", True),
    ("MF3mGyEYCl7XYWbV9V6O", "Elli", "female", "American", "Emotional; narration", True),
    ("ODq5zmih8GrVes37Dizd", "Patrick", "male", "American", "Shouty; characters", True),
    ("ThT5KcBeYPX3keUQqHPh", "Dorothy", "female", "British", "Pleasant; children's stories", True),
    ("TxGEqnHWrfWFTfGW9XjX", "Josh", "male", "American", "Deep; narration", True),
    ("VR6AewLTigWG4xSOukaG", "Arnold", "male", "American", "Crisp; narration", True),
    ("XB0fDUnXU5powFXDhCwa", "Charlotte", "female", "English-Swedish", "Seductive; characters", True),
    ("Yko7PKHZNXotIFUBG7I9", "Matthew", "male", "British", "Calm; audiobook", True),
    ("ZQe5CZNOzWyzPSCn5a3c", "James", "male", "Australian", "Calm; news", True),
    ("Zlb1dXrM653N07WRdFW3", "Joseph", "male", "British", "Ground reporter; news", True),
    ("bVMeCyTHy58xNoL34h3p", "Jeremy", "male", "American-Irish", "Excited; narration", True),
    ("flq6f7yk4E4fJM5XTYuZ", "Michael", "male", "American", "Orotund; audiobook", True),
    ("g5CIjZEefAph4nQFvHAz", "Ethan", "male", "American", "Whisper; ASMR", True),
    ("jBpfuIE2acCO8z3wKNLl", "Gigi", "female", "American", "Childish; animation", True),
    ("jsCqWAovK2LkecY7zXl4", "Freya", "female", "American", "Overhyped; characters", True),
    ("oWAxZDx7w5VEj9dCyTzz", "Grace", "female", "American (Southern)", "Gentle; audiobook", True),
    ("pMsXgVXv3BLzUgSXRplE", "Serena", "female", "American", "Pleasant; interactive", True),
    ("piTKgcLEGmPE4e6mEKli", "Nicole", "female", "American", "Whisper; audiobook", True),
    ("t0jbNlBVZ17f02VDIeMI", "Jessie", "male", "American", "Raspy; characters", True),
    ("yoZ06aMxZJJ28mfd3POQ", "Sam", "male", "American", "Raspy; narration", True),
    ("z9fAnlkpzviPz146aGWa", "Glinda", "female", "American", "Witch; characters", True),
    ("zcAOhNBS3c14rBihAFp1", "Giovanni", "male", "English-Italian", "Foreigner; audiobook", True),
    ("zrHiDhphv9ZnVXBqCLjz", "Mimi", "female", "English-Swedish", "Childish; animation", True),
)


def _elevenlabs_voices() -> tuple[Voice, ...]:
    return tuple(
        Voice(
            "elevenlabs",
            voice_id,
            name,
            gender,
            accent,
            "en",
            ("premade", "legacy") if legacy else ("premade",),
            description,
        )
        for voice_id, name, gender, accent, description, legacy in _ELEVENLABS_ROWS
    )


# --------------------------------------------------------------------------------------------
# Cartesia voices: (voice id, name, language, gender, accent, description)
# --------------------------------------------------------------------------------------------

_CARTESIA_ROWS = (
    ("f786b574-daa5-4673-aa0c-cbe3e8534c02", "Katie", "en", "female", "", "Stable voice for agents (plugin default)"),
    ("9626c31c-bec5-4cca-baa8-f8ba9e84c8bc", "Jacqueline", "en", "female", "", "Stable voice for agents"),
    ("79a125e8-cd45-4c13-8a67-188112f4dd22", "British Lady", "en", "female", "British", "Elegant; storytelling"),
    ("3f4ade23-6eb4-4279-ab05-6a144947c4d5", "German Conversational Woman", "de", "female", "", "Rich, friendly"),
    ("79f8b5fb-2cc8-479a-80df-29f7a7cf1a3e", "Nonfiction Man", "en", "male", "", "Smooth, confident, resonant"),
    ("e00d0e4c-a5c8-443f-a8a3-473eb9a62355", "Friendly Sidekick", "en", "neutral", "", "Friendly character voice"),
    ("a249eaff-1e96-4d2c-b23b-12efa4f66f41", "French Conversational Lady", "fr", "female", "", "Gentle, smooth"),
    ("8832a0b5-47b2-4751-bb22-6a8e2149303d", "French Narrator Lady", "fr", "female", "", "Velvety narrator"),
    ("119e03e4-0705-43c9-b3ac-a658ce2b6639", "German Reporter Woman", "de", "female", "", "Neutral news reader"),
    ("3b554273-4299-48b9-9aaf-eefd438e3941", "Indian Lady", "en", "female", "Indian", "Young, rich, curious"),
    ("71a7ad14-091c-4e8e-a314-022ece01c121", "British Reading Lady", "en", "female", "British", "Calm, elegant"),
    ("4d2fd738-3b3d-4368-957a-bb4805275bd9", "British Narration Lady", "en", "female", "British", "Neutral narrator"),
    ("44863732-e415-4084-8ba1-deabe34ce3d2", "Japanese Children Book", "ja", "neutral", "", "Young, expressive"),
    ("2b568345-1d48-4047-b25f-7baccf842eb0", "Japanese Woman Conversational", "ja", "female", "", "Gentle"),
    ("e8a863c6-22c7-4671-86ca-91cacffc038d", "Japanese Male Conversational", "ja", "male", "", "Call center"),
    ("15a9cd88-84b0-4a8b-95f2-5d583b54c72e", "Reading Lady", "en", "female", "", "Monotone, deliberate"),
    ("d46abd1d-2d02-43e8-819f-51fb652c1c61", "Newsman", "en", "male", "", "Neutral news anchor"),
    ("2ee87190-8f84-4925-97da-e52547f9462c", "Child", "en", "neutral", "", "Young and full"),
    ("cd17ff2d-5ea4-4695-be8f-42193949b946", "Meditation Lady", "en", "female", "", "Calm, soothing"),
    ("5345cf08-6f37-424d-a5d9-8ae1101b9377", "Maria", "en", "neutral", "", "Laid back, conversational"),
    ("41534e16-2966-4c6b-9670-111411def906", "1920's Radioman", "en", "male", "", "Energetic radio host"),
    ("bf991597-6c13-47e4-8411-91ec2de5c466", "Newslady", "en", "female", "", "Authoritative news anchor"),
    ("00a77add-48d5-4ef6-8157-71e5437b282d", "Calm Lady", "en", "female", "", "Calm, nurturing narrator"),
    ("156fb8d2-335b-4950-9cb3-a2d33befec77", "Helpful Woman", "en", "female", "", "Customer support"),
    ("5c5ad5e7-1020-476b-8b91-fdcbe9cc313c", "Mexican Woman", "es", "female", "Mexican", "Even narrator"),
    ("b7d50908-b17c-442d-ad8d-810c63997ed9", "California Girl", "en", "female", "", "Enthusiastic, friendly"),
    ("663afeec-d082-4ab5-827e-2e41bf73a25b", "Korean Narrator Woman", "ko", "female", "", ""),
    ("779673f3-895f-4935-b6b5-b031dc78b319", "Russian Calm Lady", "ru", "female", "", ""),
    ("2b3bb17d-26b9-421f-b8ca-1dd92332279f", "Russian Narrator Man 1", "ru", "male", "", ""),
    ("da05e96d-ca10-4220-9042-d8acef654fa9", "Russian Narrator Man 2", "ru", "male", "", ""),
    ("642014de-c0e3-4133-adc0-36b5309c23e6", "Russian Narrator Woman", "ru", "female", "", ""),
    ("95d51f79-c397-46f9-b49a-23763d3eaa2d", "Hinglish Speaking Lady", "hi", "female", "", ""),
    ("0e21713a-5e9a-428a-bed4-90d410b87f13", "Italian Narrator Woman", "it", "female", "", ""),
    ("575a5d29-1fdc-4d4e-9afa-5a9a71759864", "Polish Narrator Woman", "pl", "female", "", ""),
    ("e90c6678-f0d3-4767-9883-5d0ecf5894a8", "Chinese Female Conversational", "zh", "female", "", "Friendly"),
    ("36b42fcb-60c5-4bec-b077-cb1a00a92ec6", "Pilot over Intercom", "en", "neutral", "British", "Pilot character"),
    ("eda5bbff-1ff1-4886-8ef1-4e69a77640a0", "Chinese Commercial Man", "zh", "male", "", "Enthusiastic, deep"),
    ("5c3c89e5-535f-43ef-b14d-f8ffe148c1f0", "French Narrator Man", "fr", "male", "", "Even, rich"),
    ("a67e0421-22e0-4d5b-b586-bd4a64aee41d", "Spanish Narrator Man", "es", "male", "", "Even, deliberate"),
    ("f146dcec-e481-45be-8ad2-96e1e40e7f32", "Reading Man", "en", "male", "", "Calm narrator"),
    ("34575e71-908f-4ab6-ab54-b08c95d6597d", "New York Man", "en", "male", "New York", "Compelling; sales"),
    ("ab7c61f5-3daa-47dd-a23b-4ac0aac5f5c3", "Friendly French Man", "fr", "male", "", "Customer support"),
    ("a0e99841-438c-4a64-b679-ae501e7d6091", "Barbershop Man", "en", "male", "", "Smooth, relaxing"),
    ("638efaaa-4d0c-442e-b701-3fae16aad012", "Indian Man", "en", "male", "Indian", "Smooth narrator"),
    ("41f3c367-e0a8-4a85-89e0-c27bae9c9b6d", "Australian Customer Support Man", "en", "male", "Australian", "Warm"),
    ("421b3369-f63f-4b03-8980-37a44df1d4e8", "Friendly Australian Man", "en", "male", "Australian", "Rich, deep"),
    ("b043dea0-a007-4bbe-a708-769dc0d0c569", "Wise Man", "en", "male", "", "Deep, deliberate"),
    ("69267136-1bdc-412f-ad78-0caad210fb40", "Friendly Reading Man", "en", "male", "", "Energetic, friendly"),
    ("a167e0f3-df7e-4d52-a9c3-f949145efdab", "Customer Support Man", "en", "male", "", "Clear, calm; call center"),
    ("9e8db62d-056f-47f3-b3b6-1b05767f9176", "Dutch Confident Man", "nl", "male", "", ""),
    ("4aa74047-d005-4463-ba2e-a0d9b261fb87", "Dutch Man", "nl", "male", "", ""),
    ("bdab08ad-4137-4548-b9db-6142854c7525", "Hindi Reporter Man", "hi", "male", "", ""),
    ("408daed0-c597-4c27-aae8-fa0497d644bf", "Italian Calm Man", "it", "male", "", ""),
    ("029c3c7a-b6d9-44f0-814b-200d849830ff", "Italian Narrator Man", "it", "male", "", ""),
    ("38a146c3-69d7-40ad-aada-76d5a2621758", "Swedish Narrator Man", "sv", "male", "", ""),
    ("3d335974-4c4a-400a-84dc-ebf4b73aada6", "Polish Confident Man", "pl", "male", "", ""),
    ("846fa30b-6e1a-49b9-b7df-6be47092a09a", "Spanish-speaking Storyteller Man", "es", "male", "", "Warm, rich"),
    ("4f8651b0-bbbd-46ac-8b37-5168c5923303", "Kentucky Woman", "en", "female", "Kentucky", "Energetic, upbeat"),
    ("0b904166-a29f-4d2e-bb20-41ca302f98e9", "Chinese Commercial Woman", "zh", "female", "", "Upbeat, smooth"),
    ("daf747c6-6bc2-4083-bd59-aa94dce23f5d", "Middle Eastern Woman", "en", "female", "Middle Eastern", "Clear"),
    ("c1abd502-9231-4558-a054-10ac950c356d", "Hindi Narrator Woman", "hi", "female", "", ""),
    ("694f9389-aac1-45b6-b726-9d9369183238", "Sarah", "en", "neutral", "American", "Natural; support, sales"),
    ("794f9389-aac1-45b6-b726-9d9369183238", "Sarah Curious", "en", "neutral", "", "Like Sarah, better questions"),
    ("21b81c14-f85b-436d-aff5-43f2e788ecf8", "Laidback Woman", "en", "female", "Californian", "Laid back, husky"),
    ("a3520a8f-226a-428d-9fcd-b0a4711a6829", "Reflective Woman", "en", "female", "", "Even, reflective"),
    ("65b25c5d-ff07-4687-a04c-da2f43ef6fa9", "Helpful French Lady", "fr", "female", "", "Helpful, cheery"),
    ("700d1ee3-a641-4018-ba6e-899dcadc9e2b", "Pleasant Brazilian Lady", "pt", "female", "Brazilian", "Pleasant"),
    ("829ccd10-f8b3-43cd-b8a0-4aeaa81f3b30", "Customer Support Lady", "en", "female", "", "Polite, helpful"),
    ("c8605446-247c-4d39-acd4-8f4c28aa363c", "Wise Lady", "en", "female", "", "Wise, authoritative"),
    ("8985388c-1332-4ce7-8d55-789628aa3df4", "Australian Narrator Lady", "en", "female", "Australian", "Even"),
    ("ff1bb1a9-c582-4570-9670-5f46169d0fc8", "Indian Customer Support Lady", "en", "female", "Indian", "Polite"),
    ("f852eb8d-a177-48cd-bf63-7e4dcab61a36", "Swedish Calm Lady", "sv", "female", "", ""),
    ("2deb3edf-b9d8-4d06-8db9-5742fb8a3cb2", "Spanish Narrator Lady", "es", "female", "", "Calm, reflective"),
    ("820a3788-2b37-4d21-847a-b65d8a68c99a", "Salesman", "en", "male", "", "Smooth, persuasive"),
    ("f114a467-c40a-4db8-964d-aaba89cd08fa", "Yogaman", "en", "male", "", "Calm, soothing"),
    ("c45bc5ec-dc68-4feb-8829-6e6b2748095d", "Movieman", "en", "male", "", "Deep, resonant narrator"),
    ("87748186-23bb-4158-a1eb-332911b0b708", "Wizardman", "en", "male", "", "Wise, mysterious character"),
    ("043cfc81-d69f-4bee-ae1e-7862cb358650", "Australian Woman", "en", "female", "Australian", "Confident"),
    ("29e5f8b4-b953-4160-848f-40fae182235b", "Korean Calm Woman", "ko", "female", "", ""),
    ("fb9fcab6-aba5-49ec-8d7e-3f1100296dde", "Friendly German Man", "de", "male", "", "Friendly, inviting"),
    ("5619d38c-cf51-4d8e-9575-48f61a280413", "Announcer Man", "en", "male", "", "Deep, inviting"),
    ("42b39f37-515f-4eee-8546-73e841679c1d", "Wise Guide Man", "en", "male", "", "Deep, deliberate"),
    ("565510e8-6b45-45de-8758-13588fbaec73", "Midwestern Man", "en", "male", "Midwestern", "Neutral, smooth"),
    ("726d5ae5-055f-4c3d-8355-d9677de68937", "Kentucky Man", "en", "male", "Kentucky", "Laid back, smooth"),
    ("5063f45b-d9e0-4095-b056-8f3ee055d411", "Brazilian Young Man", "pt", "male", "Brazilian", "Soothing, warm"),
    ("3a63e2d1-1c1e-425d-8e79-5100bc910e90", "Chinese Call Center Man", "zh", "male", "", "Polite, neutral"),
    ("3f6e78a8-5283-42aa-b5e7-af82e8bb310c", "German Reporter Man", "de", "male", "", "Energetic"),
    ("63ff761f-c1e8-414b-b969-d1833d1c870c", "Confident British Man", "en", "male", "British", "Disciplined"),
    ("98a34ef2-2140-4c28-9c71-663dc4dd7022", "Southern Man", "en", "male", "Southern US", "Warm narrator"),
    ("95856005-0332-41b0-935f-352e296aa0df", "Classy British Man", "en", "male", "British", "Light, smooth"),
    ("ee7ea9f8-c0c1-498c-9279-764d6b56d189", "Polite Man", "en", "male", "", "Polite; customer support"),
    ("15d0c2e2-8d29-44c3-be23-d585d5f154a1", "Mexican Man", "es", "male", "Mexican", "Rich, conversational"),
    ("57dba6ff-fe3b-479d-836e-06f5a61cb5de", "Korean Narrator Man", "ko", "male", "", ""),
    ("5a31e4fb-f823-4359-aa91-82c0ae9a991c", "Turkish Narrator Man", "tr", "male", "", ""),
    ("39f753ef-b0eb-41cd-aa53-2f3c284f948f", "Turkish Calm Man", "tr", "male", "", ""),
    ("ac7ee4fa-25db-420d-bfff-f590d740aeb2", "Hindi Calm Man", "hi", "male", "", ""),
    ("7f423809-0011-4658-ba48-a411f5e516ba", "Hindi Narrator Man", "hi", "male", "", ""),
    ("4ef93bb3-682a-46e6-b881-8e157b6b4388", "Polish Narrator Man", "pl", "male", "", ""),
    ("82a7fc13-2927-4e42-9b8a-bb1f9e506521", "Polish Young Man", "pl", "male", "", ""),
    ("40104aff-a015-4da1-9912-af950fbec99e", "Alabama Male", "en", "male", "Southern US", "Instructional"),
    ("13524ffb-a918-499a-ae97-c98c7c4408c4", "Australian Male", "en", "male", "Australian", "Smooth narrator"),
    ("1001d611-b1a8-46bd-a5ca-551b23505334", "Anime Girl", "en", "female", "", "High-pitched character"),
    ("97e7d7a9-dfaa-4758-a936-f5f844ac34cc", "Japanese Man Book", "ja", "male", "", "Deep, even narrator"),
    ("e3827ec5-697a-4b7c-9704-1a23041bbc51", "Sweet Lady", "en", "female", "", "Sweet, passionate character"),
    ("c2ac25f9-ecc4-4f56-9095-651354df60c0", "Commercial Lady", "en", "female", "", "Inviting; advertising"),
    ("573e3144-a684-4e72-ac2b-9b2063a50b53", "Teacher Lady", "en", "female", "", "Neutral, clear; education"),
    ("8f091740-3df1-4795-8bd9-dc62d88e5131", "Princess", "en", "female", "", "Light character voice"),
    ("7360f116-6306-4e9a-b487-1235f35a0f21", "Commercial Man", "en", "male", "", "Upbeat; advertising"),
    ("03496517-369a-4db1-8236-3d3ae459ddf7", "ASMR Lady", "en", "female", "", "Soft, calming"),
    ("248be419-c632-4f23-adf1-5324ed7dbf1d", "Professional Woman", "en", "female", "", "Neutral; call center"),
    ("bd9120b6-7761-47a6-a446-77ca49132781", "Tutorial Man", "en", "male", "", "Inviting; tutorials"),
    ("a8a1eb38-5f15-4c1d-8722-7ac0f329727d", "Calm French Woman", "fr", "female", "", "Soft, calm"),
    ("34bde396-9fde-4ebf-ad03-e3a1d1155205", "New York Woman", "en", "female", "New York", "Commanding"),
    ("846d6cb0-2301-48b6-9683-48f5618ea2f6", "Spanish-speaking Lady", "es", "female", "", "Neutral, rich"),
    ("11af83e2-23eb-452f-956e-7fee218ccb5c", "Midwestern Woman", "en", "female", "Midwestern", "Neutral news"),
    ("ed81fd13-2016-4a49-8fe3-c0d2761695fc", "Sportsman", "en", "male", "", "Energetic sports caster"),
    ("996a8b96-4804-46f0-8e05-3fd4ef1a87cd", "Storyteller Lady", "en", "female", "Canadian", "Neutral narrator"),
    ("34dbb662-8e98-413c-a1ef-1a3407675fe7", "Spanish-speaking Man", "es", "male", "", "Friendly, inviting"),
    ("fb26447f-308b-471e-8b00-8e9f04284eb5", "Doctor Mischief", "en", "neutral", "", "Whimsical character"),
    ("2695b6b5-5543-4be1-96d9-3967fb5e7fec", "Spanish-speaking Reporter Man", "es", "male", "", "News reader"),
    ("db832ebd-3cb6-42e7-9d47-912b425adbaa", "Young Spanish-speaking Woman", "es", "female", "", "Light, smooth"),
    ("50d6beb4-80ea-4802-8387-6c948fe84208", "The Merchant", "en", "neutral", "", "Playful character"),
    ("0418348a-0ca2-4e90-9986-800fb8b3bbc0", "Stern French Man", "fr", "male", "", "Gravelly, assertive"),
    ("e13cae5c-ec59-4f71-b0a6-266df3c9bb8e", "Madame Mischief", "en", "female", "", "Playful character"),
    ("db229dfe-f5de-4be4-91fd-7b077c158578", "German Storyteller Man", "de", "male", "", "Smooth narrator"),
    ("5c42302c-194b-4d0c-ba1a-8cb485c84ab9", "Female Nurse", "en", "female", "", "Clear, firm"),
    ("384b625b-da5d-49e8-a76d-a2855d4f31eb", "German Conversation Man", "de", "male", "", "Rich, earnest"),
    ("6a16c1f4-462b-44de-998d-ccdaa4125a0a", "Friendly Brazilian Man", "pt", "male", "Brazilian", "Lively"),
    ("b9de4a89-2257-424b-94c2-db18ba68c81a", "German Woman", "de", "female", "", "Warm; phone calls"),
    ("f9836c6e-a0bd-460e-9d3c-f7299fa60f94", "Southern Woman", "en", "female", "Southern US", "Friendly; calls"),
    ("a01c369f-6d2d-4185-bc20-b32c225eab70", "British Customer Support Lady", "en", "female", "British", "Polite"),
    ("d4d4b115-57a0-48ea-9a1a-9898966c2966", "Chinese Woman Narrator", "zh", "female", "", "Neutral narrator"),
)


def _cartesia_voices() -> tuple[Voice, ...]:
    return tuple(
        Voice("cartesia", voice_id, name, gender, accent, language, ("stock",), description)
        for voice_id, name, language, gender, accent, description in _CARTESIA_ROWS
    )


# --------------------------------------------------------------------------------------------
# TTS providers
# --------------------------------------------------------------------------------------------

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

TTS_PROVIDERS: dict[str, TTSProvider] = {
    "openai": TTSProvider(
        "openai",
        "OpenAI",
        (
            TTSModel("gpt-4o-mini-tts", "GPT-4o mini TTS", "Steerable with instructions; accepts every voice"),
            TTSModel("tts-1", "TTS-1", "Lower latency, standard quality"),
            TTSModel("tts-1-hd", "TTS-1 HD", "Higher quality, higher latency"),
        ),
        "gpt-4o-mini-tts",
        _openai_voices(),
        "",
        credential_provider="openai",
    ),
    "elevenlabs": TTSProvider(
        "elevenlabs",
        "ElevenLabs",
        (
            TTSModel("eleven_turbo_v2_5", "Turbo v2.5", "Low latency, multilingual (plugin default)"),
            TTSModel("eleven_flash_v2_5", "Flash v2.5", "Lowest latency, multilingual"),
            TTSModel("eleven_multilingual_v2", "Multilingual v2", "Most life-like; higher latency"),
            TTSModel("eleven_turbo_v2", "Turbo v2", "Low latency, English only"),
            TTSModel("eleven_flash_v2", "Flash v2", "Lowest latency, English only"),
            TTSModel("eleven_v3", "Eleven v3", "Most expressive; synthesised through the text-to-dialogue API"),
        ),
        "eleven_turbo_v2_5",
        _elevenlabs_voices(),
        r"[A-Za-z0-9]{20}",  # ElevenLabs voice ids (premade and cloned) are 20 alphanumerics
        credential_provider="elevenlabs",
        lists_account_voices=True,
    ),
    "cartesia": TTSProvider(
        "cartesia",
        "Cartesia Sonic",
        (
            TTSModel("sonic-3", "Sonic 3", "Latest Sonic generation (plugin default)"),
            TTSModel("sonic-2", "Sonic 2", "Previous generation"),
            TTSModel("sonic-turbo", "Sonic Turbo", "Optimised for the lowest latency"),
            TTSModel("sonic", "Sonic", "First generation"),
        ),
        "sonic-3",
        _cartesia_voices(),
        _UUID,  # Cartesia voice ids, including cloned voices, are UUIDs
        credential_provider="cartesia",
        lists_account_voices=True,
    ),
    "deepgram": TTSProvider(
        "deepgram",
        "Deepgram Aura",
        (
            TTSModel(
                "aura-2", "Aura-2", "Current voices; the voice id is the full model string, e.g. aura-2-thalia-en"
            ),
            TTSModel("aura", "Aura", "First-generation English voices (legacy)"),
        ),
        "aura-2",
        _deepgram_voices(),
        "",
        credential_provider="deepgram",
    ),
}

# --------------------------------------------------------------------------------------------
# STT
# --------------------------------------------------------------------------------------------

# Deepgram: the plugin's DeepgramLanguages list (models-languages-overview), used for Nova-2 general.
_DEEPGRAM_NOVA2_LANGUAGES = (
    "multi", "zh", "zh-CN", "zh-TW", "zh-HK", "da", "nl", "en", "en-US", "en-AU", "en-GB", "en-NZ", "en-IN",
    "fr", "fr-CA", "de", "hi", "hi-Latn", "id", "it", "ja", "ko", "no", "pl", "pt", "pt-BR", "ru", "es",
    "es-419", "es-LATAM", "sv", "ta", "taq", "th", "tr", "uk",
)  # fmt: skip
# Nova-3: the multilingual launch set plus regional English; conservative on purpose.
_DEEPGRAM_NOVA3_LANGUAGES = (
    "multi", "en", "en-US", "en-AU", "en-GB", "en-IN", "en-NZ", "es", "es-419", "fr", "fr-CA", "de", "hi",
    "ru", "pt", "pt-BR", "ja", "it", "nl",
)  # fmt: skip
_DEEPGRAM_EN_ONLY = ("en", "en-US")

# AssemblyAI streaming (assemblyai.com/docs/streaming).
_ASSEMBLYAI_MULTILINGUAL = ("multi", "en", "es", "fr", "de", "it", "pt")

# OpenAI transcription: the speech-to-text guide's supported languages (ISO 639-1), plus "multi"
# which the worker maps to the plugin's detect_language=True.
_OPENAI_STT_LANGUAGES = (
    "multi", "af", "ar", "hy", "az", "be", "bs", "bg", "ca", "zh", "hr", "cs", "da", "nl", "en", "et", "fi",
    "fr", "gl", "de", "el", "he", "hi", "hu", "is", "id", "it", "ja", "kn", "kk", "ko", "lv", "lt", "mk", "ms",
    "mr", "mi", "ne", "no", "fa", "pl", "pt", "ro", "ru", "sr", "sk", "sl", "es", "sw", "sv", "tl", "ta", "th",
    "tr", "uk", "ur", "vi", "cy",
)  # fmt: skip

# Google Cloud Speech: the plugin's SpeechLanguages (full locale codes, as the API takes them).
_GOOGLE_STT_LANGUAGES = (
    "af-ZA", "am-ET", "ar-AE", "ar-BH", "ar-DZ", "ar-EG", "ar-IL", "ar-IQ", "ar-JO", "ar-KW", "ar-LB", "ar-MA",
    "ar-MR", "ar-OM", "ar-PS", "ar-QA", "ar-SA", "ar-TN", "ar-YE", "as-IN", "ast-ES", "az-AZ", "be-BY", "bg-BG",
    "bn-BD", "bn-IN", "bs-BA", "ca-ES", "ceb-PH", "ckb-IQ", "cmn-Hans-CN", "cmn-Hant-TW", "cs-CZ", "cy-GB",
    "da-DK", "de-AT", "de-CH", "de-DE", "el-GR", "en-AU", "en-CA", "en-GB", "en-HK", "en-IE", "en-IN", "en-NZ",
    "en-PK", "en-SG", "en-US", "es-419", "es-AR", "es-BO", "es-CL", "es-CO", "es-CR", "es-DO", "es-EC", "es-ES",
    "es-GT", "es-HN", "es-MX", "es-NI", "es-PA", "es-PE", "es-PR", "es-SV", "es-US", "es-UY", "es-VE", "et-EE",
    "eu-ES", "fa-IR", "ff-SN", "fi-FI", "fil-PH", "fr-BE", "fr-CA", "fr-CH", "fr-FR", "ga-IE", "gl-ES", "gu-IN",
    "ha-NG", "hi-IN", "hr-HR", "hu-HU", "hy-AM", "id-ID", "ig-NG", "is-IS", "it-CH", "it-IT", "iw-IL", "ja-JP",
    "jv-ID", "ka-GE", "kam-KE", "kea-CV", "kk-KZ", "km-KH", "kn-IN", "ko-KR", "ky-KG", "lb-LU", "lg-UG", "ln-CD",
    "lo-LA", "lt-LT", "luo-KE", "lv-LV", "mi-NZ", "mk-MK", "ml-IN", "mn-MN", "mr-IN", "ms-MY", "mt-MT", "my-MM",
    "ne-NP", "nl-BE", "nl-NL", "no-NO", "nso-ZA", "ny-MW", "oc-FR", "om-ET", "or-IN", "pa-Guru-IN", "pl-PL",
    "ps-AF", "pt-BR", "pt-PT", "ro-RO", "ru-RU", "rup-BG", "rw-RW", "sd-IN", "si-LK", "sk-SK", "sl-SI", "sn-ZW",
    "so-SO", "sq-AL", "sr-RS", "ss-Latn-ZA", "st-ZA", "su-ID", "sv-SE", "sw", "sw-KE", "ta-IN", "te-IN", "tg-TJ",
    "th-TH", "tn-Latn-ZA", "tr-TR", "ts-ZA", "uk-UA", "umb-AO", "ur-PK", "uz-UZ", "ve-ZA", "vi-VN", "wo-SN",
    "xh-ZA", "yo-NG", "yue-Hant-HK", "zu-ZA",
)  # fmt: skip

STT_PROVIDERS: dict[str, STTProvider] = {
    "deepgram": STTProvider(
        "deepgram",
        "Deepgram",
        (
            STTModel("nova-3", "Nova-3", _DEEPGRAM_NOVA3_LANGUAGES, "low", True, "Most accurate; plugin default"),
            STTModel("nova-3-medical", "Nova-3 Medical", _DEEPGRAM_EN_ONLY, "low", True, "Medical vocabulary"),
            STTModel("nova-2-general", "Nova-2", _DEEPGRAM_NOVA2_LANGUAGES, "low", True, "Widest language list"),
            STTModel("nova-2-phonecall", "Nova-2 Phonecall", _DEEPGRAM_EN_ONLY, "low", True, "Low-bandwidth calls"),
            STTModel("nova-2-conversationalai", "Nova-2 Conversational AI", _DEEPGRAM_EN_ONLY, "low", True, ""),
            STTModel("nova-2-meeting", "Nova-2 Meeting", _DEEPGRAM_EN_ONLY, "low", True, "Several speakers"),
            STTModel("flux-general-en", "Flux", ("en",), "low", True, "Built-in turn detection (/v2/listen)"),
        ),
        "nova-3",
        credential_provider="deepgram",
    ),
    "assemblyai": STTProvider(
        "assemblyai",
        "AssemblyAI",
        (
            STTModel("universal-streaming-english", "Universal-Streaming English", ("en",), "low", True, ""),
            STTModel(
                "universal-streaming-multilingual",
                "Universal-Streaming Multilingual",
                _ASSEMBLYAI_MULTILINGUAL,
                "low",
                True,
                "Per-turn language detection",
            ),
            STTModel(
                "u3-rt-pro",
                "Universal-3 Pro Streaming",
                _ASSEMBLYAI_MULTILINGUAL,
                "low",
                True,
                "Highest accuracy, native code switching",
            ),
        ),
        "universal-streaming-english",
        credential_provider="assemblyai",
    ),
    "openai": STTProvider(
        "openai",
        "OpenAI",
        (
            STTModel("gpt-4o-mini-transcribe", "GPT-4o mini Transcribe", _OPENAI_STT_LANGUAGES, "medium", True, ""),
            STTModel("gpt-4o-transcribe", "GPT-4o Transcribe", _OPENAI_STT_LANGUAGES, "medium", True, ""),
            STTModel("whisper-1", "Whisper", _OPENAI_STT_LANGUAGES, "high", False, "No partial transcripts"),
        ),
        "gpt-4o-mini-transcribe",
        credential_provider="openai",
    ),
    "google": STTProvider(
        "google",
        "Google Cloud Speech",
        (
            STTModel("latest_long", "Latest long", _GOOGLE_STT_LANGUAGES, "medium", True, "Plugin default"),
            STTModel("latest_short", "Latest short", _GOOGLE_STT_LANGUAGES, "low", True, "Short utterances"),
            STTModel("telephony", "Telephony", _GOOGLE_STT_LANGUAGES, "medium", True, "Phone audio"),
            STTModel("chirp_2", "Chirp 2", _GOOGLE_STT_LANGUAGES, "medium", True, "Speech-to-Text v2"),
            STTModel("chirp_3", "Chirp 3", _GOOGLE_STT_LANGUAGES, "medium", True, "Speech-to-Text v2"),
        ),
        "latest_long",
        credential_provider="google",
    ),
}

# --------------------------------------------------------------------------------------------
# Indexes and lookups
# --------------------------------------------------------------------------------------------

_LLM_INDEX = {(m.provider, m.id): m for p in LLM_PROVIDERS.values() for m in p.models}
_ALL_VOICES = tuple(v for p in TTS_PROVIDERS.values() for v in p.voices)
_VOICE_INDEX = {(v.provider, v.id): v for v in _ALL_VOICES}
_VOICE_PROVIDER = {v.id: v.provider for v in _ALL_VOICES}
_CUSTOM_VOICE_RE = {p.id: re.compile(p.custom_voice_pattern) for p in TTS_PROVIDERS.values() if p.custom_voice_pattern}
# These plugins reduce a regional code to its language before calling the vendor (en-GB -> en);
# Deepgram and Google take the exact code.
_BARE_LANGUAGE_PROVIDERS = frozenset({"openai", "assemblyai"})
# Names a self-hosted server might use: "llama3.1:8b", "Qwen/Qwen2.5-7B-Instruct", "gpt-oss@q4".
_FREE_MODEL_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}")


def llm_provider(provider_id: str) -> LLMProvider | None:
    return LLM_PROVIDERS.get(provider_id)


def llm_model(provider_id: str, model_id: str) -> LLMModel | None:
    """The catalog model; for providers that accept any model, a model with unknown limits."""
    if (found := _LLM_INDEX.get((provider_id, model_id))) is not None:
        return found
    provider = LLM_PROVIDERS.get(provider_id)
    if provider is None or not provider.accepts_any_model or not _FREE_MODEL_ID_RE.fullmatch(model_id or ""):
        return None
    return LLMModel(provider.id, model_id, model_id, 0, 0, "", "", "")


def tts_provider(provider_id: str) -> TTSProvider | None:
    return TTS_PROVIDERS.get(provider_id)


def voice(provider_id: str, voice_id: str) -> Voice | None:
    """A voice from the static catalog (never a tenant's own voice)."""
    return _VOICE_INDEX.get((provider_id, voice_id))


def is_custom_voice_id(provider_id: str, voice_id: str) -> bool:
    """True when the id is not in the catalog but has the shape of this vendor's custom voice ids."""
    pattern = _CUSTOM_VOICE_RE.get(provider_id)
    if pattern is None or not voice_id or voice(provider_id, voice_id) is not None:
        return False
    return pattern.fullmatch(voice_id) is not None


def voice_provider_of(voice_id: str) -> str | None:
    """Which provider's catalog holds this voice id, if any."""
    return _VOICE_PROVIDER.get(voice_id)


def tts_model(provider_id: str, model_id: str) -> TTSModel | None:
    provider = TTS_PROVIDERS.get(provider_id)
    return next((m for m in provider.models if m.id == model_id), None) if provider else None


# --------------------------------------------------------------------------------------------
# The voice rules: one function per constraint, each saying what is wrong (without the remedy, which
# depends on where it is shown). Agent.clean() (so the API, the portal form and the admin) refuses a
# save with them; readiness (agents_app/readiness.py) names them for a config that breaks them anyway.
# --------------------------------------------------------------------------------------------


def tts_model_problem(provider_id: str, model_id: str) -> str | None:
    """The TTS model must be one of the provider's."""
    provider = TTS_PROVIDERS.get(provider_id)
    if provider is None or tts_model(provider_id, model_id) is not None:
        return None
    return f"{provider.name} has no voice model {model_id!r}"


def voice_problem(provider_id: str, voice_id: str) -> str | None:
    """The voice must be one of the provider's catalog voices or have the shape of its custom voice ids."""
    provider = TTS_PROVIDERS.get(provider_id)
    if provider is None or voice(provider_id, voice_id) is not None or is_custom_voice_id(provider_id, voice_id):
        return None
    owner = voice_provider_of(voice_id)
    if owner and owner != provider_id:
        return f"{voice_id!r} is a {TTS_PROVIDERS[owner].name} voice, not a {provider.name} voice"
    return f"{voice_id!r} is not a voice id of {provider.name}"


def required_tts_model(provider_id: str, voice_id: str) -> str | None:
    """The one TTS model a catalog voice speaks with, when it speaks with only one (OpenAI's newer voices)."""
    found = voice(provider_id, voice_id)
    return MINI_TTS_MODEL if found is not None and MINI_TTS_ONLY_TAG in found.tags else None


def voice_model_problem(provider_id: str, voice_id: str, model_id: str) -> str | None:
    """A voice that speaks with only one TTS model must be given that model."""
    required = required_tts_model(provider_id, voice_id)
    if required is None or model_id == required:
        return None
    found = voice(provider_id, voice_id)
    assert found is not None  # required_tts_model found it
    return f"The voice {found.name} speaks only with {required}, not {model_id or 'no model'}"


def stt_provider(provider_id: str) -> STTProvider | None:
    return STT_PROVIDERS.get(provider_id)


# Names users know that are not the vendor's API id. "universal-streaming" is AssemblyAI's
# product name (and the reference design's sttModel value); its API id is below.
STT_MODEL_ALIASES: dict[tuple[str, str], str] = {
    ("assemblyai", "universal-streaming"): "universal-streaming-english",
}


def stt_model_id(provider_id: str, model_id: str) -> str:
    """The vendor's API id for a model name, resolving aliases."""
    return STT_MODEL_ALIASES.get((provider_id, model_id), model_id)


def stt_model(provider_id: str, model_id: str) -> STTModel | None:
    provider = STT_PROVIDERS.get(provider_id)
    model_id = stt_model_id(provider_id, model_id)
    return next((m for m in provider.models if m.id == model_id), None) if provider else None


def stt_supports_language(provider_id: str, model_id: str, language: str) -> bool:
    """True when the model takes this language code (case-insensitive)."""
    model = stt_model(provider_id, model_id)
    if model is None or not language:
        return False
    wanted = language.strip().casefold()
    listed = {code.casefold() for code in model.languages}
    if provider_id in _BARE_LANGUAGE_PROVIDERS:
        wanted = wanted.split("-", 1)[0]
    return wanted in listed


def all_voices() -> list[Voice]:
    return list(_ALL_VOICES)
