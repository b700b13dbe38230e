"""SIP calls routed by a LiveKit SIP dispatch rule: the number the caller dialed decides the call.

A dispatch rule that serves many numbers (type "individual", room_config.agents with metadata
{"route": "sip"}) dispatches the worker into a fresh room and names no agent. The worker waits for
the caller's SIP participant, reads the dialed number from its attributes, and routes it like every
other inbound call (telephony_app.inbound): number -> PhoneNumber -> agent -> tenant, business hours
included. A connected or out-of-hours call gets a ringing Call and goes on to the normal start (the
VoiceAgent itself plays the out-of-hours message and forwards the caller); an unavailable one is
recorded as failed (when the number is ours) and refused. docs/telephony.md has the operator guide.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from livekit import rtc
from livekit.agents import JobContext

from telephony_app.inbound import (
    AgentAtCapacity,
    InboundRoute,
    inbound_call_connect,
    inbound_call_record_unanswered,
    inbound_room_name,
    inbound_route,
    phone_number_for_inbound,
)
from telephony_app.models import Call, CallDirection
from voiceplatform.hostile_input import character_problem
from voiceplatform.models import Tenant
from worker.context import CallContext, ScriptedAnswer, parse_call_context

logger = logging.getLogger(__name__)

# LiveKit SIP adds the caller to the room as it answers the INVITE, before or just after the job is
# dispatched: a caller who is not there after this long is not coming.
SIP_CALLER_TIMEOUT = 10.0

# Attributes LiveKit SIP sets on the caller's participant (docs.livekit.io, "SIP participant").
ATTR_DIALED_NUMBER = "sip.trunkPhoneNumber"
ATTR_CALLER_NUMBER = "sip.phoneNumber"
ATTR_SIP_CALL_ID = "sip.callID"
ATTR_TRUNK_ID = "sip.trunkID"
# The X-VP-Call-Id header our Twilio TwiML sends, mapped by the Twilio trunk's headers_to_attributes.
ATTR_VP_CALL_ID = "vp.call_id"


class SipRouteRefused(Exception):
    """This SIP caller will not reach an agent; `call` is its Call row when one was written."""

    def __init__(self, reason: str, *, call: Call | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.call = call


@dataclass(frozen=True)
class SipCaller:
    """What the SIP participant tells us about the call, read once from its attributes."""

    identity: str
    dialed_number: str
    caller_number: str
    sip_call_id: str = ""
    trunk_id: str = ""
    vp_call_id: str = ""

    @classmethod
    def from_attributes(cls, identity: str, attributes: Mapping[str, str]) -> SipCaller:
        def get(key: str) -> str:
            return str(attributes.get(key) or "").strip()

        return cls(
            identity=identity,
            dialed_number=get(ATTR_DIALED_NUMBER),
            caller_number=get(ATTR_CALLER_NUMBER),
            sip_call_id=get(ATTR_SIP_CALL_ID)[:64],  # Call.provider_call_id's width; LiveKit's ids are ~16
            trunk_id=get(ATTR_TRUNK_ID),
            vp_call_id=get(ATTR_VP_CALL_ID),
        )


@dataclass(frozen=True)
class SipRoute:
    """The routed call: the context the rest of the call start uses, and its tenant and Call."""

    context: CallContext
    tenant: Tenant
    call: Call


async def wait_for_sip_caller(ctx: JobContext, *, timeout: float) -> SipCaller:
    """The room's SIP participant (the caller), waiting up to `timeout` seconds for it to join."""
    try:
        participant = await asyncio.wait_for(
            ctx.wait_for_participant(kind=rtc.ParticipantKind.PARTICIPANT_KIND_SIP), timeout
        )
    except TimeoutError:
        raise SipRouteRefused(f"no SIP caller joined the room within {timeout:g} s") from None
    except RuntimeError as exc:  # livekit: the room disconnected while we waited
        raise SipRouteRefused(f"the room closed before a SIP caller joined ({exc})") from None
    return SipCaller.from_attributes(participant.identity, dict(participant.attributes))


