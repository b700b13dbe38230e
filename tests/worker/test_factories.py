"""Provider factories: each provider's plugin object carries the tenant's key, model, voice and base_url;
the environment fallback; the readiness verdict in the API and on the agent page.

No network: constructing a plugin object does not call the vendor. The assertions read the options
the plugins keep (their private attributes, read in the installed livekit-plugins-* 1.8.9 source)."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import replace
from typing import Any

import pytest
from django.urls import reverse
from livekit.agents.types import NOT_GIVEN
from livekit.plugins import anthropic, assemblyai, cartesia, deepgram, elevenlabs, google, groq, openai

from agents_app.readiness import PLUGINS, Credentials, Readiness, readiness, resolve_credentials
from agents_app.runtime_config import RuntimeConfig, build_runtime_config
from agents_app.services import agent_create
from voiceplatform.actor import SYSTEM
from voiceplatform.models import PROVIDER_ENV, Tenant
from voiceplatform.services import credential_set
from worker import factories, transport
from worker.factories import ProviderNotReady, build_llm, build_stt, build_tts

BRITISH_LADY = "79a125e8-cd45-4c13-8a67-188112f4dd22"  # Cartesia, English
CARTESIA_SPANISH = "5c5ad5e7-1020-476b-8b91-fdcbe9cc313c"
BELLA = "hpp4J3VqNfWAUOO0d1Us"  # ElevenLabs
SERVICE_ACCOUNT = {
    "type": "service_account",
    "project_id": "acme-voice",
    "private_key_id": "0123",
    "private_key": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
    "client_email": "speech@acme-voice.iam.gserviceaccount.com",
}


@pytest.fixture(autouse=True)
def _no_provider_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets: the machine running the suite may have real keys exported."""
    for names in PROVIDER_ENV.values():
        for name in names.values():
            monkeypatch.delenv(name, raising=False)
    for name in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_GENAI_USE_VERTEXAI"):
        monkeypatch.delenv(name, raising=False)


def _config(tenant: Tenant, **fields: Any) -> RuntimeConfig:
    """An agent made through agent_create, as the runtime config the worker loads."""
    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Front desk", **fields})
    return build_runtime_config(agent)


def _built(kind: str, tenant: Tenant, **fields: Any) -> Any:
    config = _config(tenant, **fields)
    credentials = resolve_credentials(tenant=tenant, config=config)
    builder = {"llm": build_llm, "tts": build_tts, "stt": build_stt}[kind]
    return builder(config=config, credentials=credentials)


# --- LLM -----------------------------------------------------------------------------------------


def test_openai_llm_gets_the_tenants_key_model_temperature_and_token_limit(tenant):
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111")

    llm = _built("llm", tenant, llm_provider="openai", llm_model="gpt-4.1-mini", temperature=0.3, max_output_tokens=300)

    assert type(llm) is openai.LLM
    assert llm._client.api_key == "sk-acme-openai-1111"
    assert str(llm._client.base_url) == "https://api.openai.com/v1/"
    assert llm.model == "gpt-4.1-mini"
    assert llm._opts.temperature == 0.3
    assert llm._opts.max_completion_tokens == 300


def test_openai_llm_uses_the_credentials_base_url_when_it_has_one(tenant):
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-1111", base_url="https://proxy.acme.test/v1")

    llm = _built("llm", tenant, llm_provider="openai", llm_model="gpt-4o-mini")

    assert str(llm._client.base_url) == "https://proxy.acme.test/v1/"
    assert llm._opts.max_completion_tokens is NOT_GIVEN  # no limit set: the model's default


def test_openai_compatible_llm_points_at_the_tenants_server_with_its_key(tenant):
    credential_set(
        tenant=tenant, provider="openai_compatible", secret="vllm-token-2222", base_url="http://vllm.acme.test:8000/v1"
    )

    llm = _built("llm", tenant, llm_provider="openai_compatible", llm_model="Qwen/Qwen2.5-7B-Instruct")

    assert type(llm) is openai.LLM
    assert str(llm._client.base_url) == "http://vllm.acme.test:8000/v1/"
    assert llm._client.api_key == "vllm-token-2222"
    assert llm.model == "Qwen/Qwen2.5-7B-Instruct"


