"""POST /api/v1/telephony/livekit/webhook over real HTTP (live_server), signed as LiveKit signs it:
livekit-api's own AccessToken carrying the sha256 claim of the body, in the Authorization header."""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import yaml
from django.core.management import call_command
from django.utils import timezone
from google.protobuf import json_format
from livekit import api

from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.services import call_finish, call_transition
from voiceplatform.devtools.fake_livekit import KEY, SECRET
from voiceplatform.devtools.fake_livekit import sign_webhook as sign
from worker.call_report import write_call_log
from worker.call_state import CallState

S = CallStatus
PATH = "/api/v1/telephony/livekit/webhook"


@pytest.fixture(autouse=True)
def livekit_settings(settings) -> None:
    # Verification needs only the key and secret; nothing here talks to a LiveKit server.
    settings.LIVEKIT_URL = "http://127.0.0.1:9"
    settings.LIVEKIT_API_KEY = KEY
    settings.LIVEKIT_API_SECRET = SECRET


def event_body(
    event: str,
    *,
    room: str,
    metadata: dict[str, Any] | None = None,
    at: datetime.datetime | None = None,
    identity: str = "",
    kind: int | None = None,
    attributes: dict[str, str] | None = None,
) -> str:
    """A webhook body as LiveKit's server writes it: a WebhookEvent in protobuf's JSON mapping."""
    message = api.WebhookEvent(
        event=event,
        id=f"EV_{uuid.uuid4().hex[:12]}",
        created_at=int((at or timezone.now()).timestamp()),
        room=api.Room(sid="RM_abc", name=room, metadata=json.dumps(metadata) if metadata else ""),
    )
    if kind is not None:
        message.participant.CopyFrom(
            api.ParticipantInfo(sid="PA_x", identity=identity, kind=kind, attributes=attributes or {})
        )
    return json_format.MessageToJson(message)


@pytest.fixture
def post(live_server) -> Callable[..., httpx.Response]:
    def send(body: str, *, auth: str | None = "sign", content: str | None = None) -> httpx.Response:
        headers = {"Content-Type": "application/webhook+json"}
        if auth == "sign":
            auth = sign(body)
        if auth is not None:
            headers["Authorization"] = auth
        return httpx.post(live_server.url + PATH, content=body if content is None else content, headers=headers)

    return send


@pytest.fixture
def inbound(tenant, agent, make_call) -> Callable[..., Call]:
    def make(status: CallStatus = S.RINGING, **kwargs: Any) -> Call:
        code = uuid.uuid4()
        kwargs.setdefault("direction", CallDirection.INBOUND)
        return make_call(tenant, agent=agent, status=status, code=code, room_name=f"in-{code}", **kwargs)

    return make


def metadata_of(call: Call) -> dict[str, str]:
    return {
        "agent_id": str(call.agent.code) if call.agent else "",
        "tenant_id": str(call.tenant.code),
        "call_id": str(call.code),
        "call_type": call.direction,
    }


def answer(call: Call, ago: datetime.timedelta) -> datetime.datetime:
    answered = timezone.now() - ago
    call_transition(tenant=call.tenant, call=call, status=S.IN_PROGRESS, at=answered)
    return answered


def row(call: Call) -> dict[str, Any]:
    return Call.objects.filter(pk=call.pk).values().get()


SIP = api.ParticipantInfo.Kind.SIP
AGENT = api.ParticipantInfo.Kind.AGENT
STANDARD = api.ParticipantInfo.Kind.STANDARD


# --- accepted events ---------------------------------------------------------------------------


def test_room_finished_completes_an_answered_call_at_the_time_livekit_saw_it(post, inbound):
    call = inbound()
    answered = answer(call, datetime.timedelta(minutes=3))
    closed = timezone.now() - datetime.timedelta(seconds=30)  # delivered late: the call did not last longer

    response = post(event_body("room_finished", room=call.room_name, metadata=metadata_of(call), at=closed))

    assert response.status_code == 200
    assert response.json() == {"event": "room_finished", "updated": 1}
    ended = Call.objects.get(pk=call.pk)
    assert ended.status == S.COMPLETED
    assert ended.end_reason == "the room closed"
    assert ended.ended_at == closed.replace(microsecond=0)
    assert ended.duration_seconds == pytest.approx((closed.replace(microsecond=0) - answered).total_seconds())
    assert ended.context["ended_by"] == "livekit_webhook"


def test_room_finished_before_the_agent_answered_fails_an_inbound_call(post, inbound):
    call = inbound()

    assert post(event_body("room_finished", room=call.room_name)).json()["updated"] == 1

    ended = Call.objects.get(pk=call.pk)
    assert (ended.status, ended.end_reason, ended.duration_seconds) == (
        S.FAILED,
        "room closed before the agent answered",
        0.0,
    )


def test_room_finished_of_an_unanswered_outbound_call_is_no_answer(post, inbound):
    call = inbound(direction=CallDirection.OUTBOUND)

    post(event_body("room_finished", room=call.room_name))

    assert Call.objects.get(pk=call.pk).status == S.NO_ANSWER


