"""Readiness: can a call with this runtime config build its LLM, TTS and STT, and if not, what to fix.

The rule lives here, in the lowest app that owns it, because the portal and the API show the
verdict (the agent page, the runtime-config API, a browser test call) and the worker checks it at
call start before building the plugins (worker/factories.py). Only whether a plugin is *installed*
is checked (importlib.util.find_spec), which keeps the web process from importing the plugins.
Credentials are resolved once (sync, database) and passed on.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from typing import Any

from agents_app import catalog
from agents_app.runtime_config import RuntimeConfig
from voiceplatform.models import Provider, Tenant
from voiceplatform.selectors import ResolvedCredential, credentials_resolve

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

WHERE_KEYS_GO = "add one under Provider keys"
CHANGE_IN_AGENT = "choose another in the agent's settings"


@dataclass(frozen=True)
class Readiness:
    ready: bool
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Credentials:
    llm: ResolvedCredential | None
    tts: ResolvedCredential | None
    stt: ResolvedCredential | None


def _credential_providers(config: RuntimeConfig) -> tuple[str, str, str]:
    llm_provider = catalog.llm_provider(config.llm_provider)
    tts_provider = catalog.tts_provider(config.tts_provider)
    stt_provider = catalog.stt_provider(config.stt_provider)
    return (
        llm_provider.credential_provider if llm_provider else "",
        tts_provider.credential_provider if tts_provider else "",
        stt_provider.credential_provider if stt_provider else "",
    )


def resolve_credentials(*, tenant: Tenant, config: RuntimeConfig) -> Credentials:
    """The tenant's key (else the environment's) for the LLM, TTS and STT providers of this config."""
    llm_key, tts_key, stt_key = keys = _credential_providers(config)
    found = credentials_resolve(tenant=tenant, providers=keys)
    return Credentials(llm=found.get(llm_key), tts=found.get(tts_key), stt=found.get(stt_key))


def readiness(*, tenant: Tenant, config: RuntimeConfig, credentials: Credentials | None = None) -> Readiness:
    """Whether a call with this config can build its LLM, TTS and STT; each problem says what to fix."""
    if credentials is None:
        credentials = resolve_credentials(tenant=tenant, config=config)
    problems = (
        llm_problems(config, credentials.llm)
        + tts_problems(config, credentials.tts)
        + stt_problems(config, credentials.stt)
    )
    return Readiness(ready=not problems, problems=tuple(problems))


def plugin_installed(name: str) -> bool:
    """Whether the plugin can be imported, found without importing it (the web never loads plugins)."""
    module = PLUGINS[name][0]
    if module in sys.modules:
        return True
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _plugin_problem(name: str, role: str) -> list[str]:
    if plugin_installed(name):
        return []
    return [f"The {name} plugin for the {role} is not installed on the worker: pip install {PLUGINS[name][1]}."]


def _key_label(credential_provider: str) -> str:
    return Provider(credential_provider).label if credential_provider in Provider.values else credential_provider


def _missing_key(credential_provider: str, credential: ResolvedCredential | None, role: str) -> list[str]:
    if credential is not None and credential.secret:
        return []
    return [f"No {_key_label(credential_provider)} key for the {role}: {WHERE_KEYS_GO}."]


def service_account_info(secret: str) -> dict[str, Any] | None:
    """A Google service-account JSON stored as the Google key, parsed; None for anything else (an API key)."""
    if not secret.lstrip().startswith("{"):
        return None
    try:
        info = json.loads(secret)
    except ValueError:
        return None
    return info if isinstance(info, dict) and info.get("type") == "service_account" else None


def google_adc_file() -> str:
    path = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS", "")
    return path if path and os.path.isfile(path) else ""


def llm_problems(config: RuntimeConfig, credential: ResolvedCredential | None) -> list[str]:
    """What stops the language model of this config from being built; empty when nothing does."""
    role = "language model"
    provider_id = config.llm_provider
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
    if provider_id == "google" and credential is not None and service_account_info(credential.secret):
        problems.append(
            "The Google key is a service-account JSON, but Gemini takes an API key: replace it under Provider keys."
        )
    model_id = config.llm_model
    if catalog.llm_model(provider_id, model_id) is None:
        problems.append(f"{provider.name} does not offer the model {model_id!r}: {CHANGE_IN_AGENT}.")
    return problems


def tts_problems(config: RuntimeConfig, credential: ResolvedCredential | None) -> list[str]:
    """What stops the voice of this config from being built; empty when nothing does."""
    role = "voice"
    provider_id = config.tts_provider
    provider = catalog.tts_provider(provider_id)
    if provider is None or provider_id not in TTS_PLUGIN:
        return [_unknown_provider(role, provider_id, catalog.TTS_PROVIDERS)]
    problems = _plugin_problem(TTS_PLUGIN[provider_id], role)
    problems += _missing_key(provider.credential_provider, credential, role)
    model_id = tts_model_id(config)
    if problem := catalog.tts_model_problem(provider_id, model_id):
        problems.append(f"{problem}: {CHANGE_IN_AGENT}.")
    voice_id = chosen_voice_id(config)
    if not voice_id:
        problems.append(f"No {provider.name} voice chosen: pick one in the agent's settings.")
    elif problem := catalog.voice_problem(provider_id, voice_id) or catalog.voice_model_problem(
        provider_id, voice_id, model_id
    ):
        problems.append(f"{problem}: {CHANGE_IN_AGENT}.")
    return problems


def stt_problems(config: RuntimeConfig, credential: ResolvedCredential | None) -> list[str]:
    """What stops the speech-to-text of this config from being built; empty when nothing does."""
    role = "speech-to-text"
    provider_id = config.stt_provider
    provider = catalog.stt_provider(provider_id)
    if provider is None or provider_id not in STT_PLUGIN:
        return [_unknown_provider(role, provider_id, catalog.STT_PROVIDERS)]
    problems = _plugin_problem(STT_PLUGIN[provider_id], role)
    if provider_id == "google":
        # Cloud Speech authenticates with Google Cloud credentials; an API key cannot be passed to it.
        if not (credential and service_account_info(credential.secret)) and not google_adc_file():
            problems.append(
                "Google Cloud Speech does not take an API key: store a Google Cloud service-account JSON as "
                "the Google key under Provider keys, or give the worker GOOGLE_APPLICATION_CREDENTIALS "
                "(a service-account file)."
            )
    else:
        problems += _missing_key(provider.credential_provider, credential, role)
    model_id = stt_model_id(config)
    if catalog.stt_model(provider_id, model_id) is None:
        problems.append(f"{provider.name} has no speech-to-text model {model_id!r}: {CHANGE_IN_AGENT}.")
    return problems


def _unknown_provider(role: str, provider_id: str, known: dict[str, Any]) -> str:
    if not provider_id:
        return f"No {role} provider set: choose one of {', '.join(known)} in the agent's settings."
    return f"Unknown {role} provider {provider_id!r}: choose one of {', '.join(known)} in the agent's settings."


def tts_model_id(config: RuntimeConfig) -> str:
    """The config's TTS model, else its provider's default."""
    provider = catalog.tts_provider(config.tts_provider)
    return config.tts_model or (provider.default_model if provider else "")


def chosen_voice_id(config: RuntimeConfig) -> str:
    """The config's voice (voice_id, else the older tts_voice_id)."""
    return config.voice_id or config.tts_voice_id


def stt_model_id(config: RuntimeConfig) -> str:
    """The config's speech-to-text model (aliases resolved), else its provider's default."""
    provider_id = config.stt_provider
    provider = catalog.stt_provider(provider_id)
    return catalog.stt_model_id(provider_id, config.stt_model) or (provider.default_model if provider else "")
