"""The text chat playground: talk to an agent by text through a real AgentSession, no LiveKit server.

Same VoiceAgent, instructions, greeting and tools as a phone call, with the agent's configured LLM
built with the tenant's keys. Telephony is a dry run: the transcript says what would have happened
("would transfer to +1…", "would end the call").

Stateless across requests (the web runs several processes): the conversation is a Call with
direction chat and its transcript is the state. Each request loads the agent's config, rebuilds
the agent with the conversation so far, runs one turn in a fresh session on its own event loop
and appends the new turns to the Call. This module is the service (the Call row, the checks, the
budget); the turn itself runs in the voice worker's code (worker/chat_runner.py), which this app
may not import: the worker registers it in its AppConfig.ready, and it is loaded on the first
chat, so a web process that never chats never imports LiveKit. The database is used only before
and after that loop, in the calling thread: the ORM is sync, and a query from another thread
would run on another connection, outside the request's transaction.

A web worker is killed at WEB_TIMEOUT, so a whole request (the model with its retry, closing the
session, writing the turn) runs within WEB_REQUEST_BUDGET_SECONDS, strictly less: when the model
has not answered by then, the turn is recorded as failed and ChatResult.timed_out says so. The
provider's own error text never reaches the tenant (it may hold anything its server says): the
chat gets a fixed description and the HTTP status; the log gets the rest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from agents_app.models import Agent
from telephony_app import costs
from telephony_app.analytics import rollups
from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.selectors import call_get
from telephony_app.services import call_create, call_finish
from voiceplatform.actor import Actor
from voiceplatform.models import Tenant

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 2000
ENDED_BY_USER = "ended from the chat playground"
ENDED_BY_AGENT = "the agent ended the chat"  # a dry-run transfer or hang-up: a call would be over too


class ChatError(Exception):
    """The chat request cannot be carried out; str(error) says why, in words fit for the user."""


class ChatNotReady(ChatError):
    """The agent's language model cannot be built; problems names what to fix (the missing key...)."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("The agent's language model is not ready: " + " ".join(self.problems))


class ChatEnded(ChatError):
    def __init__(self) -> None:
        super().__init__("This chat has ended: start a new one.")


class NotThisChat(ChatError):
    """The id names a call of this tenant that is not a text chat, or a chat with another agent."""


@dataclass(frozen=True)
class ChatResult:
    call: Call
    messages: list[dict[str, Any]]  # the turns this request added to the transcript
    ended: bool
    error: str = ""  # the provider's failure, when the model could not answer (a fixed description)
    timed_out: bool = False  # the model did not answer within the request's budget


class ChatBudget:
    """The time one web request may spend, from now: WEB_REQUEST_BUDGET_SECONDS (below WEB_TIMEOUT)."""

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = float(seconds if seconds is not None else settings.WEB_REQUEST_BUDGET_SECONDS)
        self.deadline = time.monotonic() + self.seconds

    def remaining(self) -> float:
        return max(self.deadline - time.monotonic(), 0.0)


@dataclass
class ChatTurn:
    """What one run of the event loop produced, for the Call row."""

    entries: list[dict[str, Any]]
    usage: list[dict[str, Any]]
    failure: str
    ended: bool
    end_reason: str
    agent_id: str  # the agent holding the conversation at the end (another one after an IVR hand-off)
    timed_out: bool = False


# --------------------------------------------------------------------------------------------
# The runner: the event loop lives in the worker, found through this registry
# --------------------------------------------------------------------------------------------


class ChatSetup(Protocol):
    """What the runner prepared before any row is written (the config, the built LLM...)."""

    source: str  # where the agent's config came from: cache, database, stale


class ChatRunner(Protocol):
    """One turn in an AgentSession: prepare (sync, may raise ChatError/ChatNotReady), then run."""

    def prepare(self, *, tenant: Tenant, agent_code: str, fallback_code: str = "") -> ChatSetup: ...

    def run(
        self,
        setup: Any,
        *,
        call: Call,
        history: list[dict[str, Any]],
        user_input: str | None,
        budget: ChatBudget,
    ) -> ChatTurn: ...


_runner_loader: Callable[[], ChatRunner] | None = None


def register_chat_runner(load: Callable[[], ChatRunner]) -> None:
    """Tell the service how to get the runner (the worker's AppConfig.ready); `load` runs on the first chat."""
    global _runner_loader
    _runner_loader = load


def _runner() -> ChatRunner:
    if _runner_loader is None:
        raise ChatError("The text chat is not available here: the voice worker app is not installed.")
    return _runner_loader()


# --------------------------------------------------------------------------------------------
# Lookups and validation (sync)
# --------------------------------------------------------------------------------------------


def chat_get(*, tenant: Tenant, agent: Agent, code: Any) -> Call:
    """The tenant's chat with this agent; Http404 for an unknown id, NotThisChat for a wrong one."""
    call = call_get(tenant=tenant, code=code)
    if call.direction != CallDirection.CHAT:
        raise NotThisChat("This id is not a text chat.")
    if call.agent_id != agent.pk:
        raise NotThisChat("This chat is with another agent.")
    return call


def clean_message(message: Any) -> str:
    """The message as the agent gets it; ValidationError when it is empty or too long."""
    text = message.strip() if isinstance(message, str) else ""
    if not text:
        raise ValidationError({"message": "Type a message."})
    if len(text) > MAX_MESSAGE_CHARS:
        raise ValidationError(
            {"message": f"Keep a message to {MAX_MESSAGE_CHARS} characters; this one has {len(text)}."}
        )
    return text


