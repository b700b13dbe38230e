"""Outbound calls' LiveKit side, shared by the campaign dialer and the single-call API: the room named
for the Call with the agent dispatched into it, the callee dialed into the room through the caller
ID's outbound trunk, and what a failed dial means for the call log. Also the registry through which
POST /api/v1/calls reaches the placer of a single call: the eligibility rules (window, DNC, consent)
are campaigns_app's, which telephony_app may not import, so campaigns_app registers its placer here
(campaigns_app/wiring.py).

A dial failure is one of two kinds. LiveKit not configured, unreachable or refusing the room is the
platform's problem: the callee's phone never rang, so the dialer gives the contact its attempt back.
A SIP failure (busy, no answer, refused by the carrier) is the callee's side answering: it is an
outcome of the call, mapped by sip_failure to the call log's status and the attempt's outcome.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telephony_app import livekit_client
from telephony_app.models import Call, CallStatus, PhoneNumber

if TYPE_CHECKING:
    from agents_app.models import Agent
    from voiceplatform.models import Tenant

logger = logging.getLogger(__name__)

# The callee's participant in the room: the voice worker waits for it and the hang-up removes it.
CALLEE_IDENTITY = "callee"

# SIP responses (RFC 3261) and what they mean for the attempt: the line is busy, nobody answered in
# time (or the callee's phone is unreachable for now), or the call was refused for good.
SIP_BUSY = frozenset({486, 600})
SIP_NO_ANSWER = frozenset({408, 480, 487})
SIP_REJECTED = frozenset({403, 404, 484, 603})


def outbound_room_name(call_code: uuid.UUID | str) -> str:
    """The LiveKit room of an outbound call (inbound rooms are in-<call id>)."""
    return f"out-{call_code}"


@dataclass(frozen=True)
class DialFailure:
    """What a failed SIP dial means: the attempt's outcome ("busy", "no_answer", "rejected", "failed"),
    the Call's terminal status, and a one-line reason for both."""

    outcome: str
    call_status: CallStatus
    reason: str


def sip_failure(error: livekit_client.LiveKitRequestFailed) -> DialFailure:
    """The meaning of LiveKit's refusal of a SIP dial: by its SIP status when it has one, else "failed"."""
    code = error.sip_status_code
    if code is None:
        return DialFailure("failed", CallStatus.FAILED, f"LiveKit refused the SIP call ({error.code}): {error.message}")
    text = f"SIP {code} {error.sip_status}".strip()
    if code in SIP_BUSY:
        return DialFailure("busy", CallStatus.BUSY, f"busy ({text})")
    if code in SIP_NO_ANSWER:
        return DialFailure("no_answer", CallStatus.NO_ANSWER, f"no answer ({text})")
    if code in SIP_REJECTED:
        return DialFailure("rejected", CallStatus.FAILED, f"rejected ({text})")
    return DialFailure("failed", CallStatus.FAILED, f"the call failed ({text})")


def outbound_metadata(
    *,
    call: Call,
    agent_code: uuid.UUID | str,
    tenant_code: uuid.UUID | str,
    variables: dict[str, Any],
    **extra: Any,
) -> dict[str, Any]:
    """The room's and the dispatch's metadata for an outbound call: what the voice worker reads
    (worker/context.py: agent, tenant, call, call type, numbers, variables) and `extra` (the campaign's)."""
    return {
        "agent_id": str(agent_code),
        "tenant_id": str(tenant_code),
        "call_id": str(call.code),
        "call_type": "outbound",
        "caller_number": call.from_number,
        "callee_number": call.to_number,
        "to": call.to_number,
        "variables": variables,
        **extra,
    }


def outbound_room_create(*, call: Call, metadata: dict[str, Any]) -> str:
    """Creates the Call's room with the agent dispatched (explicit dispatch, `metadata` on both);
    returns the room's name. Raises the LiveKitError as it came."""
    room = call.room_name or outbound_room_name(call.code)
    livekit_client.create_room(name=room, metadata=metadata)
    return room


def outbound_callee_dial(*, call: Call, room: str, trunk_id: str, ringing_timeout_seconds: int) -> str:
    """Dials the Call's to number into its room through the trunk, presenting the Call's from number;
    returns the SIP call id. On failure the room is deleted (best effort) and the LiveKitError raised
    as it came (a SIP failure carries its sip_status_code: see sip_failure); the Call is the caller's
    to end."""
    try:
        return livekit_client.create_sip_participant(
            room=room,
            trunk_id=trunk_id,
            call_to=call.to_number,
            number=call.from_number,
            identity=CALLEE_IDENTITY,
            participant_name=call.to_number,
            participant_attributes={"vp.call_id": str(call.code)},
            ringing_timeout_seconds=ringing_timeout_seconds,
        )
    except livekit_client.LiveKitError:
        room_delete_quietly(room)
        raise


def room_delete_quietly(room: str) -> None:
    """Deletes the room if LiveKit can be reached; a failure is logged (the room's empty timeout ends it)."""
    try:
        livekit_client.delete_room(room=room)
    except livekit_client.LiveKitError as exc:
        logger.warning("outbound: could not delete room %s: %s", room, exc)


# The single outbound call (POST /api/v1/calls) ------------------------------------------------


@dataclass(frozen=True)
class OutboundCallRequest:
    """One call to place now: the tenant's agent, its number presented as caller ID, the callee (E.164)
    and the variables the agent's {{placeholders}} use."""

    tenant: Tenant
    agent: Agent
    phone_number: PhoneNumber
    to: str
    variables: dict[str, str] = field(default_factory=dict)


class OutboundCallRefused(Exception):
    """A rule forbids the call now; `rule` names it (dnc, consent, legal_window, zone, agent_concurrency,
    tenant_concurrency...) and `detail` says why, in one line."""

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}")
        self.rule = rule
        self.detail = detail


class OutboundCallUnavailable(Exception):
    """LiveKit could not take the call: not configured or unreachable (`refused` False), or it refused
    the room or the dial for a reason of its own (`refused` True). `call` is the Call, marked failed."""

    def __init__(self, message: str, *, call: Call | None, refused: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.call = call
        self.refused = refused


OutboundCallPlacer = Callable[[OutboundCallRequest], Call]
_placer: OutboundCallPlacer | None = None


def register_outbound_placer(placer: OutboundCallPlacer) -> None:
    """Install the placer of single outbound calls (campaigns_app does, in its AppConfig.ready)."""
    global _placer
    _placer = placer


def outbound_call_place(request: OutboundCallRequest) -> Call:
    """Places one call now through the registered placer: returns the Call (ringing, or ended by a SIP
    failure such as busy); raises ValidationError (the agent or number cannot place calls, the
    variables are incomplete), OutboundCallRefused or OutboundCallUnavailable."""
    if _placer is None:
        raise OutboundCallUnavailable("Outbound calls are not available on this platform.", call=None)
    return _placer(request)
