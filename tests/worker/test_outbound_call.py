"""The outbound call in the worker: the callee's line (worker.outbound.CalleeLine) and the VoiceAgent
in a real AgentSession (text mode, scripted LLM), against real campaign rows in PostgreSQL.

The LiveKit edge is a real, unconnected rtc.Room whose participant events the test emits (the
callee's SIP participant joining, answering, leaving), and a scripted answering-machine detector
standing in for AMD's ears on the callee's audio (there is no audio in text mode); one test runs
livekit-agents' own AMD on the session. The call's end reaches the campaign attempt through the
call-end hook, as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import json
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from types import SimpleNamespace
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.utils import timezone
from livekit import rtc
from livekit.agents import AgentSession
from livekit.agents.ipc.mock_room import create_mock_room
from livekit.agents.testing import fake_job_context
from livekit.plugins import silero

from agents_app.runtime_config import RuntimeConfig, build_runtime_config
from agents_app.services import agent_create
from campaigns_app.dialer.capacity import voice_capacity, voice_worker_report
from campaigns_app.models import (
    AttemptOutcome,
    CallAttempt,
    Campaign,
    CampaignStatus,
    Contact,
    ContactStatus,
    DncEntry,
    DncSource,
)
from campaigns_app.selectors import dnc_entry_deciding
from campaigns_app.services import campaign_create, contacts_add
from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.services import call_create, phone_number_create
from voiceplatform.actor import SYSTEM
from voiceplatform.devtools.fake_openai import FakeOpenAI, text
from voiceplatform.devtools.scripted_llm import ScriptedLLM, reply, tool_call
from voiceplatform.models import Tenant
from voiceplatform.services import credential_set
from worker import call_report
from worker.agent import OPT_OUT_LINE, CallServices, DryRunCallControl, VoiceAgent, forward_dtmf
from worker.call_state import CallState
from worker.context import CallContext, parse_call_context
from worker.entrypoint import VAD_KEY, finish_call, run_call
from worker.instructions import DEFAULT_RECORDING_NOTICE, greeting_text
from worker.outbound import FIRST_WORDS_LIMIT_MS, CalleeLine, LiveKitAmd, outbound_plan
from worker.server import report_capacity

pytestmark = pytest.mark.django_db(transaction=True)  # the worker writes from sync_to_async's thread

NUMBER = "+12125550123"
GREETING = "Hi {{first_name}}, this is {{agent_name}} from {{company_name}} about your appointment."


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), timeout=30))

    return run


@dataclass
class Dialed:
    tenant: Tenant
    campaign: Campaign
    contact: Contact
    attempt: CallAttempt
    call: Call
    agent_code: str = ""

    def reload(self) -> Dialed:
        for row in (self.campaign, self.contact, self.attempt, self.call):
            row.refresh_from_db()
        return self


@pytest.fixture
def dial(tenant) -> Callable[..., Dialed]:
    """dial(agent_fields, campaign_fields): a running campaign's contact being dialed, its outbound
    Call ringing, as the dialer and place_call leave them."""

    def make(agent: dict[str, Any] | None = None, **campaign_fields: Any) -> Dialed:
        agent_fields = {
            "name": "Maya",
            "direction": "outbound",
            "system_prompt": "Remind {{first_name}} of the appointment.",
            "greeting_message": GREETING,
            **(agent or {}),
        }
        outbound_agent = agent_create(tenant=tenant, actor=SYSTEM, fields=agent_fields)
        caller_id = phone_number_create(tenant=tenant, number="+14155550188")
        fields = {"name": "Reminders", "agent": outbound_agent, "caller_id": caller_id, "max_attempts": 3}
        campaign = campaign_create(tenant=tenant, fields={**fields, **campaign_fields})
        contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": NUMBER, "variables": {"first_name": "Ann"}}])
        Campaign.objects.for_tenant(tenant).filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)
        contact = Contact.objects.for_tenant(tenant).get(campaign=campaign)
        Contact.objects.for_tenant(tenant).filter(pk=contact.pk).update(
            status=ContactStatus.DIALING, attempts=1, lease_expires_at=timezone.now() + datetime.timedelta(minutes=2)
        )
        call = call_create(
            tenant=tenant,
            agent=outbound_agent,
            direction=CallDirection.OUTBOUND,
            to_number=NUMBER,
            room_name=f"out-{uuid.uuid4()}",
            status=CallStatus.RINGING,
        )
        attempt = CallAttempt.objects.create(
            tenant=tenant, campaign=campaign, contact=contact, attempt_no=1, number=NUMBER, call=call
        )
        return Dialed(tenant, campaign, contact, attempt, call, str(outbound_agent.code)).reload()

    return make


def in_thread(fn: Callable[..., Any]) -> Callable[..., Coroutine[Any, Any, Any]]:
    """fn in the ORM's thread, its connection closed after (the test database is dropped at the end)."""

    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            connection.close()

    return sync_to_async(run)


