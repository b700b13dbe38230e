"""Who and what a call is about, read once from the job's metadata and then passed explicitly."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

CALL_TYPES = ("inbound", "outbound", "test", "chat")
# {"route": "sip"}: the dispatch metadata of a LiveKit SIP dispatch rule that serves many numbers.
# It names no agent: the number the caller dialed (the SIP participant's attributes) decides.
SIP_ROUTE = "sip"
ROUTES = (SIP_ROUTE,)


class InvalidCallContext(ValueError):
    """The job's metadata cannot start a call; reason says why in one line (safe to log and store)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ScriptedAnswer:
    """A call the agent answers without conversing (over its concurrent-call limit): say `message`
    (if any), then transfer to `forward_to` (or hang up). Set by the SIP routing, never by metadata."""

    reason: str
    message: str = ""
    forward_to: str = ""


@dataclass(frozen=True)
class OutboundPlan:
    """What an outbound call does besides the conversation, read by the worker from the call's
    campaign (or its agent, for a single call), never from metadata: the recording notice said first
    when the agent records calls, and whether a voicemail gets a message (which one) or a hang-up."""

    recording_notice: str = ""
    leaves_voicemail: bool = False
    voicemail_message: str = ""


@dataclass(frozen=True)
class CallContext:
    agent_id: str
    tenant_id: str | None = None
    call_id: str | None = None
    call_type: str = "inbound"
    caller_number: str = ""
    callee_number: str = ""
    variables: dict[str, str] = field(default_factory=dict)
    route: str = ""  # "sip": agent, tenant and Call are still to be found from the dialed number
    scripted: ScriptedAnswer | None = None
    outbound: OutboundPlan | None = None  # set by the worker for outbound calls, never by metadata

    @property
    def is_sip_route(self) -> bool:
        return self.route == SIP_ROUTE


def _uuid(document: dict[str, Any], key: str, *, required: bool) -> str | None:
    value = document.get(key)
    if value in (None, ""):
        if required:
            raise InvalidCallContext(f"the call metadata has no {key}")
        return None
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        raise InvalidCallContext(f"{key} {str(value)[:64]!r} is not a UUID") from None


def _text(document: dict[str, Any], key: str) -> str:
    value = document.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidCallContext(f"{key} must be a string")
    return value.strip()


def _variables(document: dict[str, Any]) -> dict[str, str]:
    value = document.get("variables")
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidCallContext("variables must be an object of names to values")
    return {str(key): "" if item is None else str(item) for key, item in value.items()}


def parse_call_context(job_metadata: str | None, room_metadata: str | None) -> CallContext:
    """The dispatch metadata's call context, else the room's; raises InvalidCallContext when unusable."""
    raw, source = (job_metadata, "dispatch") if (job_metadata or "").strip() else (room_metadata, "room")
    if not (raw or "").strip():
        raise InvalidCallContext("neither the dispatch nor the room carries call metadata")
    try:
        document = json.loads(raw or "")
    except ValueError as exc:
        raise InvalidCallContext(f"the {source} metadata is not valid JSON ({exc.msg})") from None
    if not isinstance(document, dict):
        raise InvalidCallContext(f"the {source} metadata is not a JSON object")
    call_type = _text(document, "call_type") or "inbound"
    if call_type not in CALL_TYPES:
        raise InvalidCallContext(f"call_type {call_type[:32]!r} is not one of {', '.join(CALL_TYPES)}")
    route = _text(document, "route")
    if route and route not in ROUTES:
        raise InvalidCallContext(f"route {route[:32]!r} is not one of {', '.join(ROUTES)}")
    if route == SIP_ROUTE and call_type != "inbound":
        raise InvalidCallContext(f"a SIP-routed call is inbound, the metadata says {call_type!r}")
    return CallContext(
        # A SIP-routed job names no agent (the dialed number does); every other job must.
        agent_id=_uuid(document, "agent_id", required=not route) or "",
        tenant_id=_uuid(document, "tenant_id", required=False),
        call_id=_uuid(document, "call_id", required=False),
        call_type=call_type,
        caller_number=_text(document, "caller_number"),
        # place_call names the number dialed "to"
        callee_number=_text(document, "callee_number") or _text(document, "to"),
        variables=_variables(document),
        route=route,
    )
