"""agents_app.catalog: the provider tables are complete, consistent and looked up correctly."""

import re
from collections import Counter

import pytest

from agents_app import catalog
from voiceplatform.models import Provider

BRITISH_LADY = "79a125e8-cd45-4c13-8a67-188112f4dd22"
RACHEL = "21m00Tcm4TlvDq8ikWAM"


def test_catalog_has_at_least_100_voices_across_the_four_tts_providers():
    voices = catalog.all_voices()

    assert len(voices) >= 100
    assert {v.provider for v in voices} == {"openai", "elevenlabs", "cartesia", "deepgram"}
    assert set(catalog.TTS_PROVIDERS) == {"openai", "elevenlabs", "cartesia", "deepgram"}


def test_catalog_has_at_least_10_llm_models_with_known_limits():
    models = [m for p in catalog.LLM_PROVIDERS.values() for m in p.models]

    assert len(models) >= 10
    assert set(catalog.LLM_PROVIDERS) == {"openai", "google", "anthropic", "groq", "openai_compatible"}
    for model in models:
        assert model.context_window > 0 and model.max_output_tokens > 0, model
        assert model.max_output_tokens <= model.context_window, model
        assert model.cost_level in ("$", "$$", "$$$"), model
        assert model.latency in ("low", "medium", "high"), model


def test_british_lady_is_a_cartesia_voice():
    voice = catalog.voice("cartesia", BRITISH_LADY)

    assert voice is not None
    assert voice.provider == "cartesia"
    assert voice.name == "British Lady"
    assert voice.gender == "female"
    assert catalog.voice_provider_of(BRITISH_LADY) == "cartesia"


def test_no_duplicate_provider_and_id_pairs():
    voice_keys = Counter((v.provider, v.id) for v in catalog.all_voices())
    llm_keys = Counter((m.provider, m.id) for p in catalog.LLM_PROVIDERS.values() for m in p.models)
    stt_keys = Counter((p.id, m.id) for p in catalog.STT_PROVIDERS.values() for m in p.models)
    tts_keys = Counter((p.id, m.id) for p in catalog.TTS_PROVIDERS.values() for m in p.models)

    for counter in (voice_keys, llm_keys, stt_keys, tts_keys):
        assert [key for key, count in counter.items() if count > 1] == []
    # voice_provider_of relies on ids being unique across providers too
    assert [i for i, n in Counter(v.id for v in catalog.all_voices()).items() if n > 1] == []


def test_every_voice_has_a_valid_gender_and_sits_under_its_provider():
    for provider in catalog.TTS_PROVIDERS.values():
        for voice in provider.voices:
            assert voice.provider == provider.id
            assert voice.gender in ("female", "male", "neutral"), voice
            assert voice.name and voice.language, voice


def test_providers_point_to_their_own_models():
    for provider in catalog.LLM_PROVIDERS.values():
        assert all(m.provider == provider.id for m in provider.models)
    for provider in catalog.TTS_PROVIDERS.values():
        assert catalog.tts_model(provider.id, provider.default_model) is not None
    for provider in catalog.STT_PROVIDERS.values():
        assert catalog.stt_model(provider.id, provider.default_model) is not None


def test_every_credential_provider_is_a_provider_credential_value():
    tables = (catalog.LLM_PROVIDERS, catalog.TTS_PROVIDERS, catalog.STT_PROVIDERS)
    for table in tables:
        for provider in table.values():
            assert provider.credential_provider in Provider.values, provider.id


def test_llm_lookups():
    assert catalog.llm_provider("openai").name == "OpenAI"
    assert catalog.llm_provider("mistral") is None
    model = catalog.llm_model("openai", "gpt-4o-mini")
    assert model.context_window == 128_000
    assert catalog.llm_model("openai", "gpt-9-imaginary") is None
    assert catalog.llm_model("anthropic", "gpt-4o-mini") is None  # right id, wrong provider
    assert catalog.llm_model("nope", "gpt-4o-mini") is None


