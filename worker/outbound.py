"""An outbound call in its job process: the callee's side of the line.

place_call (campaigns_app.dialer.place) created the Call and the room with this agent dispatched,
then dialed the callee through the caller ID's outbound trunk: the callee's SIP participant joins
the room while it rings and becomes active (sip.callStatus "active") when answered. CalleeLine
watches that: the callee never joining, or leaving before answering, ends the Call as no answer /
busy / failed (the call-end hook then writes the campaign attempt's outcome); the answer marks the
Call in progress and livekit-agents' AMD decides whether a person or a machine picked up. The
VoiceAgent (worker.agent) greets a person, or carries out the voicemail action on a machine, and
records an opt-out (tool or keypad) through CalleeLine.opt_out. The time from the answer to the
agent's first words is written to the Call (the 2-second abandonment rule, COMPLIANCE.md).

The ORM is sync: every write runs through sync_to_async and gives its connection back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from django.core.exceptions import ValidationError
from django.db import DatabaseError, close_old_connections, connection
from livekit import rtc
from livekit.agents import AgentSession, JobContext
from livekit.agents.voice.amd import AMD
from livekit.agents.voice.events import AgentStateChangedEvent

from agents_app import placeholders
from agents_app.models import VoicemailAction
from agents_app.runtime_config import RuntimeConfig
from campaigns_app.dialer.outcome import MESSAGE_LEFT, voicemail_leaves_message
from campaigns_app.models import CallAttempt, CampaignVoicemailAction, DncSource
from campaigns_app.services import dnc_add
from telephony_app.models import Call, CallStatus
from telephony_app.services import ENDED_BY_WORKER, call_record_outbound_facts, call_transition
from voiceplatform.actor import Actor
from worker.agent import Answer
from worker.call_state import CallState
from worker.context import CallContext, OutboundPlan
from worker.instructions import placeholder_values
from worker.metrics import call_start_observed

logger = logging.getLogger(__name__)

SIP_CALL_STATUS = "sip.callStatus"
SIP_ANSWERED = "active"
# Beyond the ring timeout, how long the callee's SIP participant may take to show up at all (it
# joins when place_call dials, so only a lost dial gets here).
JOIN_GRACE_SECONDS = 30.0
# A callee who says nothing this long after answering is taken for a person (AMD: "uncertain"), so
# the agent speaks within the 2-second rule rather than waiting out AMD's 10 s default.
AMD_NO_SPEECH_SECONDS = 2.0
AMD_VERDICT_TIMEOUT = 45.0  # a backstop only: AMD settles on its own timers
FIRST_WORDS_LIMIT_MS = 2000  # the abandonment rule: the agent speaks within 2 s of the answer

# How the callee's line closed before an answer (rtc.DisconnectReason) -> the Call's end.
UNANSWERED: dict[int, tuple[CallStatus, str]] = {
    rtc.DisconnectReason.USER_UNAVAILABLE: (CallStatus.NO_ANSWER, "no answer"),
    rtc.DisconnectReason.USER_REJECTED: (CallStatus.BUSY, "busy (the callee's line refused the call)"),
    rtc.DisconnectReason.SIP_TRUNK_FAILURE: (CallStatus.FAILED, "the SIP trunk could not place the call"),
}


def unanswered_end(reason: int | None) -> tuple[CallStatus, str]:
    """The Call's status and end reason for a callee who left before answering, from LiveKit's reason."""
    if reason is not None and reason in UNANSWERED:
        return UNANSWERED[reason]
    name = rtc.DisconnectReason.Name(reason) if reason is not None else "no reason given"
    return CallStatus.FAILED, f"the callee's line closed before answering ({name.lower().replace('_', ' ')})"


# --------------------------------------------------------------------------------------------
# What the call does besides the conversation, from its campaign (database, sync)
# --------------------------------------------------------------------------------------------


def outbound_plan(*, call: Call, config: RuntimeConfig, context: CallContext) -> OutboundPlan:
    """The recording notice and voicemail action of this outbound call: its campaign's (the campaign's
    voicemail action overrides the agent's), else the agent's for a call no campaign placed."""
    values = placeholder_values(config, context, datetime.now(UTC))
    attempt = (
        CallAttempt.objects.for_tenant(call.tenant)
        .select_related("campaign", "campaign__agent")
        .filter(call=call)
        .order_by("-attempt_no")
        .first()
    )
    agent_message = config.outbound.voicemail_message
    if attempt is None:
        leaves = config.outbound.voicemail_action == VoicemailAction.LEAVE_MESSAGE
        message, notice = agent_message, ""
    else:
        campaign = attempt.campaign
        leaves = voicemail_leaves_message(campaign)
        own = campaign.voicemail_action == CampaignVoicemailAction.LEAVE_MESSAGE and campaign.voicemail_message.strip()
        message, notice = (campaign.voicemail_message if own else agent_message), campaign.recording_notice
    return OutboundPlan(
        recording_notice=placeholders.render(notice, values).strip(),
        leaves_voicemail=leaves,
        voicemail_message=placeholders.render(message, values).strip(),
    )


# --------------------------------------------------------------------------------------------
# Answering-machine detection
# --------------------------------------------------------------------------------------------


class MachineDetector(Protocol):
    """Decides who answered: "human", "machine-vm", "machine-unavailable", "machine-ivr" or "uncertain"."""

    async def start(self) -> None: ...

    async def verdict(self) -> str: ...

    async def aclose(self) -> None: ...


class LiveKitAmd:
    """livekit-agents' AMD on the call's session, listening to the callee only, with the session's own
    LLM and STT (never LiveKit's cloud models); it holds the agent's speech until its verdict."""

    def __init__(self, session: AgentSession, identity: str) -> None:
        self._amd = AMD(
            session,
            llm=None,
            stt=None,
            participant_identity=identity,
            ivr_detection=False,
            interrupt_on_machine=True,
            suppress_compatibility_warning=True,
            detection_options={"no_speech_threshold": AMD_NO_SPEECH_SECONDS},
        )

    async def start(self) -> None:
        await self._amd.__aenter__()

    async def verdict(self) -> str:
        result = await self._amd.execute()
        return str(result.category.value)

    async def aclose(self) -> None:
        await self._amd.aclose()


DetectorFactory = Callable[[AgentSession, str], MachineDetector]


# --------------------------------------------------------------------------------------------
# The callee's side of the line
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallActor(Actor):
    """The call itself as the actor of what happens in it (a DNC entry from an in-call opt-out)."""

    call_code: str = ""

    @property
    def label(self) -> str:
        return f"call {self.call_code}"


class CalleeLine:
    """Watches the callee's SIP participant from the session's build on: joined, answered, gone."""

    def __init__(
        self,
        *,
        ctx: JobContext,
        state: CallState,
        session: AgentSession,
        ring_timeout: float,
        detector: DetectorFactory = LiveKitAmd,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ctx, self._state, self._session = ctx, state, session
        self._room: rtc.Room = ctx.room
        self._ring_timeout = ring_timeout
        self._detector = detector
        self._clock = clock
        self._callee: Any = None  # the callee's rtc.RemoteParticipant
        self._joined = asyncio.Event()
        self._answered = asyncio.Event()
        self._gone = asyncio.Event()
        self.answered_at: float | None = None
        self.first_words_ms: int | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._room.on("participant_connected", self._on_connected)
        self._room.on("participant_attributes_changed", self._on_attributes)
        self._room.on("participant_disconnected", self._on_disconnected)
        session.on("agent_state_changed", self._on_agent_state)
        for participant in list(self._room.remote_participants.values()):
            self._on_connected(participant)

    # --- room events ---------------------------------------------------------------------------

    def _on_connected(self, participant: Any) -> None:
        if self._callee is not None or participant.kind != rtc.ParticipantKind.PARTICIPANT_KIND_SIP:
            return
        self._callee = participant
        self._joined.set()
        if participant.attributes.get(SIP_CALL_STATUS) == SIP_ANSWERED:
            self._on_answer()

    def _on_attributes(self, changed: Any, participant: Any) -> None:
        if self._is_callee(participant) and participant.attributes.get(SIP_CALL_STATUS) == SIP_ANSWERED:
            self._on_answer()

    def _on_disconnected(self, participant: Any) -> None:
        if not self._is_callee(participant):
            return
        self._gone.set()
        if not self._answered.is_set():
            status, reason = unanswered_end(participant.disconnect_reason)
            self._end(status, reason)

    def _is_callee(self, participant: Any) -> bool:
        return self._callee is not None and participant.identity == self._callee.identity

    def _on_answer(self) -> None:
        if self._answered.is_set() or self._gone.is_set():
            return
        self.answered_at = self._clock()
        self._answered.set()
        self._spawn(sync_to_async(self._write_status)(CallStatus.IN_PROGRESS, ""))

    def _on_agent_state(self, event: AgentStateChangedEvent) -> None:
        if event.new_state != "speaking" or self.answered_at is None or self.first_words_ms is not None:
            return
        self.first_words_ms = elapsed = round((self._clock() - self.answered_at) * 1000)
        call_start_observed(stage="first_words", milliseconds=elapsed)
        label = self._state.call_label
        if elapsed > FIRST_WORDS_LIMIT_MS:
            logger.warning(
                "call %s: the agent's first words came %d ms after the answer (over %d ms: an abandoned call)",
                label,
                elapsed,
                FIRST_WORDS_LIMIT_MS,
                extra={"call_id": label, "first_words_ms": elapsed},
            )
        else:
            logger.info("call %s: first words %d ms after the answer", label, elapsed, extra={"call_id": label})
        self._spawn(sync_to_async(self._write_facts)(first_words_ms=elapsed))

    # --- what the VoiceAgent asks (worker.agent.OutboundLine) -----------------------------------

    async def wait_for_answer(self) -> Answer:
        """Until the callee answers (then AMD's verdict) or the line ends unanswered ("nobody")."""
        limit = self._ring_timeout + JOIN_GRACE_SECONDS
        try:
            await asyncio.wait_for(self._joined.wait(), timeout=limit)
        except TimeoutError:
            self._end(CallStatus.NO_ANSWER, "the callee's line never joined the room")
            return Answer("nobody")
        detector = await self._start_detector()
        try:
            if not await self._answer_or_gone(limit):
                return Answer("nobody")
            category = await self._verdict(detector)
        finally:
            if detector is not None:
                await detector.aclose()
        await sync_to_async(self._write_facts)(amd_result=category)
        if category.startswith("machine"):
            return Answer("machine", category)
        return Answer("person", category)

    async def voicemail(self, category: str, *, message_left: bool) -> None:
        """A machine answered: the Call ends as voicemail now, before the message (a webhook reporting
        the hang-up must not get there first with a plain "completed")."""
        reason = f"answering machine ({category}): {MESSAGE_LEFT if message_left else 'hung up'}"
        self._state.ended = (CallStatus.VOICEMAIL, reason)
        await sync_to_async(self._write_status)(CallStatus.VOICEMAIL, reason)

    async def opt_out(self, how: str) -> bool:
        """Put the callee's number on the tenant's do-not-call list; False if it could not be written."""
        return await sync_to_async(self._write_opt_out)(how)

    # --- helpers ---------------------------------------------------------------------------------

    async def _start_detector(self) -> MachineDetector | None:
        try:
            detector = self._detector(self._session, self._callee.identity)
            await detector.start()
        except Exception:  # no usable LLM for AMD: the agent greets whoever answers
            logger.warning("call %s: answering-machine detection unavailable", self._state.call_label, exc_info=True)
            return None
        return detector

    async def _answer_or_gone(self, limit: float) -> bool:
        """True once the callee answers; False when the line closed first or rang past the limit."""
        answered = asyncio.ensure_future(self._answered.wait())
        gone = asyncio.ensure_future(self._gone.wait())
        try:
            await asyncio.wait({answered, gone}, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        finally:
            answered.cancel()
            gone.cancel()
        if self._answered.is_set():
            return True
        if not self._gone.is_set():
            self._end(CallStatus.NO_ANSWER, f"no answer within {limit:g} s")
        return False

    async def _verdict(self, detector: MachineDetector | None) -> str:
        if detector is None:
            return "uncertain"
        try:
            return await asyncio.wait_for(detector.verdict(), timeout=AMD_VERDICT_TIMEOUT)
        except Exception:
            logger.warning("call %s: no answering-machine verdict", self._state.call_label, exc_info=True)
            return "uncertain"

    def _end(self, status: CallStatus, reason: str) -> None:
        """The call ended unanswered: record it (first: the call log's outcome) and hang up."""
        if self._state.ended is not None:
            return
        self._state.ended = (status, reason)
        logger.info("call %s: %s (%s)", self._state.call_label, status.value, reason)
        self._spawn(self._end_and_hang_up(status, reason))

    async def _end_and_hang_up(self, status: CallStatus, reason: str) -> None:
        await sync_to_async(self._write_status)(status, reason)
        if self._state.line is not None:
            await self._state.line.hang_up()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- database writes (in a thread) -------------------------------------------------------

    def _write_status(self, status: CallStatus, reason: str) -> None:
        state = self._state
        if state.call is None or state.tenant is None:
            return
        close_old_connections()
        try:
            # ended_by "worker": the line's end is final, as the session's own report is
            state.call = call_transition(
                tenant=state.tenant, call=state.call, status=status, reason=reason, ended_by=ENDED_BY_WORKER
            )
        except DatabaseError:
            logger.exception("call %s: could not record %s", state.call_label, status.value)
        finally:
            connection.close()

    def _write_facts(self, *, amd_result: str = "", first_words_ms: int | None = None) -> None:
        state = self._state
        if state.call is None or state.tenant is None:
            return
        close_old_connections()
        try:
            call_record_outbound_facts(
                tenant=state.tenant, call=state.call, amd_result=amd_result, first_words_ms=first_words_ms
            )
        except DatabaseError:
            logger.exception("call %s: could not record the answer's measurements", state.call_label)
        finally:
            connection.close()

    def _write_opt_out(self, how: str) -> bool:
        state = self._state
        call = state.call
        number = (call.to_number if call is not None else "") or (state.context.callee_number if state.context else "")
        if call is None or state.tenant is None or not number:
            logger.error("call %s: opt-out (%s) with no call or number to record", state.call_label, how)
            state.errors.append("the callee opted out, but the do-not-call entry could not be written")
            return False
        close_old_connections()
        try:
            dnc_add(
                tenant=state.tenant,
                number=number,
                source=DncSource.IN_CALL_OPT_OUT,
                reason=f"the callee opted out during the call ({how})",
                actor=CallActor(call_code=str(call.code)),
                call=call,
            )
        except (DatabaseError, ValidationError):
            logger.exception("call %s: could not write the opt-out to the do-not-call list", state.call_label)
            state.errors.append("the callee opted out, but the do-not-call entry could not be written")
            return False
        finally:
            connection.close()
        logger.info("call %s: the callee opted out (%s): number on the do-not-call list", state.call_label, how)
        return True
