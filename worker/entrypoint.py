"""One call in a job process: from the dispatch metadata to the Call row with its transcript.

run_call (the job's entrypoint): parse the call context -> find the tenant and the Call (or create
one for SIP dispatch-rule calls) -> load the agent's config through the loader -> refuse cleanly
when the agent is unknown, inactive or not the call's tenant's -> readiness and credentials ->
plugins -> AgentSession -> VoiceAgent. finish_call (on_session_end) writes the session report to
the Call (the mapping is worker.call_report). The ORM is sync: every database step runs through
sync_to_async, in a few hops, and the connection is closed while the call runs so an idle call
does not hold a PostgreSQL connection.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from livekit.agents import AgentSession, JobContext
from livekit.agents.voice.events import CloseEvent, ErrorEvent

from agents_app.models import Agent
from agents_app.readiness import Credentials, readiness, resolve_credentials
from agents_app.runtime_config import LoadedConfig, RuntimeConfig, loader
from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.selectors import call_for_job
from telephony_app.services import call_create, call_fail, call_transition
from voiceplatform.models import PROVIDER_ENV, Tenant
from voiceplatform.selectors import ResolvedCredential
from worker import call_report, factories, outbound, provider_errors, sip_route
from worker import metrics as worker_metrics
from worker.agent import CallServices, VoiceAgent, forward_dtmf
from worker.call_report import transcript_from, turn_metrics_from, usage_from
from worker.call_state import CallLine, CallPlan, CallState, Refusal
from worker.context import CallContext, InvalidCallContext, parse_call_context
from worker.instructions import opening_line
from worker.prewarm import HeldPrewarms, PrefetchedSpeech

logger = logging.getLogger(__name__)

STATE_KEY = "call_state"
VAD_KEY = "vad"
# The voice the default (fallback) config speaks its apology with, from the platform's own key.
FALLBACK_VOICE = {"tts_provider": "openai", "tts_model": "tts-1", "voice_id": "alloy"}


# --------------------------------------------------------------------------------------------
# The job's entrypoint
# --------------------------------------------------------------------------------------------


async def run_call(ctx: JobContext, *, rehearsal: CallPlan | None = None) -> None:
    """Start the call this job was dispatched for, or refuse it (logged, Call failed, room left).

    rehearsal: a rehearsed call (worker.rehearsal) runs this same start with the plan it is given
    in place of the database part, and writes nothing: no Call marked answered, and a failure is
    raised to the rehearsal rather than recorded as a refused call. The CallState (with its
    session) is in the job process's userdata either way."""
    state = CallState(job_id=ctx.job.id, room_name=ctx.job.room.name)
    ctx.proc.userdata[STATE_KEY] = state
    try:
        state.context = parse_call_context(ctx.job.metadata, ctx.job.room.metadata)
        # A caller on a phone line would otherwise sit in silence until LiveKit times the room out.
        state.hangs_up_on_refusal = state.context.call_type in ("inbound", "outbound")
        if state.context.is_sip_route:
            await _route_sip_call(ctx, state)
        plan = rehearsal or await sync_to_async(_prepare_call)(state)
        state.mark("prepared")
        session, agent = _build_session(ctx, state, plan)
        state.session = session
        state.mark("built")
        await start_session(session, agent, ctx.room, state)
    except Exception as exc:
        if rehearsal is not None:
            raise  # the rehearsal logs its own failure: no call was refused
        await _refuse(ctx, state, _refusal_for(state, exc), identify=isinstance(exc, InvalidCallContext))
        return
    elapsed_ms = state.mark("session started")
    if rehearsal is not None:
        return
    worker_metrics.call_taken(result="started", config_source=state.config_source)
    worker_metrics.call_start_observed(stage="session_started", milliseconds=elapsed_ms)
    logger.info(
        "call %s: session started in %.1f ms (agent %s, config from %s; %s)",
        state.call_label,
        elapsed_ms,
        state.context.agent_id,
        state.config_source,
        ", ".join(f"{name} at {ms:.1f} ms" for name, ms in state.stages.items()),
        extra={
            "call_id": state.call_label,
            "job_started_at": state.started_at,
            "start_ms": elapsed_ms,
            "stages": dict(state.stages),
        },
    )
    if state.context.call_type == "outbound":  # answered by its callee, later (worker.outbound.CalleeLine)
        await sync_to_async(_close_connection)()
    else:
        await sync_to_async(_mark_answered)(state)