def test_openai_compatible_accepts_a_free_model_name():
    provider = catalog.llm_provider("openai_compatible")
    assert provider.accepts_any_model and provider.requires_base_url
    assert not any(p.accepts_any_model for key, p in catalog.LLM_PROVIDERS.items() if key != "openai_compatible")

    model = catalog.llm_model("openai_compatible", "meta-llama/Llama-3.3-70B-Instruct")

    assert model is not None
    assert model.provider == "openai_compatible"
    assert model.id == model.name == "meta-llama/Llama-3.3-70B-Instruct"
    assert model.context_window == 0  # unknown
    assert catalog.llm_model("openai_compatible", "llama3.1:8b") is not None


@pytest.mark.parametrize("bad", ["", " ", "two words", "x" * 300, "-leading-dash", "name\nnewline"])
def test_openai_compatible_rejects_malformed_model_names(bad):
    assert catalog.llm_model("openai_compatible", bad) is None


def test_voice_lookups():
    rachel = catalog.voice("elevenlabs", RACHEL)
    assert rachel.name == "Rachel"
    assert catalog.voice("openai", "alloy").provider == "openai"
    assert catalog.voice("deepgram", "aura-2-thalia-en").gender == "female"
    assert catalog.voice("deepgram", "aura-asteria-en") is not None
    assert catalog.voice("cartesia", RACHEL) is None  # another provider's voice
    assert catalog.voice("elevenlabs", "no-such-voice") is None
    assert catalog.voice("playht", "alloy") is None


def test_voice_provider_of_finds_the_provider():
    assert catalog.voice_provider_of(RACHEL) == "elevenlabs"
    assert catalog.voice_provider_of("alloy") == "openai"
    assert catalog.voice_provider_of("aura-2-thalia-en") == "deepgram"
    assert catalog.voice_provider_of("not-a-voice") is None


def test_custom_voice_pattern_accepts_plausible_ids_and_rejects_garbage():
    assert catalog.is_custom_voice_id("elevenlabs", "Zx9Qw8Er7Ty6Ui5Op4As")
    assert catalog.is_custom_voice_id("cartesia", "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d")

    assert not catalog.is_custom_voice_id("elevenlabs", RACHEL)  # a catalog voice, not a custom one
    assert not catalog.is_custom_voice_id("elevenlabs", "garbage")
    assert not catalog.is_custom_voice_id("elevenlabs", "Zx9Qw8Er7Ty6Ui5Op4As!")
    assert not catalog.is_custom_voice_id("elevenlabs", "")
    assert not catalog.is_custom_voice_id("cartesia", "79a125e8")
    assert not catalog.is_custom_voice_id("openai", "Zx9Qw8Er7Ty6Ui5Op4As")  # no custom voices
    assert not catalog.is_custom_voice_id("deepgram", "aura-2-custom-en")
    assert not catalog.is_custom_voice_id("nope", "Zx9Qw8Er7Ty6Ui5Op4As")


def test_catalog_ids_of_vendors_with_custom_voices_match_their_own_pattern():
    for provider in catalog.TTS_PROVIDERS.values():
        if provider.custom_voice_pattern:
            for voice in provider.voices:
                assert re.fullmatch(provider.custom_voice_pattern, voice.id), voice


def test_tts_provider_and_model_lookups():
    assert catalog.tts_provider("cartesia").lists_account_voices
    assert catalog.tts_provider("elevenlabs").lists_account_voices
    assert not catalog.tts_provider("openai").lists_account_voices
    assert catalog.tts_provider("playht") is None
    assert catalog.tts_model("cartesia", "sonic-2").name == "Sonic 2"
    assert catalog.tts_model("cartesia", "eleven_turbo_v2_5") is None
    assert catalog.tts_model("nope", "sonic-2") is None


def test_stt_lookups():
    assert catalog.stt_provider("deepgram").default_model == "nova-3"
    assert catalog.stt_provider("whisperx") is None
    assert catalog.stt_model("assemblyai", "universal-streaming-english").streaming
    assert catalog.stt_model("openai", "whisper-1").streaming is False
    assert catalog.stt_model("deepgram", "whisper-1") is None
    assert catalog.stt_model("nope", "nova-3") is None


