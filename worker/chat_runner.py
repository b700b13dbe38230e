"""The text chat's event loop: one turn of a chat in a fresh AgentSession, no LiveKit server.

The service around it (the Call row, the checks, the request's budget) is telephony_app/chat.py,
which finds this module through the registry the worker fills in its AppConfig.ready
(worker/apps.py) and imports it on the first chat. prepare() runs before any row is written
(config, credentials, the LLM: sync, database); run() runs the greeting or one user turn on a new
event loop in the calling thread, with no ORM inside, and returns a ChatTurn for the service to
record. Same VoiceAgent, instructions, greeting and tools as a phone call; telephony is a dry run.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import sys
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from livekit.agents import AgentSession, APIConnectOptions, APIError, llm
from livekit.agents.voice.agent_session import SessionConnectOptions

from agents_app import catalog
from agents_app.readiness import LLM_PLUGIN, PLUGINS, Credentials, resolve_credentials
from agents_app.runtime_config import RuntimeConfig, loader
from telephony_app import costs
from telephony_app.chat import ChatBudget, ChatError, ChatNotReady, ChatTurn
from telephony_app.models import Call
from voiceplatform.models import Tenant
from worker import factories, livekit_compat, provider_errors
from worker.agent import CallServices, DryRunCallControl, VoiceAgent
from worker.call_report import history_entries, iso
from worker.context import CallContext

logger = logging.getLogger(__name__)

MAX_ATTEMPT_SECONDS = 20.0  # one model request; the budget may make it shorter
RETRY_INTERVAL_SECONDS = 1.0
# Kept from the request's budget for what follows the model: closing the session, writing the turn.
CLOSE_RESERVE_SECONDS = 2.0
CLOSE_TIMEOUT_SECONDS = 5.0
HANG_UP_WAIT_SECONDS = 3.0  # end_call hangs up once its goodbye has been said
WOULD_END_CALL = "would end the call"
# Notes of the agent that the chat says in its own words: the dry-run line and the provider turn.
REWORDED_NOTES = ("transferred to ", "hung up (", "language model error")


# --------------------------------------------------------------------------------------------
# Before the event loop: config, credentials, the LLM (sync, database)
# --------------------------------------------------------------------------------------------


@dataclass
class _Setup:
    tenant: Tenant
    config: RuntimeConfig
    source: str
    llm: llm.LLM
    # IVR hand-off targets: agent id -> (config, credentials), loaded here so the loop needs no ORM
    targets: dict[str, tuple[dict[str, Any], Credentials]] = field(default_factory=dict)


def prepare(*, tenant: Tenant, agent_code: str, fallback_code: str = "") -> _Setup:
    """The agent's config, its LLM and its hand-off targets; ChatError/ChatNotReady when there are none."""
    # count=False: a chat is not a call; the loader's counters measure what phone calls get.
    loaded = loader.get(tenant_code=tenant.code, agent_code=agent_code, count=False)
    if loaded.config is None and fallback_code and fallback_code != agent_code:
        loaded = loader.get(tenant_code=tenant.code, agent_code=fallback_code, count=False)
    if loaded.config is None:
        raise ChatError("This agent no longer exists.")
    if loaded.source == "default":
        raise ChatNotReady(["The agent's configuration could not be loaded (cache and database did not answer)."])
    config = loaded.config
    return _Setup(
        tenant=tenant,
        config=config,
        source=loaded.source,
        llm=_build_llm(tenant=tenant, config=config),
        targets=_handoff_targets(tenant=tenant, config=config),
    )


def _build_llm(*, tenant: Tenant, config: RuntimeConfig) -> llm.LLM:
    """The agent's LLM with the tenant's key; only the LLM: a text chat speaks and hears nothing."""
    _ensure_plugin(config.llm_provider)
    credentials = resolve_credentials(tenant=tenant, config=config)
    try:
        return factories.build_llm(config=config, credentials=credentials)
    except factories.ProviderNotReady as exc:
        raise ChatNotReady(exc.problems) from None


def _handoff_targets(*, tenant: Tenant, config: RuntimeConfig) -> dict[str, tuple[RuntimeConfig, Any]]:
    menu = config.inbound.ivr_menu
    targets: dict[str, tuple[RuntimeConfig, Any]] = {}
    for option in (menu.options if menu is not None else None) or ():
        if option.action != "agent":
            continue
        agent_id = option.agent_id or ""
        if not agent_id or agent_id in targets:
            continue
        try:
            target = loader.get(tenant_code=tenant.code, agent_code=agent_id, count=False).config
        except ValidationError:  # a malformed id in the menu: the hand-off fails as in a call
            continue
        if target is not None and not target.is_default:
            _ensure_plugin(target.llm_provider)
            targets[agent_id] = (target, resolve_credentials(tenant=tenant, config=target))
    return targets


