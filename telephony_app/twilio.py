"""Twilio on our side of the wire: whose auth token signs a webhook, the TwiML each inbound route
answers with, and status callbacks applied to the call log.

The views (twilio_webhooks.py) stay thin: they hand a verified tenant and the posted parameters to
twilio_voice_answer / twilio_status_apply. Everything here is scoped to that one tenant; the only
lookups that look past a tenant are the ones that find out which tenant a webhook is for.
"""

from __future__ import annotations

import dataclasses
import datetime
import email.utils
import hmac
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest, QueryDict
from django.utils import timezone
from twilio.request_validator import SIGNATURE_SETTINGS_HEADER, RequestValidator, get_signature_algorithm
from twilio.twiml.voice_response import VoiceResponse

from agents_app.runtime_config import InboundSettings
from telephony_app import livekit_client
from telephony_app.analytics import rollups
from telephony_app.inbound import (
    AgentAtCapacity,
    InboundRoute,
    inbound_call_connect,
    inbound_call_record_unanswered,
    inbound_number_for,
    inbound_route,
)
from telephony_app.models import TERMINAL_STATUSES, Call, CallDirection, CallStatus, PhoneNumber
from telephony_app.number_cache import InboundNumber, inbound_numbers_forget
from telephony_app.services import ENDED_BY_ROUTING, call_create, call_transition
from voiceplatform.crypto import SecretDecryptionError
from voiceplatform.models import Provider, Tenant
from voiceplatform.selectors import ResolvedCredential, credential_from_stored, credential_resolve

logger = logging.getLogger(__name__)

# Twilio passes "X-" parameters of a <Sip> URI on as SIP headers; LiveKit can map this one to a
# participant attribute (the trunk's headers_to_attributes) so the worker finds the Call.
CALL_ID_HEADER = "X-VP-Call-Id"
# What a caller hears when the agent cannot be reached for a technical reason.
APOLOGY_LINE = "Sorry, we cannot connect your call right now because of a technical problem. Please try again later."
SIP_NOT_CONFIGURED = "LiveKit SIP is not configured: set LIVEKIT_SIP_HOST."

# Twilio's CallStatus -> ours. "initiated" is Twilio's name for an outbound call being placed;
# "canceled" is a call hung up (or cancelled through the API) before anyone answered.
STATUS_MAP: dict[str, CallStatus] = {
    "queued": CallStatus.QUEUED,
    "initiated": CallStatus.QUEUED,
    "ringing": CallStatus.RINGING,
    "in-progress": CallStatus.IN_PROGRESS,
    "completed": CallStatus.COMPLETED,
    "busy": CallStatus.BUSY,
    "no-answer": CallStatus.NO_ANSWER,
    "failed": CallStatus.FAILED,
    "canceled": CallStatus.NO_ANSWER,
}
# Twilio Direction values: "inbound", "outbound-api" (placed through the API), "outbound-dial" (a <Dial> leg).
INBOUND_DIRECTION = "inbound"


# Who signed it -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TwilioSigner:
    """A tenant that a webhook may be for, with the auth token that must have signed it."""

    tenant: Tenant
    phone_number: PhoneNumber | None
    auth_token: str = dataclasses.field(repr=False)
    account_sid: str
    # The number's agent's inbound rules, when the number cache had them (see InboundNumber).
    inbound_rules: InboundSettings | None = None


def signer_for(*, tenant: Tenant, phone_number: PhoneNumber | None) -> TwilioSigner | None:
    """The tenant's Twilio auth token (its own credential, else TWILIO_AUTH_TOKEN); None without one."""
    return _signer(tenant, phone_number, credential_resolve(tenant=tenant, provider=Provider.TWILIO))


def _signer(
    tenant: Tenant,
    phone_number: PhoneNumber | None,
    credential: ResolvedCredential | None,
    inbound_rules: InboundSettings | None = None,
) -> TwilioSigner | None:
    if credential is None or not credential.secret:
        return None
    return TwilioSigner(tenant, phone_number, credential.secret, credential.account_id, inbound_rules)


