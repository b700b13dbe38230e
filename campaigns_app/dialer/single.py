"""One outbound call placed now (POST /api/v1/calls), through the checks a campaign's calls pass: the
agent places calls, the caller ID is the tenant's active number with an outbound trunk, the callee's
legal window in every zone of the number, the tenant's do-not-call list, consent when the agent
requires it, and the agent's and the tenant's concurrent-call limits. Registered with telephony_app
(telephony_app.outbound.register_outbound_placer) by campaigns_app/wiring.py.
"""

from __future__ import annotations

import datetime
import logging
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from agents_app.models import Agent
from agents_app.validation import outbound_agent_problem
from campaigns_app.contact_rows import RowError, check_contact, required_variables
from campaigns_app.dialer import zones
from campaigns_app.dialer.eligibility import dial_refusal
from campaigns_app.dialer.place import ENDED_BY_DIALER, ring_timeout_seconds
from campaigns_app.models import CallAttempt, Consent
from telephony_app import livekit_client
from telephony_app.models import ACTIVE_STATUSES, PHONE_DIRECTIONS, Call, CallDirection, CallStatus
from telephony_app.outbound import (
    OutboundCallRefused,
    OutboundCallRequest,
    OutboundCallUnavailable,
    outbound_callee_dial,
    outbound_metadata,
    outbound_room_create,
    outbound_room_name,
    sip_failure,
)
from telephony_app.services import call_create, call_fail, call_finish, call_transition
from voiceplatform.models import Tenant

logger = logging.getLogger(__name__)

NO_TRUNK = (
    "{number} has no outbound trunk, so calls cannot go out from it: set its LiveKit outbound trunk id "
    "(outboundTrunkId, or the Phone numbers page) first."
)


def single_call_place(request: OutboundCallRequest, *, now: datetime.datetime | None = None) -> Call:
    """Places the call now and returns its Call: ringing, or ended when the carrier answered the dial
    with busy, no answer or a refusal. Raises ValidationError by field (agent, from_number, to,
    variables), OutboundCallRefused naming the rule, or OutboundCallUnavailable (the Call failed)."""
    now = now or timezone.now()
    tenant, agent = request.tenant, request.agent
    variables = _check_request(request)
    dial_zone = zones.dial_zone_for(request.to)
    refusal, consent = dial_refusal(
        tenant=tenant,
        number=request.to,
        dial_zone=dial_zone,
        window=None,
        requires_consent=agent.consent_required,
        campaign=None,
        now=now,
    )
    if refusal is not None:
        raise OutboundCallRefused(refusal.rule, refusal.reason)
    _check_calls_per_24h(tenant=tenant, number=request.to, dial_zone=dial_zone or "", now=now)
    call = _admit_and_create(request, variables, consent)
    metadata = outbound_metadata(
        call=call,
        agent_code=agent.code,
        tenant_code=tenant.code,
        variables=variables,
        consent_id=str(consent.code) if consent is not None else None,
    )
    try:
        room = outbound_room_create(call=call, metadata=metadata)
        outbound_callee_dial(
            call=call, room=room, trunk_id=request.phone_number.outbound_trunk_id,
            ringing_timeout_seconds=ring_timeout_seconds(),
        )  # fmt: skip
    except livekit_client.LiveKitRequestFailed as error:
        if error.sip_status_code is None:
            reason = f"LiveKit refused the call: {error}"
            call_fail(tenant=tenant, call=call, reason=reason)
            raise OutboundCallUnavailable(reason, call=call, refused=True) from error
        failure = sip_failure(error)
        return call_finish(
            tenant=tenant,
            call=call,
            status=failure.call_status,
            end_reason=failure.reason,
            error=failure.reason if failure.call_status == CallStatus.FAILED else "",
            ended_by=ENDED_BY_DIALER,
        )
    except livekit_client.LiveKitError as error:  # not configured, or unreachable
        reason = f"LiveKit unreachable: {error}"
        call_fail(tenant=tenant, call=call, reason=reason)
        raise OutboundCallUnavailable(reason, call=call) from error
    logger.info("single outbound call %s placed for tenant %s", call.code, tenant.pk)
    return call_transition(tenant=tenant, call=call, status=CallStatus.RINGING, reason="dialing")


