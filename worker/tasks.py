"""Celery tasks of the voice worker's app: thin, each calls one function (autodiscovered by the Celery app)."""

from __future__ import annotations

from celery import shared_task

from telephony_app.analysis import ANALYSIS_TASK


@shared_task(name=ANALYSIS_TASK)
def analyze_call(call_id: int) -> str:
    """The post-call analysis of Call call_id (queued by name from telephony_app/analysis.py); returns
    its status, or "skipped" when the call was not pending (a redelivered or repeated message)."""
    # Imported here: the analysis loads LiveKit and the provider plugins, which a process that only
    # imports the task list (celery inspect, beat) does not need.
    from worker.analysis import analyze_call as analyse

    call = analyse(call_id=call_id)
    return call.analysis_status if call is not None else "skipped"
