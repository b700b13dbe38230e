"""SIP calls routed by a LiveKit SIP dispatch rule: the dialed number decides tenant, agent and Call.

The job runs run_call/finish_call unchanged in a fake JobContext (livekit's fake_job_context) whose
room is livekit's mock room with a SIP participant carrying the attributes LiveKit SIP sets
(sip.trunkPhoneNumber, sip.phoneNumber, sip.callID, sip.trunkID). Real PostgreSQL and Redis; the
agent's LLM and TTS are the real OpenAI plugins pointed at FakeOpenAI on 127.0.0.1. What
reaches LiveKit's server (deleting the room, transferring the caller) is recorded at the job
context, which is where a fake job would otherwise skip it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import create_autospec

import pytest
from django.conf import settings
from google.protobuf import json_format
from livekit import rtc
from livekit.agents import AgentSession
from livekit.agents.ipc.mock_room import create_mock_room
from livekit.agents.testing import fake_job_context
from livekit.protocol import sip as sip_proto

from agents_app.models import Agent
from agents_app.services import agent_set_active
from telephony_app import twilio
from telephony_app.inbound import inbound_room_name
from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.services import call_create, phone_number_create
from tests.worker import test_entrypoint as base
from tests.worker.test_entrypoint import GREETING, VAD, roles, says
from voiceplatform.devtools.fake_openai import text, tool_call
from worker import entrypoint, sip_route
from worker.context import InvalidCallContext, parse_call_context
from worker.entrypoint import STATE_KEY, VAD_KEY, finish_call, run_call

# The OpenAI-compatible server on 127.0.0.1, its per-test reset and the agent maker: the entrypoint
# tests' fixtures, made available here by name.
provider = base.provider
_scripted_provider = base._scripted_provider
make_voice_agent = base.make_voice_agent

pytestmark = pytest.mark.django_db(transaction=True)  # the ORM runs in sync_to_async's thread

SIP_METADATA = json.dumps({"route": "sip"})  # what the dispatch rule's room_config.agents[0].metadata says
NUMBER = "+12125550100"
OTHER_NUMBER = "+12125550177"
CALLER = "+14155550123"
FALLBACK = "+12125550199"
CLOSED_MESSAGE = "We are closed for today. I am forwarding you to our answering service."


def sip_participant(dialed: str, *, caller: str = CALLER, sip_call_id: str = "SCL_8fKq2mXv3aTz", **extra: str) -> Any:
    """A phone caller as LiveKit SIP puts it in the room: kind SIP, active, with its sip.* attributes."""
    participant = create_autospec(rtc.RemoteParticipant, instance=True)
    participant.identity = f"sip_{caller}"
    participant.sid = f"PA_{uuid.uuid4().hex[:12]}"
    participant.kind = rtc.ParticipantKind.PARTICIPANT_KIND_SIP
    participant.state = rtc.ParticipantState.PARTICIPANT_STATE_ACTIVE
    participant.attributes = {
        "sip.trunkPhoneNumber": dialed,
        "sip.phoneNumber": caller,
        "sip.callID": sip_call_id,
        "sip.trunkID": "ST_inbound7Qw",
        "sip.callStatus": "active",
        **extra,
    }
    return participant


@dataclass
class Room:
    """livekit's mock room (a fresh one, not the shared cached instance), named as a dispatch rule names it."""

    mock: Any
    handlers: dict[str, Callable[..., None]] = field(default_factory=dict)

    def join(self, participant: Any) -> None:
        """A participant joins after the job started: as the room would, tell the waiting listeners."""
        self.mock.remote_participants[participant.sid] = participant
        if handler := self.handlers.get("participant_active"):
            handler(participant)


def make_room(*participants: Any, name: str = "") -> Room:
    mock = create_mock_room.__wrapped__()
    mock.name = name or f"sip-_{CALLER}_{uuid.uuid4().hex[:8]}"
    mock.remote_participants = {p.sid: p for p in participants}
    room = Room(mock)

    def on(event: str, handler: Callable[..., None] | None = None) -> Any:
        if handler is not None:
            room.handlers[event] = handler
        return handler

    mock.on.side_effect = on
    return room


@dataclass
class JobResult:
    shutdown_reasons: list[str]
    session_started: bool
    state: entrypoint.CallState
    rooms_deleted: list[str]
    transfers: list[tuple[str, str]]


