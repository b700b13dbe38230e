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
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

from agents_app import catalog
from agents_app.readiness import (  # noqa: F401  (Readiness, readiness, resolve_credentials: the call start's)
    LLM_PLUGIN,
    PLUGINS,
    STT_PLUGIN,
    TTS_PLUGIN,
    Credentials,
    Readiness,
    readiness,
    resolve_credentials,
)
from agents_app.readiness import chosen_voice_id as _voice_id
from agents_app.readiness import google_adc_file as _google_adc_file
from agents_app.readiness import llm_problems as _llm_problems
from agents_app.readiness import service_account_info as _service_account_info
from agents_app.readiness import stt_model_id as _stt_model_id
from agents_app.readiness import stt_problems as _stt_problems
from agents_app.readiness import tts_model_id as _tts_model_id
from agents_app.readiness import tts_problems as _tts_problems
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


def build_llm(*, config: dict[str, Any], credentials: Credentials) -> llm.LLM:
    """The agent's language model as a plugin object with the tenant's key; raises ProviderNotReady."""
    if problems := _llm_problems(config, credentials.llm):
        raise ProviderNotReady(problems)
    provider_id = config["llm_provider"]
    credential = credentials.llm
    assert credential is not None  # checked by _llm_problems
    name = catalog.LLM_PROVIDERS[provider_id].name
    plugin = _plugin(LLM_PLUGIN[provider_id])
    model = config["llm_model"]
    temperature = config.get("temperature")
    max_tokens = config.get("max_output_tokens") or None
    if provider_id == "openai":
        instance = _construct(
            name,
            "language model",
            plugin.LLM,
            **_given(
                model=model,
                client=_openai_client(credential.secret, credential.base_url, credential),
                temperature=temperature,
                max_completion_tokens=max_tokens,
            ),
        )
    elif provider_id == "openai_compatible":
        instance = _construct(
            name,
            "language model",
            plugin.LLM,
            **_given(
                model=model,
                client=_openai_client(credential.secret or NO_KEY_PLACEHOLDER, credential.base_url, credential),
                temperature=temperature,
                max_completion_tokens=max_tokens,
            ),
        )
    elif provider_id == "google":
        # vertexai=False: the tenant's key is a Gemini API key; GOOGLE_GENAI_USE_VERTEXAI in the
        # worker's environment must not switch the call to the platform's Google Cloud project.
        instance = _construct(
            name,
            "language model",
            plugin.LLM,
            **_given(
                model=model,
                api_key=credential.secret,
                vertexai=False,
                temperature=temperature,
                max_output_tokens=max_tokens,
            ),
        )
    elif provider_id == "anthropic":
        instance = _construct(
            name,
            "language model",
            plugin.LLM,
            **_given(model=model, api_key=credential.secret, temperature=temperature, max_tokens=max_tokens),
        )
    else:  # groq: OpenAI's protocol at Groq's address
        instance = _construct(
            name,
            "language model",
            plugin.LLM,
            **_given(
                model=model,
                api_key=credential.secret,
                client=_openai_client(credential.secret, credential.base_url or GROQ_BASE_URL, credential),
                temperature=temperature,
                max_completion_tokens=max_tokens,
            ),
        )
    logger.debug("built LLM %s %s (key from %s)", provider_id, model, credential.source)
    return instance


