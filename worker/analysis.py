"""Post-call analysis, the model's side: the agent's own language model reads the transcript and answers
with a summary, the data of the agent's schema and a success verdict, as one JSON object.

Run by the Celery task worker.tasks.analyze_call (queued by telephony_app/analysis.py after a call
ends). The model is built as a call builds it: the agent's config (agents_app.runtime_config), the
tenant's keys, the provider factories (worker/factories.py); it runs on its own event loop in the
task's thread, with no ORM inside (as the text chat does, worker/chat_runner.py). Where the provider
has one, its structured-output mode is asked for: a JSON Schema for OpenAI and OpenAI-compatible
servers, JSON mode for Groq, a response schema for Gemini; Anthropic gets the schema in the prompt
(as every provider does). A server that refuses the mode (HTTP 400/422) is asked once without it.
Whatever the mode, the answer is checked against the schema with jsonschema; an answer that is not
valid JSON or breaks the schema is sent back once with what is wrong, and a second bad answer fails
the analysis with that reason. Every model request has a time limit (CALL_ANALYSIS_TIMEOUT_SECONDS).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from livekit.agents import APIConnectOptions, APIError, APIStatusError, llm

from agents_app.analysis import (
    DEFAULT_SUMMARY_PROMPT,
    analysis_answer_problems,
    analysis_answer_schema,
    normalize_answer,
)
from agents_app.models import Agent
from agents_app.readiness import resolve_credentials
from agents_app.runtime_config import RuntimeConfig, build_runtime_config
from telephony_app import costs
from telephony_app.analysis import AnalysisResult, call_analysis_claim, call_analysis_fail, call_analysis_store
from telephony_app.models import Call
from worker import factories, provider_errors
from worker.chat_runner import ensure_llm_plugin

logger = logging.getLogger(__name__)

ROLE_LABELS = {"user": "Caller", "assistant": "Agent"}
TRANSCRIPT_MAX_CHARS = 60_000  # the most recent part of a very long call is kept
NO_AGENT = "the call's agent was deleted"
CRASHED = "the analysis stopped unexpectedly (see the worker's log)"
JSON_MODE = {"groq": {"response_format": {"type": "json_object"}}}


@dataclass
class _Spent:
    input_tokens: int = 0
    output_tokens: int = 0


class AnalysisFailed(Exception):
    """The analysis cannot finish; str() is the reason shown on the call (the platform's words)."""


class ModeRefused(AnalysisFailed):
    """The provider refused the request with its structured-output option (a server without it)."""


MAX_REQUEST_SECONDS = 110  # two requests stay under the Celery task's soft time limit (240 s)


def _timeout() -> float:
    return float(min(getattr(settings, "CALL_ANALYSIS_TIMEOUT_SECONDS", 60), MAX_REQUEST_SECONDS))


def analyze_call(*, call_id: int) -> Call | None:
    """Analyse the ended call once: claim it, ask the agent's model, store the result or the failure.
    A call that is not pending (already analysed, failed, or being analysed) is left alone: no model call."""
    call = call_analysis_claim(call_id=call_id)
    if call is None:
        return None
    spent = _Spent()
    config: RuntimeConfig | None = None
    agent = Agent.objects.for_tenant(call.tenant).filter(pk=call.agent_id).first() if call.agent_id else None
    try:
        if agent is None:
            raise AnalysisFailed(NO_AGENT)
        config = build_runtime_config(agent)
        model = _build_llm(call=call, config=config)
        result = asyncio.run(_analyse(model, agent=agent, call=call, config=config, spent=spent))
    except AnalysisFailed as failure:
        return call_analysis_fail(call_id=call.pk, reason=str(failure), cost_usd=_cost(config=config, spent=spent))
    except BaseException:
        # Anything else (a bug, the task's soft time limit): recorded, so the call is not left "in progress".
        logger.exception("call %s: analysis crashed", call.code)
        call_analysis_fail(call_id=call.pk, reason=CRASHED, cost_usd=_cost(config=config, spent=spent))
        raise
    return call_analysis_store(call_id=call.pk, result=result)


def _build_llm(*, call: Call, config: RuntimeConfig) -> llm.LLM:
    ensure_llm_plugin(config.llm_provider)
    credentials = resolve_credentials(tenant=call.tenant, config=config)
    try:
        return factories.build_llm(config=config, credentials=credentials)
    except factories.ProviderNotReady as exc:
        raise AnalysisFailed("the agent's language model is not ready: " + " ".join(exc.problems)) from None


# --------------------------------------------------------------------------------------------
# The prompt and the answer
# --------------------------------------------------------------------------------------------


def transcript_text(transcript: list[Any]) -> str:
    """The conversation as lines "Caller: ..." / "Agent: ..." (tool calls and notes left out)."""
    lines = [
        f"{ROLE_LABELS[turn['role']]}: {str(turn.get('text') or '').strip()}"
        for turn in transcript
        if isinstance(turn, dict) and turn.get("role") in ROLE_LABELS and str(turn.get("text") or "").strip()
    ]
    text = "\n".join(lines)
    return text if len(text) <= TRANSCRIPT_MAX_CHARS else "[...]\n" + text[-TRANSCRIPT_MAX_CHARS:]


def instructions(*, agent: Agent, answer_schema: dict[str, Any]) -> str:
    """The system message: what to write, the rubric, and the JSON shape of the answer."""
    parts = [
        "You analyse a finished conversation between an AI agent (Agent) and a person (Caller). "
        "Answer with exactly one JSON object and nothing else: no prose, no code fences.",
        f'"summary": {agent.analysis_summary_prompt.strip() or DEFAULT_SUMMARY_PROMPT}',
    ]
    if agent.analysis_schema:
        parts.append(
            '"extracted": the data below, taken only from what was said; leave out a field the '
            "conversation does not tell (unless it is required)."
        )
    else:
        parts.append('"extracted": {} (no data is asked for).')
    if agent.analysis_success_rubric.strip():
        parts.append(
            '"success": true if the call met this rubric, else false. Rubric: ' + agent.analysis_success_rubric.strip()
        )
    parts.append("The answer's JSON Schema:\n" + json.dumps(answer_schema, ensure_ascii=False))
    return "\n\n".join(parts)


def _provider_options(config: RuntimeConfig, answer_schema: dict[str, Any]) -> dict[str, Any]:
    """The provider's structured-output mode, where it has one (see the module docstring)."""
    provider = config.llm_provider
    if provider in ("openai", "openai_compatible"):
        document = {"name": "call_analysis", "schema": answer_schema, "strict": False}
        return {"response_format": {"type": "json_schema", "json_schema": document}}
    if provider == "google":
        return {"response_mime_type": "application/json", "response_json_schema": answer_schema}
    return dict(JSON_MODE.get(provider, {}))


def parse_answer(text: str, *, schema: dict[str, Any], answer_schema: dict[str, Any]) -> tuple[Any, list[str]]:
    """The model's text as an answer and what is wrong with it ([] when valid)."""
    cleaned = text.strip()
    if cleaned.startswith("```"):  # a fenced block despite the instructions: its content is the answer
        cleaned = cleaned.strip("`").removeprefix("json").strip()
    try:
        answer = json.loads(cleaned)
    except ValueError as exc:
        return None, [f"the answer is not valid JSON ({exc.msg} at character {exc.pos})"]
    answer = normalize_answer(answer, schema=schema)
    return answer, analysis_answer_problems(answer, answer_schema=answer_schema)


async def _ask(model: llm.LLM, chat_ctx: llm.ChatContext, *, options: dict[str, Any], spent: _Spent) -> str:
    """One model request (no tools), its text; the tokens are added to `spent`."""
    seconds = _timeout()
    parts: list[str] = []
    try:
        async with asyncio.timeout(seconds):
            stream = model.chat(
                chat_ctx=chat_ctx,
                conn_options=APIConnectOptions(max_retry=0, timeout=seconds),
                extra_kwargs=options,
            )
            async with stream:
                async for chunk in stream:
                    if chunk.delta is not None and chunk.delta.content:
                        parts.append(chunk.delta.content)
                    if chunk.usage is not None:
                        spent.input_tokens += chunk.usage.prompt_tokens
                        spent.output_tokens += chunk.usage.completion_tokens
    except TimeoutError:
        raise AnalysisFailed(f"the language model did not answer within {seconds:g} seconds") from None
    except APIError as exc:
        logger.warning("analysis: language model provider failed: %r", exc)
        reason = "the language model provider failed: " + provider_errors.describe(exc)
        if options and isinstance(exc, APIStatusError) and exc.status_code in (400, 422):
            raise ModeRefused(reason) from None
        raise AnalysisFailed(reason) from None
    return "".join(parts)


async def _analyse(model: llm.LLM, *, agent: Agent, call: Call, config: RuntimeConfig, spent: _Spent) -> AnalysisResult:
    schema = agent.analysis_schema or {}
    with_success = bool(agent.analysis_success_rubric.strip())
    answer_schema = analysis_answer_schema(schema=schema, with_success=with_success)
    options = _provider_options(config, answer_schema)
    chat_ctx = llm.ChatContext()
    chat_ctx.add_message(role="system", content=instructions(agent=agent, answer_schema=answer_schema))
    chat_ctx.add_message(role="user", content="The conversation:\n\n" + transcript_text(call.transcript))
    try:
        try:
            text = await _ask(model, chat_ctx, options=options, spent=spent)
        except ModeRefused:
            # A server that does not know the structured-output option (an older self-hosted one):
            # the schema is in the instructions too, and the answer is checked all the same.
            logger.info("call %s: the provider refused its structured-output mode, asking without it", call.code)
            options = {}
            text = await _ask(model, chat_ctx, options=options, spent=spent)
        answer, problems = parse_answer(text, schema=schema, answer_schema=answer_schema)
        if problems:
            # One more try, told what was wrong with the first answer.
            logger.info("call %s: analysis answer invalid, asking again: %s", call.code, "; ".join(problems))
            chat_ctx.add_message(role="assistant", content=text or "(empty)")
            chat_ctx.add_message(
                role="user",
                content="That answer cannot be used: "
                + "; ".join(problems)
                + ". Answer again with only the JSON object, following the schema.",
            )
            text = await _ask(model, chat_ctx, options=options, spent=spent)
            answer, problems = parse_answer(text, schema=schema, answer_schema=answer_schema)
        if problems:
            raise AnalysisFailed("the model's answer was invalid twice: " + "; ".join(problems))
    finally:
        try:
            await model.aclose()
        except Exception:  # closing is best effort; the answer (or the failure) is what matters
            logger.debug("analysis: closing the model failed", exc_info=True)
    return AnalysisResult(
        summary=str(answer["summary"]).strip(),
        extracted=answer["extracted"],
        success=answer.get("success") if with_success else None,
        cost_usd=_cost(config=config, spent=spent),
    )


def _cost(*, config: RuntimeConfig | None, spent: _Spent) -> Decimal | None:
    """The list-price estimate of the tokens the analysis used (telephony_app/costs.py)."""
    if config is None or not (spent.input_tokens or spent.output_tokens):
        return None
    row = {
        "kind": "llm",
        "provider": config.llm_provider,
        "model": config.llm_model,
        "input_tokens": spent.input_tokens,
        "output_tokens": spent.output_tokens,
    }
    return costs.estimate_cost_usd([row])