def _check_request(request: OutboundCallRequest) -> dict[str, str]:
    """The agent and caller ID can place calls, the callee's number and the variables are complete;
    every problem at once, by field. Returns the variables as the agent's placeholders get them."""
    tenant, agent, number = request.tenant, request.agent, request.phone_number
    errors: dict[str, str] = {}
    if agent.tenant_id != tenant.pk:
        errors["agent"] = "No such agent."
    elif problem := outbound_agent_problem(name=agent.name, direction=agent.direction, is_active=agent.is_active):
        errors["agent"] = problem
    if number.tenant_id != tenant.pk:
        errors["from_number"] = "No such phone number: use one of your numbers."
    elif not number.is_active:
        errors["from_number"] = f"{number.number} is switched off: switch it on, or use another of your numbers."
    elif not number.outbound_trunk_id:
        errors["from_number"] = NO_TRUNK.format(number=number.number)
    variables: dict[str, str] = {}
    try:
        contact = check_contact(
            number=request.to,
            variables=request.variables,
            required=required_variables(agent) if "agent" not in errors else (),
        )
        variables = contact.variables
    except RowError as error:
        errors["to" if error.field == "number" else "variables"] = (
            error.reason if error.field in ("number", "variables") else f"{error.field}: {error.reason}"
        )
    if errors:
        raise ValidationError(errors)
    return variables


def _check_calls_per_24h(*, tenant: Tenant, number: str, dial_zone: str, now: datetime.datetime) -> None:
    """A region's calls-per-24-h limit (Florida's 3) counting every call to the number: dial_refusal
    counts the campaigns' attempts; single calls have no attempt, so here every outbound Call to the
    number counts, and the campaign claims not placed yet."""
    limit = zones.max_calls_per_24h(dial_zone)
    if limit is None:
        return
    since = now - datetime.timedelta(hours=24)
    calls = Call.objects.for_tenant(tenant).filter(
        direction=CallDirection.OUTBOUND, to_number=number, created_at__gt=since
    )
    claims = CallAttempt.objects.for_tenant(tenant).filter(
        number=number, created_at__gt=since, outcome="", call__isnull=True
    )
    made = calls.count() + claims.count()
    if made >= limit:
        rule = zones.region_rule(zones.parse_key(dial_zone)[0])
        raise OutboundCallRefused(rule.limit_rule, f"{made} calls to this number in the last 24 h (at most {limit})")


@transaction.atomic
def _admit_and_create(request: OutboundCallRequest, variables: dict[str, str], consent: Consent | None) -> Call:
    """The queued Call, if the agent and the tenant have a free slot: their rows are locked (tenant, then
    agent) and counted after the locks, so two requests racing for the last slot cannot both get it."""
    tenant, agent = request.tenant, request.agent
    Tenant.objects.select_for_update(no_key=True).filter(pk=tenant.pk).exists()
    Agent.objects.for_tenant(tenant).select_for_update(no_key=True).filter(pk=agent.pk).exists()
    agent_busy, tenant_busy = _in_flight(tenant=tenant, agent=agent)
    if agent_busy >= agent.max_concurrent_calls:
        raise OutboundCallRefused(
            "agent_concurrency", f"{agent.name} already has {agent_busy} calls in progress (its limit)"
        )
    tenant_limit = tenant.max_concurrent_calls or settings.TENANT_MAX_CONCURRENT_CALLS
    if tenant_busy >= tenant_limit:
        raise OutboundCallRefused(
            "tenant_concurrency", f"your account already has {tenant_busy} calls in progress (its limit)"
        )
    code = uuid.uuid4()
    context: dict[str, object] = {"source": "api", "variables": variables}
    if consent is not None:
        context["consent_id"] = str(consent.code)
    return call_create(
        tenant=tenant,
        agent=agent,
        direction=CallDirection.OUTBOUND,
        from_number=request.phone_number.number,
        to_number=request.to,
        room_name=outbound_room_name(code),
        code=code,
        status=CallStatus.QUEUED,
        context=context,
    )


def _in_flight(*, tenant: Tenant, agent: Agent) -> tuple[int, int]:
    """(the agent's, the tenant's) phone calls in progress plus campaign claims not placed yet, as the
    dialer's tick counts them."""
    calls = Call.objects.for_tenant(tenant).filter(status__in=sorted(ACTIVE_STATUSES), direction__in=PHONE_DIRECTIONS)
    claims = CallAttempt.objects.for_tenant(tenant).filter(outcome="", call__isnull=True)
    agent_busy = calls.filter(agent=agent).count() + claims.filter(campaign__agent=agent).count()
    tenant_busy = calls.count() + claims.count()
    return agent_busy, tenant_busy