class RecordedLine(DryRunCallControl):
    """The phone line's actions, recorded, with what worker.call_state.CallLine tells the call log."""

    transferred_to: str | None = None


class ScriptedDetector:
    """AMD's verdict on the callee's greeting, given by the test once the callee has answered."""

    def __init__(self) -> None:
        self.started = False
        self.closed = False
        self.verdict_given: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def start(self) -> None:
        self.started = True

    async def verdict(self) -> str:
        return await self.verdict_given

    async def aclose(self) -> None:
        self.closed = True


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Line:
    """One outbound call in progress: the session, the room the test drives, and what it recorded."""

    session: AgentSession
    room: rtc.Room
    control: RecordedLine
    detector: ScriptedDetector
    state: CallState
    callee: CalleeLine
    clock: Clock
    llm: ScriptedLLM

    def join(self, call_status: str = "ringing") -> SimpleNamespace:
        participant = SimpleNamespace(
            identity="callee",
            kind=rtc.ParticipantKind.PARTICIPANT_KIND_SIP,
            attributes={"sip.callStatus": call_status},
            disconnect_reason=None,
        )
        self.room.emit("participant_connected", participant)
        return participant

    def answer(self, participant: SimpleNamespace) -> None:
        participant.attributes["sip.callStatus"] = "active"
        self.room.emit("participant_attributes_changed", ["sip.callStatus"], participant)

    def leave(self, participant: SimpleNamespace, reason: int) -> None:
        participant.disconnect_reason = reason
        self.room.emit("participant_disconnected", participant)

    async def finish(self) -> None:
        """The session's end, as finish_call writes it: the outcome the line decided, else the usual."""
        await asyncio.wait_for(self.session.aclose(), timeout=5)
        status, reason = call_report.call_outcome(self.state)
        await in_thread(call_report.write_call_log)(self.state, status=status, end_reason=reason)


def _config_of(tenant: Tenant, call: Call) -> tuple[Call, RuntimeConfig]:
    call = Call.objects.for_tenant(tenant).select_related("tenant", "agent").get(pk=call.pk)
    return call, build_runtime_config(call.agent)


async def start_call(dialed: Dialed, llm: ScriptedLLM | None = None) -> Line:
    call, config = await in_thread(_config_of)(dialed.tenant, dialed.call)
    metadata = {
        "agent_id": str(call.agent.code),
        "call_id": str(call.code),
        "call_type": "outbound",
        "campaign_id": str(dialed.campaign.code),
        "attempt_id": dialed.attempt.pk,
        "variables": {"first_name": "Ann"},
        "to": NUMBER,
    }
    context: CallContext = parse_call_context(json.dumps(metadata), "")
    plan = await in_thread(outbound_plan)(call=call, config=config, context=context)
    state = CallState(job_id="job-1", room_name=call.room_name)
    state.call, state.tenant, state.context = call, call.tenant, replace(context, outbound=plan)
    control = RecordedLine()
    state.line = control  # type: ignore[assignment]  (the phone line's actions, recorded)
    llm = llm or ScriptedLLM()
    session = AgentSession(llm=llm)
    room, detector, clock = rtc.Room(), ScriptedDetector(), Clock()
    callee = CalleeLine(
        ctx=SimpleNamespace(room=room),  # type: ignore[arg-type]
        state=state,
        session=session,
        ring_timeout=15,
        detector=lambda _session, _identity: detector,
        clock=clock,
    )
    services = CallServices(control=control, outbound=callee, opt_out_key="9")
    await session.start(VoiceAgent(config, state.context, services))
    return Line(session, room, control, detector, state, callee, clock, llm)