def test_stt_supports_language():
    assert catalog.stt_supports_language("deepgram", "nova-3", "en-US")
    assert catalog.stt_supports_language("deepgram", "nova-3", "multi")
    assert catalog.stt_supports_language("deepgram", "nova-2-phonecall", "en")
    assert not catalog.stt_supports_language("deepgram", "nova-2-phonecall", "fr")
    assert not catalog.stt_supports_language("deepgram", "nova-2-phonecall", "en-GB")  # plugin falls back
    assert catalog.stt_supports_language("assemblyai", "universal-streaming-multilingual", "es")
    assert not catalog.stt_supports_language("assemblyai", "universal-streaming-english", "es")
    assert catalog.stt_supports_language("openai", "gpt-4o-transcribe", "en-GB")  # plugin sends "en"
    assert catalog.stt_supports_language("google", "latest_long", "en-us")  # case-insensitive
    assert not catalog.stt_supports_language("google", "latest_long", "xx-XX")
    assert not catalog.stt_supports_language("deepgram", "nova-3", "")
    assert not catalog.stt_supports_language("deepgram", "no-model", "en")
    assert not catalog.stt_supports_language("nope", "nova-3", "en")


def test_all_voices_returns_a_fresh_list():
    voices = catalog.all_voices()
    voices.clear()

    assert len(catalog.all_voices()) >= 100


# --- the voice rules: one function each, used by Agent.clean() and by readiness -------------------


@pytest.mark.parametrize(
    ("voice_id", "model_id", "problem"),
    [
        ("marin", "tts-1", "The voice Marin speaks only with gpt-4o-mini-tts, not tts-1"),
        ("verse", "tts-1-hd", "The voice Verse speaks only with gpt-4o-mini-tts, not tts-1-hd"),
        ("marin", "gpt-4o-mini-tts", None),
        ("alloy", "tts-1", None),  # the older voices speak with every model
        ("not-a-voice", "tts-1", None),  # voice_problem's to report
    ],
)
def test_a_voice_that_speaks_with_one_model_needs_that_model(voice_id, model_id, problem):
    assert catalog.voice_model_problem("openai", voice_id, model_id) == problem


def test_only_openais_newer_voices_need_one_model():
    needy = {v.id for v in catalog.all_voices() if catalog.required_tts_model(v.provider, v.id)}
    assert needy == {"ballad", "cedar", "marin", "verse"}
    assert catalog.required_tts_model("openai", "marin") == "gpt-4o-mini-tts"


def test_the_voice_and_model_problems_say_what_is_wrong():
    assert catalog.tts_model_problem("openai", "tts-9") == "OpenAI has no voice model 'tts-9'"
    assert catalog.tts_model_problem("openai", "tts-1") is None
    assert catalog.voice_problem("openai", "aura-2-thalia-en") == (
        "'aura-2-thalia-en' is a Deepgram Aura voice, not a OpenAI voice"
    )
    assert catalog.voice_problem("cartesia", "British Lady") == "'British Lady' is not a voice id of Cartesia Sonic"
    assert catalog.voice_problem("cartesia", BRITISH_LADY) is None
    assert catalog.voice_problem("elevenlabs", "abcdefghijklmnopqrst") is None  # a custom voice id's shape


@pytest.mark.django_db
def test_an_agent_whose_voice_needs_another_model_is_refused_at_save_time(tenant):
    from django.core.exceptions import ValidationError

    from agents_app.services import agent_create
    from voiceplatform.actor import SYSTEM

    with pytest.raises(ValidationError) as refused:
        agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Desk", "voice_id": "marin", "tts_model": "tts-1"})
    assert refused.value.message_dict == {
        "voice_id": [
            "The voice Marin speaks only with gpt-4o-mini-tts, not tts-1: "
            "choose the voice model gpt-4o-mini-tts or another voice."
        ]
    }
    # The provider's default model is that model: an empty model is fine.
    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Desk", "voice_id": "marin"})
    assert agent.effective_tts_model == "gpt-4o-mini-tts"


@pytest.mark.django_db
def test_an_unknown_model_is_reported_once_on_its_own_field(tenant):
    from django.core.exceptions import ValidationError

    from agents_app.services import agent_create
    from voiceplatform.actor import SYSTEM

    with pytest.raises(ValidationError) as refused:
        agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Desk", "voice_id": "marin", "tts_model": "tts-9"})
    assert refused.value.message_dict == {
        "tts_model": ["OpenAI has no voice model 'tts-9'; choose one of gpt-4o-mini-tts, tts-1, tts-1-hd."]
    }
