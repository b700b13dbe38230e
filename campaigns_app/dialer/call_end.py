"""A campaign call's end -> its attempt's outcome, whoever reported the end.

telephony_app announces every Call's final end through its call-end hooks (telephony_app.call_hooks):
the voice worker's report, Twilio's status callback, the stale-call reaper, and the worker's report
replacing a provisional end (a LiveKit webhook, the reconciliation). The hook registered here
(campaigns_app.wiring) finds the CallAttempt that placed the call and writes its outcome through
attempt_finish, which writes it once however many reports arrive. An attempt can stay open after its
call ended: a provisional end the worker never replaced (it died), or a process that died between
the end's commit and the hook. settle_ended_calls, run with the lease reaper, gives such attempts the
call's end as their outcome once SETTLE_GRACE has passed.
"""

from __future__ import annotations

import datetime
import logging

from django.utils import timezone

from campaigns_app.dialer.outcome import attempt_finish
from campaigns_app.models import AttemptOutcome, CallAttempt
from telephony_app.models import TERMINAL_STATUSES, CallStatus

logger = logging.getLogger(__name__)

HOOK_NAME = "campaigns_app.attempt_outcome"

OUTCOME_FOR_STATUS: dict[str, str] = {
    CallStatus.COMPLETED: AttemptOutcome.ANSWERED,
    CallStatus.TRANSFERRED: AttemptOutcome.ANSWERED,
    CallStatus.VOICEMAIL: AttemptOutcome.VOICEMAIL,
    CallStatus.NO_ANSWER: AttemptOutcome.NO_ANSWER,
    CallStatus.BUSY: AttemptOutcome.BUSY,
    CallStatus.FAILED: AttemptOutcome.FAILED,
}
# How long an ended call's attempt may stay open before the backstop writes it (the hook runs
# right after the end's commit; this only catches the ones whose hook never ran).
SETTLE_GRACE = datetime.timedelta(seconds=60)
# Words of a failed call's end reason that say the callee (or their carrier) refused it.
REJECTED_WORDS = ("rejected", "declined", "refused by the callee")


def attempt_outcome_for(status: str, end_reason: str) -> str | None:
    """The attempt outcome a call's terminal status stands for (None: not a terminal status)."""
    outcome = OUTCOME_FOR_STATUS.get(status)
    if outcome == AttemptOutcome.FAILED and any(word in end_reason.casefold() for word in REJECTED_WORDS):
        return AttemptOutcome.REJECTED
    return outcome


def attempt_on_call_end(call_id: int, status: str, end_reason: str, at: datetime.datetime) -> None:
    """The call-end hook: the attempt that placed Call call_id gets its outcome (once); calls that
    no campaign placed (inbound, tests, single API calls) have no attempt and are left alone."""
    outcome = attempt_outcome_for(status, end_reason)
    if outcome is None:
        return
    # Crosses tenants on purpose: the Call's primary key names exactly one attempt, and the outcome
    # is written to that attempt of that call's own tenant.
    attempts = CallAttempt.objects.across_tenants(reason="the call-end hook names the attempt by its call")
    for attempt_id in attempts.filter(call_id=call_id, outcome="").values_list("pk", flat=True):
        if attempt_finish(attempt_id=attempt_id, outcome=outcome, detail=end_reason, at=at):
            logger.info("attempt %s: %s (call %s %s)", attempt_id, outcome, call_id, status)


def settle_ended_calls(
    *, now: datetime.datetime | None = None, grace: datetime.timedelta = SETTLE_GRACE, limit: int = 1000
) -> int:
    """The call-end hook's backstop: attempts still open whose Call ended more than `grace` ago get the
    outcome of that end (at its end time); returns how many. Idempotent, like attempt_finish."""
    cutoff = (now or timezone.now()) - grace
    # Crosses tenants on purpose, like the lease reaper: one rule for every open attempt, each written
    # in its own tenant by attempt_finish.
    ended = (
        CallAttempt.objects.across_tenants(reason="the call-end backstop serves every tenant")
        .filter(outcome="", call__status__in=sorted(TERMINAL_STATUSES), call__ended_at__lt=cutoff)
        .values_list("pk", "call_id", "call__status", "call__end_reason", "call__ended_at")[:limit]
    )
    settled = 0
    for attempt_id, call_id, status, end_reason, ended_at in list(ended):
        outcome = attempt_outcome_for(status, end_reason)
        if outcome and attempt_finish(attempt_id=attempt_id, outcome=outcome, detail=end_reason, at=ended_at):
            settled += 1
            logger.warning("attempt %s: call %s ended (%s), outcome written late", attempt_id, call_id, status)
    return settled