async def run_sip_job(
    room: Room,
    *,
    job_metadata: str = SIP_METADATA,
    before: Callable[[Room], Awaitable[None]] | None = None,
    during: Callable[[AgentSession], Awaitable[None]] | None = None,
    timeout: float = 15,
) -> JobResult:
    """One dispatch-rule job as a job process runs it: entrypoint, until it asks to end, then the report."""
    with fake_job_context(room=room.mock, job_metadata=job_metadata) as ctx:
        ended = asyncio.Event()
        reasons: list[str] = []
        deleted: list[str] = []
        transfers: list[tuple[str, str]] = []

        def shutdown(reason: str = "user requested") -> None:
            reasons.append(reason)
            ended.set()

        def delete_room(room_name: str | None = None) -> asyncio.Future[None]:
            deleted.append(room_name or room.mock.name)
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done

        def transfer(participant: Any, transfer_to: str, play_dialtone: bool = False) -> asyncio.Future[None]:
            transfers.append((getattr(participant, "identity", participant), transfer_to))
            done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            done.set_result(None)
            return done

        ctx.shutdown = shutdown  # type: ignore[method-assign]
        ctx.delete_room = delete_room  # type: ignore[method-assign]
        ctx.transfer_sip_participant = transfer  # type: ignore[method-assign]
        ctx.proc.userdata[VAD_KEY] = VAD
        starting = asyncio.create_task(run_call(ctx))
        if before is not None:
            await before(room)
        await starting
        try:
            session = ctx.primary_session
        except RuntimeError:
            session = None
        if session is not None and during is not None:
            await during(session)
        await asyncio.wait_for(ended.wait(), timeout)
        if session is not None:
            await session.aclose()
        await finish_call(ctx)
        return JobResult(reasons, session is not None, ctx.proc.userdata[STATE_KEY], deleted, transfers)


def run(coro: Awaitable[JobResult]) -> JobResult:
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


def assert_refused(result: JobResult, reason_part: str, caplog: Any) -> str:
    """Refused: no session, the job ended with the reason, the caller hung up (room deleted), logged."""
    assert not result.session_started
    assert len(result.shutdown_reasons) == 1 and result.shutdown_reasons[0].startswith("call refused")
    assert reason_part in result.shutdown_reasons[0]
    assert result.rooms_deleted == [result.state.room_name]
    logged = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert logged and reason_part in logged[-1]
    return logged[-1]


# --------------------------------------------------------------------------------------------
# Calls that reach the number's agent
# --------------------------------------------------------------------------------------------


def test_sip_call_to_a_tenants_number_reaches_its_agent_and_is_logged(tenant, make_voice_agent, provider):
    agent = make_voice_agent(tenant)
    phone_number_create(tenant=tenant, number=NUMBER, provider="sip", agent=agent)
    room = make_room(sip_participant(NUMBER))
    provider.add(tool_call("end_call"), text("Goodbye."))

    result = run(run_sip_job(room, during=says("That's all, thanks.")))

    call = Call.objects.for_tenant(tenant).get()
    assert result.session_started and result.state.call.code == call.code
    assert (call.direction, call.agent, call.agent_name) == (CallDirection.INBOUND, agent, "Maya")
    assert (call.from_number, call.to_number) == (CALLER, NUMBER)
    assert call.provider_call_id == "SCL_8fKq2mXv3aTz"
    assert call.room_name == room.mock.name  # the dispatch rule's room, not an in-<call id> one
    assert call.context["route"] == "sip" and call.context["sip_trunk_id"] == "ST_inbound7Qw"
    assert call.status == CallStatus.COMPLETED and call.answered_at is not None
    assert roles(call)[0] == ("assistant", GREETING)
    assert ("user", "That's all, thanks.") in roles(call)
    assert provider.wait_for_speech("Hello, thanks for calling Acme.", timeout=0) is not None
    # The agent learned who called: the caller's number is in its context like any inbound call's.
    assert (result.state.context.caller_number, result.state.context.callee_number) == (CALLER, NUMBER)


