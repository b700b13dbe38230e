"""agents_app.vendor_voices against a local fake of the ElevenLabs and Cartesia voice-listing APIs."""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from agents_app import vendor_voices
from agents_app.vendor_voices import account_voices
from voiceplatform.services import credential_set

ACME_KEY = "sk_acme_0123456789abcdefghij"
GLOBEX_KEY = "sk_globex_9876543210zyxwvuts"
CARTESIA_KEY = "sk_car_acme_0123456789abcdef"
ACME_VOICE = "AcmeClone0123456789a"
GLOBEX_VOICE = "GlobexClone012345678"
CARTESIA_PAGE_1 = "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"
CARTESIA_PAGE_2 = "1c2d3e4f-5061-4b7c-9d8e-0f1a2b3c4d5e"


def _elevenlabs_voice(voice_id: str, name: str) -> dict:
    return {
        "voice_id": voice_id,
        "name": name,
        "category": "cloned",
        "labels": {"accent": "british", "gender": "female", "age": "middle_aged"},
        "description": "Our support voice",
        "preview_url": None,
    }


def _cartesia_voice(voice_id: str, name: str) -> dict:
    return {
        "id": voice_id,
        "is_owner": True,
        "name": name,
        "description": "Cloned from our founder",
        "created_at": "2025-01-01T00:00:00Z",
        "language": "en",
    }


@dataclass
class FakeVendor:
    """What the fake server answers, and every request it received."""

    url: str = ""
    mode: str = "ok"  # "ok", "500", "slow" or "badjson"
    requests: list[dict] = field(default_factory=list)
    elevenlabs_voices: dict[str, list[dict]] = field(
        default_factory=lambda: {
            ACME_KEY: [_elevenlabs_voice(ACME_VOICE, "Acme Support")],
            GLOBEX_KEY: [_elevenlabs_voice(GLOBEX_VOICE, "Globex Sales")],
        }
    )

    def paths(self) -> list[str]:
        return [r["path"] for r in self.requests]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        fake = self.server.fake
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        fake.requests.append({"path": parts.path, "query": query, "headers": dict(self.headers.items())})
        if fake.mode == "slow":
            time.sleep(1.0)
        if fake.mode == "500":
            return self._reply(500, {"detail": "internal error"})
        if fake.mode == "badjson":
            return self._reply(200, "<html>not json</html>")
        if parts.path == "/v1/voices":
            return self._elevenlabs()
        if parts.path == "/voices":
            return self._cartesia(query)
        return self._reply(404, {"detail": "not found"})

    def _elevenlabs(self) -> None:
        voices = self.server.fake.elevenlabs_voices.get(self.headers.get("xi-api-key", ""))
        if voices is None:
            return self._reply(401, {"detail": {"status": "invalid_api_key", "message": "Invalid API key"}})
        return self._reply(200, {"voices": voices})

    def _cartesia(self, query: dict[str, str]) -> None:
        if self.headers.get("X-API-Key") != CARTESIA_KEY:
            return self._reply(401, {"error": "Invalid API key"})
        if self.headers.get("Cartesia-Version") != "2024-11-13" or query.get("is_owner") != "true":
            return self._reply(400, {"error": "unexpected request"})
        if query.get("starting_after") == CARTESIA_PAGE_1:
            body = {"data": [_cartesia_voice(CARTESIA_PAGE_2, "Second Clone")], "has_more": False, "next_page": None}
        else:
            body = {"data": [_cartesia_voice(CARTESIA_PAGE_1, "First Clone")], "has_more": True, "next_page": None}
        return self._reply(200, body)

    def _reply(self, status: int, body: object) -> None:
        payload = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeVendor


