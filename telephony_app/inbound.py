"""Inbound routing, shared by every way a call comes in (Twilio's voice webhook, the generic
handle-call hook, and LiveKit SIP dispatch rules seen by the voice worker):

    dialed number -> PhoneNumber -> tenant and agent -> connect / closed (out of hours) / unavailable

inbound_route decides and writes nothing. The callers then record the call: inbound_call_connect
(a ringing Call, and a LiveKit room with the agent dispatched) or inbound_call_record_unanswered
(a Call already in its final state, so even a call the agent never took is in the call log).

inbound_call_connect also enforces the agent's max_concurrent_calls: in one message to the
database, run as one transaction (voiceplatform/db_batch.py), it inserts the Call and its outbox
rows, then locks the agent's row and counts the agent's open phone calls, its own included (a small
partial index holds only those), so two calls racing for the last slot cannot both get it.
The call over the limit rolls back and raises AgentAtCapacity with a "busy" route: the agent's
transfer (else fallback) number, or its out-of-hours message, recorded like an out-of-hours call
with the limit as the reason.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import re
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DatabaseError
from django.utils import timezone

from agents_app.models import Agent
from agents_app.runtime_config import NO_INBOUND_SETTINGS, InboundSettings, RuntimeConfig, loader
from agents_app.schedule import is_open
from agents_app.validation import normalize_e164
from telephony_app import livekit_client
from telephony_app.models import Call, CallDirection, CallStatus, PhoneNumber
from telephony_app.number_cache import MISS, InboundNumber, Miss, inbound_number, inbound_number_cached
from telephony_app.services import (
    ENDED_BY_ROUTING,
    call_create,
    call_fail,
    call_finish,
    refused_call_rows,
)
from voiceplatform.db_batch import StatementBatch
from voiceplatform.models import Tenant

logger = logging.getLogger(__name__)

# What a caller hears when the number reaches no agent; it says nothing about why.
UNAVAILABLE_LINE = "Sorry, this number cannot take your call right now. Please try again later. Goodbye."
CLOSED_LINE = "We are closed right now. Please call back during our business hours."
# Over the agent's concurrent-call limit with no number to forward to and no out-of-hours message.
BUSY_LINE = "All our lines are busy right now. Please call back in a few minutes. Goodbye."

Outcome = Literal["connect", "closed", "unavailable", "busy"]


@dataclass(frozen=True)
class InboundRoute:
    """Where an inbound call goes. `reason` is for the log and the call log, never for the caller."""

    outcome: Outcome
    to_number: str
    phone_number: PhoneNumber | None = None
    agent: Agent | None = None
    config: RuntimeConfig | None = None
    message: str = ""  # closed / unavailable / busy: what the caller hears
    fallback_number: str = ""  # closed / busy: where the caller is forwarded, if anywhere
    reason: str = ""
    rules: InboundSettings | None = None  # connect: the agent's inbound rules (for a busy answer)

    @property
    def tenant(self) -> Tenant | None:
        return self.phone_number.tenant if self.phone_number is not None else None


def phone_number_for_inbound(number: str) -> PhoneNumber | None:
    """The PhoneNumber a caller dialed, whoever owns it, with its tenant and agent (from the
    number cache, telephony_app/number_cache.py).

    Deliberately not tenant-scoped: an inbound call names only a number, and numbers are unique
    across the platform, so the number is what tells us the tenant. Everything after this lookup
    (credentials, agent config, the Call row) is scoped to that number's tenant."""
    entry = inbound_number_for(number)
    return entry.phone_number if entry is not None else None


_E164_SHAPE = re.compile(r"\+[1-9][0-9]{6,14}")


def inbound_number_for(number: str) -> InboundNumber | None:
    """phone_number_for_inbound with the tenant's Twilio credential row as well."""
    # As Twilio sends it, a number is already in E.164, its own cache key (entries are written under
    # normalized numbers only): a hit spares phonenumbers' parse (~0.14 ms of the inbound webhook).
    asked = _E164_SHAPE.fullmatch(number) is not None
    first = inbound_number_cached(number) if asked else MISS
    if not isinstance(first, Miss):
        return first
    try:
        normalized = normalize_e164(number)
    except ValidationError:
        return None
    if not normalized:
        return None
    return inbound_number(normalized, cached=first if asked and normalized == number else None)


