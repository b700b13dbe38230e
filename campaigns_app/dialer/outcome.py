"""The end of an attempt, written exactly once whoever reports it first (the voice worker, a LiveKit
or Twilio webhook, place_call on a SIP error, the lease reaper), and the contact's next state."""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from agents_app.models import VoicemailAction
from campaigns_app.models import (
    AttemptOutcome,
    CallAttempt,
    Campaign,
    CampaignStatus,
    CampaignVoicemailAction,
    Contact,
    ContactStatus,
)
from campaigns_app.webhook_events import campaign_status_changed

logger = logging.getLogger(__name__)

# Outcomes after which the contact is done with (the campaign reached the person or their voicemail
# with a message); the others retry while attempts are left.
REACHED = frozenset({AttemptOutcome.ANSWERED})
RETRIED = frozenset({AttemptOutcome.NO_ANSWER, AttemptOutcome.BUSY, AttemptOutcome.FAILED, AttemptOutcome.REJECTED})
REASON_MAX = 200
# What the voice worker's end reason says when it left the voicemail message.
MESSAGE_LEFT = "message left"


@dataclass(frozen=True)
class NotDialed:
    """Why a claimed contact was not dialed after all, and what it becomes: `status` held/skipped (a
    standing rule: DNC, consent, unknown zone) or pending again at `retry_at` (a window that closed)."""

    rule: str
    reason: str
    status: str = ContactStatus.PENDING
    retry_at: datetime.datetime | None = None


def _attempt_locked(attempt_id: int) -> CallAttempt | None:
    return (
        CallAttempt.objects.across_tenants(reason="the dialer and the call's reporters name the attempt by id")
        .select_for_update(of=("self",))  # the campaign's agent may be gone (SET_NULL): an outer join
        .select_related("campaign", "campaign__agent")
        .filter(pk=attempt_id)
        .first()
    )


def _contact_locked(attempt: CallAttempt) -> Contact | None:
    return (
        Contact.objects.across_tenants(reason="the contact of an attempt, tenant taken from the attempt")
        .select_for_update()
        .filter(pk=attempt.contact_id, tenant_id=attempt.tenant_id)
        .first()
    )


def _is_current(contact: Contact, attempt: CallAttempt) -> bool:
    """Whether the contact's claim is this attempt's (not an older attempt reported late)."""
    if contact.status != ContactStatus.DIALING:
        return False
    latest = CallAttempt.objects.across_tenants(reason="same contact").filter(contact_id=contact.pk)
    return latest.aggregate(n=Max("attempt_no"))["n"] == attempt.attempt_no


def voicemail_leaves_message(campaign: Campaign) -> bool:
    """The voicemail action in force: the campaign's override, else its agent's."""
    if campaign.voicemail_action != CampaignVoicemailAction.INHERIT:
        return campaign.voicemail_action == CampaignVoicemailAction.LEAVE_MESSAGE
    agent = campaign.agent
    return agent is not None and agent.voicemail_action == VoicemailAction.LEAVE_MESSAGE


def _next_state(contact: Contact, attempt: CallAttempt, outcome: str, detail: str, at: datetime.datetime) -> None:
    campaign = attempt.campaign
    contact.last_outcome = outcome
    contact.lease_expires_at = None
    # A voicemail counts as reached only when the worker says it left the message (not a full mailbox or
    # an IVR it hung up on).
    reached = outcome in REACHED or (outcome == AttemptOutcome.VOICEMAIL and MESSAGE_LEFT in detail)
    if reached:
        contact.status = ContactStatus.COMPLETED
        contact.next_attempt_at = None
        contact.reason = ""
    elif contact.attempts >= campaign.max_attempts:
        contact.status = ContactStatus.EXHAUSTED
        contact.next_attempt_at = None
        contact.reason = (
            f"attempts: {contact.attempts} of {campaign.max_attempts} made, last {outcome.replace('_', ' ')}"
        )
    else:
        contact.status = ContactStatus.RETRY
        contact.next_attempt_at = at + datetime.timedelta(minutes=campaign.retry_backoff_minutes)
        contact.reason = detail[:REASON_MAX]


@transaction.atomic
def attempt_finish(*, attempt_id: int, outcome: str, detail: str = "", at: datetime.datetime | None = None) -> bool:
    """Writes the attempt's outcome and moves its contact on (completed / retry at now + backoff /
    exhausted). Exactly once: an attempt that already has an outcome is left alone (returns False),
    so the worker, a webhook and the reaper may all report the same call."""
    if outcome not in AttemptOutcome.values or outcome in (AttemptOutcome.PENDING, AttemptOutcome.NOT_DIALED):
        raise ValueError(f"not a call outcome: {outcome!r} (use attempt_not_dialed for a refused claim)")
    at = at or timezone.now()
    attempt = _attempt_locked(attempt_id)
    if attempt is None or attempt.outcome:
        return False
    attempt.outcome = outcome
    attempt.detail = detail[:REASON_MAX]
    attempt.ended_at = at
    attempt.save(update_fields=["outcome", "detail", "ended_at"])
    contact = _contact_locked(attempt)
    if contact is not None and _is_current(contact, attempt):
        _next_state(contact, attempt, outcome, detail, at)
        contact.save(
            update_fields=["status", "next_attempt_at", "reason", "last_outcome", "lease_expires_at", "updated_at"]
        )
    _complete_if_done(attempt.campaign_id, at)
    return True


