"""Provider factories: an agent's runtime config and its tenant's keys -> LiveKit plugin objects.

Always plugin objects built with the tenant's own key (else the worker's environment), never the
string form ("openai/gpt-4o-mini"): that goes to LiveKit's inference gateway on LiveKit's account.
Credentials are resolved once per call (sync, database), then passed to the builders.

Plugins register themselves when imported and refuse to do so off the main thread, so the worker
calls load_plugins() at start-up; readiness() only checks that a plugin is installed, which keeps
the portal and the API from importing the plugins at all.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any

from agents_app import catalog
from voiceplatform.models import Provider, Tenant
from voiceplatform.selectors import ResolvedCredential, credentials_resolve
from worker import transport

if TYPE_CHECKING:
    from livekit.agents import llm, stt, tts

logger = logging.getLogger(__name__)

# plugin -> (module, the pip package that provides it)
PLUGINS: dict[str, tuple[str, str]] = {
    name: (f"livekit.plugins.{name}", f"livekit-plugins-{name}")
    for name in ("openai", "google", "anthropic", "groq", "elevenlabs", "cartesia", "deepgram", "assemblyai")
}
LLM_PLUGIN = {
    "openai": "openai",
    "openai_compatible": "openai",
    "google": "google",
    "anthropic": "anthropic",
    "groq": "groq",
}
TTS_PLUGIN = {"openai": "openai", "elevenlabs": "elevenlabs", "cartesia": "cartesia", "deepgram": "deepgram"}
STT_PLUGIN = {"deepgram": "deepgram", "assemblyai": "assemblyai", "openai": "openai", "google": "google"}

# The OpenAI client will not start without a key, and given none it reads OPENAI_API_KEY: that
# would send the platform's OpenAI key to a tenant's own server. Servers without auth ignore this.
NO_KEY_PLACEHOLDER = "no-key"
# Speaking-speed ranges the vendors accept, where the plugin takes a speed at all.
CARTESIA_SPEED = (0.6, 2.0)  # sonic-3 generation_config.speed
DEEPGRAM_SPEED = (0.7, 1.5)  # Aura-2 English and Spanish voices only
ASSEMBLYAI_STEERABLE = ("u3-rt-pro",)  # the Universal-3 Pro models of our catalog take language_codes
GROQ_BASE_URL = "https://api.groq.com/openai/v1"

WHERE_KEYS_GO = "add one under Provider keys"
CHANGE_IN_AGENT = "choose another in the agent's settings"


@dataclass(frozen=True)
class Readiness:
    ready: bool
    problems: tuple[str, ...]


class ProviderNotReady(Exception):
    """A provider object cannot be built for this call; .problems says what to fix."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class Credentials:
    llm: ResolvedCredential | None
    tts: ResolvedCredential | None
    stt: ResolvedCredential | None


# --------------------------------------------------------------------------------------------
# Credentials and readiness (sync: database access)
# --------------------------------------------------------------------------------------------


def _credential_providers(config: dict[str, Any]) -> tuple[str, str, str]:
    llm_provider = catalog.llm_provider(config.get("llm_provider") or "")
    tts_provider = catalog.tts_provider(config.get("tts_provider") or "")
    stt_provider = catalog.stt_provider(config.get("stt_provider") or "")
    return (
        llm_provider.credential_provider if llm_provider else "",
        tts_provider.credential_provider if tts_provider else "",
        stt_provider.credential_provider if stt_provider else "",
    )


def resolve_credentials(*, tenant: Tenant, config: dict[str, Any]) -> Credentials:
    """The tenant's key (else the environment's) for the LLM, TTS and STT providers of this config."""
    llm_key, tts_key, stt_key = keys = _credential_providers(config)
    found = credentials_resolve(tenant=tenant, providers=keys)
    return Credentials(llm=found.get(llm_key), tts=found.get(tts_key), stt=found.get(stt_key))


def readiness(*, tenant: Tenant, config: dict[str, Any], credentials: Credentials | None = None) -> Readiness:
    """Whether a call with this config can build its LLM, TTS and STT; each problem says what to fix."""
    if credentials is None:
        credentials = resolve_credentials(tenant=tenant, config=config)
    problems = (
        _llm_problems(config, credentials.llm)
        + _tts_problems(config, credentials.tts)
        + _stt_problems(config, credentials.stt)
    )
    return Readiness(ready=not problems, problems=tuple(problems))


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


def _plugin_installed(name: str) -> bool:
    module = PLUGINS[name][0]
    if module in sys.modules:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _plugin_problem(name: str, role: str) -> list[str]:
    if _plugin_installed(name):
        return []
    return [f"The {name} plugin for the {role} is not installed on the worker: pip install {PLUGINS[name][1]}."]


def _key_label(credential_provider: str) -> str:
    return Provider(credential_provider).label if credential_provider in Provider.values else credential_provider


def _missing_key(credential_provider: str, credential: ResolvedCredential | None, role: str) -> list[str]:
    if credential is not None and credential.secret:
        return []
    return [f"No {_key_label(credential_provider)} key for the {role}: {WHERE_KEYS_GO}."]