def sip_call_route(*, caller: SipCaller, room_name: str, job_id: str) -> SipRoute:
    """The Call this SIP caller is for: the one named by vp.call_id, else a new ringing inbound Call
    for the dialed number's agent. Raises SipRouteRefused (after recording the call when the number
    is ours) when the number reaches no agent. Sync: runs in sync_to_async's thread."""
    if problems := _attribute_problems(caller):
        # A NUL would reach PostgreSQL (which cannot store one) with the first lookup: refuse, write nothing.
        raise SipRouteRefused(f"the SIP attributes are refused: {'; '.join(problems)[:300]}")
    if caller.vp_call_id:
        return _named_call(caller, room_name)
    try:
        return _route_by_number(caller, room_name=room_name, job_id=job_id)
    except ValidationError as exc:  # attribute values the call log cannot hold, or a concurrent twin job
        raise SipRouteRefused(f"the call could not be recorded: {'; '.join(exc.messages)[:300]}") from None


def _attribute_problems(caller: SipCaller) -> list[str]:
    """NULs and lone surrogates in what the SIP participant told us (caller-controlled SIP headers)."""
    fields = dataclasses.asdict(caller)
    return [problem for name, text in fields.items() if (problem := character_problem(name, text))]


def _route_by_number(caller: SipCaller, *, room_name: str, job_id: str) -> SipRoute:
    dialed = caller.dialed_number
    route = _through_the_numbers_trunk(inbound_route(to_number=dialed), caller)
    context: dict[str, Any] = {
        "created_by": "voice worker",
        "route": "sip",
        "job_id": job_id,
        "sip_call_id": caller.sip_call_id,
        "sip_trunk_id": caller.trunk_id,
    }
    if route.outcome == "unavailable":
        reason = f"dialed number {dialed or '(none: no sip.trunkPhoneNumber)'}: {route.reason}"
        call = None
        if route.tenant is not None:
            call = _retried_call(route.tenant, caller) or inbound_call_record_unanswered(
                route, from_number=caller.caller_number, provider_call_id=caller.sip_call_id, context=context
            )
        raise SipRouteRefused(reason, call=call)
    tenant, agent = route.tenant, route.agent
    assert tenant is not None and agent is not None  # connect and closed routes always have both
    existing = _retried_call(tenant, caller)
    if existing is not None:
        # LiveKit dispatched this SIP call again (a worker died mid-start): same caller, same Call.
        logger.info("SIP call %s: job %s takes over call %s", caller.sip_call_id, job_id, existing.code)
        return SipRoute(context=_context_of(existing, tenant), tenant=tenant, call=existing)
    # Out of hours the agent still takes the call: VoiceAgent.on_enter plays the out-of-hours
    # message and forwards the caller to the fallback number, so the call log shows the forward.
    # (The limit of concurrent calls is for calls the agent converses on: not checked out of hours.)
    try:
        connected = inbound_call_connect(
            dataclasses.replace(route, outcome="connect"),
            from_number=caller.caller_number,
            provider_call_id=caller.sip_call_id,
            context={**context, "business_hours": route.outcome},
            create_room=False,
            room_name=room_name,
            check_capacity=route.outcome == "connect",
        )
    except AgentAtCapacity as busy:
        return _busy(busy.route, caller, context=context)
    call_ctx = parse_call_context(json.dumps(connected.metadata), None)
    return SipRoute(context=call_ctx, tenant=tenant, call=connected.call)


