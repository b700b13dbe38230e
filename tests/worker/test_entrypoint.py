"""The job entrypoint in this process: metadata -> Call row -> config -> plugins -> session -> call log.

run_call and finish_call run unchanged against a real fake JobContext (livekit's
fake_job_context, with the mock room job processes use for simulated jobs), real PostgreSQL and
Redis, and real provider plugins pointed at FakeOpenAI, an OpenAI-compatible server on
127.0.0.1 with scripted answers. The job's shutdown sequence (session closed, then
on_session_end) is what the helper does after run_call asks the job to end.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from livekit import rtc
from livekit.agents import AgentSession
from livekit.agents.ipc.mock_room import create_mock_room
from livekit.agents.testing import fake_job_context
from livekit.plugins import silero

from agents_app.models import Agent
from agents_app.runtime_config import DEFAULT_APOLOGY, LoadedConfig, default_config
from agents_app.services import agent_create, agent_delete, agent_set_active
from telephony_app.models import Call, CallStatus
from telephony_app.services import call_create
from voiceplatform.actor import SYSTEM
from voiceplatform.devtools.fake_openai import FakeOpenAI, error, text, tool_call
from voiceplatform.models import Tenant
from voiceplatform.services import credential_set
from worker import entrypoint
from worker.agent import ERROR_APOLOGY, TRANSFER_LINE
from worker.entrypoint import STATE_KEY, VAD_KEY, finish_call, run_call, transcript_from, turn_metrics_from

pytestmark = pytest.mark.django_db(transaction=True)  # the ORM runs in sync_to_async's thread

GREETING = "Hello, thanks for calling Acme. How can I help?"
TRANSFER_NUMBER = "+12125550142"
VAD = silero.VAD.load()


@pytest.fixture(scope="module")
def provider() -> Any:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _scripted_provider(provider: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    provider.reset(default=text("All right."))
    # Every plugin reaches the local server through the tenant's credentials (make_voice_agent),
    # never through the worker's environment: an OpenAI client falling back to it fails loudly.
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/not-the-tenants-server/v1")


@pytest.fixture
def make_voice_agent(provider: FakeOpenAI) -> Callable[..., Agent]:
    """An agent whose LLM is the local server (OpenAI-compatible) and whose voice is OpenAI TTS."""

    def make(tenant: Tenant, **fields: Any) -> Agent:
        credential_set(tenant=tenant, provider="openai_compatible", base_url=provider.base_url)
        credential_set(tenant=tenant, provider="openai", secret="sk-test-0123456789abcdef", base_url=provider.base_url)
        defaults = {
            "name": "Maya",
            "system_prompt": "You are Maya, the receptionist of Acme.",
            "greeting_message": GREETING,
            "llm_provider": "openai_compatible",
            "llm_model": "scripted-model",
            "tts_provider": "openai",
            "voice_id": "alloy",
            "stt_provider": "openai",
            "transfer_number": TRANSFER_NUMBER,
        }
        return agent_create(tenant=tenant, actor=SYSTEM, fields={**defaults, **fields})

    return make


def metadata(agent: Any, *, tenant: Tenant | None = None, call: Call | None = None, **extra: Any) -> str:
    document = {"agent_id": str(getattr(agent, "code", agent)), "call_type": "test", **extra}
    if tenant is not None:
        document["tenant_id"] = str(tenant.code)
    if call is not None:
        document["call_id"] = str(call.code)
    return json.dumps(document)


@dataclass
class JobResult:
    shutdown_reasons: list[str]
    session_started: bool
    state: entrypoint.CallState


async def run_job(
    job_metadata: str, *, during: Callable[[AgentSession], Awaitable[None]] | None = None, timeout: float = 15
) -> JobResult:
    """Run one job as a job process would: entrypoint, wait for it to ask for shutdown, then end it."""
    with fake_job_context(room=create_mock_room(), job_metadata=job_metadata) as ctx:
        ended = asyncio.Event()
        reasons: list[str] = []

        def shutdown(reason: str = "user requested") -> None:
            reasons.append(reason)
            ended.set()

        ctx.shutdown = shutdown  # type: ignore[method-assign]  (the fake context's shutdown does nothing)
        ctx.proc.userdata[VAD_KEY] = VAD
        await run_call(ctx)
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
        return JobResult(reasons, session is not None, ctx.proc.userdata[STATE_KEY])


def run(coro: Awaitable[JobResult]) -> JobResult:
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


async def agent_said(session: AgentSession, text: str | None = None) -> None:
    """Until the agent has finished saying `text` (any sentence when None)."""
    for _ in range(500):
        if any(
            getattr(item, "role", None) == "assistant" and (text is None or item.text_content == text)
            for item in session.history.items
        ):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"the agent never said {text!r}")


def says(text: str) -> Callable[[AgentSession], Awaitable[None]]:
    """The caller says `text` once the greeting is over."""

    async def say(session: AgentSession) -> None:
        await agent_said(session)
        session.generate_reply(user_input=text)

    return say


def new_call(tenant: Tenant, agent: Agent | None = None) -> Call:
    return call_create(tenant=tenant, agent=agent, direction="test", room_name=f"room-{uuid.uuid4().hex[:8]}")


def roles(call: Call) -> list[tuple[str, str]]:
    return [(entry["role"], entry["text"]) for entry in call.transcript]


# --------------------------------------------------------------------------------------------
# Calls that run
# --------------------------------------------------------------------------------------------


def test_call_greets_converses_and_writes_the_call_log(tenant, make_voice_agent, provider):
    agent = make_voice_agent(tenant)
    call = new_call(tenant, agent)
    provider.add(tool_call("end_call"), text("Goodbye, have a nice day."))

    result = run(run_job(metadata(agent, tenant=tenant, call=call), during=says("That's all, bye.")))

    call.refresh_from_db()
    assert result.session_started
    assert call.status == CallStatus.COMPLETED
    assert call.end_reason == "the agent ended the call"
    assert call.answered_at is not None and call.ended_at is not None and call.duration_seconds >= 0
    assert call.config_source in ("cache", "database")
    spoken = roles(call)
    assert spoken[0] == ("assistant", GREETING)
    assert ("user", "That's all, bye.") in spoken
    assert ("tool", "end_call({})") in spoken
    assert ("assistant", "Goodbye, have a nice day.") in spoken
    assert spoken[-1][0] == "system" and spoken[-1][1].startswith("hung up")
    kinds = {row["kind"]: row for row in call.usage}
    assert kinds["llm"]["input_tokens"] > 0 and kinds["llm"]["model"] == "scripted-model"
    assert kinds["tts"]["characters"] >= len(GREETING) and kinds["tts"]["audio_seconds"] > 0
    assert call.turn_metrics and all(turn["turn"] == n for n, turn in enumerate(call.turn_metrics, start=1))
    assert any("llm_ttft" in turn for turn in call.turn_metrics)
    assert call.error == ""
    # the greeting reached the TTS endpoint (sentence by sentence) with the agent's voice
    speech = provider.wait_for_speech("Hello, thanks for calling Acme.", timeout=0)
    assert speech is not None and speech.body["voice"] == "alloy"


def test_transfer_to_human_ends_as_transferred(tenant, make_voice_agent, provider):
    agent = make_voice_agent(tenant)
    call = new_call(tenant, agent)
    provider.add(tool_call("transfer_to_human"))
    caller = next(iter(create_mock_room().remote_participants.values()))
    caller.kind = rtc.ParticipantKind.PARTICIPANT_KIND_SIP  # a phone caller, so the line can be transferred
    try:
        run(run_job(metadata(agent, tenant=tenant, call=call), during=says("Can I talk to a person?")))
    finally:
        caller.kind = rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD

    call.refresh_from_db()
    assert call.status == CallStatus.TRANSFERRED
    assert call.end_reason == f"transferred to {TRANSFER_NUMBER}"
    assert ("assistant", TRANSFER_LINE) in roles(call)


def test_provider_error_mid_call_is_recorded_and_the_call_goes_on(tenant, make_voice_agent, provider, caplog):
    agent = make_voice_agent(tenant)
    call = new_call(tenant, agent)
    provider.add(error(400), tool_call("end_call"), text("Bye now."))

    async def two_turns(session: AgentSession) -> None:
        await agent_said(session, GREETING)
        session.generate_reply(user_input="What are your opening hours?")
        await agent_said(session, ERROR_APOLOGY)  # the failed turn is apologised for
        session.generate_reply(user_input="Never mind, bye.")

    run(run_job(metadata(agent, tenant=tenant, call=call), during=two_turns))

    call.refresh_from_db()
    assert call.status == CallStatus.COMPLETED
    # The call log is the tenant's: a fixed description and the status; the provider's body stays in the log.
    assert "llm_error: HTTP 400 (the request was refused)" in call.error
    assert "scripted provider failure" not in call.error + str(call.transcript) + call.end_reason
    assert f"call {call.code}: provider error" in caplog.text
    assert "scripted provider failure" in caplog.text
    spoken = roles(call)
    assert ("assistant", ERROR_APOLOGY) in spoken
    assert ("assistant", "Bye now.") in spoken


def test_default_config_apologises_and_records_its_source(tenant, make_voice_agent, monkeypatch):
    agent = make_voice_agent(tenant)
    call = new_call(tenant, agent)
    fallback = LoadedConfig(default_config(agent_code=agent.code, tenant_code=tenant.code), "default")
    # the loader's own chain (cache -> DB -> stale -> default) is tested in agents_app; here it answers "default"
    monkeypatch.setattr(entrypoint.loader, "get", lambda **_: fallback)

    result = run(run_job(metadata(agent, tenant=tenant, call=call)))

    call.refresh_from_db()
    assert result.session_started
    assert call.config_source == "default"
    assert "fallback_to_default" in call.error
    assert [text for role, text in roles(call) if role == "assistant"] == [DEFAULT_APOLOGY]
    assert call.status == CallStatus.COMPLETED and call.end_reason == "the agent ended the call"


def test_sip_call_without_call_id_gets_a_call_row(tenant, make_voice_agent, provider):
    agent = make_voice_agent(tenant)
    provider.add(tool_call("end_call"), text("Bye."))
    document = metadata(agent, call_type="inbound", caller_number="+14155550100", callee_number="+12125550100")

    result = run(run_job(document, during=says("Bye.")))

    call = Call.objects.for_tenant(tenant).get()
    assert result.state.call.code == call.code
    assert (call.direction, call.from_number, call.to_number) == ("inbound", "+14155550100", "+12125550100")
    assert call.agent == agent and call.agent_name == "Maya"
    assert call.status == CallStatus.COMPLETED and call.transcript[0]["text"] == GREETING


# --------------------------------------------------------------------------------------------
# Calls that are refused: logged with the call id, Call failed with the reason, room left
# --------------------------------------------------------------------------------------------


def assert_refused(result: JobResult, call: Call | None, reason_part: str, caplog: Any) -> None:
    assert not result.session_started
    assert len(result.shutdown_reasons) == 1 and result.shutdown_reasons[0].startswith("call refused")
    logged = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert logged and reason_part in logged[-1]
    if call is not None:
        call.refresh_from_db()
        assert str(call.code) in logged[-1]
        assert call.status == CallStatus.FAILED
        assert reason_part in call.error and reason_part in call.end_reason


def test_agent_of_another_tenant_is_refused(tenant, other_tenant, make_voice_agent, caplog):
    theirs = make_voice_agent(other_tenant)
    call = new_call(tenant)

    result = run(run_job(metadata(theirs, tenant=tenant, call=call)))

    assert_refused(result, call, f"agent {theirs.code} does not exist in tenant {tenant.code}", caplog)
    assert not Call.objects.for_tenant(other_tenant).exists()


def test_job_claiming_the_agents_tenant_cannot_touch_another_tenants_call(
    tenant, other_tenant, make_voice_agent, caplog
):
    theirs = make_voice_agent(other_tenant)
    call = new_call(tenant)

    result = run(run_job(metadata(theirs, tenant=other_tenant, call=call)))

    assert not result.session_started
    assert f"call {call.code} does not exist in tenant {other_tenant.code}" in caplog.text
    call.refresh_from_db()
    assert call.status == CallStatus.QUEUED  # not the job's to fail: it named the wrong tenant


def test_inactive_agent_is_refused(tenant, make_voice_agent, caplog):
    agent = agent_set_active(tenant=tenant, agent=make_voice_agent(tenant), is_active=False)
    call = new_call(tenant, agent)

    result = run(run_job(metadata(agent, tenant=tenant, call=call)))

    assert_refused(result, call, "is inactive", caplog)


def test_deleted_agent_is_refused(tenant, make_voice_agent, caplog):
    agent = make_voice_agent(tenant)
    call = new_call(tenant, agent)
    agent_code = agent.code
    agent_delete(tenant=tenant, agent=agent)

    result = run(run_job(metadata(agent_code, tenant=tenant, call=call)))

    assert_refused(result, call, f"agent {agent_code} does not exist", caplog)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        ({"call_type": "test"}, "the call metadata has no agent_id"),
        ({"agent_id": "not-a-uuid", "call_type": "test"}, "agent_id 'not-a-uuid' is not a UUID"),
        ({"agent_id": str(uuid.uuid4()), "call_type": "video"}, "call_type 'video' is not one of"),
    ],
)
def test_bad_metadata_fails_the_named_call(tenant, document, reason, caplog):
    call = new_call(tenant)
    document = {**document, "tenant_id": str(tenant.code), "call_id": str(call.code)}

    result = run(run_job(json.dumps(document)))

    assert_refused(result, call, reason, caplog)


def test_corrupt_metadata_is_logged_and_nothing_is_written(tenant, caplog):
    call = new_call(tenant)

    result = run(run_job('{"agent_id": "oops", '))

    assert_refused(result, None, "is not valid JSON", caplog)
    call.refresh_from_db()
    assert call.status == CallStatus.QUEUED
    assert Call.objects.for_tenant(tenant).count() == 1


def test_agent_without_provider_key_is_refused_with_the_readiness_problems(tenant, make_voice_agent, caplog):
    agent = make_voice_agent(tenant, stt_provider="deepgram")  # no Deepgram key anywhere
    call = new_call(tenant, agent)

    result = run(run_job(metadata(agent, tenant=tenant, call=call)))

    assert_refused(result, call, "agent not ready: No Deepgram key", caplog)


def test_call_that_already_ended_is_not_restarted(tenant, make_voice_agent, caplog):
    agent = make_voice_agent(tenant)
    call = new_call(tenant, agent)
    Call.objects.for_tenant(tenant).filter(pk=call.pk).update(status=CallStatus.COMPLETED)

    result = run(run_job(metadata(agent, tenant=tenant, call=call)))

    assert not result.session_started
    assert "already ended" in caplog.text
    call.refresh_from_db()
    assert call.status == CallStatus.COMPLETED and call.error == ""


# --------------------------------------------------------------------------------------------
# The report -> call log mapping
# --------------------------------------------------------------------------------------------


def test_turn_metrics_pair_each_answer_with_the_callers_turn():
    from livekit.agents.llm import ChatMessage

    items = [
        ChatMessage(role="assistant", content=["Hi"], metrics={"tts_node_ttfb": 0.2}, created_at=100.0),
        ChatMessage(
            role="user",
            content=["Hello"],
            metrics={"end_of_turn_delay": 0.5, "transcription_delay": 0.1},
            created_at=101.0,
        ),
        ChatMessage(
            role="assistant",
            content=["Sure"],
            metrics={"llm_node_ttft": 0.3, "tts_node_ttfb": 0.15, "e2e_latency": 0.9},
            created_at=103.0,
        ),
    ]

    assert turn_metrics_from(items) == [
        {"turn": 1, "tts_ttfb": 0.2},
        {
            "turn": 2,
            "end_of_turn_delay": 0.5,
            "transcription_delay": 0.1,
            "llm_ttft": 0.3,
            "tts_ttfb": 0.15,
            "e2e_latency": 0.9,
        },
    ]
    transcript = transcript_from(items, [(102.0, "transferred to +12125550142 (caller asked for a human)")])
    assert [entry["role"] for entry in transcript] == ["assistant", "user", "system", "assistant"]


# --------------------------------------------------------------------------------------------
# The greeting is synthesized while the session starts
# --------------------------------------------------------------------------------------------


def _greeting_requests(provider: FakeOpenAI) -> list[Any]:
    return [r for r in provider.requests_to("/audio/speech") if "thanks for calling Acme" in r.speech_text]


def test_greeting_goes_to_the_tts_before_the_session_has_started(tenant, make_voice_agent, provider, caplog):
    agent = make_voice_agent(tenant)
    call = new_call(tenant, agent)
    provider.add(tool_call("end_call"), text("Bye."))
    caplog.set_level("INFO", logger="worker.entrypoint")

    run(run_job(metadata(agent, tenant=tenant, call=call), during=says("Bye.")))

    messages = [record.getMessage() for record in caplog.records if record.name == "worker.entrypoint"]
    handed = next(i for i, text in enumerate(messages) if "first words handed to the TTS" in text)
    started = next(i for i, text in enumerate(messages) if "session started in" in text)
    assert handed < started
    # synthesized once, as one request with the whole greeting, and spoken as the first line
    assert [r.speech_text for r in _greeting_requests(provider)] == [GREETING]
    call.refresh_from_db()
    assert roles(call)[0] == ("assistant", GREETING)


def test_the_plugins_open_their_connections_only_once_the_session_has_started(
    tenant, make_voice_agent, provider, caplog
):
    agent = make_voice_agent(tenant)
    call = new_call(tenant, agent)
    provider.add(tool_call("end_call"), text("Bye."))
    caplog.set_level("INFO", logger="worker.entrypoint")

    run(run_job(metadata(agent, tenant=tenant, call=call), during=says("Bye.")))

    started = next(r for r in caplog.records if getattr(r, "start_ms", None) is not None)
    session_started_at = started.job_started_at + started.start_ms / 1000
    # the LLM's prewarm (GET /models) waits for the session to have started, then still runs
    [llm_prewarm] = provider.requests_to("/models")
    assert llm_prewarm.at >= session_started_at
    # the TTS needs none: the greeting's own synthesis request opened its connection
    assert [r.path for r in provider.requests_to("/")] == []
    assert roles(call.__class__.objects.get(pk=call.pk))[0] == ("assistant", GREETING)


def test_greeting_is_still_spoken_when_its_early_synthesis_fails(tenant, make_voice_agent, provider):
    agent = make_voice_agent(tenant)
    call = new_call(tenant, agent)
    provider.fail_speech(1)  # the early request fails; the agent's ordinary TTS path says it instead
    provider.add(tool_call("end_call"), text("Bye."))

    run(run_job(metadata(agent, tenant=tenant, call=call), during=says("Bye.")))

    call.refresh_from_db()
    assert roles(call)[0] == ("assistant", GREETING)
    assert len(_greeting_requests(provider)) >= 2  # the failed early one, then the ordinary one(s)
    assert call.status == CallStatus.COMPLETED and call.error == ""
