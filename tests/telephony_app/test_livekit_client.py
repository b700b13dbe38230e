"""telephony_app.livekit_client and the browser test session, against a local fake of LiveKit's Twirp API."""

from __future__ import annotations

import json
import socket
import time

import jwt
import pytest
from livekit import api

from telephony_app import livekit_client
from telephony_app.models import Call, CallDirection, CallStatus
from voiceplatform.devtools.fake_livekit import KEY, SECRET
from voiceplatform.services import credential_set

METADATA = {"agent_id": "a1", "tenant_id": "t1", "call_id": "c1", "call_type": "test"}


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the client module -----------------------------------------------------------------------------


def test_create_room_sends_the_metadata_and_the_agent_dispatch(livekit):
    livekit_client.create_room(name="test-room-1", metadata=METADATA)

    [request] = livekit.messages("RoomService/CreateRoom")
    assert request.name == "test-room-1"
    assert json.loads(request.metadata) == METADATA
    [dispatch] = request.agents
    assert dispatch.agent_name == "voiceplatform-test"
    assert json.loads(dispatch.metadata) == METADATA
    [received] = livekit.received
    assert received.claims.video.room_create is True
    assert livekit_client.list_rooms() == ["test-room-1"]


def test_room_calls_share_one_token_signed_ahead_with_only_room_grants(livekit, monkeypatch):
    livekit_client.create_room(name="a", metadata=METADATA)
    livekit_client.create_room(name="b", metadata=METADATA)
    livekit_client.delete_room(room="a")
    assert livekit_client.list_rooms() == ["b"]
    livekit_client.create_dispatch(room="b", metadata=METADATA)  # room-scoped: signed for its room

    room_calls, [dispatch] = livekit.received[:4], livekit.received[4:]
    assert len({received.token for received in room_calls}) == 1  # one JWT, not one per request
    video = room_calls[0].claims.video
    assert (video.room_create, video.room_list, bool(video.room_admin), video.room) == (True, True, False, "")
    assert dispatch.token != room_calls[0].token
    expires = jwt.decode(room_calls[0].token, options={"verify_signature": False})["exp"]
    assert 0 < expires - time.time() <= livekit_client.ROOMS_TOKEN_TTL_SECONDS

    # at half its life the token is signed again, well before LiveKit would refuse it
    later = time.monotonic() + livekit_client.ROOMS_TOKEN_TTL_SECONDS / 2 + 1
    monkeypatch.setattr(livekit_client.time, "monotonic", lambda: later)
    time.sleep(1.1)  # a JWT's times are whole seconds: make the new one differ
    livekit_client.list_rooms()
    assert livekit.received[-1].token != room_calls[0].token


def test_create_room_without_dispatch_sends_no_agent(livekit):
    livekit_client.create_room(name="quiet", metadata={}, agent_dispatch=False)

    [request] = livekit.messages("RoomService/CreateRoom")
    assert list(request.agents) == []


def test_create_dispatch_names_the_agent_room_and_metadata(livekit):
    dispatch_id = livekit_client.create_dispatch(room="room-2", metadata=METADATA)

    [request] = livekit.messages("AgentDispatchService/CreateDispatch")
    assert (request.agent_name, request.room, json.loads(request.metadata)) == (
        "voiceplatform-test",
        "room-2",
        METADATA,
    )
    assert dispatch_id.startswith("AD_")


def test_create_sip_participant_dials_through_the_trunk_into_the_room(livekit):
    sip_call_id = livekit_client.create_sip_participant(
        room="room-3", trunk_id="ST_abc", call_to="+14155550100", identity="callee"
    )

    [request] = livekit.messages("SIP/CreateSIPParticipant")
    assert (request.room_name, request.sip_trunk_id, request.sip_call_to, request.participant_identity) == (
        "room-3",
        "ST_abc",
        "+14155550100",
        "callee",
    )
    assert sip_call_id.startswith("SCL_")
    assert livekit.received[0].claims.sip.call is True