def assistant_lines(session: AgentSession) -> list[str]:
    items = session.history.items
    return [item.text_content or "" for item in items if item.type == "message" and item.role == "assistant"]


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def reload(dialed: Dialed) -> Dialed:
    return await in_thread(dialed.reload)()


# --- the greeting ----------------------------------------------------------------------------------


def outbound_config(**fields: Any) -> RuntimeConfig:
    document = {"agent_id": str(uuid.uuid4()), "tenant_id": str(uuid.uuid4()), "tenant_name": "Acme", "name": "Maya"}
    return RuntimeConfig.from_document({**document, **fields})


def test_the_outbound_greeting_names_the_caller_and_announces_recording_first():
    now = timezone.now()
    call = CallContext(agent_id="a", call_type="outbound", variables={"first_name": "Ann"})
    named = outbound_config(greeting_message="Hi {{first_name}}, Acme calling about your order.")
    anonymous = outbound_config(greeting_message="Hi {{first_name}}, quick question about your order.")
    recorded = replace(anonymous, recording_enabled=True)

    assert greeting_text(named, call, now) == "Hi Ann, Acme calling about your order."
    assert greeting_text(anonymous, call, now) == (
        "Hi, this is Maya calling on behalf of Acme. Hi Ann, quick question about your order."
    )
    assert greeting_text(recorded, call, now).startswith(f"{DEFAULT_RECORDING_NOTICE} Hi, this is Maya")
    assert greeting_text(outbound_config(), call, now) == "Hi, this is Maya calling on behalf of Acme."
    # An inbound caller knows whom they called: no prefix there.
    assert (
        greeting_text(anonymous, replace(call, call_type="inbound"), now) == "Hi Ann, quick question about your order."
    )


# --- answered by a person --------------------------------------------------------------------------


@async_test
async def test_a_person_answers_hears_the_notice_and_greeting_and_the_answer_is_measured(dial):
    dialed = await in_thread(dial)(
        agent={"recording_enabled": True}, recording_notice="This call is recorded for quality, {{first_name}}."
    )
    line = await start_call(dialed)

    callee = line.join()
    await asyncio.sleep(0.05)
    assert assistant_lines(line.session) == []  # nobody is greeted while the phone rings
    assert line.detector.started  # AMD listens from before the answer
    line.clock.now += 0  # the answer
    line.answer(callee)
    await until(lambda: line.callee.answered_at is not None)
    line.clock.now += 0.8  # AMD heard "Hello?" and decided
    line.detector.verdict_given.set_result("human")

    await until(lambda: len(assistant_lines(line.session)) == 1)
    assert assistant_lines(line.session) == [
        "This call is recorded for quality, Ann. Hi Ann, this is Maya from Acme about your appointment."
    ]
    await until(lambda: line.callee.first_words_ms is not None)
    assert line.detector.closed
    dialed = await reload(dialed)
    assert dialed.call.status == CallStatus.IN_PROGRESS and dialed.call.answered_at is not None
    assert dialed.call.amd_result == "human"
    assert dialed.call.first_words_ms == 800
    assert dialed.attempt.outcome == ""  # still talking

    line.llm.add(reply("Thanks, goodbye."))
    await line.finish()
    dialed = await reload(dialed)
    assert dialed.call.status == CallStatus.COMPLETED
    assert dialed.attempt.outcome == AttemptOutcome.ANSWERED and dialed.contact.status == ContactStatus.COMPLETED