def inbound_route(
    *,
    to_number: str,
    phone_number: PhoneNumber | None = None,
    inbound_rules: InboundSettings | None = None,
    now: datetime.datetime | None = None,
) -> InboundRoute:
    """Where a call to `to_number` goes now. Pass `phone_number` when the caller already looked it
    up, and `inbound_rules` when it holds the agent's (the number cache's InboundNumber does)."""
    if phone_number is None:
        phone_number = phone_number_for_inbound(to_number)
    if phone_number is None:
        return InboundRoute("unavailable", to_number, message=UNAVAILABLE_LINE, reason="unknown number")
    number = phone_number.number
    if not phone_number.is_active:
        return _unavailable(phone_number, f"number {number} is inactive")
    agent = phone_number.agent
    if agent is None:
        return _unavailable(phone_number, f"number {number} has no agent assigned")
    if not agent.is_active:
        return _unavailable(phone_number, f"agent {agent.name!r} is inactive", agent=agent)
    config: RuntimeConfig | None = None
    if inbound_rules is not None:
        inbound = inbound_rules
    else:
        config = loader.get(tenant_code=phone_number.tenant.code, agent_code=agent.code).config
        # No config, or the default: nothing to route with. The worker's default config would only
        # apologise; let it, so the caller still reaches the apology and the fallback number
        # (issue: fallback_to_default).
        inbound = config.inbound if config is not None else NO_INBOUND_SETTINGS
    if not is_open(inbound, now or timezone.now()):
        message = inbound.out_of_hours_message.strip() or CLOSED_LINE
        return InboundRoute(
            "closed",
            number,
            phone_number=phone_number,
            agent=agent,
            config=config,
            message=message,
            fallback_number=inbound.fallback_number or "",
            reason="out of business hours",
        )
    return InboundRoute("connect", number, phone_number=phone_number, agent=agent, config=config, rules=inbound)


def _unavailable(phone_number: PhoneNumber, reason: str, *, agent: Agent | None = None) -> InboundRoute:
    return InboundRoute(
        "unavailable",
        phone_number.number,
        phone_number=phone_number,
        agent=agent,
        message=UNAVAILABLE_LINE,
        reason=reason,
    )


def inbound_room_name(call_code: uuid.UUID | str) -> str:
    """The LiveKit room of an inbound call; also the user part of the SIP URI it is bridged to."""
    return f"in-{call_code}"


def sip_uri(room: str) -> str:
    """Where a carrier bridges the call: sip:<room>@<LIVEKIT_SIP_HOST> (empty when not configured)."""
    host = settings.LIVEKIT_SIP_HOST
    return f"sip:{room}@{host}" if host else ""


class AgentAtCapacity(Exception):
    """The agent already has max_concurrent_calls open calls; `route` is this call's busy answer."""

    def __init__(self, route: InboundRoute) -> None:
        super().__init__(route.reason)
        self.route = route


def busy_route(route: InboundRoute, *, limit: int) -> InboundRoute:
    """A connect route turned away by the agent's limit: forward to its transfer number (else its
    fallback number), or, with neither, play its out-of-hours message (else BUSY_LINE) and hang up."""
    rules = route.rules or NO_INBOUND_SETTINGS
    number = rules.transfer_number or rules.fallback_number or ""
    message = "" if number else (rules.out_of_hours_message.strip() or BUSY_LINE)
    reason = f"over the agent's limit of {limit} concurrent call{'s' if limit != 1 else ''}"
    return dataclasses.replace(route, outcome="busy", message=message, fallback_number=number, reason=reason)


# The admission's lock and count as one statement that fails over the limit (migrations 0011-0013:
# the function's plans are kept for the session; the count reads call_agent_open_phone_idx and stops
# past the limit). Both are scoped to the tenant.
_ADMIT_SQL = "SELECT telephony_inbound_admit(%s, %s, %s)"
ADMISSION_REFUSED_SQLSTATE = "VP001"


def _admit(route: InboundRoute, batch: StatementBatch) -> None:
    """Adds the agent's admission to `batch`, last, right before the batch's implicit COMMIT: the
    batch then fails (ADMISSION_REFUSED_SQLSTATE, see _refused_admission) when the agent has more
    than max_concurrent_calls open phone calls, counting the Call the batch has just inserted.

    The row lock (FOR NO KEY UPDATE, which does not conflict with the FOR KEY SHARE of the Call rows'
    foreign-key checks) makes a second call for the same agent wait until the first one commits,
    and the count, a statement of its own after the lock (the function is VOLATILE, so in READ
    COMMITTED it takes a snapshot after the wait), includes that Call. Last in the batch, the lock
    is held only for the count and the COMMIT, which follow it in the same message: one agent's
    calls go one at a time only through those, never through a round trip to the web worker."""
    tenant, agent = route.tenant, route.agent
    assert tenant is not None and agent is not None
    batch.add(_ADMIT_SQL, [agent.pk, tenant.pk, agent.max_concurrent_calls])