@transaction.atomic
def attempt_not_dialed(*, attempt_id: int, refusal: NotDialed, at: datetime.datetime | None = None) -> bool:
    """A claim refused right before dialing: the attempt records the rule (outcome not_dialed), the
    contact gets its attempt back and becomes what the refusal says. Exactly once, like attempt_finish."""
    at = at or timezone.now()
    attempt = _attempt_locked(attempt_id)
    if attempt is None or attempt.outcome or attempt.call_id is not None:
        return False
    attempt.outcome = AttemptOutcome.NOT_DIALED
    attempt.detail = f"{refusal.rule}: {refusal.reason}"[:REASON_MAX]
    attempt.ended_at = at
    attempt.save(update_fields=["outcome", "detail", "ended_at"])
    contact = _contact_locked(attempt)
    if contact is not None and _is_current(contact, attempt):
        contact.attempts = max(0, contact.attempts - 1)
        contact.status = refusal.status
        contact.lease_expires_at = None
        contact.reason = f"{refusal.rule}: {refusal.reason}"[:REASON_MAX]
        contact.next_attempt_at = (refusal.retry_at or at) if refusal.status in _DUE else None
        contact.save(
            update_fields=["attempts", "status", "next_attempt_at", "reason", "lease_expires_at", "updated_at"]
        )
    return True


_DUE = frozenset({ContactStatus.PENDING, ContactStatus.RETRY})


def _complete_if_done(campaign_id: int, at: datetime.datetime) -> None:
    """A running campaign with no contact left to call (none pending, due for retry or dialing) is completed."""
    left = (
        Contact.objects.across_tenants(reason="the campaign of an attempt")
        .filter(campaign_id=campaign_id, status__in=[ContactStatus.PENDING, ContactStatus.RETRY, ContactStatus.DIALING])
        .exists()
    )
    if left:
        return
    with transaction.atomic():  # the change and its webhook event commit together
        if (
            Campaign.objects.across_tenants(reason="the campaign of an attempt")
            .filter(pk=campaign_id, status=CampaignStatus.RUNNING)
            .update(status=CampaignStatus.COMPLETED, status_changed_at=at, finished_at=at, updated_at=at)
        ):
            _status_changed(campaign_id, previous=CampaignStatus.RUNNING, at=at)


def _status_changed(pk: int, *, previous: str, at: datetime.datetime) -> None:
    """campaign.status_changed for a status the dialer wrote with an UPDATE (its row re-read)."""
    # Crosses tenants like the dialer itself: the campaign's own tenant's endpoints get its event.
    campaign = (
        Campaign.objects.across_tenants(reason="a dialer status change, announced to its own tenant")
        .select_related("tenant")
        .get(pk=pk)
    )
    campaign_status_changed(tenant=campaign.tenant, campaign=campaign, previous=previous, at=at)


def reap_expired_leases(*, now: datetime.datetime | None = None, limit: int = 1000) -> int:
    """Claims whose lease expired with no call placed (the Celery worker died between claim and dial, or
    its task was lost): the attempt is recorded as failed and the contact goes back to the queue (retry
    at once, or exhausted). Claims that have a Call are left to the call's own end."""
    now = now or timezone.now()
    expired = list(
        CallAttempt.objects.across_tenants(reason="the reaper serves every tenant")
        .filter(outcome="", call__isnull=True, contact__status=ContactStatus.DIALING, contact__lease_expires_at__lt=now)
        .values_list("pk", flat=True)[:limit]
    )
    reaped = 0
    for attempt_id in expired:
        if _reap_one(attempt_id, now):
            reaped += 1
    if reaped:
        logger.warning("dialer reaper: %s claim(s) expired without a call, returned to the queue", reaped)
    return reaped


@transaction.atomic
def _reap_one(attempt_id: int, now: datetime.datetime) -> bool:
    attempt = _attempt_locked(attempt_id)
    if attempt is None or attempt.outcome or attempt.call_id is not None:
        return False
    contact = _contact_locked(attempt)
    if contact is None or contact.lease_expires_at is None or contact.lease_expires_at >= now:
        return False
    attempt.outcome = AttemptOutcome.FAILED
    attempt.detail = "lease expired: the call was never placed (worker lost); returned to the queue"
    attempt.ended_at = now
    attempt.save(update_fields=["outcome", "detail", "ended_at"])
    if _is_current(contact, attempt):
        # The call never went out: the attempt is given back, the contact is due again now.
        contact.attempts = max(0, contact.attempts - 1)
        contact.status = ContactStatus.RETRY if contact.attempts else ContactStatus.PENDING
        contact.next_attempt_at = now
        contact.lease_expires_at = None
        contact.reason = "lease expired: returned to the queue"
        contact.save(
            update_fields=["attempts", "status", "next_attempt_at", "reason", "lease_expires_at", "updated_at"]
        )
    return True