@async_test
async def test_first_words_later_than_two_seconds_after_the_answer_are_logged_as_abandonment(dial, caplog):
    dialed = await in_thread(dial)()
    line = await start_call(dialed)
    callee = line.join()
    line.answer(callee)
    await until(lambda: line.callee.answered_at is not None)
    line.clock.now += 3.2
    line.detector.verdict_given.set_result("uncertain")  # AMD could not tell: greet

    await until(lambda: line.callee.first_words_ms is not None)
    assert line.callee.first_words_ms == 3200 > FIRST_WORDS_LIMIT_MS
    assert any("abandoned call" in r.getMessage() and str(dialed.call.code) in r.getMessage() for r in caplog.records)
    for _ in range(100):
        if (await reload(dialed)).call.first_words_ms == 3200:
            break
        await asyncio.sleep(0.05)
    assert dialed.call.first_words_ms == 3200
    await line.session.aclose()


# --- answering machines ----------------------------------------------------------------------------


@async_test
async def test_a_voicemail_gets_the_campaigns_message_then_a_hang_up_and_the_contact_is_done(dial):
    dialed = await in_thread(dial)(
        voicemail_action="leave_message", voicemail_message="Hi {{first_name}}, please call Acme back."
    )
    line = await start_call(dialed)
    callee = line.join()
    line.answer(callee)
    line.detector.verdict_given.set_result("machine-vm")

    await until(lambda: line.control.hung_up)
    assert assistant_lines(line.session) == ["Hi Ann, please call Acme back."]  # no greeting to a machine
    await line.finish()
    dialed = await reload(dialed)
    assert dialed.call.status == CallStatus.VOICEMAIL
    assert dialed.call.end_reason == "answering machine (machine-vm): message left"
    assert dialed.call.amd_result == "machine-vm"
    assert dialed.attempt.outcome == AttemptOutcome.VOICEMAIL
    assert dialed.contact.status == ContactStatus.COMPLETED  # the message was the point of the call


@async_test
async def test_a_machine_with_hang_up_as_the_action_is_retried_later(dial):
    dialed = await in_thread(dial)(retry_backoff_minutes=60)  # the agent's default: hang up
    line = await start_call(dialed)
    callee = line.join()
    line.answer(callee)
    line.detector.verdict_given.set_result("machine-unavailable")

    await until(lambda: line.control.hung_up)
    assert assistant_lines(line.session) == []
    await line.finish()
    dialed = await reload(dialed)
    assert (dialed.call.status, dialed.call.end_reason) == (
        CallStatus.VOICEMAIL,
        "answering machine (machine-unavailable): hung up",
    )
    assert dialed.attempt.outcome == AttemptOutcome.VOICEMAIL
    assert dialed.contact.status == ContactStatus.RETRY
    assert dialed.contact.next_attempt_at == dialed.attempt.ended_at + datetime.timedelta(minutes=60)


# --- not answered ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "status", "outcome"),
    [
        (rtc.DisconnectReason.USER_REJECTED, CallStatus.BUSY, AttemptOutcome.BUSY),
        (rtc.DisconnectReason.USER_UNAVAILABLE, CallStatus.NO_ANSWER, AttemptOutcome.NO_ANSWER),
        (rtc.DisconnectReason.SIP_TRUNK_FAILURE, CallStatus.FAILED, AttemptOutcome.FAILED),
    ],
)
def test_a_callee_who_never_answers_ends_the_call_and_the_attempt(dial, reason, status, outcome):
    dialed = dial()

    async def scenario() -> Line:
        line = await start_call(dialed)
        line.leave(line.join(), reason)
        await until(lambda: line.control.hung_up)
        await line.finish()  # the room closes: the session's own report agrees with the line
        return line

    line = asyncio.run(asyncio.wait_for(scenario(), timeout=30))
    dialed.reload()
    assert dialed.call.status == status and dialed.call.answered_at is None
    assert dialed.attempt.outcome == outcome
    assert dialed.contact.status == ContactStatus.RETRY
    assert assistant_lines(line.session) == [] and not line.detector.verdict_given.done()


