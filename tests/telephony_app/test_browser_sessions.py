"""Browser test calls: the service, the portal's "Test agent" page and its token request, against a local
fake of LiveKit's Twirp API (voiceplatform/devtools/fake_livekit.py). The page's JavaScript runs in
tests/browser/."""

from __future__ import annotations

import html
import json
import re

import pytest
from django.test import Client
from django.urls import reverse
from livekit import api

from telephony_app import browser_sessions, livekit_client
from telephony_app.models import Call, CallDirection, CallStatus
from voiceplatform.actor import Actor
from voiceplatform.devtools.fake_livekit import KEY, SECRET
from voiceplatform.services import credential_set


@pytest.fixture
def ready_agent(tenant, make_agent):
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111")
    return make_agent(tenant, stt_provider="openai")


def _text(response) -> str:
    """The page as a person reads it: tags dropped, entities decoded, whitespace collapsed."""
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode()))).strip()
    return text.replace(" ,", ",")


def _page(agent) -> str:
    return reverse("agents-agent-test", kwargs={"code": agent.code})


def _session(agent) -> str:
    return reverse("agents-agent-test-session", kwargs={"code": agent.code})


# The service ----------------------------------------------------------------------------------


def test_a_session_is_a_test_call_a_room_with_the_agent_and_a_token_for_that_room_only(
    livekit, tenant, owner, ready_agent
):
    session = browser_sessions.browser_session_start(tenant=tenant, agent=ready_agent, actor=Actor(user=owner))

    call = Call.objects.for_tenant(tenant).get()
    assert (call, call.direction, call.status, call.room_name) == (
        session.call,
        CallDirection.TEST,
        CallStatus.QUEUED,
        session.room,
    )
    assert call.context == {"started_by": "owner@acme.test"}
    [request] = livekit.messages("RoomService/CreateRoom")
    assert request.name == session.room
    assert json.loads(request.metadata)["call_id"] == str(call.code)
    claims = api.TokenVerifier(KEY, SECRET).verify(session.token)
    assert (claims.identity, claims.video.room, claims.video.room_join) == (f"tester-{call.code}", session.room, True)
    assert not (claims.video.room_admin or claims.video.room_create or claims.video.room_list)
    assert session.url == livekit.url.replace("http://", "ws://")


def test_browsers_get_the_public_livekit_url_while_the_server_uses_its_own(livekit, settings, tenant, ready_agent):
    settings.LIVEKIT_PUBLIC_URL = "wss://livekit.example.com"

    session = browser_sessions.browser_session_start(tenant=tenant, agent=ready_agent, actor=Actor())

    assert session.url == "wss://livekit.example.com"
    assert len(livekit.messages("RoomService/CreateRoom")) == 1  # the room went to the server-side URL


def test_a_livekit_failure_leaves_a_failed_test_call_with_the_reason(livekit, tenant, ready_agent):
    livekit.fail("RoomService/CreateRoom", status=503, code="unavailable", msg="no nodes available")

    with pytest.raises(livekit_client.LiveKitRequestFailed):
        browser_sessions.browser_session_start(tenant=tenant, agent=ready_agent, actor=Actor())

    call = Call.objects.for_tenant(tenant).get()
    assert call.status == CallStatus.FAILED
    assert "no nodes available" in call.error


def test_an_agent_that_is_not_ready_writes_nothing_and_calls_no_one(livekit, tenant, make_agent):
    agent = make_agent(tenant, tts_provider="elevenlabs", voice_id="EXAVITQu4vr4xnSDxMaL")

    with pytest.raises(browser_sessions.BrowserSessionNotReady) as refused:
        browser_sessions.browser_session_start(tenant=tenant, agent=agent, actor=Actor())

    assert any("ElevenLabs" in problem for problem in refused.value.problems)
    assert not Call.objects.for_tenant(tenant).exists()
    assert livekit.received == []


def test_without_livekit_the_missing_settings_are_named_and_nothing_is_written(unconfigured, tenant, ready_agent):
    with pytest.raises(livekit_client.LiveKitNotConfigured):
        browser_sessions.browser_session_start(tenant=tenant, agent=ready_agent, actor=Actor())

    assert browser_sessions.livekit_missing_settings() == ["LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"]
    assert not Call.objects.for_tenant(tenant).exists()


def test_the_api_records_which_key_started_the_session(livekit, tenant, ready_agent, api_client_for):
    response = api_client_for(tenant).post(f"/api/v1/agents/{ready_agent.code}/test-session")

    assert response.status_code == 201
    call = Call.objects.for_tenant(tenant).get(code=response.json()["callId"])
    assert call.context["started_by"].startswith("API key tests (")


# The portal page ------------------------------------------------------------------------------


def test_the_detail_page_links_to_the_test_page_for_editors_only(tenant, ready_agent, teammate, viewer, client_for):
    detail = reverse("agents-agent-detail", kwargs={"code": ready_agent.code})

    assert f'href="{_page(ready_agent)}"' in client_for(teammate).get(detail).text
    assert f'href="{_page(ready_agent)}"' not in client_for(viewer).get(detail).text


def test_the_page_offers_the_call_with_the_sdk_and_the_livekit_url(livekit, tenant, ready_agent, owner, client_for):
    response = client_for(owner).get(_page(ready_agent))

    assert response.status_code == 200
    assert "Start call" in _text(response)
    assert f'action="{_session(ready_agent)}"' in response.text
    assert "csrfmiddlewaretoken" in response.text
    assert "/static/vendor/livekit-client.umd.js" in response.text
    assert "/static/js/test_call.js" in response.text
    assert livekit.url.replace("http://", "ws://") in _text(response)
    assert SECRET not in response.text