def number_signer(entry: InboundNumber) -> TwilioSigner | None:
    """signer_for the owner of a dialed number, with the credential row the number cache holds."""
    phone_number = entry.phone_number
    try:
        credential = credential_from_stored(provider=Provider.TWILIO, stored=entry.twilio_credential)
    except SecretDecryptionError:
        # The cached ciphertext predates a key rotation (re-encrypted by a queryset update, which
        # sends no signal): forget it and read the row as it is now.
        inbound_numbers_forget([phone_number.number])
        return signer_for(tenant=phone_number.tenant, phone_number=phone_number)
    return _signer(phone_number.tenant, phone_number, credential, entry.inbound_rules)


def public_url(request: HttpRequest) -> str:
    """The URL Twilio requested, as Twilio saw it: PUBLIC_BASE_URL + path (+ query string).

    Built from the configured public base URL, not from Host/scheme, so it is right behind a
    TLS-terminating proxy; path_info leaves out a SCRIPT_NAME prefix that the base URL then carries.
    """
    return settings.PUBLIC_BASE_URL.rstrip("/") + request.get_full_path_info()


def signature_is_valid(*, signer: TwilioSigner, request: HttpRequest) -> bool:
    """Whether X-Twilio-Signature is Twilio's HMAC of the public URL and the POST parameters."""
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return False
    algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
    validator, url = RequestValidator(signer.auth_token), public_url(request)
    # validate() always signs the URL twice (with and without its port, since Twilio's own is
    # inconsistent); the URL as configured matches almost always, and is one of those two.
    try:
        computed = validator.compute_signature(url, _Params(request.POST), algorithm)
        if hmac.compare_digest(computed.encode(), signature.encode(errors="replace")):
            return True
    except ValueError:  # an algorithm the library does not know: validate() refuses it with a warning
        pass
    return validator.validate(url, request.POST, signature, algorithm)


class _Params(dict[str, list[str]]):
    """The POST parameters as the validator reads a MultiDict (getall), without the two failed
    attribute lookups it makes on a QueryDict for each parameter."""

    def __init__(self, query: QueryDict) -> None:
        super().__init__(query.lists())

    def getall(self, name: str) -> list[str]:
        return self[name]


def voice_signers(params: Mapping[str, str]) -> list[TwilioSigner]:
    """Who may have signed a voice webhook: the owner of the dialed number (To), if any."""
    entry = inbound_number_for(params.get("To", ""))
    if entry is None:
        return []
    signer = number_signer(entry)
    return [signer] if signer is not None else []


def status_signers(params: Mapping[str, str]) -> list[TwilioSigner]:
    """Who may have signed a status callback: the owner of our side's number (To on inbound
    calls, From on outbound ones), else the tenants that already have a Call with this CallSid."""
    inbound = params.get("Direction", INBOUND_DIRECTION) == INBOUND_DIRECTION
    entry = inbound_number_for(params.get("To" if inbound else "From", ""))
    if entry is not None:
        signer = number_signer(entry)
        return [signer] if signer is not None else []
    call_sid = params.get("CallSid", "")
    if not call_sid:
        return []
    # Looks past tenants on purpose: a CallSid is Twilio's id of one call, and this only learns
    # which tenants' tokens to try. Nothing is read or written for a tenant until its token verified.
    calls = Call.objects.across_tenants(reason="a Twilio status webhook: which tenants' tokens may have signed it")
    tenant_ids = calls.filter(provider_call_id=call_sid).values_list("tenant_id", flat=True)[:5]
    tenants = Tenant.objects.filter(pk__in=list(tenant_ids))
    return [s for tenant in tenants if (s := signer_for(tenant=tenant, phone_number=None)) is not None]


# TwiML -------------------------------------------------------------------------------------------


