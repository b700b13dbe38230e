"""The agent in the call: greeting, business hours, IVR menu, transfer and hang-up (call control).

Built from a runtime config (agents_app.runtime_config.RuntimeConfig) and a CallContext; it never
touches the ORM. Telephony goes through a CallControl, so the same agent runs a phone call
(LiveKitCallControl) and the portal's text chat or a test (DryRunCallControl).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterable, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from livekit import rtc
from livekit.agents import (
    Agent,
    AgentSession,
    ErrorEvent,
    JobContext,
    ModelSettings,
    RunContext,
    function_tool,
    get_job_context,
    llm,
)

from agents_app.runtime_config import RuntimeConfig
from agents_app.schedule import is_open
from worker import provider_errors
from worker.context import CallContext
from worker.instructions import (
    build_instructions,
    greeting_text,
    match_menu_option,
    menu_options,
    turn_handling_options,
)
from worker.prewarm import PrefetchedSpeech

logger = logging.getLogger(__name__)

E164 = re.compile(r"\+[1-9]\d{6,14}")
MENU_REPEATS = 2  # an invalid or missing choice replays the menu this many times, then falls back
MENU_TIMEOUT = 8.0  # seconds of silence after the menu that count as a missing choice
MAX_APOLOGIES = 2
MODEL_KEYS = ("llm", "tts", "stt", "vad")

TRANSFER_LINE = "One moment, I'm transferring you now."
CLOSED_LINE = "We are closed right now. Please call back during our business hours."
INVALID_CHOICE_LINE = "Sorry, that is not one of the options."
NO_CHOICE_LINE = "Sorry, I did not get your choice."
UNAVAILABLE_LINE = "Sorry, that option is not available right now."
MENU_GIVE_UP_LINE = "Sorry we could not help you today. Goodbye."
ERROR_APOLOGY = "Sorry, I'm having a technical problem. Could you say that again?"
NO_HUMAN_RESULT = (
    "Nobody is available to take this call: no transfer number is set. Tell the caller that no human "
    "can take the call right now, and keep helping them yourself."
)
GOODBYE_RESULT = "Say a short, friendly goodbye now. The call ends when you finish speaking."
OPT_OUT_LINE = "Understood. We will not call this number again. Sorry for the trouble, and goodbye."
OPT_OUT_RESULT = "The number is on the do-not-call list; the goodbye was said and the call is ending."


class CallControl(Protocol):
    """What the agent can do to the phone line. transfer may return a description of what it did."""

    async def transfer(self, number: str) -> str | None: ...

    async def hang_up(self) -> None: ...

    async def send_note(self, text: str) -> None: ...


@dataclass(frozen=True)
class Answer:
    """Who picked up an outbound call: "person" (greet them), "machine" (category: the
    answering-machine verdict, e.g. "machine-vm") or "nobody" (the line already ended the call)."""

    by: str
    category: str = ""


class OutboundLine(Protocol):
    """The callee's side of an outbound call (worker.outbound.CalleeLine on a phone line)."""

    async def wait_for_answer(self) -> Answer: ...

    async def voicemail(self, category: str, *, message_left: bool) -> None: ...

    async def opt_out(self, how: str) -> bool: ...


class DryRunCallControl:
    """Records what would happen to the line, for tests and the text chat, where there is none."""

    def __init__(self) -> None:
        self.actions: list[tuple[str, str]] = []  # ("transfer", "+1..."), ("hang_up", "")
        self.notes: list[str] = []
        self.ended = asyncio.Event()

    @property
    def transfers(self) -> list[str]:
        return [target for action, target in self.actions if action == "transfer"]

    @property
    def hung_up(self) -> bool:
        return any(action == "hang_up" for action, _ in self.actions)

    async def transfer(self, number: str) -> str:
        self.actions.append(("transfer", number))
        self.ended.set()
        return f"would transfer to {number}"

    async def hang_up(self) -> None:
        self.actions.append(("hang_up", ""))
        self.ended.set()

    async def send_note(self, text: str) -> None:
        self.notes.append(text)


class CallControlError(RuntimeError):
    pass