def test_sip_caller_who_joins_after_the_job_started_is_waited_for(tenant, make_voice_agent, provider):
    agent = make_voice_agent(tenant)
    phone_number_create(tenant=tenant, number=NUMBER, provider="sip", agent=agent)
    room = make_room()  # nobody yet: LiveKit dispatched the job as the INVITE came in

    async def caller_joins(room: Room) -> None:
        await asyncio.sleep(0.3)
        # nothing is decided before the caller is there
        assert not await Call.objects.for_tenant(tenant).aexists()
        room.join(sip_participant(NUMBER, sip_call_id="SCL_late0001"))

    provider.add(tool_call("end_call"), text("Bye."))

    result = run(run_sip_job(room, before=caller_joins, during=says("Bye.")))

    call = Call.objects.for_tenant(tenant).get()
    assert result.session_started
    assert (call.provider_call_id, call.agent, call.status) == ("SCL_late0001", agent, CallStatus.COMPLETED)
    assert roles(call)[0] == ("assistant", GREETING)


def test_sip_call_out_of_hours_hears_the_message_and_is_forwarded(tenant, make_voice_agent):
    # Business hours on with no open range: closed at any moment the test runs.
    agent = make_voice_agent(
        tenant, business_hours_enabled=True, out_of_hours_message=CLOSED_MESSAGE, fallback_number=FALLBACK
    )
    phone_number_create(tenant=tenant, number=NUMBER, provider="sip", agent=agent)
    caller = sip_participant(NUMBER)

    result = run(run_sip_job(make_room(caller)))

    call = Call.objects.for_tenant(tenant).get()
    assert result.session_started
    assert [text for role, text in roles(call) if role == "assistant"] == [CLOSED_MESSAGE]
    assert result.transfers == [(caller.identity, f"tel:{FALLBACK}")]
    assert call.status == CallStatus.TRANSFERRED and call.end_reason == f"transferred to {FALLBACK}"
    assert call.context["business_hours"] == "closed"
    assert (call.from_number, call.to_number, call.agent) == (CALLER, NUMBER, agent)


def test_twilio_bridged_caller_uses_the_call_the_webhook_created(tenant, make_voice_agent, provider):
    # The Twilio path when the room carries no metadata: the caller names the Call in X-VP-Call-Id
    # (vp.call_id) and dialed the room's name (sip:in-<call id>@host), not a number.
    agent = make_voice_agent(tenant)
    phone_number_create(tenant=tenant, number=NUMBER, agent=agent)
    code = uuid.uuid4()
    room_name = inbound_room_name(code)
    call = call_create(
        tenant=tenant,
        agent=agent,
        direction=CallDirection.INBOUND,
        from_number=CALLER,
        to_number=NUMBER,
        room_name=room_name,
        status=CallStatus.RINGING,
        provider_call_id="CA0123456789abcdef0123456789abcdef",
        code=code,
    )
    caller = sip_participant(room_name, sip_call_id="SCL_twilio01", **{"vp.call_id": str(code)})
    provider.add(tool_call("end_call"), text("Bye."))

    result = run(run_sip_job(make_room(caller, name=room_name), during=says("Bye.")))

    assert result.session_started and result.state.call.code == code
    assert Call.objects.for_tenant(tenant).count() == 1  # no second row for the same call
    call.refresh_from_db()
    assert call.status == CallStatus.COMPLETED and roles(call)[0] == ("assistant", GREETING)
    assert call.provider_call_id == "CA0123456789abcdef0123456789abcdef"  # Twilio's CallSid stays


# --------------------------------------------------------------------------------------------
# Calls that are refused: logged, recorded when the number is ours, the caller hung up
# --------------------------------------------------------------------------------------------


def test_unknown_number_is_refused_and_nothing_is_written(tenant, make_voice_agent, caplog):
    phone_number_create(tenant=tenant, number=NUMBER, provider="sip", agent=make_voice_agent(tenant))

    result = run(run_sip_job(make_room(sip_participant("+19995550100"))))

    assert_refused(result, "dialed number +19995550100: unknown number", caplog)
    assert not Call.objects.for_tenant(tenant).exists()


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ("inactive_number", f"number {NUMBER} is inactive"),
        ("no_agent", f"number {NUMBER} has no agent assigned"),
        ("inactive_agent", "agent 'Maya' is inactive"),
    ],
)
def test_number_that_reaches_no_agent_is_refused_and_recorded_as_failed(
    tenant, make_voice_agent, caplog, setup, reason
):
    agent = make_voice_agent(tenant)
    if setup == "inactive_agent":
        agent_set_active(tenant=tenant, agent=agent, is_active=False)
    phone_number_create(
        tenant=tenant,
        number=NUMBER,
        provider="sip",
        agent=None if setup == "no_agent" else agent,
        is_active=setup != "inactive_number",
    )

    result = run(run_sip_job(make_room(sip_participant(NUMBER))))

    logged = assert_refused(result, reason, caplog)
    call = Call.objects.for_tenant(tenant).get()
    assert str(call.code) in logged
    assert call.status == CallStatus.FAILED and call.direction == CallDirection.INBOUND
    assert reason in call.error and reason in call.end_reason
    assert (call.from_number, call.to_number, call.provider_call_id) == (CALLER, NUMBER, "SCL_8fKq2mXv3aTz")
    assert call.transcript == []