def twiml_say_hangup(message: str) -> str:
    response = VoiceResponse()
    response.say(message)
    response.hangup()
    return str(response)


def twiml_closed(*, message: str, fallback_number: str) -> str:
    """The message (if any), then the fallback number (or a hang-up when there is none): out of
    hours, and over the agent's concurrent-call limit."""
    response = VoiceResponse()
    if message:
        response.say(message)
    if fallback_number:
        response.dial(fallback_number)
    else:
        response.hangup()
    return str(response)


REFER_PATH = "/api/v1/telephony/twilio/refer"


def twiml_connect(*, room: str, call_code: str) -> str:
    """Bridges the caller into the call's LiveKit room over SIP, with the call id as a SIP header.

    referUrl: when the agent transfers the caller (LiveKit sends a SIP REFER on this leg), Twilio
    asks twilio_refer_answer where to send the caller; without it Twilio refuses the REFER."""
    response = VoiceResponse()
    dial = response.dial(refer_url=settings.PUBLIC_BASE_URL.rstrip("/") + REFER_PATH, refer_method="POST")
    dial.sip(f"sip:{room}@{settings.LIVEKIT_SIP_HOST}?{CALL_ID_HEADER}={call_code}")
    return str(response)


# The REFER's target as Twilio passes it (ReferTransferTarget): "<tel:+1...>" or
# "<sip:+1...@host;...>". Only a phone number is accepted: the agent transfers to numbers.
_REFER_TARGET = re.compile(r"^<?(?:tel:|sips?:)?(\+[1-9]\d{6,14})(?:[@;>].*)?$")


def twilio_refer_answer(*, tenant: Tenant, params: Mapping[str, str]) -> str:
    """TwiML for the agent's cold transfer of a Twilio caller: dial the number the REFER names,
    calling from the tenant's number; anything but a phone number is refused with an apology."""
    target = params.get("ReferTransferTarget", "").strip()
    match = _REFER_TARGET.match(target)
    call_sid = params.get("CallSid", "")
    if match is None:
        logger.warning("twilio refer for %s refused: target %r is not a phone number", call_sid, target[:80])
        return twiml_say_hangup(APOLOGY_LINE)
    number = match.group(1)
    logger.info("twilio call %s transferred by the agent to %s", call_sid, number)
    call = _existing(tenant=tenant, call_sid=call_sid)
    if call is not None:
        call_transition(tenant=tenant, call=call, status=CallStatus.TRANSFERRED, reason=f"transferred to {number}")
    response = VoiceResponse()
    caller_id = params.get("To", "") if params.get("Direction", INBOUND_DIRECTION) == INBOUND_DIRECTION else ""
    response.dial(number, caller_id=caller_id or None)
    return str(response)


def twiml_for_call(call: Call) -> str:
    """The TwiML a Call was first answered with, for Twilio's retries of the same voice webhook."""
    answered = (call.context or {}).get("answer") or {}
    outcome = answered.get("outcome")
    if outcome == "connect" and call.status != CallStatus.FAILED and settings.LIVEKIT_SIP_HOST:
        return twiml_connect(room=call.room_name, call_code=str(call.code))
    if outcome in ("closed", "busy"):
        return twiml_closed(message=answered.get("message", ""), fallback_number=answered.get("fallback_number", ""))
    return twiml_say_hangup(answered.get("message") or APOLOGY_LINE)


# The voice webhook -------------------------------------------------------------------------------

# Parameters of Twilio's voice request that are worth keeping with the call (no secrets in them).
_KEPT_PARAMS = (
    "CallSid", "AccountSid", "ApiVersion", "CallerName", "FromCountry", "FromState", "FromCity", "ToCountry",
)  # fmt: skip


def _context(
    params: Mapping[str, str], *, outcome: str, message: str = "", fallback_number: str = ""
) -> dict[str, Any]:
    """The Call's context: where it came from, and what the caller was answered (for retries)."""
    answer: dict[str, str] = {"outcome": outcome}
    if message:
        answer["message"] = message
    if fallback_number:
        answer["fallback_number"] = fallback_number
    twilio = {name: params[name][:200] for name in _KEPT_PARAMS if params.get(name)}
    return {"source": "twilio", "twilio": twilio, "answer": answer}


