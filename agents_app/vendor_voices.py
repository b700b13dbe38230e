"""A tenant's own voices, fetched live from the vendors that can list them (ElevenLabs, Cartesia).

ElevenLabs: GET {ELEVENLABS_API_BASE}/v1/voices with header xi-api-key; the body is
{"voices": [{"voice_id", "name", "category", "labels": {...}, "description"}]}.
Cartesia (API version 2024-11-13): GET {CARTESIA_API_BASE}/voices?is_owner=true&limit=100 with headers
X-API-Key and Cartesia-Version; the body is {"data": [{"id", "name", "description", "language", ...}],
"has_more": bool, "next_page": id}, paged with starting_after=<last id>. is_owner keeps the listing
to the account's own (cloned) voices; Cartesia's stock voices are already in agents_app.catalog.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from django.conf import settings
from django.core.cache import cache

from agents_app.catalog import Voice
from voiceplatform.models import Tenant
from voiceplatform.selectors import credential_resolve

logger = logging.getLogger(__name__)

CACHE_TTL_SECONDS = 300
# A failing vendor is asked again after this long, so a page does not wait on every render.
FAILURE_CACHE_TTL_SECONDS = 30
_TIMEOUT_SECONDS = 5.0
# The page that lists the voices is a web request: the whole listing (every page of it) ends within
# WEB_REQUEST_BUDGET_SECONDS, less this much kept for rendering the page.
_RENDER_RESERVE_SECONDS = 2.0
_MAX_BODY_BYTES = 5_000_000
_CARTESIA_VERSION = "2024-11-13"
_CARTESIA_PAGE_SIZE = 100
_CARTESIA_MAX_PAGES = 10
_VENDOR_NAMES = {"elevenlabs": "ElevenLabs", "cartesia": "Cartesia"}
_GENDERS = {"female": "female", "feminine": "female", "male": "male", "masculine": "male"}


@dataclass(frozen=True)
class AccountVoices:
    voices: tuple[Voice, ...]
    notice: str  # human-readable reason when the vendor could not be asked; "" otherwise


class _VendorError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def account_voices(*, tenant: Tenant, provider: str) -> AccountVoices:
    """The voices in the tenant's own vendor account, cached per tenant and provider for five minutes."""
    fetch = _FETCHERS.get(provider)
    if fetch is None:
        return AccountVoices(voices=(), notice="")
    credential = credential_resolve(tenant=tenant, provider=provider)
    if credential is None or not credential.secret:
        return AccountVoices(voices=(), notice="")
    key = _cache_key(tenant=tenant, provider=provider, secret=credential.secret)
    cached = cache.get(key)
    if isinstance(cached, AccountVoices):
        return cached
    try:
        result = AccountVoices(voices=tuple(fetch(credential.secret)), notice="")
    except _VendorError as error:
        logger.warning("listing %s voices failed for tenant %s: %s", provider, tenant.slug, error.reason)
        result = AccountVoices(voices=(), notice=_notice(provider, error.reason))
        cache.set(key, result, FAILURE_CACHE_TTL_SECONDS)
        return result
    cache.set(key, result, CACHE_TTL_SECONDS)
    return result


def _cache_key(*, tenant: Tenant, provider: str, secret: str) -> str:
    # A short digest of the key (never the key) makes a rotated key miss the old entry at once.
    fingerprint = hashlib.sha256(secret.encode()).hexdigest()[:16]
    return f"vendor-voices:{tenant.pk}:{provider}:{fingerprint}"


def _notice(provider: str, reason: str) -> str:
    vendor = _VENDOR_NAMES.get(provider, provider)
    return f"Could not load your {vendor} voices ({reason}); showing the standard catalog."


def _listing_deadline() -> float:
    """When a listing must be over (time.monotonic()), so the page answers within the request budget."""
    seconds = max(float(settings.WEB_REQUEST_BUDGET_SECONDS) - _RENDER_RESERVE_SECONDS, 1.0)
    return time.monotonic() + seconds