def test_a_call_through_another_trunk_than_the_numbers_is_refused_and_recorded(
    tenant, make_voice_agent, provider, caplog
):
    agent = make_voice_agent(tenant)
    phone_number_create(tenant=tenant, number=NUMBER, provider="sip", agent=agent, sip_trunk_id="ST_inbound7Qw")

    wrong = run(run_sip_job(make_room(sip_participant(NUMBER, **{"sip.trunkID": "ST_someoneElse"}))))

    assert_refused(wrong, "came in through SIP trunk ST_someoneElse, not the number's ST_inbound7Qw", caplog)
    call = Call.objects.for_tenant(tenant).get()
    assert call.status == CallStatus.FAILED and "ST_someoneElse" in call.error

    provider.add(tool_call("end_call"), text("Goodbye."))
    room = make_room(sip_participant(NUMBER, sip_call_id="SCL_second"))  # the number's own trunk
    right = run(run_sip_job(room, during=says("That's all, thanks.")))

    assert right.session_started
    assert Call.objects.for_tenant(tenant).get(provider_call_id="SCL_second").status == CallStatus.COMPLETED


def test_no_sip_caller_within_the_timeout_is_refused_with_the_reason(tenant, monkeypatch, caplog):
    monkeypatch.setattr(sip_route, "SIP_CALLER_TIMEOUT", 0.3)
    browser = create_autospec(rtc.RemoteParticipant, instance=True)  # someone, but not a phone caller
    browser.identity, browser.sid = "web-visitor", "PA_web"
    browser.kind = rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD
    browser.state = rtc.ParticipantState.PARTICIPANT_STATE_ACTIVE

    result = run(run_sip_job(make_room(browser)))

    assert_refused(result, "no SIP caller joined the room within 0.3 s", caplog)
    assert not Call.objects.for_tenant(tenant).exists()


def test_a_second_job_for_the_same_sip_call_writes_no_second_row(tenant, make_voice_agent, provider, caplog):
    agent = make_voice_agent(tenant)
    phone_number_create(tenant=tenant, number=NUMBER, provider="sip", agent=agent)
    provider.add(tool_call("end_call"), text("Bye."))
    run(run_sip_job(make_room(sip_participant(NUMBER)), during=says("Bye.")))

    # LiveKit dispatches the same SIP call again (say, the first worker died as the call ended).
    result = run(run_sip_job(make_room(sip_participant(NUMBER))))

    assert not result.session_started and "already ended" in caplog.text
    assert result.rooms_deleted == [result.state.room_name]
    call = Call.objects.for_tenant(tenant).get()
    assert call.status == CallStatus.COMPLETED and call.error == ""


# --------------------------------------------------------------------------------------------
# Tenancy: the number decides the tenant, and nothing crosses over
# --------------------------------------------------------------------------------------------


def test_a_number_of_tenant_a_never_reaches_tenant_bs_agent(tenant, other_tenant, make_voice_agent, provider):
    ours: Agent = make_voice_agent(tenant)
    theirs: Agent = make_voice_agent(other_tenant, name="Globex desk")
    phone_number_create(tenant=tenant, number=NUMBER, provider="sip", agent=ours)
    phone_number_create(tenant=other_tenant, number=OTHER_NUMBER, provider="sip", agent=theirs)
    provider.add(tool_call("end_call"), text("Bye."))

    result = run(run_sip_job(make_room(sip_participant(NUMBER)), during=says("Bye.")))

    call = Call.objects.for_tenant(tenant).get()
    assert result.state.tenant == tenant and result.state.context.agent_id == str(ours.code)
    assert call.agent == ours and call.agent_name == "Maya"
    assert not Call.objects.for_tenant(other_tenant).exists()


