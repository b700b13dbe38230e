"""A scripted LLM for the worker's tests, in process (no HTTP).

ScriptedLLM: a real livekit `llm.LLM` that answers each request with the next scripted turn. It
drives a real AgentSession (text mode, no server, no vendor). Each chat() request takes the next
turn: text deltas, tool calls, or a provider error raised from inside the stream, exactly where a
plugin would raise it. A request with no turn left is a provider error too, so an unexpected LLM
call cannot pass unnoticed.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from livekit.agents import APIError, llm
from livekit.agents.llm import ChatContext, Tool, ToolChoice
from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, NOT_GIVEN, APIConnectOptions, NotGivenOr

CHARS_PER_TOKEN = 4  # usage is an estimate from text length, as no tokenizer is involved


@dataclass(frozen=True)
class Turn:
    """One scripted LLM response."""

    deltas: tuple[str, ...] = ()
    tool_calls: tuple[llm.FunctionToolCall, ...] = ()
    error: Exception | None = None
    delay: float = 0.0  # seconds before the first chunk, to stand in for time to first token


_call_ids = itertools.count(1)


def reply(*deltas: str, delay: float = 0.0) -> Turn:
    """A text answer streamed as the given deltas: reply("Hello ", "there.")."""
    return Turn(deltas=deltas, delay=delay)


def tool_call(name: str, arguments: dict[str, Any] | None = None, *, text: str = "", call_id: str = "") -> Turn:
    """A turn calling one tool, optionally saying `text` first."""
    call = llm.FunctionToolCall(
        call_id=call_id or f"call_{next(_call_ids)}", name=name, arguments=json.dumps(arguments or {})
    )
    return Turn(deltas=(text,) if text else (), tool_calls=(call,))


def provider_error(message: str = "provider unavailable", *, retryable: bool = False) -> Turn:
    """A turn whose stream fails as a vendor's would; a retryable one is retried by LLMStream (same turn)."""
    return Turn(error=APIError(message, retryable=retryable))


class ScriptedLLM(llm.LLM):
    def __init__(self, turns: Iterable[Turn] = ()) -> None:
        super().__init__()
        self.turns: list[Turn] = list(turns)
        self.requests: list[ChatContext] = []  # what each chat() call was sent, to assert on

    @property
    def model(self) -> str:
        return "scripted"

    @property
    def provider(self) -> str:
        return "scripted"

    def add(self, *turns: Turn) -> None:
        self.turns.extend(turns)

    def chat(
        self,
        *,
        chat_ctx: ChatContext,
        tools: list[Tool] | None = None,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
        parallel_tool_calls: NotGivenOr[bool] = NOT_GIVEN,
        tool_choice: NotGivenOr[ToolChoice] = NOT_GIVEN,
        extra_kwargs: NotGivenOr[dict[str, Any]] = NOT_GIVEN,
    ) -> ScriptedStream:
        self.requests.append(chat_ctx.copy())
        turn = self.turns.pop(0) if self.turns else Turn(error=APIError("no scripted turn left", retryable=False))
        return ScriptedStream(self, turn, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class ScriptedStream(llm.LLMStream):
    def __init__(
        self, scripted: ScriptedLLM, turn: Turn, *, chat_ctx: ChatContext, tools: list[Tool], conn_options: Any
    ) -> None:
        super().__init__(scripted, chat_ctx=chat_ctx, tools=tools, conn_options=conn_options)
        self._turn = turn

    async def _run(self) -> None:
        turn = self._turn
        if turn.delay:
            await asyncio.sleep(turn.delay)
        if turn.error is not None:
            raise turn.error
        request_id = f"scripted-{id(self)}"
        for text in turn.deltas:
            self._event_ch.send_nowait(
                llm.ChatChunk(id=request_id, delta=llm.ChoiceDelta(role="assistant", content=text))
            )
        if turn.tool_calls:
            self._event_ch.send_nowait(
                llm.ChatChunk(id=request_id, delta=llm.ChoiceDelta(role="assistant", tool_calls=list(turn.tool_calls)))
            )
        self._event_ch.send_nowait(llm.ChatChunk(id=request_id, usage=_usage(self.chat_ctx, turn)))


def _usage(chat_ctx: ChatContext, turn: Turn) -> llm.CompletionUsage:
    prompt_chars = sum(len(text) for text in _texts(chat_ctx.items))
    completion_chars = sum(map(len, turn.deltas)) + sum(len(c.name) + len(c.arguments) for c in turn.tool_calls)
    prompt, completion = prompt_chars // CHARS_PER_TOKEN + 1, completion_chars // CHARS_PER_TOKEN + 1
    return llm.CompletionUsage(completion_tokens=completion, prompt_tokens=prompt, total_tokens=prompt + completion)


def _texts(items: Iterable[Any]) -> Iterable[str]:
    for item in items:
        if getattr(item, "type", None) == "message":
            yield item.text_content or ""