def test_transfer_sends_a_tel_uri_for_a_number(livekit):
    livekit_client.transfer_participant(room="room-4", identity="callee", transfer_to="+18005551234")
    livekit_client.transfer_participant(room="room-4", identity="callee", transfer_to="sip:desk@pbx.example")

    first, second = livekit.messages("SIP/TransferSIPParticipant")
    assert (first.room_name, first.participant_identity, first.transfer_to) == ("room-4", "callee", "tel:+18005551234")
    assert second.transfer_to == "sip:desk@pbx.example"


def test_delete_room_removes_it(livekit):
    livekit_client.create_room(name="room-5", metadata={})

    livekit_client.delete_room(room="room-5")

    [request] = livekit.messages("RoomService/DeleteRoom")
    assert request.room == "room-5"
    assert livekit_client.list_rooms() == []


def test_a_twirp_error_becomes_request_failed_with_code_and_message(livekit):
    livekit.fail("RoomService/CreateRoom", status=400, code="invalid_argument", msg="name is too long")

    with pytest.raises(livekit_client.LiveKitRequestFailed) as caught:
        livekit_client.create_room(name="x", metadata={})

    assert (caught.value.code, caught.value.message, caught.value.status) == (
        "invalid_argument",
        "name is too long",
        400,
    )
    assert "name is too long" in str(caught.value)


def test_a_server_error_becomes_request_failed(livekit):
    livekit.fail("SIP/CreateSIPParticipant", status=500, code="internal", msg="trunk exploded")

    with pytest.raises(livekit_client.LiveKitRequestFailed, match="trunk exploded"):
        livekit_client.create_sip_participant(room="r", trunk_id="ST_x", call_to="+14155550100", identity="callee")


def test_a_wrong_secret_is_refused(livekit, settings):
    settings.LIVEKIT_API_SECRET = "not-the-secret-of-this-server-0123456789abcdef"

    with pytest.raises(livekit_client.LiveKitRequestFailed) as caught:
        livekit_client.list_rooms()

    assert caught.value.code == "unauthenticated"


def test_a_server_that_is_down_is_unavailable_quickly(settings):
    settings.LIVEKIT_URL = f"http://127.0.0.1:{_closed_port()}"
    settings.LIVEKIT_API_KEY = KEY
    settings.LIVEKIT_API_SECRET = SECRET
    started = time.monotonic()

    with pytest.raises(livekit_client.LiveKitUnavailable):
        livekit_client.create_room(name="x", metadata={})

    assert time.monotonic() - started < 2


def test_a_server_that_does_not_answer_in_time_is_unavailable(livekit, monkeypatch):
    monkeypatch.setattr(livekit_client, "REQUEST_TIMEOUT_SECONDS", 0.3)
    livekit.delay_seconds = 2
    started = time.monotonic()

    with pytest.raises(livekit_client.LiveKitUnavailable, match="did not answer"):
        livekit_client.delete_room(room="slow")

    assert time.monotonic() - started < 1.5


def test_unconfigured_raises_not_configured(unconfigured):
    assert livekit_client.is_configured() is False
    with pytest.raises(livekit_client.LiveKitNotConfigured, match="LIVEKIT_URL"):
        livekit_client.list_rooms()
    with pytest.raises(livekit_client.LiveKitNotConfigured):
        livekit_client.participant_token(room="r", identity="me")


def test_participant_token_joins_only_that_room_and_expires(livekit):
    before = int(time.time())

    token = livekit_client.participant_token(
        room="room-6", identity="tester", ttl_seconds=600, dispatch_metadata=METADATA
    )

    claims = api.TokenVerifier(KEY, SECRET).verify(token)
    assert claims.identity == "tester"
    video = claims.video
    assert (video.room_join, video.room) == (True, "room-6")
    assert not any((video.room_admin, video.room_create, video.room_list, video.room_record, video.ingress_admin))
    assert not video.agent and not video.destination_room
    [dispatch] = claims.room_config.agents
    assert (dispatch.agent_name, json.loads(dispatch.metadata)) == ("voiceplatform-test", METADATA)
    exp = jwt.decode(token, SECRET, algorithms=["HS256"], issuer=KEY)["exp"]  # Claims leaves the expiry out
    assert before + 600 <= exp <= int(time.time()) + 600
    with pytest.raises(jwt.InvalidSignatureError):
        api.TokenVerifier(KEY, "another-secret-0123456789abcdef-0123456789").verify(token)