# --- opt-out ---------------------------------------------------------------------------------------


async def answered_by_a_person(dialed: Dialed, llm: ScriptedLLM) -> Line:
    line = await start_call(dialed, llm)
    line.answer(line.join())
    line.detector.verdict_given.set_result("human")
    await until(lambda: len(assistant_lines(line.session)) == 1)  # the greeting
    return line


@async_test
async def test_the_opt_out_tool_puts_the_number_on_the_dnc_list_says_goodbye_and_hangs_up(dial):
    dialed = await in_thread(dial)()
    line = await answered_by_a_person(dialed, ScriptedLLM([tool_call("opt_out")]))

    result = await line.session.run(user_input="Please stop calling me.")

    result.expect.next_event().is_function_call(name="opt_out")
    goodbye = result.expect.next_event().is_message(role="assistant").event().item
    assert goodbye.text_content == OPT_OUT_LINE  # said by the tool itself, in full
    result.expect.next_event().is_function_call_output()
    result.expect.no_more_events()  # the model says nothing more
    await until(lambda: line.control.hung_up)
    entry = await in_thread(DncEntry.objects.for_tenant(dialed.tenant).get)(number=NUMBER)
    assert entry.source == DncSource.IN_CALL_OPT_OUT and entry.call_id == dialed.call.pk
    assert entry.actor == f"call {dialed.call.code}"
    assert "asked during the call" in entry.reason
    await line.finish()
    dialed = await reload(dialed)
    assert dialed.call.status == CallStatus.COMPLETED and dialed.attempt.outcome == AttemptOutcome.ANSWERED


@async_test
async def test_the_opt_out_key_does_the_same_from_the_keypad(dial, settings):
    dialed = await in_thread(dial)()
    line = await answered_by_a_person(dialed, ScriptedLLM())
    forward_dtmf(line.room, line.session)

    line.room.emit("sip_dtmf_received", rtc.SipDTMF(code=1, digit="1"))  # any other key: nothing
    await asyncio.sleep(0.1)
    assert not line.control.hung_up
    line.room.emit("sip_dtmf_received", rtc.SipDTMF(code=9, digit="9"))

    await until(lambda: line.control.hung_up)
    assert assistant_lines(line.session)[-1] == OPT_OUT_LINE
    entry = await in_thread(dnc_entry_deciding)(tenant=dialed.tenant, number=NUMBER)
    assert entry is not None and "pressed 9" in entry.reason
    await line.session.aclose()


# --- livekit-agents' AMD on the session ------------------------------------------------------------


@async_test
async def test_livekit_amd_takes_a_silent_callee_for_uncertain_so_the_agent_speaks():
    session = AgentSession(llm=ScriptedLLM())
    await session.start(
        VoiceAgent(
            outbound_config(),
            CallContext(agent_id="a", call_type="outbound"),
            CallServices(control=DryRunCallControl()),
        )
    )
    detector = LiveKitAmd(session, "callee")
    await detector.start()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await asyncio.wait_for(detector.verdict(), timeout=10) == "uncertain"
        assert loop.time() - started < 4  # our 2 s no-speech limit, not AMD's 10 s default
    finally:
        await detector.aclose()
        await session.aclose()


# --- the voice worker's capacity heartbeat ------------------------------------------------------------


