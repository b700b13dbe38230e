"""A call's state in its job process: what run_call learns and finish_call needs.

worker.entrypoint starts the call (or refuses it) and fills a CallState; worker.call_report turns
the finished session and the state into the Call row. Neither imports the other: both import this.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from livekit.agents import AgentSession, JobContext
from livekit.agents.voice.events import CloseReason

from agents_app.readiness import Credentials
from agents_app.runtime_config import RuntimeConfig
from telephony_app.models import Call, CallStatus
from voiceplatform.models import Tenant
from worker.agent import LiveKitCallControl
from worker.context import CallContext
from worker.prewarm import HeldPrewarms, PrefetchedSpeech


class Refusal(Exception):
    """This job will not become a call; reason is logged and stored on the Call when there is one."""

    def __init__(self, reason: str, *, call: Call | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.call = call


@dataclass
class CallState:
    """What run_call learns and finish_call needs; one per job, kept in the job process's userdata."""

    job_id: str
    room_name: str
    started_at: float = field(default_factory=time.time)  # wall clock: comparable across processes
    context: CallContext | None = None
    tenant: Tenant | None = None
    call: Call | None = None
    config_source: str = ""
    line: CallLine | None = None
    errors: list[str] = field(default_factory=list)
    close_reason: CloseReason | None = None
    close_error: str = ""
    is_default_config: bool = False
    is_finished: bool = False
    first_speech_ms: float | None = None
    opening: PrefetchedSpeech | None = None
    prewarms: HeldPrewarms | None = None
    session: AgentSession | None = None
    stages: dict[str, float] = field(default_factory=dict)  # ms from job start, for the start-up log line
    hangs_up_on_refusal: bool = False  # a phone caller is on the line: a refusal must hang up, not go quiet
    # An outbound call's end decided on the line (no answer, busy, answering machine): the call log's outcome.
    ended: tuple[CallStatus, str] | None = None

    def mark(self, stage: str) -> float:
        """Records (and returns) the ms from job start to the end of a start-up stage."""
        self.stages[stage] = elapsed = (time.time() - self.started_at) * 1000
        return elapsed

    @property
    def call_label(self) -> str:
        return str(self.call.code) if self.call is not None else (self.context and self.context.call_id) or "-"


class CallLine(LiveKitCallControl):
    """The real phone line, remembering how the call ended and what happened on it, for the call log."""

    def __init__(self, job_ctx: JobContext, *, call_id: str | None) -> None:
        super().__init__(job_ctx, call_id=call_id)
        self.transferred_to: str | None = None
        self.hung_up = False
        self.events: list[tuple[float, str]] = []

    async def transfer(self, number: str) -> str:
        self.transferred_to = number  # before: the transfer shuts the job down as it returns
        try:
            return await super().transfer(number)
        except Exception:
            self.transferred_to = None
            raise

    async def hang_up(self) -> None:
        self.hung_up = True
        await super().hang_up()

    async def send_note(self, text: str) -> None:
        self.events.append((time.time(), text))
        await super().send_note(text)


@dataclass(frozen=True)
class CallPlan:
    config: RuntimeConfig
    credentials: Credentials