# --------------------------------------------------------------------------------------------
# The three operations
# --------------------------------------------------------------------------------------------


def chat_start(*, tenant: Tenant, agent: Agent, actor: Actor) -> ChatResult:
    """A new chat with the agent: its greeting said, stored as a Call (chat, in progress).

    Raises ChatNotReady, before any row is written, when the agent's language model cannot be built."""
    budget = ChatBudget()
    runner = _runner()
    setup = runner.prepare(tenant=tenant, agent_code=str(agent.code))
    call = call_create(
        tenant=tenant,
        agent=agent,
        direction=CallDirection.CHAT,
        status=CallStatus.IN_PROGRESS,
        context={"started_by": actor.label},
    )
    turn = runner.run(setup, call=call, history=[], user_input=None, budget=budget)
    return _record(tenant=tenant, call=call, setup=setup, turn=turn)


def chat_send(*, tenant: Tenant, call: Call, message: str) -> ChatResult:
    """One turn: the user's message, the agent's answer and what its tools would have done."""
    budget = ChatBudget()
    text = clean_message(message)
    if call.direction != CallDirection.CHAT:
        raise NotThisChat("This id is not a text chat.")
    if call.is_terminal:
        raise ChatEnded()
    if call.agent is None:
        raise ChatError("The agent of this chat was deleted.")
    agent_code = str((call.context or {}).get("agent_id") or call.agent.code)  # after an IVR hand-off
    runner = _runner()
    setup = runner.prepare(tenant=tenant, agent_code=agent_code, fallback_code=str(call.agent.code))
    turn = runner.run(setup, call=call, history=list(call.transcript or []), user_input=text, budget=budget)
    return _record(tenant=tenant, call=call, setup=setup, turn=turn)


def chat_end(*, tenant: Tenant, call: Call) -> Call:
    """The chat is over: the Call completed with its transcript, usage and estimated cost.

    Ending an ended chat changes nothing and returns it."""
    if call.direction != CallDirection.CHAT:
        raise NotThisChat("This id is not a text chat.")
    current = Call.objects.for_tenant(tenant).get(pk=call.pk)
    return call_finish(
        tenant=tenant,
        call=current,
        status=CallStatus.COMPLETED,
        end_reason=ENDED_BY_USER,
        transcript=current.transcript,
        usage=current.usage,
    )


# --------------------------------------------------------------------------------------------
# After the event loop: the Call row (sync, database)
# --------------------------------------------------------------------------------------------

_SUMMED = ("input_tokens", "output_tokens", "characters", "audio_seconds")
_RECORDED_FIELDS = ("transcript", "usage", "estimated_cost_usd", "config_source", "context", "error", "updated_at")


def merge_usage(stored: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Usage rows summed per (kind, provider, model), in first-seen order."""
    merged: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in [*(stored or []), *new]:
        if not isinstance(row, dict):
            continue
        key = (str(row.get("kind", "")), str(row.get("provider", "")), str(row.get("model", "")))
        empty = {"kind": key[0], "provider": key[1], "model": key[2], **dict.fromkeys(_SUMMED, 0)}
        into = merged.setdefault(key, empty)
        for name in _SUMMED:
            value = row.get(name) or 0
            if isinstance(value, int | float) and not isinstance(value, bool):
                into[name] += value
    for row in merged.values():
        row["audio_seconds"] = round(float(row["audio_seconds"]), 3)
    return list(merged.values())


def _record(*, tenant: Tenant, call: Call, setup: ChatSetup, turn: ChatTurn) -> ChatResult:
    """Append the turn to the Call (under a row lock, so two tabs cannot lose each other's turns)."""
    # The call log's services write reports at the end of a call; a chat grows turn by turn, so
    # this appends in place, on the tenant's own row.
    with transaction.atomic():
        locked = Call.objects.for_tenant(tenant).select_for_update().get(pk=call.pk)
        counted = rollups.counted(locked)  # a chat is rolled up once it has ended; its cost may still grow
        locked.transcript = [*(locked.transcript or []), *turn.entries]
        locked.usage = merge_usage(locked.usage, turn.usage)
        locked.estimated_cost_usd = costs.estimate_cost(locked.usage).total_usd
        locked.config_source = setup.source
        locked.context = {**(locked.context or {}), "agent_id": turn.agent_id}
        if turn.failure:
            message = f"language model provider failed: {turn.failure}"
            locked.error = f"{locked.error}\n{message}" if locked.error else message
        locked.save(update_fields=[*_RECORDED_FIELDS])
        rollups.apply(before=counted, after=rollups.counted(locked))
    if turn.ended:
        reason = f"{ENDED_BY_AGENT}: {turn.end_reason}" if turn.end_reason else ENDED_BY_AGENT
        locked = call_finish(
            tenant=tenant, call=locked, status=CallStatus.COMPLETED, end_reason=reason, usage=locked.usage
        )
    if turn.failure:
        logger.warning("chat %s: language model provider failed: %s", call.code, turn.failure)
    return ChatResult(
        call=locked, messages=turn.entries, ended=turn.ended, error=turn.failure, timed_out=turn.timed_out
    )


def public_messages(entries: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Transcript entries as the API shows them."""
    for entry in entries:
        if isinstance(entry, dict):
            yield {
                "role": entry.get("role", ""),
                "text": entry.get("text", ""),
                "at": entry.get("at"),
                "dryRun": entry.get("dry_run") is True,
                "error": entry.get("error") is True,
            }
