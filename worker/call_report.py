"""A finished call's session report -> its Call row: outcome, transcript, turn metrics, usage.

worker.entrypoint.finish_call (the job's on_session_end) reads the report and hands it here.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from django.db import DatabaseError, close_old_connections, connection
from livekit.agents.voice.events import CloseReason

from telephony_app import costs
from telephony_app.models import CallStatus
from telephony_app.services import call_finish
from worker.call_state import CallState

logger = logging.getLogger("worker.entrypoint")  # the call log's records keep their logger name


def call_outcome(state: CallState) -> tuple[CallStatus, str]:
    line = state.line
    if state.ended is not None:  # decided on the line: no answer, busy, answering machine
        return state.ended
    if state.close_reason == CloseReason.ERROR:
        return CallStatus.FAILED, f"provider error: {state.close_error}"[:200]
    if line is not None and line.transferred_to:
        return CallStatus.TRANSFERRED, f"transferred to {line.transferred_to}"
    if line is not None and line.hung_up:
        return CallStatus.COMPLETED, "the agent ended the call"
    if state.close_reason == CloseReason.PARTICIPANT_DISCONNECTED:
        return CallStatus.COMPLETED, "the caller hung up"
    return CallStatus.COMPLETED, "the session closed (room closed or worker shutting down)"


def write_call_log(state: CallState, *, status: CallStatus, end_reason: str, **report: Any) -> None:
    close_old_connections()
    try:
        if state.call is None or state.tenant is None:
            logger.error("call %s ended with no Call row to write (database was unreachable)", state.call_label)
            return
        errors = list(state.errors)
        if state.close_error and state.close_error not in " ".join(errors):
            errors.append(state.close_error)
        call_finish(
            tenant=state.tenant,
            call=state.call,
            status=status,
            end_reason=end_reason,
            config_source=state.config_source,
            error="; ".join(errors),
            **report,
        )
        logger.info("call %s ended: %s (%s)", state.call_label, status.value, end_reason)
    except DatabaseError:
        # A reconciliation marks the call failed later; it is never left in progress forever.
        logger.exception("call %s: could not write the call log", state.call_label)
    finally:
        connection.close()


def iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).isoformat(timespec="milliseconds")


def history_entries(items: list[Any], *, bare_empty_arguments: bool = False) -> list[tuple[float, dict[str, Any]]]:
    """Chat-history items as (time, entry): what the caller and the agent said, and the tools it called.

    Shared by the call report and the text chat; bare_empty_arguments writes `end_call()` rather
    than `end_call({})`.
    """
    entries: list[tuple[float, dict[str, Any]]] = []
    for item in items:
        if item.type == "message" and item.role in ("user", "assistant") and (item.text_content or "").strip():
            entry = {"role": item.role, "text": item.text_content.strip(), "at": iso(item.created_at)}
            if item.interrupted:
                entry["interrupted"] = True
            entries.append((item.created_at, entry))
        elif item.type == "function_call":
            arguments = item.arguments
            if bare_empty_arguments and arguments.strip() in ("", "{}"):
                arguments = ""
            entries.append(
                (item.created_at, {"role": "tool", "text": f"{item.name}({arguments})", "at": iso(item.created_at)})
            )
    return entries


def transcript_from(items: list[Any], notes: list[tuple[float, str]]) -> list[dict[str, Any]]:
    """Ordered turns: what the caller and the agent said, the tools it used, what happened on the line."""
    entries = history_entries(items)
    entries += [(at, {"role": "system", "text": text, "at": iso(at)}) for at, text in notes]
    return [entry for _, entry in sorted(entries, key=lambda pair: pair[0])]


USER_METRICS = {"end_of_turn_delay": "end_of_turn_delay", "transcription_delay": "transcription_delay"}
AGENT_METRICS = {"llm_ttft": "llm_node_ttft", "tts_ttfb": "tts_node_ttfb", "e2e_latency": "e2e_latency"}


def turn_metrics_from(items: list[Any]) -> list[dict[str, Any]]:
    """Per agent turn: the caller's end-of-turn and transcription delays, then LLM, TTS and end-to-end latency."""
    turns: list[dict[str, Any]] = []
    pending: dict[str, float] = {}
    for item in items:
        if item.type != "message":
            continue
        metrics = item.metrics or {}
        if item.role == "user":
            pending = {name: metrics[key] for name, key in USER_METRICS.items() if metrics.get(key) is not None}
        elif item.role == "assistant":
            turn = {**pending, **{name: metrics[key] for name, key in AGENT_METRICS.items() if metrics.get(key)}}
            pending = {}
            if turn:
                turns.append({"turn": len(turns) + 1, **{k: round(float(v), 4) for k, v in turn.items()}})
    return turns


def usage_from(model_usage: list[Any]) -> list[dict[str, Any]]:
    """One row per model: tokens for LLMs, characters and audio seconds for TTS, audio seconds for STT."""
    rows = []
    for usage in model_usage:
        kind = {"llm_usage": "llm", "tts_usage": "tts", "stt_usage": "stt"}.get(usage.type)
        if kind is None:
            continue
        rows.append(
            {
                "kind": kind,
                "provider": costs.normalize_provider(usage.provider or ""),
                "model": usage.model,
                "input_tokens": getattr(usage, "input_tokens", 0),
                "output_tokens": getattr(usage, "output_tokens", 0),
                "characters": getattr(usage, "characters_count", 0),
                "audio_seconds": round(float(getattr(usage, "audio_duration", 0.0)), 3),
            }
        )
    return rows