def test_without_livekit_the_page_says_what_to_set_and_links_the_text_chat(
    unconfigured, tenant, ready_agent, owner, client_for
):
    response = client_for(owner).get(_page(ready_agent))

    text = _text(response)
    assert response.status_code == 200
    assert "LiveKit is not configured on this server" in text
    assert "sets LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET" in text
    assert f'href="{reverse("agents-agent-chat", kwargs={"code": ready_agent.code})}"' in response.text
    assert "Start call" not in text
    assert "livekit-client.umd.js" not in response.text


def test_without_livekit_the_page_names_only_the_missing_settings(
    unconfigured, settings, tenant, ready_agent, owner, client_for
):
    settings.LIVEKIT_URL = "wss://livekit.example.com"

    text = _text(client_for(owner).get(_page(ready_agent)))

    assert "sets LIVEKIT_API_KEY and LIVEKIT_API_SECRET" in text
    assert "wss://livekit.example.com" not in text


def test_an_agent_that_is_not_ready_shows_its_problems_instead_of_the_button(
    livekit, tenant, make_agent, owner, client_for
):
    agent = make_agent(tenant, tts_provider="elevenlabs", voice_id="EXAVITQu4vr4xnSDxMaL")
    problems = browser_sessions.browser_session_problems(tenant=tenant, agent=agent)

    text = _text(client_for(owner).get(_page(agent)))

    assert problems and all(problem in text for problem in problems)
    assert "This agent cannot take a test call yet" in text
    assert "Start call" not in text


def test_an_inactive_agent_says_so_instead_of_the_button(livekit, tenant, make_agent, owner, client_for):
    agent = make_agent(tenant, is_active=False)

    text = _text(client_for(owner).get(_page(agent)))

    assert "The agent is inactive: activate it first." in text
    assert "Start call" not in text


def test_viewers_see_the_page_but_cannot_start_a_call(livekit, tenant, ready_agent, viewer, client_for):
    client = client_for(viewer)

    page = client.get(_page(ready_agent))
    start = client.post(_session(ready_agent))

    assert page.status_code == 200
    assert "Viewers can look at agents but not start test calls" in _text(page)
    assert "Start call" not in _text(page)
    assert start.status_code == 403
    assert not Call.objects.for_tenant(tenant).exists()
    assert livekit.received == []


def test_the_page_needs_a_login(client, tenant, ready_agent):
    assert client.get(_page(ready_agent)).status_code == 302
    assert client.post(_session(ready_agent)).status_code == 302
    assert not Call.objects.for_tenant(tenant).exists()


# The page's token request ------------------------------------------------------------------


def test_the_pages_form_gets_a_session_with_the_login_and_its_csrf_token(livekit, tenant, ready_agent, teammate):
    client = Client(enforce_csrf_checks=True)
    client.force_login(teammate)
    page = client.get(_page(ready_agent))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

    refused = client.post(_session(ready_agent))
    response = client.post(_session(ready_agent), {"csrfmiddlewaretoken": token})

    assert refused.status_code == 403
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"room", "token", "url", "callId", "expiresAt"}
    call = Call.objects.for_tenant(tenant).get()
    assert (str(call.code), call.room_name, call.context["started_by"]) == (
        body["callId"],
        body["room"],
        "editor@acme.test",
    )
    assert api.TokenVerifier(KEY, SECRET).verify(body["token"]).video.room == body["room"]


def test_the_token_request_answers_like_the_api_when_it_cannot_start(
    livekit, settings, tenant, make_agent, ready_agent, owner, client_for
):
    client = client_for(owner)
    not_ready = make_agent(tenant, name="No voice", tts_provider="elevenlabs", voice_id="EXAVITQu4vr4xnSDxMaL")

    refused = client.post(_session(not_ready))
    livekit.fail("RoomService/CreateRoom", status=500, code="internal", msg="no capacity")
    failed = client.post(_session(ready_agent))
    settings.LIVEKIT_API_SECRET = ""
    unconfigured = client.post(_session(ready_agent))

    assert refused.status_code == 400
    assert refused.json()["problems"] == browser_sessions.browser_session_problems(tenant=tenant, agent=not_ready)
    assert failed.status_code == 502
    assert "no capacity" in failed.json()["detail"]
    assert unconfigured.status_code == 503
    assert unconfigured.json() == {"detail": livekit_client.NOT_CONFIGURED_MESSAGE}
    assert [call.status for call in Call.objects.for_tenant(tenant)] == [CallStatus.FAILED]


def test_another_tenants_agent_is_404_and_starts_nothing(livekit, other_tenant, make_agent, owner, client_for):
    credential_set(tenant=other_tenant, provider="openai", secret="sk-globex-openai-2222")
    theirs = make_agent(other_tenant, stt_provider="openai")

    response = client_for(owner).post(_session(theirs))

    assert response.status_code == 404
    assert not Call.objects.for_tenant(other_tenant).exists()
    assert livekit.received == []


def test_the_token_request_only_accepts_post(livekit, tenant, ready_agent, owner, client_for):
    assert client_for(owner).get(_session(ready_agent)).status_code == 405