def test_openai_compatible_without_a_key_never_sends_the_platforms_openai_key(tenant, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-PLATFORM-must-not-leak")
    credential_set(tenant=tenant, provider="openai_compatible", base_url="http://ollama.acme.test:11434/v1")
    config = _config(tenant, llm_provider="openai_compatible", llm_model="llama3.1:8b", stt_provider="openai")

    assert readiness(tenant=tenant, config=config).problems == ()
    llm = build_llm(config=config, credentials=resolve_credentials(tenant=tenant, config=config))

    assert str(llm._client.base_url) == "http://ollama.acme.test:11434/v1/"
    assert llm._client.api_key == factories.NO_KEY_PLACEHOLDER


def test_openai_compatible_without_a_base_url_is_not_ready(tenant):
    config = _config(tenant, llm_provider="openai_compatible", llm_model="llama3.1:8b")

    verdict = readiness(tenant=tenant, config=config)

    assert verdict.ready is False
    assert any("No base URL for the OpenAI-compatible (self-hosted) server" in p for p in verdict.problems)


def test_google_llm_gets_the_gemini_key_and_stays_off_vertex_whatever_the_environment_says(tenant, monkeypatch):
    monkeypatch.setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
    credential_set(tenant=tenant, provider="google", secret="AIza-acme-gemini-3333")

    llm = _built(
        "llm", tenant, llm_provider="google", llm_model="gemini-2.5-flash", temperature=0.4, max_output_tokens=500
    )

    assert type(llm) is google.LLM
    assert llm._client._api_client.api_key == "AIza-acme-gemini-3333"
    assert llm._client._api_client.vertexai is False
    assert llm.model == "gemini-2.5-flash"
    assert llm._opts.temperature == 0.4
    assert llm._opts.max_output_tokens == 500


def test_anthropic_llm_gets_the_key_model_and_max_tokens(tenant):
    credential_set(tenant=tenant, provider="anthropic", secret="sk-ant-acme-4444")

    llm = _built(
        "llm", tenant, llm_provider="anthropic", llm_model="claude-sonnet-4-6", temperature=0.2, max_output_tokens=400
    )

    assert type(llm) is anthropic.LLM
    assert llm._client.api_key == "sk-ant-acme-4444"
    assert llm.model == "claude-sonnet-4-6"
    assert llm._opts.max_tokens == 400
    assert llm._opts.temperature == 0.2


def test_groq_llm_gets_the_key_and_groqs_endpoint(tenant):
    credential_set(tenant=tenant, provider="groq", secret="gsk_acme_5555")

    llm = _built("llm", tenant, llm_provider="groq", llm_model="llama-3.3-70b-versatile", max_output_tokens=256)

    assert type(llm) is groq.LLM
    assert llm._client.api_key == "gsk_acme_5555"
    assert str(llm._client.base_url) == "https://api.groq.com/openai/v1/"
    assert llm.model == "llama-3.3-70b-versatile"
    assert llm._opts.max_completion_tokens == 256


# --- TTS -----------------------------------------------------------------------------------------


def test_openai_tts_gets_the_key_voice_model_and_speed(tenant):
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111")

    tts = _built("tts", tenant, tts_provider="openai", voice_id="coral", tts_model="tts-1", speaking_speed=1.25)

    assert type(tts) is openai.TTS
    assert tts._client.api_key == "sk-acme-openai-1111"
    assert (tts._opts.voice, tts._opts.model, tts._opts.speed) == ("coral", "tts-1", 1.25)


def test_elevenlabs_tts_gets_the_key_voice_id_and_model(tenant):
    credential_set(tenant=tenant, provider="elevenlabs", secret="el-acme-6666")

    tts = _built("tts", tenant, tts_provider="elevenlabs", voice_id=BELLA, tts_model="eleven_flash_v2_5")

    assert type(tts) is elevenlabs.TTS
    assert (tts._opts.api_key, tts._opts.voice_id, tts._opts.model) == ("el-acme-6666", BELLA, "eleven_flash_v2_5")


def test_cartesia_tts_gets_the_key_voice_model_language_and_a_clamped_speed(tenant):
    credential_set(tenant=tenant, provider="cartesia", secret="sk_car_acme_7777")

    tts = _built(
        "tts", tenant, tts_provider="cartesia", voice_id=CARTESIA_SPANISH, speaking_speed=0.5, stt_language="es"
    )

    assert type(tts) is cartesia.TTS
    assert tts._opts.api_key == "sk_car_acme_7777"
    assert (tts._opts.voice, tts._opts.model) == (CARTESIA_SPANISH, "sonic-3")
    assert tts._opts.language.language == "es"
    assert tts._opts.speed == 0.6  # sonic-3 takes 0.6-2.0


def test_cartesia_speed_is_left_out_for_models_before_sonic_3(tenant):
    credential_set(tenant=tenant, provider="cartesia", secret="sk_car_acme_7777")

    tts = _built("tts", tenant, tts_provider="cartesia", voice_id=BRITISH_LADY, tts_model="sonic-2", speaking_speed=1.5)

    assert tts._opts.model == "sonic-2"
    assert tts._opts.speed is None


def test_deepgram_tts_takes_the_aura_voice_as_its_model(tenant):
    credential_set(tenant=tenant, provider="deepgram", secret="dg-acme-8888")

    tts = _built("tts", tenant, tts_provider="deepgram", voice_id="aura-2-thalia-en", speaking_speed=1.2)

    assert type(tts) is deepgram.TTS
    assert (tts._opts.api_key, tts._opts.model, tts._opts.speed) == ("dg-acme-8888", "aura-2-thalia-en", 1.2)


def test_deepgram_speed_is_clamped_to_what_aura_2_accepts(tenant):
    credential_set(tenant=tenant, provider="deepgram", secret="dg-acme-8888")

    tts = _built("tts", tenant, tts_provider="deepgram", voice_id="aura-2-thalia-en", speaking_speed=2.0)

    assert tts._opts.speed == 1.5  # the plugin raises outside 0.7-1.5


# --- STT -----------------------------------------------------------------------------------------


def test_deepgram_stt_gets_the_key_model_and_language(tenant):
    credential_set(tenant=tenant, provider="deepgram", secret="dg-acme-8888")

    stt = _built("stt", tenant, stt_provider="deepgram", stt_model="nova-3", stt_language="multi")

    assert type(stt) is deepgram.STT
    assert stt._api_key == "dg-acme-8888"
    assert stt._opts.model == "nova-3"
    assert stt._opts.language == "multi"


def test_deepgram_flux_uses_the_v2_client(tenant):
    credential_set(tenant=tenant, provider="deepgram", secret="dg-acme-8888")

    stt = _built("stt", tenant, stt_provider="deepgram", stt_model="flux-general-en", stt_language="en")

    assert type(stt) is deepgram.STTv2
    assert (stt._api_key, stt._opts.model) == ("dg-acme-8888", "flux-general-en")


def test_assemblyai_stt_resolves_the_universal_streaming_alias(tenant):
    credential_set(tenant=tenant, provider="assemblyai", secret="aai-acme-9999")

    stt = _built("stt", tenant, stt_provider="assemblyai", stt_model="universal-streaming", stt_language="en")

    assert type(stt) is assemblyai.STT
    assert stt._api_key == "aai-acme-9999"
    assert stt.model == "universal-streaming-english"


def test_assemblyai_universal_3_pro_is_steered_to_the_agents_language(tenant):
    credential_set(tenant=tenant, provider="assemblyai", secret="aai-acme-9999")

    stt = _built("stt", tenant, stt_provider="assemblyai", stt_model="u3-rt-pro", stt_language="es")

    assert stt.model == "u3-rt-pro"
    assert stt._opts.language_codes == ["es"]


def test_openai_stt_gets_the_key_model_and_language_and_multi_means_detection(tenant):
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111")

    fixed = _built("stt", tenant, stt_provider="openai", stt_model="gpt-4o-transcribe", stt_language="fr")
    detecting = _built("stt", tenant, stt_provider="openai", stt_model="whisper-1", stt_language="multi")

    assert type(fixed) is openai.STT
    assert fixed._client.api_key == "sk-acme-openai-1111"
    assert (fixed._opts.model, fixed._opts.languages, fixed._opts.detect_language) == (
        "gpt-4o-transcribe",
        ["fr"],
        False,
    )
    assert (detecting._opts.model, detecting._opts.detect_language) == ("whisper-1", True)


def test_google_stt_with_only_an_api_key_is_not_ready_and_says_what_it_needs(tenant):
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111")
    credential_set(tenant=tenant, provider="google", secret="AIza-acme-gemini-3333")
    config = _config(tenant, stt_provider="google", stt_model="telephony", stt_language="en-US")
    credentials = resolve_credentials(tenant=tenant, config=config)

    verdict = readiness(tenant=tenant, config=config, credentials=credentials)

    assert verdict.ready is False
    [problem] = verdict.problems
    assert "Google Cloud Speech does not take an API key" in problem
    assert "GOOGLE_APPLICATION_CREDENTIALS" in problem
    with pytest.raises(ProviderNotReady) as raised:
        build_stt(config=config, credentials=credentials)
    assert raised.value.problems == verdict.problems


def test_google_stt_uses_a_service_account_json_stored_as_the_google_key(tenant):
    credential_set(tenant=tenant, provider="google", secret=json.dumps(SERVICE_ACCOUNT))

    stt = _built("stt", tenant, stt_provider="google", stt_model="telephony", stt_language="en-GB")

    assert type(stt) is google.STT
    assert stt._credentials_info == SERVICE_ACCOUNT
    assert stt._config.model == "telephony"
    assert stt._config.languages == ["en-GB"]


def test_google_stt_falls_back_to_the_workers_credentials_file(tenant, monkeypatch, tmp_path):
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps(SERVICE_ACCOUNT))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(key_file))

    stt = _built("stt", tenant, stt_provider="google", stt_model="latest_long", stt_language="fr-FR")

    assert stt._credentials_file == str(key_file)