def _busy(route: InboundRoute, caller: SipCaller, *, context: dict[str, Any]) -> SipRoute:
    """A caller over the agent's limit: the Call is recorded as ended now (it holds no slot), and the
    agent only plays the busy answer (VoiceAgent.on_enter: message, then forward or hang up)."""
    assert route.tenant is not None and route.agent is not None
    logger.info("SIP call %s to %s not connected: %s", caller.sip_call_id, route.to_number, route.reason)
    call = inbound_call_record_unanswered(
        route, from_number=caller.caller_number, provider_call_id=caller.sip_call_id, context=context
    )
    assert call is not None
    call_ctx = CallContext(
        agent_id=str(route.agent.code),
        tenant_id=str(route.tenant.code),
        call_id=str(call.code),
        call_type=CallDirection.INBOUND.value,
        caller_number=caller.caller_number,
        callee_number=route.to_number,
        scripted=ScriptedAnswer(reason=route.reason, message=route.message, forward_to=route.fallback_number),
    )
    return SipRoute(context=call_ctx, tenant=route.tenant, call=call)


def _through_the_numbers_trunk(route: InboundRoute, caller: SipCaller) -> InboundRoute:
    """A number bound to a LiveKit inbound trunk (PhoneNumber.sip_trunk_id) answers only calls that
    came in through that trunk: any other trunk delivering it is misrouted or spoofed, and the call
    becomes unavailable, recorded with both trunk ids. A number with no trunk id takes any trunk."""
    expected = route.phone_number.sip_trunk_id if route.phone_number is not None else ""
    if route.outcome == "unavailable" or not expected or caller.trunk_id == expected:
        return route
    came_in = caller.trunk_id or "(none: no sip.trunkID)"
    reason = f"the call came in through SIP trunk {came_in}, not the number's {expected}"
    return dataclasses.replace(route, outcome="unavailable", reason=reason)


def _retried_call(tenant: Tenant, caller: SipCaller) -> Call | None:
    """The tenant's Call already written for this SIP call id (a re-dispatched job), if any."""
    if not caller.sip_call_id:
        return None
    return Call.objects.for_tenant(tenant).select_related("agent").filter(provider_call_id=caller.sip_call_id).first()


def _context_of(call: Call, tenant: Tenant) -> CallContext:
    if call.agent is None:
        raise SipRouteRefused(f"call {call.code} has no agent (it was deleted)", call=call)
    if call.direction != CallDirection.INBOUND:
        raise SipRouteRefused(f"call {call.code} is not an inbound call ({call.direction})")
    return CallContext(
        agent_id=str(call.agent.code),
        tenant_id=str(tenant.code),
        call_id=str(call.code),
        call_type=CallDirection.INBOUND.value,
        caller_number=call.from_number,
        callee_number=call.to_number,
    )


def _named_call(caller: SipCaller, room_name: str) -> SipRoute:
    """The Call a Twilio-bridged caller names in vp.call_id (X-VP-Call-Id), of the dialed number's tenant."""
    try:
        code = uuid.UUID(caller.vp_call_id)
    except ValueError:
        raise SipRouteRefused(f"vp.call_id {caller.vp_call_id[:64]!r} is not a UUID") from None
    phone_number = phone_number_for_inbound(caller.dialed_number)
    if phone_number is not None:
        tenant = phone_number.tenant
        call = Call.objects.for_tenant(tenant).select_related("agent").filter(code=code).first()
    elif room_name == inbound_room_name(code):
        # Twilio bridges to sip:in-<call id>@host, so the "dialed number" is this room's name, not a
        # number. Finding the Call by its code across tenants is safe here: the code is a random UUID
        # that only the platform wrote (into this call's TwiML, hence this room's name), and
        # everything after this lookup is scoped to the Call's own tenant.
        calls = Call.objects.across_tenants(reason="a bridged inbound call's room names the call by its code")
        call = calls.select_related("agent", "tenant").filter(code=code).first()
        tenant = call.tenant if call is not None else None
    else:
        call, tenant = None, None
    if call is None or tenant is None:
        raise SipRouteRefused(f"call {code} named by the SIP caller is not a call of number {caller.dialed_number!r}")
    return SipRoute(context=_context_of(call, tenant), tenant=tenant, call=call)
