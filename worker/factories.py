"""Provider factories: an agent's runtime config and its tenant's keys -> LiveKit plugin objects.

Always plugin objects built with the tenant's own key (else the worker's environment), never the
string form ("openai/gpt-4o-mini"): that goes to LiveKit's inference gateway on LiveKit's account.
Credentials are resolved once per call (sync, database), then passed to the builders.

Plugins register themselves when imported and refuse to do so off the main thread, so the worker
calls load_plugins() at start-up. Whether a call can be built at all (readiness, the problems the
builders refuse with) is agents_app/readiness.py's rule, shared with the portal and the API.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from agents_app import catalog
from agents_app.readiness import (
    LLM_PLUGIN,
    PLUGINS,
    STT_PLUGIN,
    TTS_PLUGIN,
    Credentials,
    chosen_voice_id,
    google_adc_file,
    llm_problems,
    service_account_info,
    stt_model_id,
    stt_problems,
    tts_model_id,
    tts_problems,
)
from agents_app.runtime_config import RuntimeConfig
from voiceplatform.selectors import ResolvedCredential
from worker import transport

if TYPE_CHECKING:
    from livekit.agents import llm, stt, tts

logger = logging.getLogger(__name__)

# The OpenAI client will not start without a key, and given none it reads OPENAI_API_KEY: that
# would send the platform's OpenAI key to a tenant's own server. Servers without auth ignore this.
NO_KEY_PLACEHOLDER = "no-key"
# Speaking-speed ranges the vendors accept, where the plugin takes a speed at all.
CARTESIA_SPEED = (0.6, 2.0)  # sonic-3 generation_config.speed
DEEPGRAM_SPEED = (0.7, 1.5)  # Aura-2 English and Spanish voices only
ASSEMBLYAI_STEERABLE = ("u3-rt-pro",)  # the Universal-3 Pro models of our catalog take language_codes
GROQ_BASE_URL = "https://api.groq.com/openai/v1"


class ProviderNotReady(Exception):
    """A provider object cannot be built for this call; .problems says what to fix."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


def load_plugins() -> tuple[str, ...]:
    """Import every provider plugin (call once, on the main thread, at worker start); returns those missing."""
    missing = []
    for name, (module, _package) in PLUGINS.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(name)
    if missing:
        logger.warning("provider plugins not installed: %s", ", ".join(missing))
    return tuple(missing)


# --------------------------------------------------------------------------------------------
# Builders (no I/O: constructing a plugin object does not call the vendor)
# --------------------------------------------------------------------------------------------


def _plugin(name: str) -> ModuleType:
    module, package = PLUGINS[name]
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ProviderNotReady([f"The {name} plugin is not installed on the worker: pip install {package}."]) from None
    except RuntimeError:  # first import off the main thread: the plugin refuses to register
        raise ProviderNotReady(
            [f"The {name} plugin was not loaded at worker start: call worker.factories.load_plugins() first."]
        ) from None


def _construct(provider_name: str, role: str, factory: Any, **kwargs: Any) -> Any:
    """Call the plugin constructor; a refusal (bad option, missing key) becomes ProviderNotReady."""
    try:
        return factory(**kwargs)
    except Exception as exc:  # the plugins raise ValueError, OpenAIError...; their messages hold no secrets
        raise ProviderNotReady([f"{provider_name} refused the {role} settings: {exc}"]) from exc


def _openai_client(api_key: str, base_url: str, credential: ResolvedCredential) -> Any:
    """The tenant's key and base URL (empty: the SDK's default) on the process's shared transport.

    A base URL the tenant stored goes through the outbound-URL guard on every connection (its
    DNS may have changed since it was saved); the environment's and the default are the operator's.
    """
    guarded = bool(credential.base_url) and credential.source == "tenant"
    try:
        return transport.openai_client(api_key=api_key, base_url=base_url or None, guarded=guarded)
    except Exception as exc:  # openai.OpenAIError for a missing key; its message holds no secret
        raise ProviderNotReady([f"The OpenAI client refused the settings: {exc}"]) from exc


def _given(**options: Any) -> dict[str, Any]:
    """Only the options that are set, so the plugin's own defaults apply to the rest."""
    return {name: value for name, value in options.items() if value is not None}


def _clamp(value: float, bounds: tuple[float, float]) -> float:
    return min(max(value, bounds[0]), bounds[1])


# One builder per provider: (plugin module, config, credential) -> (plugin class, its options).
Builder = Callable[[ModuleType, RuntimeConfig, ResolvedCredential], tuple[Any, dict[str, Any]]]


def _llm_options(config: RuntimeConfig) -> tuple[str, float | None, int | None]:
    return config.llm_model, config.temperature, config.max_output_tokens or None


def _openai_llm(
    plugin: ModuleType, config: RuntimeConfig, credential: ResolvedCredential
) -> tuple[Any, dict[str, Any]]:
    model, temperature, max_tokens = _llm_options(config)
    client = _openai_client(credential.secret, credential.base_url, credential)
    return plugin.LLM, _given(model=model, client=client, temperature=temperature, max_completion_tokens=max_tokens)