def _existing(*, tenant: Tenant, call_sid: str) -> Call | None:
    return Call.objects.for_tenant(tenant).filter(provider_call_id=call_sid).first()


def twilio_voice_answer(
    *,
    tenant: Tenant,
    phone_number: PhoneNumber,
    params: Mapping[str, str],
    inbound_rules: InboundSettings | None = None,
) -> str:
    """The TwiML for a verified voice webhook; the call is in the call log once, however often
    Twilio retries (a retry gets the TwiML of the call already recorded)."""
    call_sid = params.get("CallSid", "")
    try:
        return _answer(phone_number=phone_number, params=params, inbound_rules=inbound_rules)
    except (IntegrityError, ValidationError):
        # A retry, or two deliveries racing: the CallSid's unique constraint refused the second Call
        # before any LiveKit room was made, and the call recorded first answers both. (Looking it up
        # only now, not before every first delivery, keeps a query off the hot path.)
        existing = _existing(tenant=tenant, call_sid=call_sid)
        if existing is None:
            raise
        return twiml_for_call(existing)


def _answer(
    *, phone_number: PhoneNumber, params: Mapping[str, str], inbound_rules: InboundSettings | None = None
) -> str:
    route = inbound_route(to_number=phone_number.number, phone_number=phone_number, inbound_rules=inbound_rules)
    from_number, call_sid = params.get("From", ""), params.get("CallSid", "")
    if route.outcome == "unavailable":
        logger.info("twilio call %s to %s not taken: %s", call_sid, route.to_number, route.reason)
        _record_unanswered(route, params)
        return twiml_say_hangup(route.message)
    if route.outcome == "closed":
        _record_unanswered(route, params)
        return twiml_closed(message=route.message, fallback_number=route.fallback_number)
    problem = ""
    if not livekit_client.is_configured():
        problem = livekit_client.NOT_CONFIGURED_MESSAGE
    elif not settings.LIVEKIT_SIP_HOST:
        problem = SIP_NOT_CONFIGURED
    if problem:
        logger.error("twilio call %s to %s cannot reach the agent: %s", call_sid, route.to_number, problem)
        failed = dataclasses.replace(route, outcome="unavailable", message=APOLOGY_LINE, reason=problem)
        _record_unanswered(failed, params)
        return twiml_say_hangup(APOLOGY_LINE)
    try:
        connected = inbound_call_connect(
            route,
            from_number=from_number,
            provider_call_id=call_sid,
            context=_context(params, outcome="connect"),
        )
    except AgentAtCapacity as busy:
        logger.info("twilio call %s to %s not connected: %s", call_sid, route.to_number, busy.route.reason)
        _record_unanswered(busy.route, params)
        return twiml_closed(message=busy.route.message, fallback_number=busy.route.fallback_number)
    except livekit_client.LiveKitError as exc:
        # inbound_call_connect already failed the Call with the reason; the caller hears an apology,
        # not Twilio's own "an application error has occurred".
        logger.error("twilio call %s to %s: LiveKit failed: %s", call_sid, route.to_number, exc)
        return twiml_say_hangup(APOLOGY_LINE)
    return twiml_connect(room=connected.room, call_code=str(connected.call.code))


def _record_unanswered(route: InboundRoute, params: Mapping[str, str]) -> Call | None:
    return inbound_call_record_unanswered(
        route,
        from_number=params.get("From", ""),
        provider_call_id=params.get("CallSid", ""),
        context=_context(params, outcome=route.outcome, message=route.message, fallback_number=route.fallback_number),
    )


# Status callbacks --------------------------------------------------------------------------------