@async_test
async def test_the_voice_worker_reports_its_capacity_and_running_calls_then_withdraws():
    server = SimpleNamespace(active_jobs=["job-1", "job-2"])
    stop, registered = asyncio.Event(), asyncio.Event()
    worker_id = f"test-{uuid.uuid4().hex[:8]}"
    task = asyncio.create_task(
        report_capacity(server, worker_id=worker_id, concurrency=7, stop=stop, ready=registered, interval=0.05)  # type: ignore[arg-type]
    )
    await asyncio.sleep(0.2)
    assert voice_worker_report(worker_id) is None  # not registered with LiveKit yet: it takes no calls
    registered.set()
    await until(lambda: voice_worker_report(worker_id) is not None)
    report = voice_worker_report(worker_id)
    assert report is not None and report["capacity"] == 7 and report["active"] == 2
    server.active_jobs.append("job-3")
    await until(lambda: (voice_worker_report(worker_id) or {}).get("active") == 3)
    assert voice_capacity().total >= 7

    stop.set()  # draining
    await task
    assert voice_worker_report(worker_id) is None


# --- the job's entrypoint ----------------------------------------------------------------------------
# run_call and finish_call unchanged, in livekit's fake job context with the mock room job processes
# use for simulated jobs, the agent's plugins pointed at FakeOpenAI on 127.0.0.1. The mock room
# delivers no events: the test hands the callee's participant events to the handlers the call
# registered on it, as LiveKit's room would.


@pytest.fixture(scope="module")
def provider() -> Any:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def voice_agent(tenant, provider, monkeypatch) -> dict[str, Any]:
    """The agent fields of a voice agent whose LLM and TTS are the local server, with the tenant's keys."""
    provider.reset(default=text("All right."))
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/not-the-tenants-server/v1")
    credential_set(tenant=tenant, provider="openai_compatible", base_url=provider.base_url)
    credential_set(tenant=tenant, provider="openai", secret="sk-test-0123456789abcdef", base_url=provider.base_url)
    return {
        "llm_provider": "openai_compatible",
        "llm_model": "scripted-model",
        "tts_provider": "openai",
        "voice_id": "alloy",
        "stt_provider": "openai",
    }


def place_call_metadata(dialed: Dialed) -> str:
    """The room metadata place_call writes for an attempt."""
    return json.dumps(
        {
            "agent_id": dialed.agent_code,
            "call_id": str(dialed.call.code),
            "call_type": "outbound",
            "campaign_id": str(dialed.campaign.code),
            "attempt_id": dialed.attempt.pk,
            "variables": {"first_name": "Ann"},
            "to": NUMBER,
        }
    )


def callee_handlers(room: Any) -> dict[str, Callable[..., None]]:
    """The room-event handlers the call's CalleeLine registered on the (mock) room."""
    handlers = {}
    for registered in room.on.call_args_list:
        event, handler = registered.args[0], registered.args[1]
        if isinstance(getattr(handler, "__self__", None), CalleeLine):
            handlers[event] = handler
    return handlers


@dataclass
class Job:
    ctx: Any
    room: Any
    ended: asyncio.Event
    reasons: list[str]

    def sip(self, event: str, participant: SimpleNamespace, *args: Any) -> None:
        callee_handlers(self.room)[event](*args, participant)

    async def end(self) -> None:
        """The job's shutdown, as a job process runs it: session closed, then on_session_end."""
        await asyncio.wait_for(self.ctx.primary_session.aclose(), timeout=5)
        await finish_call(self.ctx)


@contextlib.asynccontextmanager
async def outbound_job(dialed: Dialed) -> Any:
    room = create_mock_room()
    room.on.reset_mock()  # the mock room is shared: only this call's handlers
    with fake_job_context(room=room, job_metadata=place_call_metadata(dialed)) as ctx:
        ended, reasons = asyncio.Event(), []

        def shutdown(reason: str = "") -> None:
            reasons.append(reason)
            ended.set()

        ctx.shutdown = shutdown  # the fake context's shutdown does nothing
        ctx.proc.userdata[VAD_KEY] = VAD
        await run_call(ctx)
        yield Job(ctx, room, ended, reasons)


VAD = silero.VAD.load()