@pytest.fixture
def vendor(settings, monkeypatch):
    server = _Server(("127.0.0.1", 0), _Handler)
    server.fake = FakeVendor(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    settings.ELEVENLABS_API_BASE = server.fake.url
    settings.CARTESIA_API_BASE = server.fake.url + "/"  # a trailing slash must not matter
    # Only the tenants' own credentials count in these tests, never the process environment.
    monkeypatch.delenv("ELEVEN_API_KEY", raising=False)
    monkeypatch.delenv("CARTESIA_API_KEY", raising=False)
    yield server.fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def acme_key(tenant):
    credential_set(tenant=tenant, provider="elevenlabs", secret=ACME_KEY)


def test_returns_the_account_voices_tagged_as_account(vendor, tenant, acme_key):
    result = account_voices(tenant=tenant, provider="elevenlabs")

    assert result.notice == ""
    assert len(result.voices) == 1
    voice = result.voices[0]
    assert (voice.provider, voice.id, voice.name) == ("elevenlabs", ACME_VOICE, "Acme Support")
    assert voice.gender == "female"
    assert voice.accent == "British"
    assert "account" in voice.tags
    assert "cloned" in voice.tags


def test_sends_the_tenants_key_in_the_header_and_nowhere_else(vendor, tenant, acme_key):
    account_voices(tenant=tenant, provider="elevenlabs")

    assert vendor.paths() == ["/v1/voices"]
    request = vendor.requests[0]
    assert request["headers"]["xi-api-key"] == ACME_KEY
    assert ACME_KEY not in json.dumps(request["query"])


def test_second_call_is_served_from_the_cache(vendor, tenant, acme_key):
    first = account_voices(tenant=tenant, provider="elevenlabs")
    second = account_voices(tenant=tenant, provider="elevenlabs")

    assert second == first
    assert len(vendor.requests) == 1


def test_cache_is_per_tenant(vendor, tenant, other_tenant, acme_key):
    credential_set(tenant=other_tenant, provider="elevenlabs", secret=GLOBEX_KEY)

    acme = account_voices(tenant=tenant, provider="elevenlabs")
    globex = account_voices(tenant=other_tenant, provider="elevenlabs")

    assert [v.id for v in acme.voices] == [ACME_VOICE]
    assert [v.id for v in globex.voices] == [GLOBEX_VOICE]
    assert [r["headers"]["xi-api-key"] for r in vendor.requests] == [ACME_KEY, GLOBEX_KEY]


def test_a_rotated_key_is_not_answered_from_the_old_cache_entry(vendor, tenant, acme_key):
    account_voices(tenant=tenant, provider="elevenlabs")
    credential_set(tenant=tenant, provider="elevenlabs", secret=GLOBEX_KEY)

    result = account_voices(tenant=tenant, provider="elevenlabs")

    assert [v.id for v in result.voices] == [GLOBEX_VOICE]
    assert len(vendor.requests) == 2


def test_vendor_error_gives_no_voices_and_a_notice(vendor, tenant, acme_key):
    vendor.mode = "500"

    result = account_voices(tenant=tenant, provider="elevenlabs")

    assert result.voices == ()
    assert "ElevenLabs" in result.notice
    assert "HTTP 500" in result.notice


def test_rejected_key_gives_a_notice_and_a_warning_without_the_key(vendor, tenant, caplog):
    credential_set(tenant=tenant, provider="elevenlabs", secret="sk_wrong_key_000000000000")

    with caplog.at_level(logging.WARNING, logger="agents_app.vendor_voices"):
        result = account_voices(tenant=tenant, provider="elevenlabs")

    assert result.voices == ()
    assert result.notice == "Could not load your ElevenLabs voices (HTTP 401); showing the standard catalog."
    assert "elevenlabs" in caplog.text and "HTTP 401" in caplog.text
    assert "sk_wrong_key" not in caplog.text


def test_a_failure_is_remembered_briefly_so_pages_do_not_wait_each_time(vendor, tenant, acme_key):
    vendor.mode = "500"
    account_voices(tenant=tenant, provider="elevenlabs")
    vendor.mode = "ok"

    again = account_voices(tenant=tenant, provider="elevenlabs")

    assert "HTTP 500" in again.notice
    assert len(vendor.requests) == 1


def test_timeout_gives_a_notice(vendor, tenant, acme_key, monkeypatch):
    monkeypatch.setattr(vendor_voices, "_TIMEOUT_SECONDS", 0.2)  # the fake answers after 1 s
    vendor.mode = "slow"

    result = account_voices(tenant=tenant, provider="elevenlabs")

    assert result.voices == ()
    assert "ElevenLabs" in result.notice
    assert "timed out" in result.notice


def test_unreadable_response_gives_a_notice(vendor, tenant, acme_key):
    vendor.mode = "badjson"

    result = account_voices(tenant=tenant, provider="elevenlabs")

    assert result.voices == ()
    assert "unreadable response" in result.notice


def test_unreachable_vendor_gives_a_notice(vendor, tenant, acme_key, settings):
    settings.ELEVENLABS_API_BASE = "http://127.0.0.1:9"  # discard port: nothing listens

    result = account_voices(tenant=tenant, provider="elevenlabs")

    assert result.voices == ()
    assert "ElevenLabs" in result.notice


def test_no_credential_means_no_request_at_all(vendor, tenant):
    result = account_voices(tenant=tenant, provider="elevenlabs")

    assert result.voices == ()
    assert result.notice == ""
    assert vendor.requests == []


def test_environment_key_is_used_when_the_tenant_has_none(vendor, tenant, monkeypatch):
    monkeypatch.setenv("ELEVEN_API_KEY", ACME_KEY)

    result = account_voices(tenant=tenant, provider="elevenlabs")

    assert [v.id for v in result.voices] == [ACME_VOICE]
    assert vendor.requests[0]["headers"]["xi-api-key"] == ACME_KEY


def test_provider_without_a_listing_api_is_not_asked(vendor, tenant):
    credential_set(tenant=tenant, provider="openai", secret="sk-openai-0123456789abcdef")

    result = account_voices(tenant=tenant, provider="openai")

    assert result == vendor_voices.AccountVoices(voices=(), notice="")
    assert vendor.requests == []


def test_cartesia_pages_through_the_owned_voices(vendor, tenant):
    credential_set(tenant=tenant, provider="cartesia", secret=CARTESIA_KEY)

    result = account_voices(tenant=tenant, provider="cartesia")

    assert result.notice == ""
    assert [v.id for v in result.voices] == [CARTESIA_PAGE_1, CARTESIA_PAGE_2]
    assert all(v.provider == "cartesia" and "account" in v.tags for v in result.voices)
    assert vendor.paths() == ["/voices", "/voices"]
    first, second = vendor.requests
    assert first["headers"]["X-API-Key"] == CARTESIA_KEY
    assert first["headers"]["Cartesia-Version"] == "2024-11-13"
    assert first["query"]["is_owner"] == "true"
    assert "starting_after" not in first["query"]
    assert second["query"]["starting_after"] == CARTESIA_PAGE_1


def test_cartesia_rejected_key_names_cartesia(vendor, tenant):
    credential_set(tenant=tenant, provider="cartesia", secret="sk_car_wrong_000000000000")

    result = account_voices(tenant=tenant, provider="cartesia")

    assert result.voices == ()
    assert result.notice == "Could not load your Cartesia voices (HTTP 401); showing the standard catalog."