def _refusal_for(state: CallState, exc: Exception) -> Refusal:
    """Why the call start failed, as the Refusal that is logged and stored on the Call."""
    if isinstance(exc, InvalidCallContext):
        return Refusal(f"invalid call metadata: {exc.reason}")
    if isinstance(exc, Refusal):
        return exc
    # a plugin or the session failing to start: this call only, the worker goes on
    logger.error("call %s: could not start the session", state.call_label, exc_info=exc)
    return Refusal(f"the session could not start: {exc}", call=state.call)


async def _route_sip_call(ctx: JobContext, state: CallState) -> None:
    """A call from a SIP dispatch rule ({"route": "sip"}): wait for the caller, then let the number it
    dialed find the tenant, the agent and the Call (worker.sip_route); the context then names them."""
    state.hangs_up_on_refusal = True
    try:
        caller = await sip_route.wait_for_sip_caller(ctx, timeout=sip_route.SIP_CALLER_TIMEOUT)
        routed = await sync_to_async(_sip_route_in_thread)(state, caller)
    except sip_route.SipRouteRefused as refused:
        raise Refusal(f"SIP call in room {state.room_name}: {refused.reason}", call=refused.call) from None
    except DatabaseError:
        logger.exception("SIP call in room %s: database unreachable while routing", state.room_name)
        raise Refusal("the database is unreachable: the dialed number cannot be routed") from None
    state.context, state.call = routed.context, routed.call


def _sip_route_in_thread(state: CallState, caller: sip_route.SipCaller) -> sip_route.SipRoute:
    _check_connection()
    return sip_route.sip_call_route(caller=caller, room_name=state.room_name, job_id=state.job_id)


async def _hang_up_room(ctx: JobContext, label: str) -> None:
    """Delete the room, which disconnects the SIP caller: a refused caller hears the line drop, not silence."""
    try:
        await ctx.delete_room()
    except Exception:  # the refusal is already recorded; LiveKit's empty-room timeout is the backstop
        logger.exception("call %s: could not delete the room to hang up", label)


def _prepare_call(state: CallState) -> CallPlan:
    """The database part of the start, in one thread hop: tenant, Call, config, credentials."""
    _check_connection()
    call_ctx = state.context
    assert call_ctx is not None
    try:
        state.call = _named_call(call_ctx)
        state.tenant = state.call.tenant if state.call is not None else _call_tenant(call_ctx)
        state.call = _open_call(state, call_ctx, state.tenant)
    except DatabaseError:
        # The loader can still serve a cached or default config; the Call is written at the end if
        # the database is back by then.
        logger.exception("call %s: database unreachable at call start", call_ctx.call_id or "-")
        if call_ctx.tenant_id is None:
            raise Refusal("the database is unreachable and the metadata names no tenant") from None
    tenant_code = str(state.tenant.code) if state.tenant is not None else str(call_ctx.tenant_id)
    loaded = loader.get(tenant_code=tenant_code, agent_code=call_ctx.agent_id)
    config = _usable_config(state, loaded, tenant_code)
    if call_ctx.call_type == "outbound" and state.call is not None and not state.is_default_config:
        try:
            plan = outbound.outbound_plan(call=state.call, config=config, context=call_ctx)
            state.context = replace(call_ctx, outbound=plan)
        except DatabaseError:
            logger.exception("call %s: campaign unreadable: default recording notice, no voicemail", state.call_label)
    credentials = _credentials(state, config)
    if not state.is_default_config:
        verdict = readiness(tenant=state.tenant, config=config, credentials=credentials)
        if not verdict.ready:
            raise Refusal(f"agent not ready: {' '.join(verdict.problems)}", call=state.call)
    return CallPlan(config=config, credentials=credentials)


def _check_connection() -> None:
    """Keep the connection the idle process opened (server.setup_process), whatever its age, if it still works."""
    if connection.connection is not None and not connection.is_usable():
        connection.close()


def _call_tenant(call_ctx: CallContext) -> Tenant:
    if call_ctx.tenant_id is not None:
        tenant = Tenant.objects.filter(code=call_ctx.tenant_id).first()
        if tenant is None:
            raise Refusal(f"unknown tenant {call_ctx.tenant_id}")
        return tenant
    # A SIP dispatch rule's metadata names only the agent. Looking the agent up across tenants is
    # safe: its code is a random UUID the platform itself wrote into the rule, it is only used to
    # learn whose call this is, and everything after (Call, config, keys) is scoped to that tenant.
    agents = Agent.objects.across_tenants(reason="a SIP dispatch rule names only the agent, by a code we wrote")
    agent = agents.select_related("tenant").filter(code=call_ctx.agent_id).first()
    if agent is None:
        raise Refusal(f"agent {call_ctx.agent_id} does not exist")
    return agent.tenant