# --- where keys come from ------------------------------------------------------------------------


def test_without_a_tenant_credential_the_environments_key_is_used(tenant, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    monkeypatch.setenv("DEEPGRAM_API_KEY", "dg-from-the-environment")
    config = _config(tenant, tts_provider="deepgram", voice_id="aura-2-thalia-en", stt_provider="deepgram")

    credentials = resolve_credentials(tenant=tenant, config=config)

    assert credentials.llm.source == "environment"
    assert build_llm(config=config, credentials=credentials)._client.api_key == "sk-from-the-environment"
    assert build_tts(config=config, credentials=credentials)._opts.api_key == "dg-from-the-environment"
    assert build_stt(config=config, credentials=credentials)._api_key == "dg-from-the-environment"
    assert readiness(tenant=tenant, config=config, credentials=credentials) == Readiness(ready=True, problems=())


def test_the_tenants_key_wins_over_the_environment_and_another_tenants_key_is_never_used(
    tenant, other_tenant, monkeypatch
):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-the-environment")
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111")
    credential_set(tenant=other_tenant, provider="openai", secret="sk-globex-openai-0000")

    acme = _config(tenant)
    globex_agent_config = _config(other_tenant)

    assert resolve_credentials(tenant=tenant, config=acme).llm.secret == "sk-acme-openai-1111"
    theirs = resolve_credentials(tenant=other_tenant, config=globex_agent_config)
    assert build_llm(config=globex_agent_config, credentials=theirs)._client.api_key == "sk-globex-openai-0000"


def test_one_credential_serves_every_kind_that_shares_the_provider(tenant, django_assert_max_num_queries):
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111")
    config = _config(tenant, stt_provider="openai", stt_model="gpt-4o-mini-transcribe")

    with django_assert_max_num_queries(1):
        credentials = resolve_credentials(tenant=tenant, config=config)

    assert credentials.llm is credentials.tts is credentials.stt


def test_building_never_logs_a_secret(tenant, caplog):
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-SECRET-1111")
    credential_set(tenant=tenant, provider="cartesia", secret="sk_car_SECRET_7777")
    credential_set(tenant=tenant, provider="assemblyai", secret="aai-SECRET-9999")
    config = _config(tenant, tts_provider="cartesia", voice_id=BRITISH_LADY, stt_provider="assemblyai")
    credentials = resolve_credentials(tenant=tenant, config=config)

    with caplog.at_level(logging.DEBUG):
        build_llm(config=config, credentials=credentials)
        build_tts(config=config, credentials=credentials)
        build_stt(config=config, credentials=credentials)

    assert "built LLM openai gpt-4o-mini (key from tenant)" in caplog.text
    assert "SECRET" not in caplog.text
    assert "SECRET" not in repr(credentials)


# --- readiness -----------------------------------------------------------------------------------


def test_a_configured_agent_is_ready(tenant):
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111")
    credential_set(tenant=tenant, provider="elevenlabs", secret="el-acme-6666")
    credential_set(tenant=tenant, provider="deepgram", secret="dg-acme-8888")
    config = _config(tenant, tts_provider="elevenlabs", voice_id=BELLA, stt_provider="deepgram")

    assert readiness(tenant=tenant, config=config) == Readiness(ready=True, problems=())


def test_a_missing_key_is_a_problem_naming_the_provider_and_build_raises_the_same(tenant):
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111")
    credential_set(tenant=tenant, provider="deepgram", secret="dg-acme-8888")
    config = _config(tenant, tts_provider="elevenlabs", voice_id=BELLA, stt_provider="deepgram")
    credentials = resolve_credentials(tenant=tenant, config=config)

    verdict = readiness(tenant=tenant, config=config, credentials=credentials)

    assert verdict == Readiness(
        ready=False, problems=("No ElevenLabs key for the voice: add one under Provider keys.",)
    )
    with pytest.raises(ProviderNotReady) as raised:
        build_tts(config=config, credentials=credentials)
    assert raised.value.problems == verdict.problems
    assert str(raised.value) == verdict.problems[0]
    build_llm(config=config, credentials=credentials)  # the other kinds still build
    build_stt(config=config, credentials=credentials)


def test_every_missing_key_is_listed_by_role(tenant):
    config = _config(tenant, tts_provider="cartesia", voice_id=BRITISH_LADY, stt_provider="assemblyai")

    verdict = readiness(tenant=tenant, config=config)

    assert verdict.problems == (
        "No OpenAI key for the language model: add one under Provider keys.",
        "No Cartesia key for the voice: add one under Provider keys.",
        "No AssemblyAI key for the speech-to-text: add one under Provider keys.",
    )
    with pytest.raises(ProviderNotReady) as raised:
        build_llm(config=config, credentials=resolve_credentials(tenant=tenant, config=config))
    assert raised.value.problems == verdict.problems[:1]


def test_unknown_providers_and_models_are_problems(tenant):
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111")
    config = replace(
        _config(tenant), llm_provider="mistral", tts_provider="openai", tts_model="tts-9", stt_provider="whisperx"
    )

    verdict = readiness(tenant=tenant, config=config)

    assert verdict.ready is False
    assert verdict.problems[0].startswith("Unknown language model provider 'mistral': choose one of openai")
    assert "OpenAI has no voice model 'tts-9': choose another in the agent's settings." in verdict.problems
    assert verdict.problems[-1].startswith("Unknown speech-to-text provider 'whisperx'")
    with pytest.raises(ProviderNotReady) as raised:
        build_llm(config=config, credentials=Credentials(llm=None, tts=None, stt=None))
    assert "mistral" in str(raised.value)


def test_an_unknown_model_of_a_known_provider_is_a_problem(tenant):
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111")
    credential_set(tenant=tenant, provider="deepgram", secret="dg-acme-8888")
    config = replace(_config(tenant), llm_model="gpt-9-ultra")

    assert readiness(tenant=tenant, config=config).problems == (
        "OpenAI does not offer the model 'gpt-9-ultra': choose another in the agent's settings.",
    )


def test_an_openai_voice_that_needs_gpt_4o_mini_tts_is_a_problem_with_tts_1(tenant):
    """Such an agent is refused at save time (test_catalog); one saved before that rule came is not ready."""
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111")
    config = replace(_config(tenant, stt_provider="openai", voice_id="marin"), tts_model="tts-1")

    assert readiness(tenant=tenant, config=config).problems == (
        "The voice Marin speaks only with gpt-4o-mini-tts, not tts-1: choose another in the agent's settings.",
    )


def test_the_fallback_default_config_is_not_ready(tenant):
    from agents_app.runtime_config import default_config

    config = default_config(agent_code="0b8e6a52-2f0e-4c8f-9a53-1f1d2b7c9e10", tenant_code=tenant.code)

    verdict = readiness(tenant=tenant, config=config)

    assert verdict.ready is False
    assert verdict.problems[0].startswith("No language model provider set")


def test_a_plugin_that_is_not_installed_is_a_problem_and_build_refuses(tenant, monkeypatch):
    monkeypatch.setitem(PLUGINS, "cartesia", ("livekit.plugins.not_installed_here", "livekit-plugins-cartesia"))
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111")
    credential_set(tenant=tenant, provider="cartesia", secret="sk_car_acme_7777")
    credential_set(tenant=tenant, provider="deepgram", secret="dg-acme-8888")
    config = _config(tenant, tts_provider="cartesia", voice_id=BRITISH_LADY)
    credentials = resolve_credentials(tenant=tenant, config=config)

    verdict = readiness(tenant=tenant, config=config, credentials=credentials)

    assert verdict.problems == (
        "The cartesia plugin for the voice is not installed on the worker: pip install livekit-plugins-cartesia.",
    )
    with pytest.raises(ProviderNotReady, match="pip install livekit-plugins-cartesia"):
        build_tts(config=config, credentials=credentials)


def test_a_plugin_refusing_the_settings_becomes_provider_not_ready(tenant, monkeypatch):
    credential_set(tenant=tenant, provider="assemblyai", secret="aai-acme-9999")
    config = _config(tenant, stt_provider="assemblyai", stt_model="universal-streaming-english", stt_language="en")
    # The English model refuses language steering (ValueError in the plugin's constructor).
    monkeypatch.setattr(factories, "_assemblyai_language", lambda model, language: {"language_codes": language})

    with pytest.raises(ProviderNotReady, match="AssemblyAI refused the speech-to-text settings: The 'language_codes'"):
        build_stt(config=config, credentials=resolve_credentials(tenant=tenant, config=config))


# --- the API and the portal ------------------------------------------------------------------------


def test_runtime_config_api_carries_the_readiness_verdict(tenant, api_client_for):
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111")
    ready_agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Ready", "stt_provider": "openai"})
    waiting_agent = agent_create(
        tenant=tenant,
        actor=SYSTEM,
        fields={"name": "Waiting", "tts_provider": "elevenlabs", "voice_id": BELLA, "stt_provider": "openai"},
    )
    api = api_client_for(tenant)

    ready = api.get(f"/api/v1/agents/{ready_agent.code}/runtime-config").json()
    waiting = api.get(f"/api/v1/agents/{waiting_agent.code}/runtime-config").json()

    assert ready["readiness"] == {"ready": True, "problems": []}
    assert waiting["readiness"] == {
        "ready": False,
        "problems": ["No ElevenLabs key for the voice: add one under Provider keys."],
    }
    assert "sk-acme-openai-1111" not in json.dumps(waiting)


def test_agent_page_says_ready_for_calls(tenant, owner, client_for):
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111")
    credential_set(tenant=tenant, provider="deepgram", secret="dg-acme-8888")
    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Front desk"})

    response = client_for(owner).get(reverse("agents-agent-detail", kwargs={"code": agent.code}))

    assert response.status_code == 200
    assert "Ready for calls" in response.text
    assert "Not ready for calls" not in response.text
    assert response.context["readiness"].ready is True


def test_agent_page_lists_what_to_fix(tenant, owner, client_for):
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111")
    agent = agent_create(
        tenant=tenant, actor=SYSTEM, fields={"name": "Front desk", "tts_provider": "elevenlabs", "voice_id": BELLA}
    )

    response = client_for(owner).get(reverse("agents-agent-detail", kwargs={"code": agent.code}))

    assert response.status_code == 200
    assert "Not ready for calls" in response.text
    assert "No ElevenLabs key for the voice: add one under Provider keys." in response.text
    assert "No Deepgram key for the speech-to-text: add one under Provider keys." in response.text
    assert reverse("tenancy-credential-list") in response.text
    assert "Ready for calls" not in response.text
    assert "sk-acme-openai-1111" not in response.text


# --- Shared transport ----------------------------------------------------------------------------


def test_openai_tts_and_stt_use_the_credentials_base_url(tenant):
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-1111", base_url="https://proxy.acme.test/v1")
    fields = {"tts_provider": "openai", "voice_id": "alloy", "stt_provider": "openai"}

    tts, stt = _built("tts", tenant, **fields), _built("stt", tenant, **fields)

    assert str(tts._client.base_url) == str(stt._client.base_url) == "https://proxy.acme.test/v1/"
    assert tts._client.api_key == stt._client.api_key == "sk-acme-1111"


def test_the_environments_openai_base_url_reaches_tts_and_stt_through_the_credential(tenant, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-platform-2222")
    monkeypatch.setenv("OPENAI_BASE_URL", "https://gateway.platform.test/v1")
    fields = {"tts_provider": "openai", "voice_id": "alloy", "stt_provider": "openai"}

    tts, stt = _built("tts", tenant, **fields), _built("stt", tenant, **fields)

    assert str(tts._client.base_url) == str(stt._client.base_url) == "https://gateway.platform.test/v1/"


def test_one_call_shares_one_tls_context_and_pool_but_never_a_key(tenant, other_tenant):
    """In a job's loop every OpenAI-protocol plugin rides one httpx pool; keys and URLs stay per tenant."""
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-1111")
    credential_set(tenant=other_tenant, provider="openai_compatible", base_url="http://vllm.globex.test:8000/v1")
    credential_set(tenant=other_tenant, provider="openai", secret="sk-globex-0000")
    acme = _config(tenant, tts_provider="openai", voice_id="alloy", stt_provider="openai")
    globex = _config(
        other_tenant, llm_provider="openai_compatible", llm_model="my-model", tts_provider="openai", voice_id="alloy"
    )
    acme_keys = resolve_credentials(tenant=tenant, config=acme)
    globex_keys = resolve_credentials(tenant=other_tenant, config=globex)

    async def in_the_jobs_loop() -> None:  # the builders run inside run_call, on the job's loop
        built = [
            build_llm(config=acme, credentials=acme_keys),
            build_tts(config=acme, credentials=acme_keys),
            build_stt(config=acme, credentials=acme_keys),
            build_llm(config=globex, credentials=globex_keys),
            build_tts(config=globex, credentials=globex_keys),
        ]
        pool = transport.http_client()
        # A base URL the tenant stored rides the guarded pool (voiceplatform.outbound_url), the rest the shared one.
        guarded = transport.http_client(guarded=True)
        assert [id(plugin._client._client) for plugin in built] == [id(pool)] * 3 + [id(guarded), id(pool)]
        assert pool._transport._pool._ssl_context is transport.ssl_context()
        assert guarded._transport._pool._ssl_context is transport.ssl_context()
        assert [plugin._client.api_key for plugin in built] == [
            "sk-acme-1111",
            "sk-acme-1111",
            "sk-acme-1111",
            factories.NO_KEY_PLACEHOLDER,
            "sk-globex-0000",
        ]
        assert str(built[0]._client.base_url) == "https://api.openai.com/v1/"
        assert str(built[3]._client.base_url) == "http://vllm.globex.test:8000/v1/"
        for plugin in built:
            await plugin.aclose()
        assert not pool.is_closed  # the plugins do not own the shared pool
        await pool.aclose()
        await guarded.aclose()

    asyncio.run(in_the_jobs_loop())


def test_every_provider_of_the_catalog_has_a_builder():
    """The builders are tables keyed by provider id: a provider added to the catalog without one fails here."""
    from agents_app import catalog

    assert set(factories.LLM_BUILDERS) == set(catalog.LLM_PROVIDERS)
    assert set(factories.TTS_BUILDERS) == set(catalog.TTS_PROVIDERS)
    assert set(factories.STT_BUILDERS) | {"google"} == set(catalog.STT_PROVIDERS)  # google: _google_stt