_plugin_lock = threading.Lock()


def _ensure_plugin(provider_id: str) -> None:
    """Import the LLM provider's plugin, from whatever thread serves the request.

    Plugins register themselves on import and refuse to unless on the main thread (the worker
    imports them there, at start: factories.load_plugins). A web request runs on a server's
    thread (runserver's, a threaded WSGI or ASGI server's), never the main one; the check only
    protects the worker's plugin-registered listeners, which a web process does not have. So
    off the main thread the plugin is registered without that check, once, under a lock.
    """
    plugin = LLM_PLUGIN.get(provider_id)
    if plugin is None:
        return  # unknown provider: build_llm says so
    module = PLUGINS[plugin][0]
    if module in sys.modules:
        return
    with _plugin_lock:
        if module in sys.modules:
            return
        if threading.current_thread() is threading.main_thread():
            with contextlib.suppress(ImportError):  # not installed: build_llm says so
                importlib.import_module(module)
            return
        with livekit_compat.plugins_register_off_main_thread(), contextlib.suppress(ImportError):
            importlib.import_module(module)


# --------------------------------------------------------------------------------------------
# The event loop: one turn in a fresh AgentSession (no ORM in here)
# --------------------------------------------------------------------------------------------


# The public name, for the other sync callers that build an LLM off the main thread (worker/analysis.py).
ensure_llm_plugin = _ensure_plugin


def run(
    setup: _Setup, *, call: Call, history: list[dict[str, Any]], user_input: str | None, budget: ChatBudget
) -> ChatTurn:
    """Run the greeting (user_input None) or one user turn on a new event loop in this thread."""
    return asyncio.run(_converse(setup, call=call, history=history, user_input=user_input, budget=budget))


