"""place_call: one claimed attempt becomes one outbound call. Idempotent under Celery's redelivery
(acks_late): an attempt that already has a Call or an outcome is left alone, so a redelivered task
never dials twice.

1. In one transaction, with the attempt and its contact locked: the eligibility checks again (the
   window may have closed, the number may have joined the DNC list or lost its consent since the
   claim), then the outbound Call, linked from the attempt with the consent relied on.
2. After commit: the LiveKit room with the agent dispatched and the SIP dial through the caller ID's
   outbound trunk (telephony_app.outbound).
3. A failed dial: LiveKit unreachable, not configured or refusing the room -> the callee's phone
   never rang, the contact gets its attempt back (due again in LIVEKIT_RETRY_SECONDS) and the
   campaign shows the error; a SIP failure -> the attempt's outcome (busy, no answer, rejected,
   failed), which schedules the contact's retry or ends it.
4. A place_call that stopped between the Call and the dial (its worker killed) leaves a queued Call:
   release_unplaced_calls, run by the lease reaper, fails it and retries the contact.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from typing import Literal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents_app.validation import outbound_agent_problem
from campaigns_app.dialer.eligibility import dial_refusal
from campaigns_app.dialer.outcome import NotDialed, attempt_finish, attempt_not_dialed
from campaigns_app.models import AttemptOutcome, CallAttempt, Campaign, Consent, Contact, ContactStatus
from telephony_app import livekit_client
from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.outbound import (
    DialFailure,
    outbound_callee_dial,
    outbound_metadata,
    outbound_room_create,
    outbound_room_name,
    room_delete_quietly,
    sip_failure,
)
from telephony_app.services import call_create, call_finish, call_transition

logger = logging.getLogger(__name__)

# LiveKit unreachable: the contact is due again this soon (the tick's own budgets pace the retries).
LIVEKIT_RETRY_SECONDS = 30
# A caller ID or agent that cannot place calls any more (changed after the start): the contact waits
# this long before the next try, and the campaign says why meanwhile.
SETUP_RETRY_SECONDS = 300
ENDED_BY_DIALER = "dialer"

Result = Literal["placed", "gone", "done", "not_dialed", "unavailable", "sip_failed"]


def place_call(attempt_id: int, *, now: datetime.datetime | None = None) -> Result:
    """Places the claimed attempt's call; returns what happened, one word (for the task's log and tests):
    placed, gone (no such attempt: its contact or campaign was deleted), done (it already has a Call or
    an outcome: a redelivered task), not_dialed (refused by the recheck), unavailable (LiveKit could not
    take the call; the contact is due again soon), sip_failed (the dial failed: the attempt's outcome)."""
    now = now or timezone.now()
    prepared = _prepare(attempt_id, now)
    if isinstance(prepared, str):
        return prepared
    attempt, call, trunk_id, metadata = prepared
    try:
        room = outbound_room_create(call=call, metadata=metadata)
    except livekit_client.LiveKitError as error:
        # No room, no call: the platform's problem (down, not configured, or refusing us), not the callee's.
        return _unavailable(attempt, call, _livekit_reason(error))
    try:
        sip_call_id = outbound_callee_dial(
            call=call, room=room, trunk_id=trunk_id, ringing_timeout_seconds=ring_timeout_seconds()
        )
    except livekit_client.LiveKitRequestFailed as error:
        return _sip_failed(attempt, call, sip_failure(error))
    except livekit_client.LiveKitError as error:
        return _unavailable(attempt, call, _livekit_reason(error))
    call_transition(tenant=attempt.tenant, call=call, status=CallStatus.RINGING, reason="dialing")
    _clear_campaign_error(attempt.campaign_id)
    logger.info("dialer: attempt %s placed as call %s (SIP call %s)", attempt.pk, call.code, sip_call_id)
    return "placed"


def ring_timeout_seconds() -> int:
    """How long the callee's phone rings: DIALER_RING_TIMEOUT_SECONDS, never under 15 s (COMPLIANCE.md)."""
    return max(15, settings.DIALER_RING_TIMEOUT_SECONDS)


def _livekit_reason(error: livekit_client.LiveKitError) -> str:
    if isinstance(error, livekit_client.LiveKitRequestFailed):
        return f"LiveKit refused the call's room: {error}"
    return f"LiveKit unreachable: {error}"


def _attempt_locked(attempt_id: int) -> CallAttempt | None:
    return (
        CallAttempt.objects.across_tenants(reason="a queued task names the attempt by id; it runs in its own tenant")
        # of=self: the campaign's agent and caller ID are outer joins (null once released).
        .select_for_update(of=("self",))
        .select_related("tenant", "campaign", "campaign__agent", "campaign__caller_id")
        .filter(pk=attempt_id)
        .first()
    )


@transaction.atomic
def _prepare(attempt_id: int, now: datetime.datetime) -> str | tuple[CallAttempt, Call, str, dict[str, object]]:
    """The recheck and the Call, in one transaction; a result word when there is nothing to dial."""
    attempt = _attempt_locked(attempt_id)
    if attempt is None:
        logger.info("dialer: attempt %s no longer exists (its contact or campaign was deleted)", attempt_id)
        return "gone"
    if attempt.outcome or attempt.call_id is not None:
        return "done"
    contact = Contact.objects.for_tenant(attempt.tenant).select_for_update().filter(pk=attempt.contact_id).first()
    if contact is None:
        return "gone"
    campaign = attempt.campaign
    refusal = _setup_refusal(campaign, contact, now)
    consent = None
    if refusal is None:
        refusal, consent = dial_refusal(
            tenant=attempt.tenant,
            number=attempt.number or contact.number,
            dial_zone=contact.dial_zone,
            window=campaign.calling_window,
            requires_consent=campaign.requires_consent,
            campaign=campaign,
            now=now,
            attempt_id=attempt.pk,
        )
    if refusal is not None:
        attempt_not_dialed(attempt_id=attempt.pk, refusal=refusal, at=now)
        if refusal.rule == "setup":
            _set_campaign_error(campaign.pk, refusal.reason, now)
        logger.info("dialer: attempt %s not dialed: %s: %s", attempt.pk, refusal.rule, refusal.reason)
        return "not_dialed"
    agent, caller_id = campaign.agent, campaign.caller_id
    assert agent is not None and caller_id is not None  # _setup_refusal checked both
    call = _call_create(attempt, contact, consent)
    attempt.call = call
    attempt.consent = consent
    attempt.started_at = now
    attempt.save(update_fields=["call", "consent", "started_at"])
    contact.lease_expires_at = now + datetime.timedelta(seconds=settings.DIALER_LEASE_SECONDS)
    contact.save(update_fields=["lease_expires_at", "updated_at"])
    metadata = outbound_metadata(
        call=call,
        agent_code=agent.code,
        tenant_code=attempt.tenant.code,
        variables=contact.variables,
        campaign_id=str(campaign.code),
        attempt_id=str(attempt.code),
        contact_id=str(contact.code),
    )
    return attempt, call, caller_id.outbound_trunk_id, metadata


def _setup_refusal(campaign: Campaign, contact: Contact, now: datetime.datetime) -> NotDialed | None:
    """What stops the campaign's own agent or caller ID from placing this call (changed since the start),
    or a contact no longer waiting for this claim."""
    if contact.status != ContactStatus.DIALING:
        return NotDialed("claim", f"the contact is {contact.get_status_display().lower()}, not dialing")
    retry_at = now + datetime.timedelta(seconds=SETUP_RETRY_SECONDS)
    agent, caller_id = campaign.agent, campaign.caller_id
    if agent is None:
        return NotDialed("setup", "the campaign has no agent", retry_at=retry_at)
    if problem := outbound_agent_problem(name=agent.name, direction=agent.direction, is_active=agent.is_active):
        return NotDialed("setup", problem, retry_at=retry_at)
    if caller_id is None or not caller_id.is_active:
        return NotDialed("setup", "the campaign's caller ID is missing or switched off", retry_at=retry_at)
    if not caller_id.outbound_trunk_id:
        return NotDialed(
            "setup",
            f"the caller ID {caller_id.number} has no outbound trunk: set its LiveKit outbound trunk id on the "
            "Numbers page",
            retry_at=retry_at,
        )
    return None


def _call_create(attempt: CallAttempt, contact: Contact, consent: Consent | None) -> Call:
    """The queued outbound Call; its context names the campaign, attempt, contact and consent relied on."""
    campaign = attempt.campaign
    assert campaign.caller_id is not None
    code = uuid.uuid4()
    context = {
        "source": "campaign",
        "campaign_id": str(campaign.code),
        "attempt_id": str(attempt.code),
        "contact_id": str(contact.code),
    }
    if consent is not None:
        context["consent_id"] = str(consent.code)
    return call_create(
        tenant=attempt.tenant,
        agent=campaign.agent,
        direction=CallDirection.OUTBOUND,
        from_number=campaign.caller_id.number,
        to_number=attempt.number or contact.number,
        room_name=outbound_room_name(code),
        code=code,
        status=CallStatus.QUEUED,
        context=context,
        campaign_code=campaign.code,
    )


@transaction.atomic
def _release(attempt: CallAttempt, reason: str, now: datetime.datetime) -> None:
    """The call never reached the callee: the attempt lets go of its Call and gives the contact its
    attempt back, due again in LIVEKIT_RETRY_SECONDS. The Call stays in the call log, failed."""
    locked = _attempt_locked(attempt.pk)
    if locked is None or locked.outcome:
        return
    locked.call = None
    locked.consent = None
    locked.started_at = None
    locked.save(update_fields=["call", "consent", "started_at"])
    retry_at = now + datetime.timedelta(seconds=LIVEKIT_RETRY_SECONDS)
    attempt_not_dialed(
        attempt_id=locked.pk,
        refusal=NotDialed("livekit", reason, status=ContactStatus.PENDING, retry_at=retry_at),
        at=now,
    )


def _unavailable(attempt: CallAttempt, call: Call, reason: str) -> Result:
    now = timezone.now()
    # The attempt first: a call-end hook reacting to the failed Call then finds no attempt to finish.
    _release(attempt, reason, now)
    call_finish(
        tenant=attempt.tenant, call=call, status=CallStatus.FAILED, end_reason=reason, error=reason,
        ended_by=ENDED_BY_DIALER,
    )  # fmt: skip
    _set_campaign_error(attempt.campaign_id, reason, now)
    logger.warning("dialer: attempt %s not placed, contact queued again: %s", attempt.pk, reason)
    return "unavailable"


def _sip_failed(attempt: CallAttempt, call: Call, failure: DialFailure) -> Result:
    now = timezone.now()
    attempt_finish(attempt_id=attempt.pk, outcome=failure.outcome, detail=failure.reason, at=now)
    call_finish(
        tenant=attempt.tenant,
        call=call,
        status=failure.call_status,
        end_reason=failure.reason,
        error=failure.reason if failure.call_status == CallStatus.FAILED else "",
        ended_by=ENDED_BY_DIALER,
    )
    if failure.outcome == "failed":
        _set_campaign_error(attempt.campaign_id, failure.reason, now)
    else:
        # The carrier answered: LiveKit and the trunk work.
        _clear_campaign_error(attempt.campaign_id)
    logger.info("dialer: attempt %s: %s", attempt.pk, failure.reason)
    return "sip_failed"


def _set_campaign_error(campaign_id: int, message: str, now: datetime.datetime) -> None:
    limit = Campaign._meta.get_field("dialer_error").max_length or 500
    Campaign.objects.across_tenants(reason="the campaign of an attempt the dialer holds by id").filter(
        pk=campaign_id
    ).update(dialer_error=message[:limit], dialer_error_at=now)


def _clear_campaign_error(campaign_id: int) -> None:
    Campaign.objects.across_tenants(reason="the campaign of an attempt the dialer holds by id").filter(
        pk=campaign_id
    ).exclude(dialer_error="").update(dialer_error="", dialer_error_at=None)


UNPLACED_REASON = "the dial never completed (the dialer stopped between the Call and the SIP call); retried"


def release_unplaced_calls(*, now: datetime.datetime | None = None, limit: int = 500) -> int:
    """Attempts whose Call is still queued after the contact's lease expired: place_call stopped after
    creating the Call and before the dial's answer (a killed Celery worker; its redelivery leaves an
    attempt with a Call alone). A dial that succeeded makes the Call ringing at once, so a queued Call
    this old never reached the callee for sure: its room is deleted (hanging up anything that did go
    out), the Call fails and the attempt is finished as failed (the contact is retried after the
    backoff, or exhausted). Returns how many."""
    now = now or timezone.now()
    stuck = list(
        CallAttempt.objects.across_tenants(reason="the reaper serves every tenant")
        .filter(outcome="", call__status=CallStatus.QUEUED, contact__lease_expires_at__lt=now)
        .values_list("pk", flat=True)[:limit]
    )
    released = 0
    for attempt_id in stuck:
        attempt = (
            CallAttempt.objects.across_tenants(reason="the reaper: the attempt named above, in its own tenant")
            .select_related("tenant", "call")
            .filter(pk=attempt_id, outcome="", call__status=CallStatus.QUEUED)
            .first()
        )
        if attempt is None or attempt.call is None:
            continue
        room_delete_quietly(attempt.call.room_name or outbound_room_name(attempt.call.code))
        if attempt_finish(attempt_id=attempt.pk, outcome=AttemptOutcome.FAILED, detail=UNPLACED_REASON, at=now):
            released += 1
        call_finish(
            tenant=attempt.tenant, call=attempt.call, status=CallStatus.FAILED, end_reason=UNPLACED_REASON,
            error=UNPLACED_REASON, ended_by=ENDED_BY_DIALER,
        )  # fmt: skip
    if released:
        logger.warning("dialer: %s call(s) never dialed after their Call was created; failed and retried", released)
    return released
