"""Post-call analysis, the call log's side: which calls are analysed, the claim, and the one write.

After a call ends (the call-end hook, telephony_app/call_hooks.py), a call whose agent has analysis
switched on and that has a conversation is marked pending and a Celery task is queued. The task
lives in the voice worker's app (worker/tasks.py, worker/analysis.py): it builds the agent's
language model with the provider factories, which neither this app nor any web request may import
(tests/test_import_layers.py). So this app queues it by NAME with send_task: the web process only
publishes a message and never imports the worker's modules (nor LiveKit); the Celery workers, where
autodiscovery imports worker/tasks.py, run it. A registry filled by the worker's AppConfig.ready was
the other way, but handing the web process a callable of the worker would import that module there.

Exactly once: the task claims the call with a conditional UPDATE (pending -> running) before it
calls the model, so a redelivered message, or a second one, finds nothing to claim and calls no
model. A claim older than ANALYSIS_CLAIM_LEASE (a Celery worker killed mid-task; acks_late
redelivers its message) may be taken again. The result is written by call_analysis_store alone.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from celery import current_app
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from telephony_app.models import TERMINAL_STATUSES, AnalysisStatus, Call
from voiceplatform.webhooks.services import webhook_emit

logger = logging.getLogger(__name__)

ANALYSIS_TASK = "worker.tasks.analyze_call"  # the Celery task's name (worker/tasks.py registers it)
HOOK_NAME = "telephony_app.analysis"
# Longer than the task's hard time limit (CELERY_TASK_TIME_LIMIT, 300 s): a claim this old belongs to
# a task that is no longer running, so a redelivered message may take it over.
ANALYSIS_CLAIM_LEASE = datetime.timedelta(minutes=10)
ERROR_MAX_CHARS = 1000
NOT_QUEUED = "the analysis could not be queued (the task broker did not answer)"


def has_conversation(transcript: Any) -> bool:
    """Whether a transcript holds something said by the caller or the agent (else there is nothing to analyse)."""
    return isinstance(transcript, list) and any(
        isinstance(turn, dict) and turn.get("role") in ("user", "assistant") and str(turn.get("text") or "").strip()
        for turn in transcript
    )


def _calls_by_pk() -> Any:
    # Crosses tenants on purpose: the call-end hook and the task know only the Call's primary key;
    # each names exactly one row, whose own tenant and agent are then used for everything else.
    return Call.objects.across_tenants(reason="post-call analysis names one call by its primary key")


def call_analysis_request(*, call_id: int) -> bool:
    """Mark the ended call pending and queue its analysis, once, if its agent analyses calls and it has a
    conversation; returns whether it was queued. Safe to call again: a call already marked is left alone."""
    # Runs after every call's end (a Twilio status callback's request): one small query, which finds
    # nothing unless the agent analyses calls and the call is not marked yet.
    call = (
        _calls_by_pk()
        .filter(pk=call_id, agent__analysis_enabled=True, analysis_status="")
        .only("id", "code", "tenant_id", "status", "transcript")
        .first()
    )
    if call is None:
        return False
    if call.status not in TERMINAL_STATUSES or not has_conversation(call.transcript):
        # No transcript yet (a status callback can end a call before the worker's report): the
        # report asks again when it brings one (telephony_app.services.call_finish).
        return False
    marked = (
        _calls_by_pk()  # the row just read, by its key
        .filter(pk=call.pk, analysis_status="")
        .update(analysis_status=AnalysisStatus.PENDING, analysis_error="", updated_at=timezone.now())
    )
    if not marked:
        return False
    transaction.on_commit(lambda: _enqueue(call))
    return True


def _enqueue(call: Call) -> None:
    try:
        current_app.send_task(ANALYSIS_TASK, args=[call.pk])
    except Exception:  # the broker is down: say so on the call rather than leave it pending forever
        logger.exception("call %s: the analysis task could not be queued", call.code)
        call_analysis_fail(call_id=call.pk, reason=NOT_QUEUED, claimed=False)


def analysis_on_call_end(call_id: int, status: str, end_reason: str, at: datetime.datetime) -> None:
    """The call-end hook (registered in TelephonyAppConfig.ready)."""
    call_analysis_request(call_id=call_id)


def call_analysis_request_on_commit(*, call_id: int) -> None:
    """Ask for the analysis once the current transaction commits (a report that brings a transcript)."""
    transaction.on_commit(lambda: call_analysis_request(call_id=call_id))


def call_analysis_claim(*, call_id: int, now: datetime.datetime | None = None) -> Call | None:
    """Take the call's pending analysis (or one whose claim outlived ANALYSIS_CLAIM_LEASE) for this task,
    in one conditional UPDATE; None when there is nothing to take (done, failed, or running elsewhere)."""
    now = now or timezone.now()
    claimable = Q(analysis_status=AnalysisStatus.PENDING) | Q(
        analysis_status=AnalysisStatus.RUNNING, analysis_started_at__lt=now - ANALYSIS_CLAIM_LEASE
    )
    call = _calls_by_pk().select_related("tenant", "agent").filter(pk=call_id).first()
    if call is None:
        return None
    claimed = (
        Call.objects.for_tenant(call.tenant)
        .filter(claimable, pk=call_id)
        .update(analysis_status=AnalysisStatus.RUNNING, analysis_started_at=now, updated_at=now)
    )
    if not claimed:
        logger.info("call %s: analysis already %s, nothing to do", call.code, call.analysis_status or "not asked")
        return None
    call.analysis_status, call.analysis_started_at = AnalysisStatus.RUNNING, now
    return call


@dataclass(frozen=True)
class AnalysisResult:
    """A finished analysis: the summary, the extracted data (valid for the agent's schema), the
    verdict against the success rubric (None: no rubric) and what the model's requests cost."""

    summary: str
    extracted: dict[str, Any]
    success: bool | None
    cost_usd: Decimal | None


def call_analysis_store(*, call_id: int, result: AnalysisResult) -> Call | None:
    """Store a finished analysis on the call (done), if this task still holds the claim; the one place
    a result is written, so whatever must follow an analysis (a `call.analyzed` webhook) goes here."""
    now = timezone.now()
    with transaction.atomic():
        call = _calls_by_pk().select_for_update().filter(pk=call_id).first()
        if call is None or call.analysis_status != AnalysisStatus.RUNNING:
            return None
        call.summary = result.summary
        call.extracted = result.extracted
        call.success = result.success
        call.analysis_cost_usd = result.cost_usd
        call.analysis_status = AnalysisStatus.DONE
        call.analysis_error = ""
        call.analyzed_at = now
        call.save(
            update_fields=[
                "summary",
                "extracted",
                "success",
                "analysis_cost_usd",
                "analysis_status",
                "analysis_error",
                "analyzed_at",
                "updated_at",
            ]
        )
        # In the transaction that stores it: a rolled-back store sends nothing.
        webhook_emit(
            tenant=call.tenant,
            event="call.analyzed",
            data=lambda: {
                "callId": call.code,
                "summary": call.summary,
                "extracted": call.extracted,
                "success": call.success,
            },
        )
    return call


def call_analysis_fail(
    *, call_id: int, reason: str, cost_usd: Decimal | None = None, claimed: bool = True
) -> Call | None:
    """Record why the analysis failed (the reason is the platform's words, never a provider's body).
    claimed=False: it never reached a task (pending)."""
    held = AnalysisStatus.RUNNING if claimed else AnalysisStatus.PENDING
    with transaction.atomic():
        call = _calls_by_pk().select_for_update().filter(pk=call_id).first()
        if call is None or call.analysis_status != held:
            return None
        call.analysis_status = AnalysisStatus.FAILED
        call.analysis_error = reason[:ERROR_MAX_CHARS]
        call.analysis_cost_usd = cost_usd
        call.analyzed_at = timezone.now()
        call.save(update_fields=["analysis_status", "analysis_error", "analysis_cost_usd", "analyzed_at", "updated_at"])
    logger.warning("call %s: analysis failed: %s", call.code, reason)
    return call