def test_the_sip_caller_joining_answers_a_ringing_call(post, inbound):
    call = inbound()
    joined = timezone.now() - datetime.timedelta(seconds=5)

    body = event_body(
        "participant_joined", room=call.room_name, at=joined, identity="sip_+14155550100", kind=SIP,
        attributes={"sip.callStatus": "active", "sip.phoneNumber": "+14155550100"},
    )  # fmt: skip
    assert post(body).json()["updated"] == 1

    answered = Call.objects.get(pk=call.pk)
    assert answered.status == S.IN_PROGRESS
    assert answered.answered_at == joined.replace(microsecond=0)


@pytest.mark.parametrize(
    ("kind", "attributes"),
    [(AGENT, {}), (STANDARD, {}), (SIP, {"sip.callStatus": "dialing"}), (SIP, {"sip.callStatus": "ringing"})],
    ids=["agent", "browser", "sip still dialing", "sip still ringing"],
)
def test_other_participants_joining_do_not_answer_the_call(post, inbound, kind, attributes):
    call = inbound()
    before = row(call)

    body = event_body("participant_joined", room=call.room_name, identity="p", kind=kind, attributes=attributes)
    assert post(body).json() == {"event": "participant_joined", "updated": 0}

    assert row(call) == before


def test_the_caller_hanging_up_completes_the_call(post, inbound):
    call = inbound()
    answer(call, datetime.timedelta(minutes=1))

    post(event_body("participant_left", room=call.room_name, identity="sip_+14155550100", kind=SIP))

    ended = Call.objects.get(pk=call.pk)
    assert (ended.status, ended.end_reason) == (S.COMPLETED, "the caller left the room")


def test_the_caller_hanging_up_before_the_agent_answered_fails_the_call(post, inbound):
    call = inbound()

    post(event_body("participant_left", room=call.room_name, identity="sip_+14155550100", kind=SIP))

    ended = Call.objects.get(pk=call.pk)
    assert (ended.status, ended.end_reason) == (S.FAILED, "the caller left before the agent answered")


def test_the_browser_leaving_a_test_session_ends_it(post, tenant, agent, make_call):
    call = make_call(tenant, agent=agent, direction=CallDirection.TEST, room_name="test-1f0c", status=S.IN_PROGRESS)

    post(event_body("participant_left", room="test-1f0c", identity=f"tester-{call.code}", kind=STANDARD))

    ended = Call.objects.get(pk=call.pk)
    assert (ended.status, ended.end_reason) == (S.COMPLETED, "the browser left the room")


def test_the_agent_leaving_does_not_end_the_call(post, inbound):
    call = inbound()
    answer(call, datetime.timedelta(minutes=1))
    before = row(call)

    assert (
        post(event_body("participant_left", room=call.room_name, identity="agent-AJ_1", kind=AGENT)).status_code == 200
    )

    assert row(call) == before


def test_events_of_unknown_rooms_and_other_events_are_acknowledged_and_change_nothing(post, inbound):
    call = inbound()
    before = row(call)

    assert post(event_body("room_finished", room="in-somebody-else")).json() == {"event": "room_finished", "updated": 0}
    assert post(event_body("track_published", room=call.room_name)).json() == {"event": "track_published", "updated": 0}
    assert post(event_body("room_started", room=call.room_name)).status_code == 200

    assert row(call) == before


def test_metadata_naming_another_call_ends_nothing(post, inbound, other_tenant, make_call):
    ours = inbound()
    theirs = make_call(other_tenant, status=S.RINGING, room_name="in-theirs")
    before = {"ours": row(ours), "theirs": row(theirs)}

    forged_meta = {"tenant_id": str(other_tenant.code), "call_id": str(theirs.code)}
    response = post(event_body("room_finished", room=ours.room_name, metadata=forged_meta))

    assert response.json()["updated"] == 0
    assert {"ours": row(ours), "theirs": row(theirs)} == before


# --- refused requests --------------------------------------------------------------------------


def _refusals() -> dict[str, Callable[[str], dict[str, Any]]]:
    return {
        "missing header": lambda body: {"auth": None},
        "empty header": lambda body: {"auth": ""},
        "not a jwt": lambda body: {"auth": "not-a-token"},
        "wrong secret": lambda body: {"auth": sign(body, secret="another-secret-that-is-long-enough-0123456789")},
        "other api key": lambda body: {"auth": sign(body, key="APIsomeoneElse")},
        "expired token": lambda body: {"auth": sign(body, ttl=datetime.timedelta(minutes=-5))},
        "tampered body": lambda body: {"content": body.replace("room_finished", "room_started")},
        "hash of another body": lambda body: {"auth": sign(body, sha256_of=body + " ")},
        "token without sha256": lambda body: {"auth": api.AccessToken(KEY, SECRET).to_jwt()},
    }


@pytest.mark.parametrize("case", list(_refusals()))
def test_a_request_not_signed_by_our_livekit_is_refused_with_401_and_writes_nothing(post, inbound, case):
    call = inbound()
    answer(call, datetime.timedelta(minutes=1))
    before = row(call)
    body = event_body("room_finished", room=call.room_name, metadata=metadata_of(call))

    response = post(body, **_refusals()[case](body))

    assert response.status_code == 401, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["detail"].startswith("Invalid LiveKit webhook")
    assert SECRET not in response.text
    assert row(call) == before