def test_a_caller_naming_another_tenants_call_is_refused(tenant, other_tenant, make_voice_agent, caplog):
    phone_number_create(tenant=tenant, number=NUMBER, provider="sip", agent=make_voice_agent(tenant))
    theirs = make_voice_agent(other_tenant, name="Globex desk")
    their_call = call_create(
        tenant=other_tenant, agent=theirs, direction=CallDirection.INBOUND, status=CallStatus.RINGING
    )
    caller = sip_participant(NUMBER, **{"vp.call_id": str(their_call.code)})

    result = run(run_sip_job(make_room(caller)))

    assert_refused(result, f"call {their_call.code} named by the SIP caller is not a call of number", caplog)
    their_call.refresh_from_db()
    assert their_call.status == CallStatus.RINGING and their_call.error == ""
    assert not Call.objects.for_tenant(tenant).exists()


# --------------------------------------------------------------------------------------------
# The dispatch rule's metadata
# --------------------------------------------------------------------------------------------


def test_sip_route_metadata_needs_no_agent_and_other_metadata_still_does():
    context = parse_call_context(SIP_METADATA, None)
    assert context.is_sip_route and context.agent_id == "" and context.call_type == "inbound"
    with pytest.raises(InvalidCallContext, match="the call metadata has no agent_id"):
        parse_call_context(json.dumps({"call_type": "inbound"}), None)
    with pytest.raises(InvalidCallContext, match="route 'pstn' is not one of sip"):
        parse_call_context(json.dumps({"route": "pstn"}), None)
    with pytest.raises(InvalidCallContext, match="a SIP-routed call is inbound"):
        parse_call_context(json.dumps({"route": "sip", "call_type": "outbound"}), None)
    with pytest.raises(InvalidCallContext, match="agent_id 'x' is not a UUID"):
        parse_call_context(json.dumps({"route": "sip", "agent_id": "x"}), None)


# --------------------------------------------------------------------------------------------
# The operator guide's LiveKit documents are what the code expects
# --------------------------------------------------------------------------------------------


def guide_documents() -> list[dict[str, Any]]:
    """The JSON blocks of docs/telephony.md's operator guide, in order."""
    text = (settings.BASE_DIR / "docs" / "telephony.md").read_text()
    section = text.split("## SIP trunks and dispatch rules (operator guide)", 1)[1].split("\n## ", 1)[0]
    return [json.loads(block.split("```", 1)[0]) for block in section.split("```json\n")[1:]]


def test_the_operator_guides_trunks_and_rules_are_valid_livekit_requests_that_route_here():
    twilio_trunk, twilio_rule, sip_trunk, sip_rule = (
        json_format.ParseDict(document, message())  # unknown or misspelt fields raise
        for document, message in zip(
            guide_documents(),
            (
                sip_proto.CreateSIPInboundTrunkRequest,
                sip_proto.CreateSIPDispatchRuleRequest,
                sip_proto.CreateSIPInboundTrunkRequest,
                sip_proto.CreateSIPDispatchRuleRequest,
            ),
            strict=True,
        )
    )
    # Twilio: any user part (the room name), the call id header mapped to the attribute the worker reads
    assert list(twilio_trunk.trunk.numbers) == []
    assert dict(twilio_trunk.trunk.headers_to_attributes) == {twilio.CALL_ID_HEADER: sip_route.ATTR_VP_CALL_ID}
    callee = twilio_rule.dispatch_rule.rule
    assert callee.WhichOneof("rule") == "dispatch_rule_callee"
    assert callee.dispatch_rule_callee.room_prefix == "" and not callee.dispatch_rule_callee.randomize
    assert inbound_room_name(uuid.uuid4()).startswith(callee.dispatch_rule_callee.room_prefix)
    assert len(twilio_rule.dispatch_rule.room_config.agents) == 0  # the room has its dispatch already
    # SIP numbers: one room per call, this worker dispatched with metadata the worker routes by number
    assert list(sip_trunk.trunk.numbers) and sip_trunk.trunk.auth_username
    rule = sip_rule.dispatch_rule
    assert rule.rule.WhichOneof("rule") == "dispatch_rule_individual"
    assert not rule.hide_phone_number
    (dispatch,) = rule.room_config.agents
    assert dispatch.agent_name == settings.LIVEKIT_AGENT_NAME
    assert parse_call_context(dispatch.metadata, None).is_sip_route