class LiveKitCallControl:
    """The real line: cold SIP transfer of the caller, or deleting the room, through the job context."""

    def __init__(
        self, job_ctx: JobContext | None = None, *, participant_identity: str = "", call_id: str | None = None
    ) -> None:
        self._job_ctx = job_ctx
        self._identity = participant_identity
        self._call_id = call_id
        self.notes: list[str] = []

    @property
    def job_ctx(self) -> JobContext:
        return self._job_ctx or get_job_context()

    def sip_identity(self) -> str:
        if self._identity:
            return self._identity
        for participant in self.job_ctx.room.remote_participants.values():
            if participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_SIP:
                return participant.identity
        raise CallControlError("no SIP participant in the room to transfer")

    async def transfer(self, number: str) -> str:
        await self.job_ctx.transfer_sip_participant(self.sip_identity(), f"tel:{number}")
        # A cold transfer hands the caller over: this job has nothing left to do.
        self.job_ctx.shutdown(reason=f"transferred to {number}")
        return f"transferred to {number}"

    async def hang_up(self) -> None:
        await self.job_ctx.delete_room()  # disconnects every participant, the SIP caller included
        self.job_ctx.shutdown(reason="the agent ended the call")

    async def send_note(self, text: str) -> None:
        logger.info("call %s: %s", self._call_id, text, extra={"call_id": self._call_id})
        self.notes.append(text)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class CallServices:
    """What a VoiceAgent needs from outside, injected so tests and the text chat can replace it."""

    control: CallControl
    # agent id -> that agent's runtime config (None: unknown); the loader is keyed by the call's tenant
    load_agent_config: Callable[[str], Awaitable[RuntimeConfig | None]] | None = None
    # config -> {"llm"|"tts"|"stt": plugin}, so a handed-off agent speaks with its own voice
    agent_models: Callable[[RuntimeConfig], Awaitable[Mapping[str, Any]]] | None = None
    clock: Callable[[], datetime] = _utcnow
    menu_timeout: float = MENU_TIMEOUT
    # called when an agent's first words of the call (greeting, menu or apology) go to the TTS
    on_first_speech: Callable[[], None] | None = None
    # the greeting, already being synthesized while the session started (worker.prewarm)
    opening_line: PrefetchedSpeech | None = None
    # an outbound call's callee: answer and machine detection, voicemail and opt-out records
    outbound: OutboundLine | None = None
    opt_out_key: str = ""  # the keypad key that opts the callee out (outbound calls)