def test_a_tampered_room_name_is_refused(post, inbound):
    target = inbound()
    answer(target, datetime.timedelta(minutes=1))
    before = row(target)
    signed_body = event_body("room_finished", room="in-some-room-of-mine")

    forged = signed_body.replace("in-some-room-of-mine", target.room_name)
    response = post(signed_body, auth=sign(signed_body), content=forged)

    assert response.status_code == 401
    assert row(target) == before


def test_unconfigured_livekit_answers_503(post, inbound, settings):
    settings.LIVEKIT_API_SECRET = ""
    call = inbound()
    before = row(call)
    body = event_body("room_finished", room=call.room_name)

    response = post(body, auth=sign(body))

    assert response.status_code == 503
    assert "LIVEKIT_API_SECRET" in response.json()["detail"]
    assert row(call) == before


def test_a_signed_body_that_is_not_an_event_is_400(post):
    body = '{"event": ["not", "a", "string"]}'

    response = post(body)

    assert response.status_code == 400
    assert "not a LiveKit webhook event" in response.json()["detail"]


# --- repeats, reordering, and who wins ---------------------------------------------------------


def test_repeated_and_reordered_events_leave_one_terminal_state_and_one_duration(post, inbound):
    call = inbound()
    answered = answer(call, datetime.timedelta(minutes=2))
    left = timezone.now() - datetime.timedelta(seconds=20)
    finished = left + datetime.timedelta(seconds=10)
    room = call.room_name
    caller = {"identity": "sip_+14155550100", "kind": SIP, "attributes": {"sip.callStatus": "active"}}

    first = post(event_body("participant_left", room=room, at=left, **caller))
    after_first = row(call)
    for body in (
        event_body("room_finished", room=room, at=finished),
        event_body("room_finished", room=room, at=finished),  # LiveKit retried
        event_body("participant_joined", room=room, at=answered, **caller),  # arrived late
        event_body("participant_left", room=room, at=left, **caller),
    ):
        assert post(body).json()["updated"] == 0

    assert first.json()["updated"] == 1
    assert row(call) == after_first
    ended = Call.objects.get(pk=call.pk)
    assert ended.status == S.COMPLETED
    assert ended.ended_at == left.replace(microsecond=0)
    assert ended.duration_seconds == pytest.approx((left.replace(microsecond=0) - answered).total_seconds())


def test_the_worker_report_after_the_webhook_replaces_its_outcome(post, inbound):
    call = inbound()
    answered = answer(call, datetime.timedelta(minutes=2))
    closed = timezone.now() - datetime.timedelta(seconds=10)
    post(event_body("room_finished", room=call.room_name, at=closed))
    assert Call.objects.get(pk=call.pk).status == S.COMPLETED

    # The real worker path: worker.entrypoint.finish_call -> call_report.write_call_log -> call_finish
    state = CallState(job_id="AJ_1", room_name=call.room_name, tenant=call.tenant, call=call)
    write_call_log(state, status=S.TRANSFERRED, end_reason="transferred to +14155550111", transcript=[])

    ended = Call.objects.get(pk=call.pk)
    assert ended.status == S.TRANSFERRED
    assert ended.end_reason == "transferred to +14155550111"
    # LiveKit's time of the room closing stays the end: the report was written after it
    assert ended.ended_at == closed.replace(microsecond=0)
    assert ended.duration_seconds == pytest.approx((ended.ended_at - answered).total_seconds())
    assert ended.context["ended_by"] == "worker"
    assert ended.context["provisional_end"] == {
        "by": "livekit_webhook",
        "status": "completed",
        "end_reason": "the room closed",
    }

    # ...once: a second report (retry) is first-terminal-wins again
    call_finish(tenant=call.tenant, call=call, status=S.FAILED, end_reason="again")
    assert Call.objects.get(pk=call.pk).status == S.TRANSFERRED


def test_the_webhook_after_the_worker_report_changes_nothing(post, inbound):
    call = inbound()
    answer(call, datetime.timedelta(minutes=2))
    call_finish(tenant=call.tenant, call=call, status=S.TRANSFERRED, end_reason="transferred to +14155550111")
    before = row(call)

    for body in (
        event_body("participant_left", room=call.room_name, identity="sip_x", kind=SIP),
        event_body("room_finished", room=call.room_name, metadata=metadata_of(call)),
    ):
        assert post(body).json()["updated"] == 0

    assert row(call) == before


def test_twilios_final_status_is_never_replaced_by_the_webhook(post, inbound):
    call = inbound()
    call_transition(tenant=call.tenant, call=call, status=S.BUSY, reason="busy", ended_by="twilio")
    before = row(call)

    post(event_body("room_finished", room=call.room_name))

    assert row(call) == before


def test_the_endpoint_is_left_out_of_the_api_schema(tmp_path, db):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(target))

    paths = yaml.safe_load(target.read_text())["paths"]
    assert PATH not in paths
    assert "/api/v1/agents" in paths  # the schema itself was generated
