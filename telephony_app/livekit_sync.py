"""Keeps the call log in line with what LiveKit knows: its webhooks (rooms closing, participants
joining and leaving) and, for the webhooks LiveKit dropped and the workers that crashed, a periodic
comparison with LiveKit's room list.

Both only move calls forward through the call-log services, and the ends they record are
provisional (Call.context["ended_by"] = "livekit_webhook" / "reconcile"): the voice worker's
end-of-session report, when it comes, replaces them (telephony_app.services.call_finish). A terminal
status set by the worker or by Twilio's status callback is never replaced by anything here.
"""

from __future__ import annotations

import datetime
import json
import logging
import uuid
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from telephony_app import livekit_client
from telephony_app.livekit_client import WebhookEvent
from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.services import call_transition
from voiceplatform.models import Tenant

logger = logging.getLogger(__name__)

ENDED_BY_WEBHOOK = "livekit_webhook"
ENDED_BY_RECONCILE = "reconcile"
RECONCILED_REASON = "room closed without a report (worker crash or dropped webhook)"
# Calls looked at per reconciliation run: bounds one run's time; the next run takes the rest.
RECONCILE_BATCH = 500

# The statuses a LiveKit room can still change; queued calls have no room yet (the dialer owns them).
OPEN_STATUSES = (CallStatus.RINGING, CallStatus.IN_PROGRESS)
# The people whose leaving ends a call: the phone caller/callee, or the browser of a test session.
CALLER_KINDS = frozenset({"sip", "standard"})
# sip.callStatus values of a SIP participant that is connected (not still dialing or ringing).
SIP_CONNECTED = frozenset({"active", ""})


@dataclass(frozen=True)
class WebhookOutcome:
    """What a webhook did: the event name and how many calls it moved forward."""

    event: str
    updated: int


def _event_time(event: WebhookEvent) -> datetime.datetime:
    """When LiveKit saw it happen (a late delivery must not lengthen the call), never in the future."""
    now = timezone.now()
    return min(event.created_at, now) if event.created_at is not None else now


def _metadata_ids(metadata: str) -> tuple[uuid.UUID | None, uuid.UUID | None]:
    """(tenant_id, call_id) from room metadata we wrote; (None, None) for anything else."""
    try:
        data = json.loads(metadata) if metadata else {}
        if not isinstance(data, dict):
            return None, None
        tenant_id, call_id = data.get("tenant_id"), data.get("call_id")
        return (uuid.UUID(tenant_id) if tenant_id else None, uuid.UUID(call_id) if call_id else None)
    except (ValueError, TypeError, AttributeError, RecursionError):  # RecursionError: nested absurdly deep
        return None, None


def calls_for_room(*, room_name: str, metadata: str = "") -> list[Call]:
    """The open calls held in this LiveKit room, with their tenants.

    Crosses tenants on purpose: a webhook names only a room, and room names are made by the platform
    ("in-<call id>", "test-<uuid>") or by a SIP dispatch rule, and arrive in a request signed with our
    LiveKit secret. What is found is changed only through its own tenant, and nothing of it goes back
    to the caller but a count. When the room's metadata (written by us) names a call, only that call
    is taken, so a room name reused by a dispatch rule cannot end someone else's call."""
    if not room_name:
        return []
    queryset = (
        Call.objects.across_tenants(reason="a signed LiveKit webhook names a room; calls change in their own tenant")
        .select_related("tenant")
        .filter(room_name=room_name, status__in=OPEN_STATUSES)
    )
    tenant_id, call_id = _metadata_ids(metadata)
    if call_id is not None:
        named = [call for call in queryset if call.code == call_id]
        if named:
            return named
        if tenant_id is not None:
            # A call created before it knew its room (SIP dispatch rules: the worker names the room
            # when it writes the row) may carry another room name; the metadata's tenant scopes it.
            tenant = Tenant.objects.filter(code=tenant_id).first()
            if tenant is not None:
                return list(
                    Call.objects.for_tenant(tenant)
                    .select_related("tenant")
                    .filter(code=call_id, status__in=OPEN_STATUSES, room_name__in=("", room_name))
                )
        return []
    return list(queryset)


def _unanswered_status(call: Call) -> CallStatus:
    # An outbound callee who never picked up is "no answer"; an inbound caller or a tester the agent
    # never answered is a failure of ours.
    return CallStatus.NO_ANSWER if call.direction == CallDirection.OUTBOUND else CallStatus.FAILED


def _end(call: Call, *, at: datetime.datetime, answered_reason: str, unanswered_reason: str) -> bool:
    """Ends an open call (provisionally); True if the row changed. The choice between answered and
    unanswered is made on the row as read; call_transition re-reads it under a lock, so a call that
    another report ended meanwhile is left as it is."""
    if call.status == CallStatus.IN_PROGRESS:
        status, reason = CallStatus.COMPLETED, answered_reason
    else:
        status, reason = _unanswered_status(call), unanswered_reason
    updated = call_transition(
        tenant=call.tenant, call=call, status=status, reason=reason, at=at, ended_by=ENDED_BY_WEBHOOK
    )
    return updated.status != call.status