class VoiceAgent(Agent):
    """One agent of the platform inside a call; hands the call to another VoiceAgent from the IVR menu."""

    def __init__(
        self,
        config: RuntimeConfig,
        ctx: CallContext,
        services: CallServices,
        *,
        models: Mapping[str, Any] | None = None,
        chat_ctx: llm.ChatContext | None = None,
    ) -> None:
        self.config, self.call, self.services = config, ctx, services
        self._spoke = False
        self.inbound = config.inbound
        self.menu = menu_options(config, ctx)
        self.menu_misses = 0
        self.is_conversing = True  # False while a scripted flow runs and once the call is handed off
        self._apologies = 0
        self._menu_timer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        tools: list[llm.Tool | llm.Toolset] = [
            function_tool(self.transfer_to_human, name="transfer_to_human"),
            function_tool(self.end_call, name="end_call"),
        ]
        if self.menu:
            tools.append(function_tool(self.choose_menu_option, name="choose_menu_option"))
        if ctx.call_type == "outbound":
            tools.append(function_tool(self.opt_out, name="opt_out"))
        super().__init__(
            instructions=build_instructions(config, ctx, services.clock()),
            id=f"agent_{config.agent_id or 'unknown'}",
            tools=tools,
            chat_ctx=chat_ctx,
            turn_handling=turn_handling_options(config),
            **{key: value for key, value in (models or {}).items() if key in MODEL_KEYS},
        )

    def tts_node(self, text: AsyncIterable[str], model_settings: ModelSettings) -> Any:
        """The default TTS node; the first call of the session reports that speech is on its way."""
        if self.services.on_first_speech is not None and not self._spoke:
            self._spoke = True
            self.services.on_first_speech()
        return Agent.default.tts_node(self, text, model_settings)

    # --- entering the call -------------------------------------------------------------------

    async def on_enter(self) -> None:
        self.session.on("error", self._on_session_error)
        now = self.services.clock()
        if self.config.is_default:
            # The platform could not load this agent: apologise and hand the caller to a person.
            number = self.inbound.fallback_number or self.inbound.transfer_number
            await self._scripted_goodbye(greeting_text(self.config, self.call, now), number, "default config")
        elif (scripted := self.call.scripted) is not None:
            # Over the agent's limit of concurrent calls (worker/sip_route.py decided what is said).
            await self._scripted_goodbye(scripted.message, scripted.forward_to or None, scripted.reason)
        elif self.call.call_type == "inbound" and not is_open(self.inbound, now):
            message = self.inbound.out_of_hours_message.strip() or CLOSED_LINE
            await self._scripted_goodbye(message, self.inbound.fallback_number, "out of hours")
        else:
            if self.call.call_type == "outbound" and not await self._answered_by_a_person():
                return
            if greeting := greeting_text(self.config, self.call, now):
                await self._say_greeting(greeting)
            elif not self.menu and self.call.call_type != "outbound":
                self.session.generate_reply(instructions="Greet the caller briefly and ask how you can help.")
            if self.menu:
                self._play_menu()

    async def _answered_by_a_person(self) -> bool:
        """An outbound call: wait for the callee to answer; a machine gets the voicemail action, a
        line nobody answered is already ended. True when a person is on the line."""
        line = self.services.outbound
        if line is None:
            return True
        self.is_conversing = False  # the callee's "Hello?" gets the greeting, not a reply of the model
        answer = await line.wait_for_answer()
        if answer.by == "person":
            self.is_conversing = True
            return True
        if answer.by == "machine":
            await self._voicemail(line, answer.category)
        return False

    async def _voicemail(self, line: OutboundLine, category: str) -> None:
        """The voicemail action: leave the message (a mailbox that takes one, AMD having waited for the
        greeting to end) or hang up at once."""
        plan = self.call.outbound
        message = (plan.voicemail_message or "").strip() if plan is not None and plan.leaves_voicemail else ""
        leave = bool(message) and category == "machine-vm"
        await line.voicemail(category, message_left=leave)
        if leave:
            await self.session.say(message, allow_interruptions=False)
        await self._hang_up(f"answering machine ({category}): {'message left' if leave else 'no message'}")

    async def _say_greeting(self, greeting: str) -> None:
        """Says the greeting, with the audio synthesized while the session started when there is some."""
        prefetched = self.services.opening_line
        audio = await prefetched.claim(greeting) if prefetched is not None else None
        if audio is not None:
            self.session.say(greeting, audio=audio)
        else:
            self.session.say(greeting)

    async def on_exit(self) -> None:
        self.session.off("error", self._on_session_error)
        self._cancel_menu_timer()

    async def on_user_turn_completed(self, turn_ctx: llm.ChatContext, new_message: llm.ChatMessage) -> None:
        self._cancel_menu_timer()  # the caller answered; the model decides what the answer means
        if not self.is_conversing:
            raise llm.StopResponse()

    async def _scripted_goodbye(self, line: str, number: str | None, reason: str) -> None:
        """Say `line` in full, then transfer to `number` (or hang up): no conversation with the model."""
        self.is_conversing = False
        await self._note(reason)
        if line:
            await self.session.say(line, allow_interruptions=False)
        if not (number and await self._transfer(number, reason=reason)):
            await self._hang_up(reason)

    # --- telephony ---------------------------------------------------------------------------

    async def _transfer(self, number: str, *, reason: str) -> str | None:
        """Transfer the caller; the outcome's description, or None when it could not be done."""
        if not E164.fullmatch(number or ""):
            self._log_problem("transfer number %r is not an E.164 number", number)
            await self._note(f"transfer to {number!r} refused: not an E.164 number")
            return None
        try:
            outcome = await self.services.control.transfer(number)
        except Exception:
            logger.exception("call %s: transfer to %s failed", self.call.call_id, number, extra=self._log_extra)
            await self._note(f"transfer to {number} failed")
            return None
        self.is_conversing = False
        await self._note(f"transferred to {number} ({reason})")
        return outcome or f"transferred to {number}"

    async def _hang_up(self, reason: str) -> None:
        self.is_conversing = False
        await self._note(f"hung up ({reason})")
        try:
            await self.services.control.hang_up()
        except Exception:
            logger.exception("call %s: hang-up failed", self.call.call_id, extra=self._log_extra)

    async def _note(self, text: str) -> None:
        try:
            await self.services.control.send_note(text)
        except Exception:
            logger.exception("call %s: could not record %r", self.call.call_id, text, extra=self._log_extra)

    async def transfer_to_human(self, context: RunContext) -> Any:
        """Transfer the caller to a human colleague. Use when the caller asks for a person or you cannot help."""
        number = self.inbound.transfer_number
        if not number:
            await self._note("the caller asked for a human; no transfer number is set")
            return NO_HUMAN_RESULT
        if not E164.fullmatch(number):
            await self._transfer(number, reason="caller asked for a human")  # logs and notes the refusal
            return NO_HUMAN_RESULT
        await context.wait_for_playout()
        await self.session.say(TRANSFER_LINE, allow_interruptions=False)
        outcome = await self._transfer(number, reason="caller asked for a human")
        if outcome is None:
            return "The transfer failed. Apologise, say nobody can take the call right now, and keep helping."
        return llm.ToolResult(outcome, reply_required=False)

    async def end_call(self, context: RunContext) -> str:
        """End the call. Use only once the caller is done, e.g. after they say goodbye."""

        def hang_up_after_goodbye(_: Any) -> None:
            self._spawn(self._hang_up("the agent ended the call"))

        # The reply to this tool (the goodbye) belongs to the same speech: hang up once it has played.
        context.speech_handle.add_done_callback(hang_up_after_goodbye)
        return GOODBYE_RESULT

    async def opt_out(self, context: RunContext) -> Any:
        """Put this person's number on the do-not-call list and end the call politely. Call it as soon as
        they ask not to be called again (e.g. "stop calling me", "remove me from your list")."""
        await context.wait_for_playout()
        await self._opt_out("asked during the call")
        return llm.ToolResult(OPT_OUT_RESULT, reply_required=False)

    async def _opt_out(self, how: str) -> None:
        """Record the opt-out (the DNC entry blocks every later dial at once), say goodbye, hang up."""
        if not self.is_conversing:
            return
        self.is_conversing = False
        line = self.services.outbound
        recorded = await line.opt_out(how) if line is not None else False
        await self._note(f"opt-out ({how}): {'on the do-not-call list' if recorded else 'NOT recorded'}")
        await self.session.say(OPT_OUT_LINE, allow_interruptions=False)
        await self._hang_up("the callee opted out")

    # --- IVR menu ----------------------------------------------------------------------------

    async def choose_menu_option(self, context: RunContext, digit_or_label: str) -> Any:
        """Run the menu option the caller chose by voice.

        Args:
            digit_or_label: The key the caller named (such as "1", "star") or the option's name.
        """
        outcome = await self._choose(digit_or_label, via="voice")
        return outcome if isinstance(outcome, Agent) else llm.ToolResult(outcome, reply_required=False)

    async def handle_digit(self, digit: str) -> None:
        """A keypad press from the caller (see forward_dtmf): the opt-out key of an outbound call, else
        the menu option it selects."""
        if self.call.call_type == "outbound" and digit == self.services.opt_out_key and self.is_conversing:
            with contextlib.suppress(RuntimeError):
                self.session.interrupt()
            await self._opt_out(f"pressed {digit}")
            return
        if not self.menu or not self.is_conversing:
            return
        with contextlib.suppress(RuntimeError):
            self.session.interrupt()  # a key press cuts the menu short, as on any phone menu
        outcome = await self._choose(digit, via="keypad")
        if isinstance(outcome, Agent):
            self.session.update_agent(outcome)

    def _play_menu(self, lead: str = "") -> None:
        prompt = (self.inbound.ivr_menu.prompt if self.inbound.ivr_menu is not None else None) or ""
        handle = self.session.say(f"{lead} {prompt}".strip())

        def start_timer(played: Any) -> None:
            if not played.interrupted and self.is_conversing and self.services.menu_timeout > 0:
                self._cancel_menu_timer()
                self._menu_timer = asyncio.create_task(self._wait_for_choice(self.services.menu_timeout))

        handle.add_done_callback(start_timer)

    async def _wait_for_choice(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        self._menu_timer = None
        try:
            await self._menu_miss(f"no menu choice within {seconds:g}s", NO_CHOICE_LINE)
        except RuntimeError:  # the session closed meanwhile
            logger.debug("call %s: menu timeout after the session ended", self.call.call_id)

    def _cancel_menu_timer(self) -> None:
        if self._menu_timer is not None:
            self._menu_timer.cancel()
            self._menu_timer = None

    async def _choose(self, answer: str, *, via: str) -> Agent | str:
        self._cancel_menu_timer()
        option = match_menu_option(self.menu, answer)
        if option is None:
            return await self._menu_miss(f"menu answer {answer!r} by {via} matches no option", INVALID_CHOICE_LINE)
        await self._note(f"menu option {option.digit} ({option.label or option.action}) chosen by {via}")
        action = option.action
        if action == "message":
            message = option.message or ""
            await self.session.say(message)
            return f"Told the caller: {message}"
        if action == "transfer":
            if E164.fullmatch(option.number or ""):
                await self.session.say(TRANSFER_LINE, allow_interruptions=False)
            if outcome := await self._transfer(option.number or "", reason=f"menu option {option.digit}"):
                return outcome
        elif action == "agent" and (target := await self._agent_for(option.agent_id or "")):
            return target
        return await self._menu_miss(f"menu option {option.digit} could not be carried out", UNAVAILABLE_LINE)

    async def _menu_miss(self, reason: str, line: str) -> str:
        """An invalid, missing or failed choice: replay the menu, or after MENU_REPEATS give up."""
        self.menu_misses += 1
        await self._note(reason)
        if self.menu_misses <= MENU_REPEATS:
            self._play_menu(lead=line)
            return f"{reason}; the menu was repeated"
        number = self.inbound.transfer_number
        await self._scripted_goodbye(TRANSFER_LINE if number else MENU_GIVE_UP_LINE, number, "no valid menu choice")
        return f"{reason}; gave up on the menu"

    async def _agent_for(self, agent_id: str) -> VoiceAgent | None:
        """The VoiceAgent a menu option hands the call to, or None when it cannot be built."""
        if self.services.load_agent_config is None:
            return None
        try:
            config = await self.services.load_agent_config(agent_id)
            if config is None or not config.is_active:
                self._log_problem("menu target agent %s is unknown or inactive", agent_id)
                return None
            if self.call.tenant_id and config.tenant_id not in ("", self.call.tenant_id):
                # The loader is keyed by the call's tenant, so this is a bug; never cross tenants.
                self._log_problem("menu target agent %s belongs to another tenant", agent_id)
                return None
            models = await self.services.agent_models(config) if self.services.agent_models else {}
        except Exception:
            logger.exception("call %s: could not load menu target %s", self.call.call_id, agent_id)
            return None
        history = self.chat_ctx.copy(exclude_function_call=True, exclude_instructions=True, exclude_handoff=True)
        target_ctx = replace(self.call, agent_id=config.agent_id or agent_id)
        return VoiceAgent(config, target_ctx, self.services, models=models, chat_ctx=history)

    # --- errors and housekeeping -------------------------------------------------------------

    def _on_session_error(self, event: ErrorEvent) -> None:
        error = event.error
        if getattr(error, "type", None) != "llm_error" or getattr(error, "recoverable", False):
            return
        self._log_problem("language model error: %s", getattr(error, "error", error))
        # The transcript is the tenant's: a fixed description, never the provider's own body.
        self._spawn(self._note(f"language model error: {provider_errors.describe(getattr(error, 'error', error))}"))
        if self.is_conversing and self._apologies < MAX_APOLOGIES:
            self._apologies += 1
            with contextlib.suppress(RuntimeError):  # the session may already be closing
                self.session.say(ERROR_APOLOGY)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def _log_extra(self) -> dict[str, Any]:
        return {"call_id": self.call.call_id, "agent_id": self.call.agent_id}

    def _log_problem(self, message: str, *args: Any) -> None:
        logger.warning(f"call %s: {message}", self.call.call_id, *args, extra=self._log_extra)


def forward_dtmf(room: rtc.Room, session: AgentSession) -> Callable[[], None]:
    """Send the caller's keypad presses to the session's current VoiceAgent; returns an unsubscribe."""
    pending: set[asyncio.Task[None]] = set()

    def on_dtmf(event: rtc.SipDTMF) -> None:
        try:
            agent = session.current_agent
        except RuntimeError:
            return
        if isinstance(agent, VoiceAgent):
            task = asyncio.create_task(agent.handle_digit(event.digit))
            pending.add(task)
            task.add_done_callback(pending.discard)

    room.on("sip_dtmf_received", on_dtmf)
    return lambda: room.off("sip_dtmf_received", on_dtmf)