def _openai_compatible_llm(
    plugin: ModuleType, config: RuntimeConfig, credential: ResolvedCredential
) -> tuple[Any, dict[str, Any]]:
    model, temperature, max_tokens = _llm_options(config)
    client = _openai_client(credential.secret or NO_KEY_PLACEHOLDER, credential.base_url, credential)
    return plugin.LLM, _given(model=model, client=client, temperature=temperature, max_completion_tokens=max_tokens)


def _google_llm(
    plugin: ModuleType, config: RuntimeConfig, credential: ResolvedCredential
) -> tuple[Any, dict[str, Any]]:
    # vertexai=False: the tenant's key is a Gemini API key; GOOGLE_GENAI_USE_VERTEXAI in the
    # worker's environment must not switch the call to the platform's Google Cloud project.
    model, temperature, max_tokens = _llm_options(config)
    options = _given(
        model=model, api_key=credential.secret, vertexai=False, temperature=temperature, max_output_tokens=max_tokens
    )
    return plugin.LLM, options


def _anthropic_llm(
    plugin: ModuleType, config: RuntimeConfig, credential: ResolvedCredential
) -> tuple[Any, dict[str, Any]]:
    model, temperature, max_tokens = _llm_options(config)
    return plugin.LLM, _given(model=model, api_key=credential.secret, temperature=temperature, max_tokens=max_tokens)


def _groq_llm(plugin: ModuleType, config: RuntimeConfig, credential: ResolvedCredential) -> tuple[Any, dict[str, Any]]:
    """OpenAI's protocol at Groq's address."""
    model, temperature, max_tokens = _llm_options(config)
    client = _openai_client(credential.secret, credential.base_url or GROQ_BASE_URL, credential)
    options = _given(
        model=model,
        api_key=credential.secret,
        client=client,
        temperature=temperature,
        max_completion_tokens=max_tokens,
    )
    return plugin.LLM, options


LLM_BUILDERS: dict[str, Builder] = {
    "openai": _openai_llm,
    "openai_compatible": _openai_compatible_llm,
    "google": _google_llm,
    "anthropic": _anthropic_llm,
    "groq": _groq_llm,
}


def build_llm(*, config: RuntimeConfig, credentials: Credentials) -> llm.LLM:
    """The agent's language model as a plugin object with the tenant's key; raises ProviderNotReady."""
    if problems := llm_problems(config, credentials.llm):
        raise ProviderNotReady(problems)
    provider_id = config.llm_provider
    credential = credentials.llm
    assert credential is not None  # checked by llm_problems
    factory, options = LLM_BUILDERS[provider_id](_plugin(LLM_PLUGIN[provider_id]), config, credential)
    instance = _construct(catalog.LLM_PROVIDERS[provider_id].name, "language model", factory, **options)
    logger.debug("built LLM %s %s (key from %s)", provider_id, config.llm_model, credential.source)
    return instance


def _speed(config: RuntimeConfig) -> float | None:
    """The speaking speed to ask for; None at the vendors' own 1.0."""
    speed = config.speaking_speed
    return None if speed is None or speed == 1.0 else float(speed)


def _openai_tts(
    plugin: ModuleType, config: RuntimeConfig, credential: ResolvedCredential
) -> tuple[Any, dict[str, Any]]:
    client = _openai_client(credential.secret, credential.base_url, credential)
    return plugin.TTS, _given(
        model=tts_model_id(config), voice=chosen_voice_id(config), speed=_speed(config), client=client
    )


def _elevenlabs_tts(
    plugin: ModuleType, config: RuntimeConfig, credential: ResolvedCredential
) -> tuple[Any, dict[str, Any]]:
    # No speed: ElevenLabs takes it only inside VoiceSettings, whose required stability and
    # similarity_boost would override the voice's own settings.
    return plugin.TTS, {
        "voice_id": chosen_voice_id(config),
        "model": tts_model_id(config),
        "api_key": credential.secret,
    }


def _cartesia_tts(
    plugin: ModuleType, config: RuntimeConfig, credential: ResolvedCredential
) -> tuple[Any, dict[str, Any]]:
    # Cartesia's numeric speed is a sonic-3 generation setting; older models ignore it.
    model, voice_id, speed = tts_model_id(config), chosen_voice_id(config), _speed(config)
    options = _given(
        model=model,
        voice=voice_id,
        language=_cartesia_language(config, voice_id),
        speed=_clamp(speed, CARTESIA_SPEED) if speed and model.startswith("sonic-3") else None,
        api_key=credential.secret,
    )
    return plugin.TTS, options


def _deepgram_tts(
    plugin: ModuleType, config: RuntimeConfig, credential: ResolvedCredential
) -> tuple[Any, dict[str, Any]]:
    """The voice id is the model string (aura-2-thalia-en)."""
    voice_id, speed = chosen_voice_id(config), _speed(config)
    takes_speed = voice_id.startswith("aura-2-") and voice_id.endswith(("-en", "-es"))
    options = _given(
        model=voice_id,
        speed=_clamp(speed, DEEPGRAM_SPEED) if speed and takes_speed else None,
        api_key=credential.secret,
    )
    return plugin.TTS, options


