"""Other machines' webhooks (Twilio's, LiveKit's) go through the shorter middleware chain of
voiceplatform/wsgi.py; everything else through Django's full one. Over real HTTP, against the
production WSGI application served on loopback."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver
from google.protobuf import json_format
from livekit import api

from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.services import call_create, phone_number_create
from tests.telephony_app.test_twilio_webhooks import (
    ACCOUNT_SID,
    NUMBER,
    TOKEN,
    VOICE,
    Twilio,
    call_sid,
    twiml,
    voice_params,
)
from voiceplatform.devtools.fake_livekit import KEY, SECRET, sign_webhook
from voiceplatform.services import credential_set
from voiceplatform.wsgi import application

pytestmark = pytest.mark.usefixtures("transactional_db")


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(settings) -> Iterator[str]:
    httpd: WSGIServer = make_server("127.0.0.1", 0, application, handler_class=_Quiet)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{httpd.server_port}"
    settings.PUBLIC_BASE_URL = url
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    yield url
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def number(tenant, make_agent):
    credential_set(tenant=tenant, provider="twilio", secret=TOKEN, account_id=ACCOUNT_SID)
    return phone_number_create(tenant=tenant, number=NUMBER, agent=make_agent(tenant))


def test_a_twilio_call_is_answered_without_the_browsers_middleware(server, livekit, tenant, number):
    sid = call_sid()

    response = Twilio(server).post(VOICE, voice_params(sid))

    [sip] = list(twiml(response).iter("Sip"))
    call = Call.objects.for_tenant(tenant).get(provider_call_id=sid)
    assert call.status == CallStatus.RINGING
    assert sip.text.startswith(f"sip:{call.room_name}@")
    # What the browser's chain would have added: a framing policy, a CSRF or session cookie.
    assert "X-Frame-Options" not in response.headers
    assert "Set-Cookie" not in response.headers
    # The chain that stays: the security middleware's headers.
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_bad_signature_is_still_refused(server, livekit, tenant, number):
    response = Twilio(server).post(VOICE, voice_params(call_sid()), token="0" * 32)

    assert response.status_code == 403
    assert not Call.objects.for_tenant(tenant).exists()


def test_hostile_input_is_still_refused_on_a_webhook(server, livekit, tenant, number):
    params = voice_params(call_sid(), CallerName="Mallory\x00")

    response = Twilio(server).post(VOICE, params)

    assert response.status_code == 400
    assert not Call.objects.for_tenant(tenant).exists()


def test_browser_pages_keep_the_full_chain(server):
    response = httpx.get(server + "/accounts/login/", timeout=10)

    assert response.status_code == 200
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "Content-Security-Policy" in response.headers
    assert "csrftoken" in response.cookies


def test_the_machine_chain_is_the_full_chains_first_part_in_order():
    full = settings.MIDDLEWARE
    positions = [full.index(path) for path in settings.MACHINE_MIDDLEWARE]

    assert positions == sorted(positions)
    assert "voiceplatform.hostile_input.HostileInputMiddleware" in settings.MACHINE_MIDDLEWARE
    assert "voiceplatform.metrics.HttpMetricsMiddleware" in settings.MACHINE_MIDDLEWARE


def _routes(patterns: list[URLPattern | URLResolver], prefix: str = "/") -> Iterator[tuple[str, str]]:
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, route)
        else:
            yield route, pattern.name or ""


def test_only_the_signed_webhooks_live_under_the_machine_paths():
    # A portal or API view under these paths would run without CSRF, session or login checks.
    under = {
        name for route, name in _routes(get_resolver().url_patterns) if route.startswith(settings.MACHINE_PATH_PREFIXES)
    }

    assert under == {
        "telephony-twilio-voice",
        "telephony-twilio-status",
        "telephony-twilio-refer",
        "telephony-livekit-webhook",
    }


def test_a_livekit_webhook_is_applied_without_the_browsers_middleware(server, settings, tenant, make_agent):
    settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "http://127.0.0.1:9", KEY, SECRET
    code = uuid.uuid4()
    call = call_create(
        tenant=tenant, agent=make_agent(tenant), direction=CallDirection.INBOUND, status=CallStatus.RINGING,
        code=code, room_name=f"in-{code}",
    )  # fmt: skip
    body = json_format.MessageToJson(
        api.WebhookEvent(event="room_finished", id="EV_machine", room=api.Room(sid="RM_x", name=call.room_name))
    )

    response = httpx.post(
        server + "/api/v1/telephony/livekit/webhook",
        content=body,
        headers={"Content-Type": "application/webhook+json", "Authorization": sign_webhook(body)},
        timeout=10,
    )

    assert response.status_code == 200, response.text
    assert response.json() == {"event": "room_finished", "updated": 1}
    assert Call.objects.for_tenant(tenant).get(pk=call.pk).status == CallStatus.FAILED
    assert "X-Frame-Options" not in response.headers


def test_an_unsigned_livekit_webhook_is_still_refused(server, settings):
    settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "http://127.0.0.1:9", KEY, SECRET

    response = httpx.post(server + "/api/v1/telephony/livekit/webhook", content="{}", timeout=10)

    assert response.status_code == 401
