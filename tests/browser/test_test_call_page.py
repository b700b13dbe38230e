"""The "Test agent" page in real Chromium: its script, livekit-client from static/vendor, the token
request with the session's login and CSRF token, and what a person sees when LiveKit is missing or
cannot be reached. LiveKit's server API is the local Twirp fake; the browser's LiveKit is a closed port."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from agents_app.services import agent_create
from telephony_app.models import Call, CallDirection, CallStatus
from voiceplatform.actor import SYSTEM
from voiceplatform.devtools.fake_livekit import KEY, SECRET, FakeLiveKit
from voiceplatform.services import credential_set


@pytest.fixture
def ready_agent(tenant):
    """An agent a test call can start with: the tenant's OpenAI key covers its model, voice and transcriber."""
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111")
    fields = {"name": "Front desk", "system_prompt": "Be helpful.", "stt_provider": "openai"}
    return agent_create(tenant=tenant, actor=SYSTEM, fields=fields)


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def livekit_unreachable_for_browsers(settings, closed_port) -> Iterator[FakeLiveKit]:
    """The server's LiveKit API answers (the fake); the URL handed to browsers is a closed port."""
    with FakeLiveKit() as fake:
        settings.LIVEKIT_URL = fake.url
        settings.LIVEKIT_API_KEY = KEY
        settings.LIVEKIT_API_SECRET = SECRET
        settings.LIVEKIT_PUBLIC_URL = f"ws://127.0.0.1:{closed_port}"
        yield fake


class _RefusingLiveKit(BaseHTTPRequestHandler):
    """LiveKit's signal endpoint for a token it does not accept: livekit-client opens the WebSocket at
    /rtc/v1, and when that fails asks GET /rtc/v1/validate, which LiveKit answers 401 (with CORS)."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = b"invalid token: token is expired"
        self.send_response(401)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def livekit_refusing_tokens(livekit_unreachable_for_browsers, settings) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RefusingLiveKit)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    settings.LIVEKIT_PUBLIC_URL = f"ws://127.0.0.1:{server.server_address[1]}"
    yield settings.LIVEKIT_PUBLIC_URL
    server.shutdown()
    server.server_close()


def _path(agent) -> str:
    return reverse("agents-agent-test", kwargs={"code": agent.code})


def test_without_livekit_the_page_says_so_and_links_the_text_chat(
    settings, tenant, owner, ready_agent, open_page, screenshot
):
    settings.LIVEKIT_URL = settings.LIVEKIT_API_KEY = settings.LIVEKIT_API_SECRET = ""

    page = open_page(owner, _path(ready_agent))

    notice = page.locator("#livekit-unconfigured")
    expect(notice).to_contain_text("LiveKit is not configured on this server")
    expect(notice).to_contain_text("LIVEKIT_URL")
    expect(notice).to_contain_text("LIVEKIT_API_SECRET")
    expect(page.get_by_role("button", name="Start call")).to_have_count(0)
    screenshot(page, "h3-unconfigured")
    page.get_by_role("link", name="try the agent by text chat").click()
    expect(page).to_have_url(f"{page.url.split('/agents/')[0]}{reverse('agents-agent-chat', args=[ready_agent.code])}")
    expect(page.get_by_role("heading", name="Text chat with Front desk")).to_be_visible()


def test_with_livekit_unreachable_the_page_gets_a_token_then_says_it_cannot_reach_livekit(
    livekit_unreachable_for_browsers, closed_port, tenant, owner, ready_agent, open_page, screenshot, orm
):
    page = open_page(owner, _path(ready_agent))
    expect(page.locator("#connection-state")).to_have_text("Not connected")
    assert page.evaluate("typeof window.LivekitClient.Room") == "function"  # the SDK came from static/vendor

    with page.expect_response(lambda response: response.url.endswith("/test/session")) as token_response:
        page.get_by_role("button", name="Start call").click()

    response = token_response.value
    assert response.status == 201
    assert response.request.method == "POST"
    body = json.loads(response.text())
    assert body["url"] == f"ws://127.0.0.1:{closed_port}"
    error = page.locator("#call-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(f"Could not reach LiveKit at ws://127.0.0.1:{closed_port}.")
    expect(page.locator("#connection-state")).to_have_text("Connection failed")
    expect(page.get_by_role("button", name="Start call")).to_be_enabled()  # one can try again
    expect(page.get_by_role("button", name="Hang up")).to_be_hidden()
    screenshot(page, "h3-unreachable")
    # The server side did its part: a test call of this agent and its room at LiveKit's API.
    [request] = livekit_unreachable_for_browsers.messages("RoomService/CreateRoom")
    assert request.name == body["room"]
    call = orm(lambda: Call.objects.for_tenant(tenant).get(code=body["callId"]))
    assert (call.direction, call.agent_id, call.status) == (CallDirection.TEST, ready_agent.pk, CallStatus.QUEUED)


def test_a_refused_start_shows_the_servers_reason(
    livekit_unreachable_for_browsers, tenant, owner, ready_agent, open_page, orm
):
    page = open_page(owner, _path(ready_agent))
    livekit_unreachable_for_browsers.fail("RoomService/CreateRoom", status=503, code="unavailable", msg="no nodes")

    page.get_by_role("button", name="Start call").click()

    expect(page.locator("#call-error")).to_contain_text("Could not start the test call")
    expect(page.locator("#call-error")).to_contain_text("no nodes")
    expect(page.locator("#connection-state")).to_have_text("Connection failed")
    assert orm(lambda: list(Call.objects.for_tenant(tenant).values_list("status", flat=True))) == [CallStatus.FAILED]


def test_a_token_livekit_refuses_is_reported_as_such(livekit_refusing_tokens, owner, ready_agent, open_page):
    page = open_page(owner, _path(ready_agent))

    page.get_by_role("button", name="Start call").click()

    error = page.locator("#call-error")
    expect(error).to_contain_text(f"LiveKit at {livekit_refusing_tokens} refused the access token (HTTP 401)")
    expect(error).to_contain_text("LIVEKIT_API_KEY and LIVEKIT_API_SECRET")
    expect(page.locator("#connection-state")).to_have_text("Connection failed")