def _service_account_info(secret: str) -> dict[str, Any] | None:
    """A Google service-account JSON stored as the Google key, parsed; None for anything else (an API key)."""
    if not secret.lstrip().startswith("{"):
        return None
    try:
        info = json.loads(secret)
    except ValueError:
        return None
    return info if isinstance(info, dict) and info.get("type") == "service_account" else None


def _google_adc_file() -> str:
    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", "")
    return path if path and os.path.isfile(path) else ""


def _llm_problems(config: dict[str, Any], credential: ResolvedCredential | None) -> list[str]:
    role = "language model"
    provider_id = config.get("llm_provider") or ""
    provider = catalog.llm_provider(provider_id)
    if provider is None or provider_id not in LLM_PLUGIN:
        return [_unknown_provider(role, provider_id, catalog.LLM_PROVIDERS)]
    problems = _plugin_problem(LLM_PLUGIN[provider_id], role)
    if provider.requires_base_url:
        if credential is None or not credential.base_url:
            problems.append(
                f"No base URL for the {provider.name} server: add it under Provider keys "
                f"({_key_label(provider.credential_provider)}); a key is optional."
            )
    else:
        problems += _missing_key(provider.credential_provider, credential, role)
    if provider_id == "google" and credential is not None and _service_account_info(credential.secret):
        problems.append(
            "The Google key is a service-account JSON, but Gemini takes an API key: replace it under Provider keys."
        )
    model_id = config.get("llm_model") or ""
    if catalog.llm_model(provider_id, model_id) is None:
        problems.append(f"{provider.name} does not offer the model {model_id!r}: {CHANGE_IN_AGENT}.")
    return problems


def _tts_problems(config: dict[str, Any], credential: ResolvedCredential | None) -> list[str]:
    role = "voice"
    provider_id = config.get("tts_provider") or ""
    provider = catalog.tts_provider(provider_id)
    if provider is None or provider_id not in TTS_PLUGIN:
        return [_unknown_provider(role, provider_id, catalog.TTS_PROVIDERS)]
    problems = _plugin_problem(TTS_PLUGIN[provider_id], role)
    problems += _missing_key(provider.credential_provider, credential, role)
    model_id = _tts_model_id(config)
    if catalog.tts_model(provider_id, model_id) is None:
        problems.append(f"{provider.name} has no voice model {model_id!r}: {CHANGE_IN_AGENT}.")
    voice_id = _voice_id(config)
    if not voice_id:
        problems.append(f"No {provider.name} voice chosen: pick one in the agent's settings.")
    elif (voice := catalog.voice(provider_id, voice_id)) is None:
        if not catalog.is_custom_voice_id(provider_id, voice_id):
            problems.append(f"{voice_id!r} is not a {provider.name} voice: {CHANGE_IN_AGENT}.")
    elif "gpt-4o-mini-tts-only" in voice.tags and model_id != "gpt-4o-mini-tts":
        problems.append(f"The voice {voice.name} speaks only with gpt-4o-mini-tts, not {model_id}: {CHANGE_IN_AGENT}.")
    return problems


def _stt_problems(config: dict[str, Any], credential: ResolvedCredential | None) -> list[str]:
    role = "speech-to-text"
    provider_id = config.get("stt_provider") or ""
    provider = catalog.stt_provider(provider_id)
    if provider is None or provider_id not in STT_PLUGIN:
        return [_unknown_provider(role, provider_id, catalog.STT_PROVIDERS)]
    problems = _plugin_problem(STT_PLUGIN[provider_id], role)
    if provider_id == "google":
        # Cloud Speech authenticates with Google Cloud credentials; an API key cannot be passed to it.
        if not (credential and _service_account_info(credential.secret)) and not _google_adc_file():
            problems.append(
                "Google Cloud Speech does not take an API key: store a Google Cloud service-account JSON as "
                "the Google key under Provider keys, or give the worker GOOGLE_APPLICATION_CREDENTIALS "
                "(a service-account file)."
            )
    else:
        problems += _missing_key(provider.credential_provider, credential, role)
    model_id = _stt_model_id(config)
    if catalog.stt_model(provider_id, model_id) is None:
        problems.append(f"{provider.name} has no speech-to-text model {model_id!r}: {CHANGE_IN_AGENT}.")
    return problems


def _unknown_provider(role: str, provider_id: str, known: dict[str, Any]) -> str:
    if not provider_id:
        return f"No {role} provider set: choose one of {', '.join(known)} in the agent's settings."
    return f"Unknown {role} provider {provider_id!r}: choose one of {', '.join(known)} in the agent's settings."


def _tts_model_id(config: dict[str, Any]) -> str:
    provider = catalog.tts_provider(config.get("tts_provider") or "")
    return config.get("tts_model") or (provider.default_model if provider else "")


def _voice_id(config: dict[str, Any]) -> str:
    return config.get("voice_id") or config.get("tts_voice_id") or ""


def _stt_model_id(config: dict[str, Any]) -> str:
    provider_id = config.get("stt_provider") or ""
    provider = catalog.stt_provider(provider_id)
    return catalog.stt_model_id(provider_id, config.get("stt_model") or "") or (
        provider.default_model if provider else ""
    )


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