TTS_BUILDERS: dict[str, Builder] = {
    "openai": _openai_tts,
    "elevenlabs": _elevenlabs_tts,
    "cartesia": _cartesia_tts,
    "deepgram": _deepgram_tts,
}


def build_tts(*, config: RuntimeConfig, credentials: Credentials) -> tts.TTS:
    """The agent's voice as a plugin object with the tenant's key; raises ProviderNotReady."""
    if problems := tts_problems(config, credentials.tts):
        raise ProviderNotReady(problems)
    provider_id = config.tts_provider
    credential = credentials.tts
    assert credential is not None  # checked by tts_problems
    factory, options = TTS_BUILDERS[provider_id](_plugin(TTS_PLUGIN[provider_id]), config, credential)
    instance = _construct(catalog.TTS_PROVIDERS[provider_id].name, "voice", factory, **options)
    logger.debug(
        "built TTS %s %s %s (key from %s)",
        provider_id,
        tts_model_id(config),
        chosen_voice_id(config),
        credential.source,
    )
    return instance


def _cartesia_language(config: RuntimeConfig, voice_id: str) -> str | None:
    """The language the voice speaks (catalog voices), else the agent's language; None = plugin default."""
    voice = catalog.voice("cartesia", voice_id)
    if voice is not None:
        return voice.language
    language = config.stt_language.split("-", 1)[0].lower()
    return None if language in ("", "multi") else language


def _deepgram_stt(
    plugin: ModuleType, config: RuntimeConfig, credential: ResolvedCredential
) -> tuple[Any, dict[str, Any]]:
    model, language = stt_model_id(config), config.stt_language
    if model.startswith("flux-"):
        # Flux runs on Deepgram's /v2/listen with its own turn detection: the STTv2 class, English only.
        return plugin.STTv2, {"model": model, "api_key": credential.secret}
    return plugin.STT, {"model": model, **_given(language=language or None), "api_key": credential.secret}


def _assemblyai_stt(
    plugin: ModuleType, config: RuntimeConfig, credential: ResolvedCredential
) -> tuple[Any, dict[str, Any]]:
    model, language = stt_model_id(config), config.stt_language
    return plugin.STT, {"model": model, "api_key": credential.secret, **_assemblyai_language(model, language)}


def _openai_stt(
    plugin: ModuleType, config: RuntimeConfig, credential: ResolvedCredential
) -> tuple[Any, dict[str, Any]]:
    language = config.stt_language
    multi = language == "multi"
    client = _openai_client(credential.secret, credential.base_url, credential)
    options = {"model": stt_model_id(config), "client": client, "detect_language": multi}
    if language and not multi:
        options["language"] = language
    return plugin.STT, options


# Google Cloud Speech authenticates with a service account, not a key: built by _google_stt below.
STT_BUILDERS: dict[str, Builder] = {
    "deepgram": _deepgram_stt,
    "assemblyai": _assemblyai_stt,
    "openai": _openai_stt,
}


def _google_stt(
    plugin: ModuleType, config: RuntimeConfig, credential: ResolvedCredential | None
) -> tuple[Any, dict[str, Any], str]:
    """Cloud Speech with the tenant's service-account JSON, else the worker's GOOGLE_APPLICATION_CREDENTIALS."""
    language = config.stt_language
    info = service_account_info(credential.secret) if credential else None
    auth = {"credentials_info": info} if info else {"credentials_file": google_adc_file()}
    source = f"{credential.source} service account" if info and credential else "GOOGLE_APPLICATION_CREDENTIALS"
    return plugin.STT, {"model": stt_model_id(config), **_given(languages=language or None), **auth}, source


def build_stt(*, config: RuntimeConfig, credentials: Credentials) -> stt.STT:
    """The agent's speech-to-text as a plugin object with the tenant's credentials; raises ProviderNotReady."""
    if problems := stt_problems(config, credentials.stt):
        raise ProviderNotReady(problems)
    provider_id = config.stt_provider
    credential = credentials.stt
    plugin = _plugin(STT_PLUGIN[provider_id])
    if provider_id == "google":
        factory, options, source = _google_stt(plugin, config, credential)
    else:
        assert credential is not None  # checked by stt_problems
        factory, options = STT_BUILDERS[provider_id](plugin, config, credential)
        source = credential.source
    instance = _construct(catalog.STT_PROVIDERS[provider_id].name, "speech-to-text", factory, **options)
    logger.debug("built STT %s %s (credentials from %s)", provider_id, stt_model_id(config), source)
    return instance


def _assemblyai_language(model: str, language: str) -> dict[str, Any]:
    if model == "universal-streaming-multilingual":
        return {"language_detection": True}
    if model in ASSEMBLYAI_STEERABLE and language and language != "multi":
        return {"language_codes": language}
    return {}  # English model, or multilingual without steering