def ringing_callee() -> SimpleNamespace:
    return SimpleNamespace(
        identity="callee",
        kind=rtc.ParticipantKind.PARTICIPANT_KIND_SIP,
        attributes={"sip.callStatus": "ringing"},
        disconnect_reason=None,
    )


@async_test
async def test_an_outbound_job_declined_by_the_callee_ends_busy_and_schedules_the_retry(dial, voice_agent):
    dialed = await in_thread(dial)(agent=voice_agent, retry_backoff_minutes=15)

    async with outbound_job(dialed) as job:
        ringing = (await reload(dialed)).call
        callee = ringing_callee()
        job.sip("participant_connected", callee)
        callee.disconnect_reason = rtc.DisconnectReason.USER_REJECTED
        job.sip("participant_disconnected", callee)
        await asyncio.wait_for(job.ended.wait(), timeout=10)  # the line hung up
        await job.end()

    assert ringing.status == CallStatus.RINGING  # the session's start does not answer an outbound call
    assert job.reasons[0] == "the agent ended the call"
    dialed = await reload(dialed)
    assert (dialed.call.status, dialed.call.end_reason) == (
        CallStatus.BUSY,
        "busy (the callee's line refused the call)",
    )
    assert dialed.call.answered_at is None and dialed.call.duration_seconds == 0
    assert not [turn for turn in dialed.call.transcript if turn["role"] == "assistant"]
    assert dialed.attempt.outcome == AttemptOutcome.BUSY
    assert dialed.contact.status == ContactStatus.RETRY
    assert dialed.contact.next_attempt_at == dialed.attempt.ended_at + datetime.timedelta(minutes=15)


@async_test
async def test_an_outbound_job_answered_greets_after_amd_and_the_opt_out_key_ends_it_on_the_dnc_list(
    dial, voice_agent, settings
):
    settings.OPT_OUT_DTMF_KEY = "#"
    dialed = await in_thread(dial)(agent={**voice_agent, "recording_enabled": True}, recording_notice="Recorded call.")

    async with outbound_job(dialed) as job:
        callee = ringing_callee()
        job.sip("participant_connected", callee)
        callee.attributes["sip.callStatus"] = "active"
        job.sip("participant_attributes_changed", callee, ["sip.callStatus"])
        # livekit's AMD hears no audio track from the mock room: after its 5 s wait, "uncertain": greet
        await until(lambda: bool(assistant_lines(job.ctx.primary_session)), timeout=15)
        keypad = [c.args[1] for c in job.room.on.call_args_list if c.args[0] == "sip_dtmf_received"]
        to_agent = [handler for handler in keypad if handler.__qualname__.startswith("forward_dtmf")]
        to_agent[0](rtc.SipDTMF(code=11, digit="#"))  # the keypad press, as the room hands it on
        await asyncio.wait_for(job.ended.wait(), timeout=10)  # goodbye said, the line hung up
        await job.end()

    dialed = await reload(dialed)
    assert dialed.call.amd_result == "uncertain" and dialed.call.first_words_ms is not None
    assert dialed.call.answered_at is not None
    said = [turn["text"] for turn in dialed.call.transcript if turn["role"] == "assistant"]
    assert said == ["Recorded call. Hi Ann, this is Maya from Acme about your appointment.", OPT_OUT_LINE]
    assert "opt-out (pressed #): on the do-not-call list" in [t["text"] for t in dialed.call.transcript]
    entry = await in_thread(dnc_entry_deciding)(tenant=dialed.tenant, number=NUMBER)
    assert entry is not None and entry.call_id == dialed.call.pk
    assert (dialed.call.status, dialed.call.end_reason) == (CallStatus.COMPLETED, "the agent ended the call")
    assert dialed.attempt.outcome == AttemptOutcome.ANSWERED
    assert dialed.contact.status == ContactStatus.COMPLETED
    assert dialed.campaign.status == CampaignStatus.COMPLETED
