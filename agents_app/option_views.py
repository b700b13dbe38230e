"""The agent form's selects that depend on a provider (models, voices, speech-to-text models): what
each offers for a provider, and the htmx partials that swap them when the provider changes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf.locale import LANG_INFO
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from agents_app import catalog
from agents_app.vendor_voices import account_voices
from voiceplatform.models import Membership, Tenant
from voiceplatform.portal import portal_view

ACCOUNT_VOICES_GROUP = "Your account's voices"
_LANGUAGE_NAMES = {"zh": "Chinese", "multi": "Multilingual"}
_CUSTOM_VOICE_HINTS = {
    "elevenlabs": "ElevenLabs voice ids (premade and cloned) are 20 letters and digits.",
    "cartesia": "Cartesia voice ids, cloned ones included, are UUIDs.",
}


def _language_name(code: str) -> str:
    return _LANGUAGE_NAMES.get(code) or LANG_INFO.get(code, {}).get("name") or code


def llm_field(*, provider_id: str, model_id: str, errors: list[str] | None = None) -> dict[str, Any]:
    """The model select for a provider: its models and the chosen one (the first when that one is not offered)."""
    provider = catalog.llm_provider(provider_id)
    if provider is None:
        return {"unknown_provider": provider_id, "errors": errors or []}
    if not provider.accepts_any_model and catalog.llm_model(provider.id, model_id) is None:
        model_id = provider.models[0].id if provider.models else ""
    model = None if provider.accepts_any_model else catalog.llm_model(provider.id, model_id)
    return {"provider": provider, "selected": model_id, "model": model, "errors": errors or []}


@dataclass(frozen=True)
class VoiceGroup:
    label: str
    voices: list[catalog.Voice]


def _voice_groups(provider: catalog.TTSProvider, account: tuple[catalog.Voice, ...]) -> list[VoiceGroup]:
    """The account's own voices first, then the catalog by language, legacy voices last."""
    groups: dict[str, list[catalog.Voice]] = {ACCOUNT_VOICES_GROUP: list(account)} if account else {}
    ordered = sorted(provider.voices, key=lambda v: "legacy" in v.tags)  # stable: catalog order otherwise
    for voice in ordered:
        label = f"{_language_name(voice.language)} voices" + (" (legacy)" if "legacy" in voice.tags else "")
        groups.setdefault(label, []).append(voice)
    return [VoiceGroup(label, voices) for label, voices in groups.items()]


def voice_field(
    *,
    tenant: Tenant,
    provider_id: str,
    voice_id: str,
    custom_voice_id: str,
    tts_model: str,
    errors: list[str],
    is_saved_value: bool = False,
) -> dict[str, Any]:
    """The voice select for a provider: the account's and the catalog's voices, grouped, and the chosen one.

    is_saved_value: voice_id is the agent's stored voice (not a choice just made in the select)."""
    provider = catalog.tts_provider(provider_id)
    if provider is None:
        return {"unknown_provider": provider_id, "errors": errors}
    listed = account_voices(tenant=tenant, provider=provider.id)
    groups = _voice_groups(provider, listed.voices)
    by_id = {voice.id: voice for group in groups for voice in group.voices}
    unlisted = voice_id and voice_id not in by_id
    if is_saved_value and unlisted and not custom_voice_id and provider.custom_voice_pattern:
        custom_voice_id, voice_id = voice_id, ""  # a cloned voice the list does not show
    if not custom_voice_id and voice_id not in by_id:
        voice_id = provider.voices[0].id if provider.voices else ""
    return {
        "provider": provider,
        "groups": groups,
        "selected": voice_id,
        "voice": by_id.get(voice_id),
        "custom_voice_id": custom_voice_id,
        "custom_hint": _CUSTOM_VOICE_HINTS.get(provider.id, ""),
        "notice": listed.notice,
        "tts_model": tts_model if catalog.tts_model(provider.id, tts_model) else "",
        "errors": errors,
    }


def stt_field(*, provider_id: str, model_id: str, errors: list[str] | None = None) -> dict[str, Any]:
    """The speech-to-text model select for a provider, with the chosen model (else its default) described."""
    provider = catalog.stt_provider(provider_id)
    if provider is None:
        return {"unknown_provider": provider_id, "errors": errors or []}
    model = catalog.stt_model(provider.id, model_id) if model_id else None
    selected = model.id if model else ""
    return {
        "provider": provider,
        "selected": selected,
        "model": model or catalog.stt_model(provider.id, provider.default_model),
        "errors": errors or [],
    }


@require_GET
@portal_view()
def llm_options(request: HttpRequest, membership: Membership) -> HttpResponse:
    llm = llm_field(provider_id=request.GET.get("llm_provider", ""), model_id=request.GET.get("llm_model", ""))
    status = 400 if "unknown_provider" in llm else 200
    return render(request, "agents_app/_llm_model_field.html", {"llm": llm}, status=status)


@require_GET
@portal_view()
def voice_options(request: HttpRequest, membership: Membership) -> HttpResponse:
    tts = voice_field(
        tenant=membership.tenant,
        provider_id=request.GET.get("tts_provider", ""),
        voice_id=request.GET.get("voice_id", ""),
        custom_voice_id=request.GET.get("custom_voice_id", "").strip(),
        tts_model=request.GET.get("tts_model", ""),
        errors=[],
    )
    status = 400 if "unknown_provider" in tts else 200
    return render(request, "agents_app/_voice_fields.html", {"tts": tts}, status=status)


@require_GET
@portal_view()
def stt_options(request: HttpRequest, membership: Membership) -> HttpResponse:
    stt = stt_field(provider_id=request.GET.get("stt_provider", ""), model_id=request.GET.get("stt_model", ""))
    status = 400 if "unknown_provider" in stt else 200
    return render(request, "agents_app/_stt_model_field.html", {"stt": stt}, status=status)