def _get_json(client: httpx.Client, url: str, *, deadline: float, **kwargs: Any) -> Any:
    """GET and decode JSON by `deadline`, turning every transport, status, decoding or time failure into
    _VendorError. httpx's timeouts are per read, so the body is read in chunks against the deadline."""
    try:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise httpx.ReadTimeout("the listing's time is up")
        with client.stream("GET", url, timeout=min(_TIMEOUT_SECONDS, remaining), **kwargs) as response:
            response.raise_for_status()
            body = bytearray()
            for chunk in response.iter_bytes():
                body.extend(chunk)
                if time.monotonic() > deadline:
                    raise httpx.ReadTimeout("the listing's time is up")
                if len(body) > _MAX_BODY_BYTES:
                    raise ValueError("response too large")
        return json.loads(bytes(body))
    except httpx.HTTPStatusError as error:
        raise _VendorError(f"HTTP {error.response.status_code}") from None
    except httpx.TimeoutException:
        raise _VendorError("the request timed out") from None
    except httpx.HTTPError:
        raise _VendorError("the service could not be reached") from None
    except ValueError:
        raise _VendorError("unreadable response") from None


def _base_url(setting: str, default: str) -> str:
    return str(getattr(settings, setting, default) or default).rstrip("/")


def _fetch_elevenlabs(secret: str) -> list[Voice]:
    url = f"{_base_url('ELEVENLABS_API_BASE', 'https://api.elevenlabs.io')}/v1/voices"
    deadline = _listing_deadline()
    with httpx.Client(timeout=_TIMEOUT_SECONDS) as client:
        headers = {"xi-api-key": secret, "Accept": "application/json"}
        body = _get_json(client, url, deadline=deadline, headers=headers)
    items = body.get("voices") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise _VendorError("unreadable response")
    return [v for item in items if (v := _elevenlabs_voice(item)) is not None]


def _elevenlabs_voice(item: Any) -> Voice | None:
    if not isinstance(item, dict) or not item.get("voice_id") or not item.get("name"):
        return None
    labels = item.get("labels") if isinstance(item.get("labels"), dict) else {}
    category = str(item.get("category") or "")
    return Voice(
        provider="elevenlabs",
        id=str(item["voice_id"]),
        name=str(item["name"]),
        gender=_GENDERS.get(str(labels.get("gender", "")).lower(), "neutral"),
        accent=str(labels.get("accent") or "").title(),
        language=str(labels.get("language") or ""),
        tags=("account", category) if category else ("account",),
        description=str(item.get("description") or labels.get("description") or ""),
    )


def _fetch_cartesia(secret: str) -> list[Voice]:
    url = f"{_base_url('CARTESIA_API_BASE', 'https://api.cartesia.ai')}/voices"
    headers = {"X-API-Key": secret, "Cartesia-Version": _CARTESIA_VERSION, "Accept": "application/json"}
    params: dict[str, str | int] = {"is_owner": "true", "limit": _CARTESIA_PAGE_SIZE}
    voices: list[Voice] = []
    deadline = _listing_deadline()
    with httpx.Client(timeout=_TIMEOUT_SECONDS) as client:
        for _page in range(_CARTESIA_MAX_PAGES):
            page = _get_json(client, url, deadline=deadline, headers=headers, params=params)
            items, cursor = _cartesia_page(page)
            voices.extend(v for item in items if (v := _cartesia_voice(item)) is not None)
            if not cursor:
                break
            params["starting_after"] = cursor
    return voices


def _cartesia_page(body: Any) -> tuple[list[Any], str]:
    """(items, cursor for the next page or ""); older API versions answered with a bare list."""
    if isinstance(body, list):
        return body, ""
    items = body.get("data") if isinstance(body, dict) else None
    if not isinstance(items, list):
        raise _VendorError("unreadable response")
    if not body.get("has_more") or not items:
        return items, ""
    last = items[-1].get("id") if isinstance(items[-1], dict) else None
    return items, str(body.get("next_page") or last or "")


def _cartesia_voice(item: Any) -> Voice | None:
    if not isinstance(item, dict) or not item.get("id") or not item.get("name"):
        return None
    return Voice(
        provider="cartesia",
        id=str(item["id"]),
        name=str(item["name"]),
        gender=_GENDERS.get(str(item.get("gender") or "").lower(), "neutral"),
        accent="",
        language=str(item.get("language") or ""),
        tags=("account",),
        description=str(item.get("description") or ""),
    )


_FETCHERS: dict[str, Callable[[str], list[Voice]]] = {
    "elevenlabs": _fetch_elevenlabs,
    "cartesia": _fetch_cartesia,
}