def _timestamp(params: Mapping[str, str]) -> datetime.datetime:
    """When Twilio says the event happened (its Timestamp, RFC 2822), else now; never in the future."""
    now = timezone.now()
    try:
        at = email.utils.parsedate_to_datetime(params.get("Timestamp", ""))
    except (TypeError, ValueError):
        return now
    if at.tzinfo is None:
        return now
    return min(at, now)


def _duration(params: Mapping[str, str]) -> float | None:
    try:
        duration = float(params.get("CallDuration", ""))
    except ValueError:
        return None
    return duration if 0 <= duration < 10 * 24 * 3600 else None


def twilio_status_apply(*, tenant: Tenant, phone_number: PhoneNumber | None, params: Mapping[str, str]) -> Call | None:
    """A verified status callback applied to the tenant's Call with this CallSid (created if it is
    not there yet). The state only moves forward; the first terminal report sets the end, and
    Twilio's CallDuration is the talk time when Twilio's report is the one that ended the call."""
    call_sid = params.get("CallSid", "")
    status = STATUS_MAP.get(params.get("CallStatus", ""))
    if not call_sid or status is None:
        logger.warning("twilio status callback ignored: CallSid %r, CallStatus %r", call_sid, params.get("CallStatus"))
        return None
    at = _timestamp(params)
    reason = f"twilio: {params['CallStatus']}"
    call = _existing(tenant=tenant, call_sid=call_sid)
    if call is None:
        call = _create_from_status(tenant=tenant, phone_number=phone_number, params=params)
    with transaction.atomic():
        locked = Call.objects.for_tenant(tenant).select_for_update().get(pk=call.pk)
        was_terminal = locked.is_terminal
        awaits_talk_time = _awaits_talk_time(locked)
        call = call_transition(tenant=tenant, call=locked, status=status, reason=reason, at=at)
        duration = _duration(params)
        if duration is not None and status in TERMINAL_STATUSES and (not was_terminal or awaits_talk_time):
            # This report ended the call (or the call was forwarded by the routing, which could not
            # know how long it would last), so Twilio's billed duration is its duration; it is
            # written only here, once, and later reports find it written and leave it be.
            counted = rollups.counted(call)
            call.duration_seconds = duration
            fields = ["duration_seconds", "updated_at"]
            if awaits_talk_time:
                call.ended_at = max(call.ended_at or at, at)
                call.context = {**call.context, "talk_time_from": "twilio"}
                fields += ["ended_at", "context"]
            call.save(update_fields=fields)
            rollups.apply(before=counted, after=rollups.counted(call))  # the talk time, in the rollups too
    return call


def _awaits_talk_time(call: Call) -> bool:
    """An out-of-hours call forwarded to the fallback number: the routing recorded it as transferred
    at once, with no talk time, and Twilio's final report (not yet applied) has the real one."""
    return (
        call.status == CallStatus.TRANSFERRED
        and call.context.get("ended_by") == ENDED_BY_ROUTING
        and "talk_time_from" not in call.context
    )


def _create_from_status(*, tenant: Tenant, phone_number: PhoneNumber | None, params: Mapping[str, str]) -> Call:
    """A queued Call for a CallSid we have not seen (its voice webhook went elsewhere or was lost)."""
    inbound = params.get("Direction", INBOUND_DIRECTION) == INBOUND_DIRECTION
    agent = phone_number.agent if phone_number is not None else None
    try:
        with transaction.atomic():
            return call_create(
                tenant=tenant,
                agent=agent,
                direction=CallDirection.INBOUND if inbound else CallDirection.OUTBOUND,
                from_number=params.get("From", "")[:32],
                to_number=params.get("To", "")[:32],
                provider_call_id=params["CallSid"],
                context=_context(params, outcome="status-callback"),
            )
    except (IntegrityError, ValidationError):
        # Another callback for the same CallSid created it a moment ago; use that row.
        existing = _existing(tenant=tenant, call_sid=params["CallSid"])
        if existing is None:
            raise
        return existing