# --- POST /api/v1/agents/{id}/test-session ---------------------------------------------------------


@pytest.fixture
def ready_agent(tenant, make_agent):
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111")
    return make_agent(tenant, stt_provider="openai")


def _start(api_client_for, tenant, agent):
    return api_client_for(tenant).post(f"/api/v1/agents/{agent.code}/test-session")


def test_test_session_creates_a_test_call_a_room_with_the_agent_and_a_token(
    livekit, tenant, ready_agent, api_client_for
):
    response = _start(api_client_for, tenant, ready_agent)

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"room", "token", "url", "callId", "expiresAt"}
    assert body["url"] == livekit.url.replace("http://", "ws://")
    call = Call.objects.for_tenant(tenant).get(code=body["callId"])
    assert (call.direction, call.agent, call.room_name, call.status) == (
        CallDirection.TEST,
        ready_agent,
        body["room"],
        CallStatus.QUEUED,
    )
    [request] = livekit.messages("RoomService/CreateRoom")
    expected = {
        "agent_id": str(ready_agent.code),
        "tenant_id": str(tenant.code),
        "call_id": str(call.code),
        "call_type": "test",
    }
    assert request.name == body["room"]
    assert json.loads(request.metadata) == expected
    assert json.loads(request.agents[0].metadata) == expected
    claims = api.TokenVerifier(KEY, SECRET).verify(body["token"])
    assert (claims.video.room_join, claims.video.room, claims.video.room_admin) == (True, body["room"], None)


def test_test_session_without_livekit_is_503(unconfigured, tenant, ready_agent, api_client_for):
    response = _start(api_client_for, tenant, ready_agent)

    assert response.status_code == 503
    assert response.json() == {
        "detail": "LiveKit is not configured: set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET."
    }
    assert not Call.objects.for_tenant(tenant).exists()


def test_test_session_of_an_agent_that_is_not_ready_is_400_with_problems(livekit, tenant, make_agent, api_client_for):
    agent = make_agent(tenant, tts_provider="elevenlabs", voice_id="EXAVITQu4vr4xnSDxMaL")

    response = _start(api_client_for, tenant, agent)

    assert response.status_code == 400
    assert response.json()["problems"]
    assert not Call.objects.for_tenant(tenant).exists()
    assert livekit.received == []


def test_test_session_of_an_inactive_agent_is_400(livekit, tenant, make_agent, api_client_for):
    agent = make_agent(tenant, is_active=False)

    response = _start(api_client_for, tenant, agent)

    assert response.status_code == 400
    assert response.json()["problems"] == ["The agent is inactive: activate it first."]


def test_test_session_when_livekit_fails_is_502_and_the_call_failed(livekit, tenant, ready_agent, api_client_for):
    livekit.fail("RoomService/CreateRoom", status=500, code="internal", msg="no capacity")

    response = _start(api_client_for, tenant, ready_agent)

    assert response.status_code == 502
    assert "no capacity" in response.json()["detail"]
    call = Call.objects.for_tenant(tenant).get()
    assert call.status == CallStatus.FAILED
    assert "no capacity" in call.error


def test_test_session_of_another_tenants_agent_is_404(livekit, tenant, other_tenant, make_agent, api_client_for):
    credential_set(tenant=other_tenant, provider="openai", secret="sk-globex-openai-2222")
    theirs = make_agent(other_tenant, stt_provider="openai")

    response = _start(api_client_for, tenant, theirs)

    assert response.status_code == 404
    assert not Call.objects.for_tenant(other_tenant).exists()
    assert livekit.received == []