def _who(event: WebhookEvent, call: Call) -> str:
    if event.participant_kind == "sip":
        return "the callee" if call.direction == CallDirection.OUTBOUND else "the caller"
    return "the browser" if call.direction == CallDirection.TEST else "the participant"


def livekit_event_apply(event: WebhookEvent) -> WebhookOutcome:
    """Moves the calls of the event's room forward: room_finished ends them, a SIP participant
    joining answers a ringing call, the caller (SIP) or tester (browser) leaving ends it. Agents,
    egress and ingress participants and every other event change nothing. Repeated and reordered
    events are harmless: the services only move forward."""
    kind = event.event
    if kind not in ("room_finished", "participant_joined", "participant_left"):
        return WebhookOutcome(kind, 0)
    at = _event_time(event)
    updated = 0
    for call in calls_for_room(room_name=event.room_name, metadata=event.room_metadata):
        if kind == "room_finished":
            changed = _end(
                call,
                at=at,
                answered_reason="the room closed",
                unanswered_reason="room closed before the agent answered",
            )
        elif kind == "participant_joined":
            connected = event.participant_attributes.get("sip.callStatus", "") in SIP_CONNECTED
            if event.participant_kind != "sip" or not connected or call.status != CallStatus.RINGING:
                continue
            answered = call_transition(tenant=call.tenant, call=call, status=CallStatus.IN_PROGRESS, at=at)
            changed = answered.status != call.status
        else:  # participant_left
            if event.participant_kind not in CALLER_KINDS:
                continue
            who = _who(event, call)
            changed = _end(
                call,
                at=at,
                answered_reason=f"{who} left the room",
                unanswered_reason=f"{who} left before the agent answered",
            )
        if changed:
            updated += 1
            logger.info("call %s (tenant %s): %s applied", call.code, call.tenant_id, kind)
    return WebhookOutcome(kind, updated)


@dataclass(frozen=True)
class ReconcileResult:
    """One reconciliation run: calls looked at, ended, and left alone because their room is open."""

    checked: int
    ended: int
    room_open: int


def calls_reconcile(*, older_than: datetime.timedelta, now: datetime.datetime | None = None) -> ReconcileResult:
    """Ends calls left ringing or in progress with no news for `older_than` whose LiveKit room no
    longer exists (or that never had a room): failed, "room closed without a report". Calls whose
    room is still open are left alone. LiveKit unconfigured or unreachable: raises
    livekit_client.LiveKitError and changes nothing (the 4-hour reaper stays the last resort)."""
    cutoff = (now or timezone.now()) - older_than
    # Crosses tenants on purpose, like calls_reap_stale: one rule for every row, nothing of one tenant
    # read into another's context, each row changed through its own tenant (call_transition). Text
    # chats have no room and end with their conversation.
    stale = (
        Call.objects.across_tenants(reason="reconcile: one rule for every open call, each changed in its own tenant")
        .filter(status__in=OPEN_STATUSES, updated_at__lt=cutoff)
        .exclude(direction=CallDirection.CHAT)
        .order_by("updated_at", "id")
    )
    candidates = list(stale.values_list("pk", "room_name")[:RECONCILE_BATCH])
    if not candidates:
        return ReconcileResult(0, 0, 0)
    # Asked before any row is locked: LiveKit can take seconds, and no lock should wait on it.
    names = {name for _pk, name in candidates if name}
    if names:
        open_rooms = livekit_client.rooms_open(names)
    else:
        # Only calls that never had a room: nothing to ask about, but they are ended only when
        # LiveKit answers at all, so an outage never passes for "room closed" (one list, rare).
        livekit_client.list_rooms()
        open_rooms = set()
    ended = room_open = 0
    with transaction.atomic():
        # SKIP LOCKED leaves alone any call a worker or webhook is writing right now; the filter is
        # applied again under the lock, so a call that moved on since the first read is skipped.
        locked = stale.select_for_update(skip_locked=True, of=("self",)).select_related("tenant")
        for call in locked.filter(pk__in=[pk for pk, _name in candidates]):
            if call.room_name and call.room_name in open_rooms:
                room_open += 1
                continue
            # It ended some time after it was last heard of; that earliest end bills no talk time
            # nobody can vouch for. The worker's report, if it still comes, replaces this end.
            call_transition(
                tenant=call.tenant,
                call=call,
                status=CallStatus.FAILED,
                reason=RECONCILED_REASON,
                at=call.updated_at,
                ended_by=ENDED_BY_RECONCILE,
            )
            ended += 1
            logger.warning("call %s (tenant %s) marked failed: %s", call.code, call.tenant_id, RECONCILED_REASON)
    return ReconcileResult(checked=len(candidates), ended=ended, room_open=room_open)