def _named_call(call_ctx: CallContext) -> Call | None:
    """The Call the metadata names, with its tenant and agent, in one query (the usual case: the
    platform created the room); None when the metadata names no call, or no call of that tenant."""
    if call_ctx.call_id is None or call_ctx.tenant_id is None:
        return None
    return call_for_job(tenant_code=call_ctx.tenant_id, call_code=call_ctx.call_id)


def _open_call(state: CallState, call_ctx: CallContext, tenant: Tenant) -> Call:
    """The Call this job serves: the one named in the metadata, else a new one (SIP dispatch rules)."""
    if call_ctx.call_id is not None:
        call = state.call
        if call is None:
            call = Call.objects.for_tenant(tenant).select_related("agent").filter(code=call_ctx.call_id).first()
        if call is None:
            raise Refusal(f"call {call_ctx.call_id} does not exist in tenant {tenant.code}")
        if call.is_terminal and call_ctx.scripted is None:
            # (A scripted call, over the agent's limit, is recorded as ended before the agent speaks.)
            raise Refusal(f"call {call.code} already ended ({call.status})")
        if call.agent is not None and str(call.agent.code) != call_ctx.agent_id:
            raise Refusal(
                f"call {call.code} is for agent {call.agent.code}, the job names {call_ctx.agent_id}", call=call
            )
        return call
    agent = Agent.objects.for_tenant(tenant).filter(code=call_ctx.agent_id).first()
    context: dict[str, Any] = {"created_by": "voice worker", "job_id": state.job_id}
    if call_ctx.variables:
        context["variables"] = call_ctx.variables
    return call_create(
        tenant=tenant,
        agent=agent,
        direction=CallDirection(call_ctx.call_type),
        from_number=call_ctx.caller_number[:32],
        to_number=call_ctx.callee_number[:32],
        room_name=state.room_name[:128],
        context=context,
    )


def _usable_config(state: CallState, loaded: LoadedConfig, tenant_code: str) -> RuntimeConfig:
    """The loaded config, or a Refusal naming why this agent cannot take the call."""
    call_ctx = state.context
    assert call_ctx is not None
    state.config_source = loaded.source
    config = loaded.config
    if config is None:
        # The loader is keyed by the call's tenant: another tenant's agent looks exactly like a
        # deleted one here, and the reason says no more than that.
        raise Refusal(f"agent {call_ctx.agent_id} does not exist in tenant {tenant_code}", call=state.call)
    if config.tenant_id != tenant_code:
        raise Refusal(f"agent {call_ctx.agent_id} belongs to another tenant", call=state.call)
    if not config.is_active:
        raise Refusal(f"agent {call_ctx.agent_id} is inactive", call=state.call)
    state.is_default_config = config.is_default
    if state.is_default_config:
        logger.warning("call %s: agent %s config unavailable, using the default", state.call_label, call_ctx.agent_id)
        state.errors.append("the agent's config could not be loaded: the default config answered (fallback_to_default)")
        config = replace(config, **{name: value for name, value in FALLBACK_VOICE.items() if not getattr(config, name)})
    return config


def _credentials(state: CallState, config: RuntimeConfig) -> Credentials:
    """The tenant's provider keys (else the environment's); with the database down, only the default
    config can go on, speaking its apology with the platform's own key."""
    if state.tenant is not None:
        try:
            return resolve_credentials(tenant=state.tenant, config=config)
        except DatabaseError:
            logger.exception("call %s: provider keys unreadable", state.call_label)
    if not state.is_default_config:
        raise Refusal("the database is unreachable: the tenant's provider keys cannot be read", call=state.call)
    names = PROVIDER_ENV.get(config.tts_provider, {})
    secret = os.environ.get(names.get("secret", "-"), "")
    tts = ResolvedCredential(
        provider=config.tts_provider,
        secret=secret,
        base_url=os.environ.get(names.get("base_url", "-"), ""),
        account_id="",
        source="environment",
    )
    return Credentials(llm=None, tts=tts if secret else None, stt=None)