def _refused_admission(exc: DatabaseError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == ADMISSION_REFUSED_SQLSTATE


@dataclass(frozen=True)
class ConnectedCall:
    call: Call
    room: str
    sip_uri: str
    metadata: dict[str, Any]


def inbound_call_connect(
    route: InboundRoute,
    *,
    from_number: str,
    provider_call_id: str = "",
    context: dict[str, Any] | None = None,
    create_room: bool = True,
    room_name: str | None = None,
    check_capacity: bool = True,
) -> ConnectedCall:
    """A ringing inbound Call for a `connect` route and, unless told not to, its LiveKit room with
    metadata {agent_id, tenant_id, call_id, call_type, caller_number, callee_number} and the agent
    dispatched. A LiveKit failure fails the Call (with the reason) and is raised to the caller.
    `room_name` names a room that already exists (a SIP dispatch rule made it); default in-<call id>.
    Raises AgentAtCapacity, writing nothing, when the agent has max_concurrent_calls open calls."""
    if route.outcome != "connect" or route.tenant is None or route.agent is None:
        raise ValueError(f"inbound_call_connect needs a connect route, got {route.outcome}")
    tenant = route.tenant
    code = uuid.uuid4()
    room = room_name or inbound_room_name(code)
    batch = StatementBatch()
    call = _inbound_call(
        route,
        from_number=from_number,
        provider_call_id=provider_call_id,
        context=context,
        status=CallStatus.RINGING,
        room_name=room,
        code=code,
        batch=batch,
    )
    if check_capacity:
        _admit(route, batch)  # last: over the limit, the Call and its outbox rows roll back
    try:
        with refused_call_rows():
            batch.run()
    except DatabaseError as exc:
        if not _refused_admission(exc):
            raise
        raise AgentAtCapacity(busy_route(route, limit=route.agent.max_concurrent_calls)) from None
    metadata = {
        "agent_id": str(route.agent.code),
        "tenant_id": str(tenant.code),
        "call_id": str(call.code),
        "call_type": CallDirection.INBOUND.value,
        "caller_number": from_number,
        "callee_number": route.to_number,
    }
    if create_room:
        try:
            livekit_client.create_room(name=room, metadata=metadata)
        except livekit_client.LiveKitError as exc:
            call_fail(tenant=tenant, call=call, reason=f"inbound: the LiveKit room could not be created: {exc}")
            raise
    return ConnectedCall(call=call, room=room, sip_uri=sip_uri(room), metadata=metadata)


def inbound_call_record_unanswered(
    route: InboundRoute, *, from_number: str, provider_call_id: str = "", context: dict[str, Any] | None = None
) -> Call | None:
    """The call log's row for a call no agent took: out of hours or over the agent's limit
    (transferred to the number it was forwarded to, else completed) or unavailable (failed, with
    the reason). None when the number is not ours."""
    tenant = route.tenant
    if tenant is None:
        return None
    if route.outcome == "closed" and route.fallback_number:
        status, reason = CallStatus.TRANSFERRED, f"out of business hours: forwarded to {route.fallback_number}"
    elif route.outcome == "closed":
        status, reason = CallStatus.COMPLETED, "out of business hours: message played, no fallback number"
    elif route.outcome == "busy" and route.fallback_number:
        status, reason = CallStatus.TRANSFERRED, f"{route.reason}: forwarded to {route.fallback_number}"
    elif route.outcome == "busy":
        status, reason = CallStatus.COMPLETED, f"{route.reason}: message played, no transfer or fallback number"
    elif route.outcome == "unavailable":
        status, reason = CallStatus.FAILED, route.reason
    else:
        raise ValueError("a connected call is not unanswered")
    status_now = CallStatus.IN_PROGRESS  # the caller heard the message: answered, then ended below
    call = _inbound_call(
        route, from_number=from_number, provider_call_id=provider_call_id, context=context, status=status_now
    )
    return call_finish(
        tenant=tenant,
        call=call,
        status=status,
        end_reason=reason,
        error=reason if status == CallStatus.FAILED else "",
        ended_by=ENDED_BY_ROUTING,
    )


def _inbound_call(
    route: InboundRoute,
    *,
    from_number: str,
    provider_call_id: str,
    context: dict[str, Any] | None,
    status: CallStatus,
    **extra: Any,
) -> Call:
    """The inbound Call row of a routed call (the number's tenant and agent, caller and callee)."""
    assert route.tenant is not None
    return call_create(
        tenant=route.tenant,
        agent=route.agent,
        direction=CallDirection.INBOUND,
        from_number=from_number[:32],
        to_number=route.to_number,
        context=context or {},
        status=status,
        provider_call_id=provider_call_id,
        **extra,
    )