class ChatLine(DryRunCallControl):
    """The dry-run line, keeping each thing that would have happened with its time."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[float, dict[str, Any]]] = []

    def _add(self, text: str, **flags: bool) -> None:
        now = datetime.now(UTC).timestamp()
        self.events.append((now, {"role": "system", "text": text, "at": iso(now), **flags}))

    async def transfer(self, number: str) -> str:
        outcome = await super().transfer(number)  # "would transfer to +1…"
        self._add(outcome, dry_run=True)
        return outcome

    async def hang_up(self) -> None:
        await super().hang_up()
        self._add(WOULD_END_CALL, dry_run=True)

    async def send_note(self, text: str) -> None:
        await super().send_note(text)
        if not text.startswith(REWORDED_NOTES):
            self._add(text)


class ResumedAgent(VoiceAgent):
    """A VoiceAgent taking up a stored conversation: its greeting and menu were said in an earlier request."""

    async def on_enter(self) -> None:
        # What VoiceAgent.on_enter does besides greeting: apologise for provider errors, as in a call.
        self.session.on("error", self._on_session_error)


def _chat_context(history: list[dict[str, Any]]) -> llm.ChatContext:
    """The conversation so far as the model saw it: what the user and the agent said."""
    chat_ctx = llm.ChatContext()
    for entry in history:
        if isinstance(entry, dict) and entry.get("role") in ("user", "assistant") and entry.get("text"):
            chat_ctx.add_message(role=entry["role"], content=str(entry["text"]))
    return chat_ctx


def _attempt_seconds(turn_seconds: float) -> float:
    """One model request's timeout, so that it and its one retry fit in the turn's time."""
    return max(min((turn_seconds - RETRY_INTERVAL_SECONDS) / 2, MAX_ATTEMPT_SECONDS), 0.5)


async def _converse(
    setup: _Setup, *, call: Call, history: list[dict[str, Any]], user_input: str | None, budget: ChatBudget
) -> ChatTurn:
    config = setup.config
    line = ChatLine()
    built: list[llm.LLM] = [setup.llm]

    async def load_agent_config(agent_id: str) -> RuntimeConfig | None:
        target = setup.targets.get(agent_id)
        return target[0] if target else None

    async def agent_models(target: RuntimeConfig) -> dict[str, Any]:
        credentials = setup.targets[target.agent_id][1]
        model = factories.build_llm(config=target, credentials=credentials)
        built.append(model)
        return {"llm": model}

    services = CallServices(
        control=line, load_agent_config=load_agent_config, agent_models=agent_models, menu_timeout=0
    )
    context = CallContext(
        agent_id=config.agent_id,
        tenant_id=str(setup.tenant.code),
        call_id=str(call.code),
        call_type="chat",
    )
    agent_class = VoiceAgent if user_input is None else ResumedAgent
    agent = agent_class(config, context, services, chat_ctx=_chat_context(history))
    turn_seconds = max(budget.remaining() - CLOSE_RESERVE_SECONDS, 0.5)
    session = AgentSession(
        llm=setup.llm,
        # One quick retry: someone is waiting at the page for the answer, both within the budget.
        conn_options=SessionConnectOptions(
            llm_conn_options=APIConnectOptions(
                max_retry=1, retry_interval=RETRY_INTERVAL_SECONDS, timeout=_attempt_seconds(turn_seconds)
            )
        ),
    )
    failures: list[str] = []
    timed_out = False
    no_answer = f"no answer within {budget.seconds:g} seconds"
    closed = asyncio.Event()
    session.on("close", lambda _event: closed.set())
    session.on("error", lambda event: _note_failure(failures, event.error, no_answer=no_answer))
    current_id = config.agent_id
    try:
        async with asyncio.timeout(turn_seconds):
            await session.start(agent, capture_run=True)
            if user_input is not None:
                try:
                    await session.run(user_input=user_input)
                except APIError as exc:  # also reported as an error event, unless recoverable
                    if not failures:
                        logger.warning("chat: language model provider failed: %r", exc)
                        failures.append(_provider_message(exc, no_answer=no_answer))
            if _called(session, "end_call") and not line.ended.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(line.ended.wait(), HANG_UP_WAIT_SECONDS)
            with contextlib.suppress(RuntimeError):
                current = session.current_agent
                if isinstance(current, VoiceAgent):
                    current_id = current.config.agent_id or current_id
    except TimeoutError:
        timed_out = True
        failures.append(no_answer)
    finally:
        # What the agent is still saying (an apology, a goodbye) is kept, unless the time is up.
        session.shutdown(drain=not timed_out)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(closed.wait(), min(CLOSE_TIMEOUT_SECONDS, max(budget.remaining(), 0.5)))
        await session.aclose()
        for model in built:
            with contextlib.suppress(Exception):
                await model.aclose()
    # Each attempt's timeout is cut from the budget, so an attempt timing out is the budget running out too.
    timed_out = timed_out or no_answer in failures
    entries = _entries(session.history.items, line.events)
    failure = "; ".join(dict.fromkeys(failures))
    if failure:
        now = datetime.now(UTC).timestamp()
        entries.append(
            {"role": "system", "text": f"The language model provider failed: {failure}", "at": iso(now), "error": True}
        )
    end_reason = next((entry["text"] for entry in entries if entry.get("dry_run")), "")
    return ChatTurn(
        entries=entries,
        usage=_usage_rows(session, config),
        failure=failure,
        ended=line.ended.is_set(),
        end_reason=end_reason,
        agent_id=current_id,
        timed_out=timed_out,
    )


def _provider_message(error: Any, *, no_answer: str) -> str:
    """What the tenant sees of a provider failure (worker.provider_errors): never the provider's own words."""
    return provider_errors.describe(error, no_answer=no_answer)


def _note_failure(failures: list[str], error: Any, *, no_answer: str) -> None:
    if getattr(error, "type", None) == "llm_error" and not getattr(error, "recoverable", False):
        # worker.agent logs the provider's own message for operators; the tenant gets a fixed one.
        failures.append(_provider_message(getattr(error, "error", error), no_answer=no_answer))


def _called(session: AgentSession, name: str) -> bool:
    return any(item.type == "function_call" and item.name == name for item in session.history.items)


def _entries(items: list[Any], notes: list[tuple[float, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The new turns in order: user and agent messages, the tools it called, the dry-run lines."""
    timed = history_entries(items, bare_empty_arguments=True) + notes
    return [entry for _, entry in sorted(timed, key=lambda pair: pair[0])]


def _usage_rows(session: AgentSession, config: RuntimeConfig) -> list[dict[str, Any]]:
    rows = []
    for usage in session.usage.model_usage:
        if usage.type != "llm_usage":
            continue
        provider = costs.normalize_provider(usage.provider or "")
        if provider not in catalog.LLM_PROVIDERS:
            # A self-hosted server reports its host and port; the agent's provider id says more.
            provider = config.llm_provider or provider
        rows.append(
            {
                "kind": "llm",
                "provider": provider,
                "model": usage.model,
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "characters": 0,
                "audio_seconds": 0.0,
            }
        )
    return rows