def _build_session(ctx: JobContext, state: CallState, plan: CallPlan) -> tuple[AgentSession, VoiceAgent]:
    """Plugins with the tenant's keys, the process's VAD, explicit turn detection; the VoiceAgent."""
    call_ctx, config, credentials = state.context, plan.config, plan.credentials
    assert call_ctx is not None
    vad = ctx.proc.userdata.get(VAD_KEY) or _load_vad(ctx)
    try:
        tts = factories.build_tts(config=config, credentials=credentials)
        if state.is_default_config:
            llm = stt = None  # the default config only apologises and hands over: no conversation
        else:
            llm = factories.build_llm(config=config, credentials=credentials)
            stt = factories.build_stt(config=config, credentials=credentials)
    except factories.ProviderNotReady as exc:
        raise Refusal(f"agent not ready: {' '.join(exc.problems)}", call=state.call) from None
    # The greeting goes to the TTS now, so its synthesis overlaps the session's start (worker.prewarm).
    greeting = opening_line(config, call_ctx, datetime.now(UTC))
    if greeting and tts is not None:
        state.opening = PrefetchedSpeech(greeting, tts, on_started=lambda: _log_first_speech(state))
    # Before the AgentSession exists: its constructor already asks the LLM to prewarm.
    state.prewarms = HeldPrewarms(llm=llm, tts=tts, stt=stt, tts_is_warm=state.opening is not None)
    session: AgentSession = AgentSession(
        llm=llm,
        tts=tts,
        stt=stt,
        vad=vad,
        # Explicit, so nothing falls back to LiveKit's cloud turn detector: Deepgram Flux ends turns
        # itself, every other STT ends them on VAD silence; interruptions are VAD-based too.
        turn_handling={"turn_detection": _turn_detection(config), "interruption": {"mode": "vad"}},
    )
    state.line = CallLine(ctx, call_id=state.call_label)
    callee = None
    if call_ctx.call_type == "outbound":
        ring_timeout = float(settings.DIALER_RING_TIMEOUT_SECONDS)
        callee = outbound.CalleeLine(ctx=ctx, state=state, session=session, ring_timeout=ring_timeout)
    services = CallServices(
        control=state.line,
        load_agent_config=_config_loader_for(state),
        agent_models=_models_builder_for(state),
        on_first_speech=lambda: _log_first_speech(state),
        opening_line=state.opening,
        outbound=callee,
        opt_out_key=settings.OPT_OUT_DTMF_KEY,
    )
    agent = VoiceAgent(config, call_ctx, services)

    def on_error(event: ErrorEvent) -> None:
        error = event.error
        if getattr(error, "recoverable", False):
            return
        if getattr(error, "type", "") == "tts_error" and state.opening is not None and state.opening.pending:
            return  # the early greeting synthesis failed: the agent says it the ordinary way instead
        kind, inner = getattr(error, "type", "error"), getattr(error, "error", error)
        logger.warning(
            "call %s: provider error: %s: %s", state.call_label, kind, inner, extra={"call_id": state.call_label}
        )
        state.errors.append(f"{kind}: {provider_errors.describe(inner)}")  # the call log is the tenant's: no body

    def on_close(event: CloseEvent) -> None:
        state.close_reason = event.reason
        state.close_error = provider_errors.describe(event.error.error) if event.error is not None else ""
        ctx.shutdown(reason=f"session closed: {event.reason.value}")  # the call is over: end the job

    session.on("error", on_error)
    session.on("close", on_close)
    forward_dtmf(ctx.room, session)
    return session, agent


async def start_session(session: AgentSession, agent: VoiceAgent, room: Any, state: CallState) -> None:
    """Start the session in the call's room, then let the plugins open their connections."""
    # session_host=False: browsers share test-call rooms, and they must not drive the session
    await session.start(agent=agent, room=room, session_host=False)
    if state.prewarms is not None:
        state.prewarms.release()


def _log_first_speech(state: CallState) -> None:
    """The caller's first words are on their way to the TTS: the end of the platform's call start."""
    if state.first_speech_ms is not None:
        return
    state.first_speech_ms = elapsed_ms = state.mark("greeting handed to the TTS")
    if state.call is not None:  # a real call (a rehearsal has no Call row)
        worker_metrics.call_start_observed(stage="first_speech", milliseconds=elapsed_ms)
    logger.info(
        "call %s: first words handed to the TTS %.1f ms after the job started",
        state.call_label,
        elapsed_ms,
        extra={"call_id": state.call_label, "job_started_at": state.started_at, "first_speech_ms": elapsed_ms},
    )


def _turn_detection(config: RuntimeConfig) -> str:
    is_flux = config.stt_provider == "deepgram" and config.stt_model.startswith("flux-")
    return "stt" if is_flux else "vad"


def _load_vad(ctx: JobContext) -> Any:
    from livekit.plugins import silero

    vad = ctx.proc.userdata[VAD_KEY] = silero.VAD.load()
    return vad


def _config_loader_for(state: CallState) -> Any:
    """The IVR's agent loader: other agents of this call's tenant only, through the same loader."""

    async def load(agent_id: str) -> RuntimeConfig | None:
        if state.tenant is None:
            return None
        try:
            agent_code = str(uuid.UUID(agent_id))
        except ValueError:
            return None
        loaded = await sync_to_async(loader.get)(tenant_code=str(state.tenant.code), agent_code=agent_code)
        return loaded.config if loaded.source != "default" else None

    return load