def build_tts(*, config: dict[str, Any], credentials: Credentials) -> tts.TTS:
    """The agent's voice as a plugin object with the tenant's key; raises ProviderNotReady."""
    if problems := _tts_problems(config, credentials.tts):
        raise ProviderNotReady(problems)
    provider_id = config["tts_provider"]
    credential = credentials.tts
    assert credential is not None  # checked by _tts_problems
    name = catalog.TTS_PROVIDERS[provider_id].name
    plugin = _plugin(TTS_PLUGIN[provider_id])
    model = _tts_model_id(config)
    voice_id = _voice_id(config)
    speed = config.get("speaking_speed")
    speed = None if speed is None or speed == 1.0 else float(speed)
    if provider_id == "openai":
        client = _openai_client(credential.secret, credential.base_url, credential)
        options = _given(model=model, voice=voice_id, speed=speed, client=client)
    elif provider_id == "elevenlabs":
        # No speed: ElevenLabs takes it only inside VoiceSettings, whose required stability and
        # similarity_boost would override the voice's own settings.
        options = {"voice_id": voice_id, "model": model, "api_key": credential.secret}
    elif provider_id == "cartesia":
        # Cartesia's numeric speed is a sonic-3 generation setting; older models ignore it.
        options = _given(
            model=model,
            voice=voice_id,
            language=_cartesia_language(config, voice_id),
            speed=_clamp(speed, CARTESIA_SPEED) if speed and model.startswith("sonic-3") else None,
            api_key=credential.secret,
        )
    else:  # deepgram: the voice id is the model string (aura-2-thalia-en)
        takes_speed = voice_id.startswith("aura-2-") and voice_id.endswith(("-en", "-es"))
        options = _given(
            model=voice_id,
            speed=_clamp(speed, DEEPGRAM_SPEED) if speed and takes_speed else None,
            api_key=credential.secret,
        )
    instance = _construct(name, "voice", plugin.TTS, **options)
    logger.debug("built TTS %s %s %s (key from %s)", provider_id, model, voice_id, credential.source)
    return instance


def _cartesia_language(config: dict[str, Any], voice_id: str) -> str | None:
    """The language the voice speaks (catalog voices), else the agent's language; None = plugin default."""
    voice = catalog.voice("cartesia", voice_id)
    if voice is not None:
        return voice.language
    language = (config.get("stt_language") or "").split("-", 1)[0].lower()
    return None if language in ("", "multi") else language


def build_stt(*, config: dict[str, Any], credentials: Credentials) -> stt.STT:
    """The agent's speech-to-text as a plugin object with the tenant's credentials; raises ProviderNotReady."""
    if problems := _stt_problems(config, credentials.stt):
        raise ProviderNotReady(problems)
    provider_id = config["stt_provider"]
    credential = credentials.stt
    name = catalog.STT_PROVIDERS[provider_id].name
    plugin = _plugin(STT_PLUGIN[provider_id])
    model = _stt_model_id(config)
    language = config.get("stt_language") or ""
    if provider_id == "google":
        info = _service_account_info(credential.secret) if credential else None
        auth = {"credentials_info": info} if info else {"credentials_file": _google_adc_file()}
        source = f"{credential.source} service account" if info and credential else "GOOGLE_APPLICATION_CREDENTIALS"
        factory, options = plugin.STT, {"model": model, **_given(languages=language or None), **auth}
    else:
        assert credential is not None  # checked by _stt_problems
        secret = credential.secret
        if provider_id == "deepgram" and model.startswith("flux-"):
            # Flux runs on Deepgram's /v2/listen with its own turn detection: the STTv2 class, English only.
            factory, options = plugin.STTv2, {"model": model, "api_key": secret}
        elif provider_id == "deepgram":
            factory, options = plugin.STT, {"model": model, **_given(language=language or None), "api_key": secret}
        elif provider_id == "assemblyai":
            factory, options = plugin.STT, {"model": model, "api_key": secret, **_assemblyai_language(model, language)}
        else:  # openai
            multi = language == "multi"
            client = _openai_client(secret, credential.base_url, credential)
            options = {"model": model, "client": client, "detect_language": multi}
            if language and not multi:
                options["language"] = language
            factory = plugin.STT
        source = credential.source
    instance = _construct(name, "speech-to-text", factory, **options)
    logger.debug("built STT %s %s (credentials from %s)", provider_id, model, source)
    return instance


def _assemblyai_language(model: str, language: str) -> dict[str, Any]:
    if model == "universal-streaming-multilingual":
        return {"language_detection": True}
    if model in ASSEMBLYAI_STEERABLE and language and language != "multi":
        return {"language_codes": language}
    return {}  # English model, or multilingual without steering