def _models_builder_for(state: CallState) -> Any:
    """The LLM, TTS and STT of an agent the call is handed to, with this tenant's keys."""

    async def build(config: RuntimeConfig) -> dict[str, Any]:
        assert state.tenant is not None
        credentials = await sync_to_async(_resolve_and_close)(state.tenant, config)
        return {
            "llm": factories.build_llm(config=config, credentials=credentials),
            "tts": factories.build_tts(config=config, credentials=credentials),
            "stt": factories.build_stt(config=config, credentials=credentials),
        }

    return build


def _resolve_and_close(tenant: Tenant, config: RuntimeConfig) -> Credentials:
    try:
        return resolve_credentials(tenant=tenant, config=config)
    finally:
        connection.close()


def _close_connection() -> None:
    """Give the ORM thread's connection back while the call runs (no idle call holds one)."""
    connection.close()


def _mark_answered(state: CallState) -> None:
    """The agent is on the line: the call is in progress. Then give the connection back until the end."""
    try:
        if state.call is not None and state.tenant is not None:
            state.call = call_transition(tenant=state.tenant, call=state.call, status=CallStatus.IN_PROGRESS)
    except DatabaseError:
        logger.exception("call %s: could not mark the call in progress", state.call_label)
    finally:
        connection.close()


async def _refuse(ctx: JobContext, state: CallState, refusal: Refusal, *, identify: bool = False) -> None:
    """Log the reason with the call id, fail the Call when there is one, and leave the room."""
    state.is_finished = True
    if state.opening is not None:
        await state.opening.aclose()
    call = refusal.call or state.call
    tenant_code = _metadata_field(ctx, "tenant_id") if identify else None
    call_code = _metadata_field(ctx, "call_id") if identify else None
    label = str(call.code) if call is not None else call_code or state.call_label
    logger.warning("call %s refused: %s", label, refusal.reason, extra={"call_id": label})
    worker_metrics.call_taken(result="refused", config_source=state.config_source)
    await sync_to_async(_fail_call)(call, tenant_code, call_code, refusal.reason)
    if state.hangs_up_on_refusal:
        await _hang_up_room(ctx, label)
    ctx.shutdown(reason=f"call refused: {refusal.reason}")


def _metadata_field(ctx: JobContext, key: str) -> str | None:
    """A UUID field of metadata that parse_call_context rejected, if it is still readable."""
    for raw in (ctx.job.metadata, ctx.job.room.metadata):
        try:
            document = json.loads(raw or "")
            return str(uuid.UUID(str(document[key])))
        except (ValueError, TypeError, KeyError):
            continue
    return None


def _fail_call(call: Call | None, tenant_code: str | None, call_code: str | None, reason: str) -> None:
    close_old_connections()
    try:
        if call is None and tenant_code and call_code:
            tenant = Tenant.objects.filter(code=tenant_code).first()
            if tenant is not None:
                call = Call.objects.for_tenant(tenant).filter(code=call_code).first()
        if call is not None and not call.is_terminal:
            call_fail(tenant=call.tenant, call=call, reason=reason[:2000])
    except DatabaseError:
        logger.exception("call %s: could not record the refusal", call_code or "-")
    finally:
        connection.close()


# --------------------------------------------------------------------------------------------
# on_session_end: the session report -> the Call row
# --------------------------------------------------------------------------------------------


async def finish_call(ctx: JobContext) -> None:
    """Write the call log from the session report: transcript, turn metrics, usage, outcome."""
    state: CallState | None = ctx.proc.userdata.get(STATE_KEY)
    if state is None or state.is_finished:
        return  # refused before a session started: already recorded
    state.is_finished = True
    if state.opening is not None:
        await state.opening.aclose()  # a caller who hung up during the greeting
    try:
        report = ctx.make_session_report()
    except RuntimeError:  # no session was started for this job
        logger.warning("call %s: no session report", state.call_label)
        return
    status, end_reason = call_report.call_outcome(state)
    closed_by_error = bool(state.close_error) and state.close_error not in " ".join(state.errors)
    worker_metrics.call_errors_counted(len(state.errors) + closed_by_error)  # as the call log lists them
    notes = state.line.events if state.line is not None else []
    await sync_to_async(call_report.write_call_log)(
        state,
        status=status,
        end_reason=end_reason,
        transcript=transcript_from(report.chat_history.items, notes),
        turn_metrics=turn_metrics_from(report.chat_history.items),
        usage=usage_from(report.model_usage or []),
    )
