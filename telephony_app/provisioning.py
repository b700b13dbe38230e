"""LiveKit SIP provisioning for one phone number: its inbound trunk, its dispatch rule and its outbound
trunk, made or repaired in LiveKit through telephony_app.livekit_client, their ids stored on the number.

What the number needs (`wanted`):
- provider `sip`: an inbound trunk listing the number, and a dispatch rule bound to that trunk putting
  each call in a new room (`sip-<caller>_<random>`) with the voice worker dispatched by its name
  (LIVEKIT_AGENT_NAME) and the metadata {"route": "sip"}, which worker/sip_route.py reads (the dialed
  number then picks the agent). The trunk's id goes to `sip_trunk_id`, so the worker refuses calls
  to the number through any other trunk. Twilio numbers arrive by the voice webhook and the shared
  Twilio bridge trunk (docs/telephony.md): no trunk per number.
- an `outbound_address`: an outbound trunk to that carrier with the number and the tenant's carrier
  credentials; its id goes to `outbound_trunk_id` (the dialer's caller-ID trunk).

What exists is read from LiveKit every time (never trusted from the database alone), and compared
field by field: `plan` shows it, `provision` writes only what differs, so a second run writes
nothing. The platform changes only objects it made, recognised by their metadata
({"managedBy": "voiceplatform", "phoneNumber": <number id>}); an object made by hand is reported,
never taken over. A web request gives a deadline, and every LiveKit call ends by it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.utils.crypto import salted_hmac

from telephony_app import livekit_client
from telephony_app.livekit_client import (
    DispatchRuleSpec,
    InboundTrunkSpec,
    LiveKitUnavailable,
    OutboundTrunkSpec,
    SipObject,
)
from telephony_app.models import NumberProvider, PhoneNumber
from telephony_app.services import phone_number_livekit_ids_set

MANAGED_BY = "voiceplatform"
ROOM_PREFIX = "sip-"
# The dispatch metadata worker/context.py reads as "route by the dialed number".
SIP_ROUTE_METADATA = json.dumps({"route": "sip"})
LOCK_SECONDS = 120
# A web request keeps this much of WEB_REQUEST_BUDGET_SECONDS for rendering its answer.
RENDER_RESERVE_SECONDS = 1.0
_HIDDEN = "•••••• (hidden)"

INBOUND_TRUNK, DISPATCH_RULE, OUTBOUND_TRUNK = "inbound_trunk", "dispatch_rule", "outbound_trunk"
LABELS = {INBOUND_TRUNK: "Inbound trunk", DISPATCH_RULE: "Dispatch rule", OUTBOUND_TRUNK: "Outbound trunk"}
# What happens (or happened) to a part: create/update write to LiveKit; the others write nothing there.
CREATE, UPDATE, UNCHANGED, SKIP, REFUSED = "create", "update", "unchanged", "skip", "refused"


class ProvisionBusy(Exception):
    """Another provisioning of the same number is running."""


@dataclass(frozen=True)
class FieldState:
    """One managed field: what LiveKit has ("" when the object does not exist) and what the number needs."""

    name: str
    current: str
    wanted: str
    differs: bool


@dataclass(frozen=True)
class PartReport:
    part: str  # INBOUND_TRUNK, DISPATCH_RULE, OUTBOUND_TRUNK
    action: str  # CREATE, UPDATE, UNCHANGED, SKIP, REFUSED
    livekit_id: str  # "" until it exists
    fields: tuple[FieldState, ...]
    note: str = ""

    @property
    def label(self) -> str:
        return LABELS[self.part]

    @property
    def writes(self) -> bool:
        return self.action in (CREATE, UPDATE)


@dataclass(frozen=True)
class ProvisionReport:
    number: str
    code: str
    applied: bool  # False: a plan (dry run), nothing written
    parts: tuple[PartReport, ...]

    @property
    def refused(self) -> bool:
        return any(part.action == REFUSED for part in self.parts)

    @property
    def changes(self) -> bool:
        return any(part.writes for part in self.parts)

    @property
    def summary(self) -> str:
        """One line: what was (or would be) done."""
        if self.refused:
            reasons = "; ".join(p.note for p in self.parts if p.action == REFUSED)
            return f"{self.number}: not provisioned, nothing was written: {reasons}"
        if not self.changes:
            return f"{self.number}: nothing to change, LiveKit already matches."
        done = {CREATE: "created", UPDATE: "updated"} if self.applied else {CREATE: "to create", UPDATE: "to update"}
        items = [
            f"{p.label.lower()} {done[p.action]}{f' ({p.livekit_id})' if p.livekit_id else ''}"
            for p in self.parts
            if p.writes
        ]
        return f"{self.number}: {', '.join(items)}."


# --- what the number needs -------------------------------------------------------------------


def _marker(phone_number: PhoneNumber, **extra: str) -> str:
    return json.dumps({"managedBy": MANAGED_BY, "phoneNumber": str(phone_number.code), **extra}, sort_keys=True)


def _is_ours(obj: SipObject, phone_number: PhoneNumber) -> bool:
    try:
        meta = json.loads(obj.spec.metadata or "{}")
    except ValueError:
        return False
    return (
        isinstance(meta, dict)
        and meta.get("managedBy") == MANAGED_BY
        and meta.get("phoneNumber") == str(phone_number.code)
    )


def _name(phone_number: PhoneNumber) -> str:
    return f"{MANAGED_BY}: {phone_number.number}"[:128]


def _credentials_fingerprint(username: str, password: str) -> str:
    """Keyed with SECRET_KEY: tells a changed password apart in LiveKit's metadata without revealing it
    (LiveKit need not return a trunk's password, so it cannot always be compared directly)."""
    if not username and not password:
        return ""
    return salted_hmac("telephony_app.provisioning.outbound-credentials", f"{username}\0{password}").hexdigest()[:24]


def inbound_spec(phone_number: PhoneNumber) -> InboundTrunkSpec:
    return InboundTrunkSpec(name=_name(phone_number), metadata=_marker(phone_number), numbers=(phone_number.number,))


def rule_spec(phone_number: PhoneNumber, *, trunk_id: str) -> DispatchRuleSpec:
    return DispatchRuleSpec(
        name=_name(phone_number),
        metadata=_marker(phone_number),
        trunk_ids=(trunk_id,),
        rule_type="individual",
        room_prefix=ROOM_PREFIX,
        hide_phone_number=False,  # the agent and the call log need the caller's number
        agents=((settings.LIVEKIT_AGENT_NAME, SIP_ROUTE_METADATA),),
    )


def outbound_spec(phone_number: PhoneNumber) -> OutboundTrunkSpec:
    username, password = phone_number.outbound_auth_username, phone_number.get_outbound_auth_password()
    fingerprint = _credentials_fingerprint(username, password)
    return OutboundTrunkSpec(
        name=_name(phone_number),
        metadata=_marker(phone_number, **({"credentials": fingerprint} if fingerprint else {})),
        address=phone_number.outbound_address,
        transport=phone_number.outbound_transport,
        numbers=(phone_number.number,),
        auth_username=username,
        auth_password=password,
    )


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, tuple):
        return ", ".join(_show(item) if not isinstance(item, tuple) else " ".join(item) for item in value)
    return str(value)


def _field_states(current: Any | None, wanted: Any, *, pending: dict[str, str] | None = None) -> tuple[FieldState, ...]:
    """Field by field; passwords are never shown. `pending`: wanted values not known yet (a new trunk's id)."""
    states = []
    for spec_field in fields(wanted):
        name = spec_field.name
        want = getattr(wanted, name)
        have = getattr(current, name) if current is not None else None
        if name == "auth_password":
            # LiveKit may answer without the password: the metadata's fingerprint catches a change then.
            differs = current is None or (bool(have) and have != want) or (not want and bool(have))
            states.append(FieldState(name, _HIDDEN if have else "", _HIDDEN if want else "", differs))
            continue
        shown_want = (pending or {}).get(name, _show(want))
        states.append(FieldState(name, "" if current is None else _show(have), shown_want, have != want))
    return tuple(states)


# --- reading LiveKit -------------------------------------------------------------------------


class _Clock:
    """Per-call timeouts that end by the deadline (None: livekit_client's own 5 s per call)."""

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline

    def timeout(self) -> float | None:
        if self.deadline is None:
            return None
        remaining = self.deadline - time.monotonic()
        if remaining < 0.05:
            raise LiveKitUnavailable("LiveKit did not finish answering within the request budget; try again")
        return min(livekit_client.REQUEST_TIMEOUT_SECONDS, remaining)


@dataclass(frozen=True)
class _Found:
    obj: SipObject | None
    refusal: str = ""


def _find(
    phone_number: PhoneNumber,
    *,
    stored_id: str,
    by_id: Callable[[str, float | None], list[SipObject]],
    by_other: Callable[[float | None], list[SipObject]] | None,
    what: str,
    id_field: str,
    clock: _Clock,
    in_the_way: Callable[[list[SipObject]], str] | None = None,
) -> _Found:
    """The number's object: the stored id when LiveKit still has it, else one the platform made for the
    number (found by number or trunk, e.g. after a run that could not store its id); `in_the_way` names
    an object made by hand among those that would stop a new one from working."""
    if stored_id:
        found = by_id(stored_id, clock.timeout())
        if found:
            if _is_ours(found[0], phone_number):
                return _Found(found[0])
            return _Found(
                None,
                f"{what} {stored_id} (the number's {id_field}) was not made by the platform: it is left as it is; "
                f"clear the number's {id_field} to let the platform make its own",
            )
    if by_other is None:
        return _Found(None)
    candidates = by_other(clock.timeout())
    ours = [obj for obj in candidates if _is_ours(obj, phone_number)]
    if ours:
        return _Found(ours[0])
    return _Found(None, in_the_way(candidates) if in_the_way is not None else "")


def _inbound_in_the_way(phone_number: PhoneNumber) -> Callable[[list[SipObject]], str]:
    """A trunk made by hand that lists the number explicitly would compete with the platform's for its calls
    (a trunk listing no numbers takes any number: it is no rival for one)."""

    def check(trunks: list[SipObject]) -> str:
        for trunk in trunks:
            if phone_number.number in trunk.spec.numbers:
                return (
                    f"LiveKit inbound trunk {trunk.id} ({trunk.spec.name or 'no name'}) already takes calls to "
                    f"{phone_number.number}; remove the number from it in LiveKit, or enter {trunk.id} as the "
                    "number's LiveKit SIP trunk id and keep routing it by hand"
                )
        return ""

    return check


@dataclass(frozen=True)
class _Plan:
    report: ProvisionReport
    objects: dict[str, SipObject | None]
    specs: dict[str, Any]


def _part(part: str, found: _Found, wanted: Any, *, pending: dict[str, str] | None = None) -> PartReport:
    if found.refusal:
        return PartReport(part, REFUSED, "", (), note=found.refusal)
    current = found.obj.spec if found.obj is not None else None
    states = _field_states(current, wanted, pending=pending)
    if found.obj is None:
        return PartReport(part, CREATE, "", states, note="does not exist in LiveKit")
    action = UPDATE if any(state.differs for state in states) else UNCHANGED
    return PartReport(part, action, found.obj.id, states)


def _plan(phone_number: PhoneNumber, clock: _Clock) -> _Plan:
    parts: list[PartReport] = []
    objects: dict[str, SipObject | None] = {}
    specs: dict[str, Any] = {}
    number = phone_number.number

    if phone_number.provider == NumberProvider.SIP:
        trunk = _find(
            phone_number,
            stored_id=phone_number.sip_trunk_id,
            by_id=lambda i, t: livekit_client.sip_inbound_trunks(ids=[i], timeout=t),
            by_other=lambda t: livekit_client.sip_inbound_trunks(numbers=[number], timeout=t),
            what="inbound trunk",
            id_field="LiveKit SIP trunk id",
            clock=clock,
            in_the_way=_inbound_in_the_way(phone_number),
        )
        specs[INBOUND_TRUNK] = inbound_spec(phone_number)
        objects[INBOUND_TRUNK] = trunk.obj
        parts.append(_part(INBOUND_TRUNK, trunk, specs[INBOUND_TRUNK]))

        trunk_id = trunk.obj.id if trunk.obj is not None else ""
        rule = _find(
            phone_number,
            stored_id=phone_number.dispatch_rule_id,
            by_id=lambda i, t: livekit_client.sip_dispatch_rules(ids=[i], timeout=t),
            by_other=(lambda t: livekit_client.sip_dispatch_rules(trunk_ids=[trunk_id], timeout=t))
            if trunk_id
            else None,
            what="dispatch rule",
            id_field="dispatch rule id",
            clock=clock,
        )
        specs[DISPATCH_RULE] = rule_spec(phone_number, trunk_id=trunk_id)
        objects[DISPATCH_RULE] = rule.obj
        pending = {} if trunk_id else {"trunk_ids": "(the new inbound trunk)"}
        parts.append(_part(DISPATCH_RULE, rule, specs[DISPATCH_RULE], pending=pending))
    else:
        note = "Twilio numbers arrive by the voice webhook and the shared Twilio bridge trunk: no trunk per number"
        parts.append(PartReport(INBOUND_TRUNK, SKIP, phone_number.sip_trunk_id, (), note=note))
        parts.append(PartReport(DISPATCH_RULE, SKIP, "", (), note=note))

    if phone_number.outbound_address:
        outbound = _find(
            phone_number,
            stored_id=phone_number.outbound_trunk_id,
            by_id=lambda i, t: livekit_client.sip_outbound_trunks(ids=[i], timeout=t),
            by_other=lambda t: livekit_client.sip_outbound_trunks(numbers=[number], timeout=t),
            what="outbound trunk",
            id_field="LiveKit outbound trunk id",
            clock=clock,
        )
        specs[OUTBOUND_TRUNK] = outbound_spec(phone_number)
        objects[OUTBOUND_TRUNK] = outbound.obj
        parts.append(_part(OUTBOUND_TRUNK, outbound, specs[OUTBOUND_TRUNK]))
    elif phone_number.outbound_trunk_id:
        note = (
            f"{phone_number.outbound_trunk_id} was entered by hand; "
            "set the carrier's SIP address to let the platform manage it"
        )
        parts.append(PartReport(OUTBOUND_TRUNK, SKIP, phone_number.outbound_trunk_id, (), note=note))
    else:
        parts.append(
            PartReport(OUTBOUND_TRUNK, SKIP, "", (), note="no carrier SIP address: the number places no calls")
        )

    report = ProvisionReport(number=number, code=str(phone_number.code), applied=False, parts=tuple(parts))
    return _Plan(report=report, objects=objects, specs=specs)


# --- the one action --------------------------------------------------------------------------


def request_deadline() -> float:
    """When a web request's LiveKit calls must be over: WEB_REQUEST_BUDGET_SECONDS less a reserve."""
    return time.monotonic() + max(float(settings.WEB_REQUEST_BUDGET_SECONDS) - RENDER_RESERVE_SECONDS, 0.5)


@contextmanager
def _lock(phone_number: PhoneNumber) -> Iterator[None]:
    key = f"vp:provision:{phone_number.tenant_id}:{phone_number.code}"
    if not cache.add(key, 1, timeout=LOCK_SECONDS):
        raise ProvisionBusy(f"{phone_number.number} is being provisioned right now; try again in a moment")
    try:
        yield
    finally:
        cache.delete(key)


def provision_plan(*, phone_number: PhoneNumber, deadline: float | None = None) -> ProvisionReport:
    """What LiveKit has for the number, what it needs, and what provisioning would write (writes nothing).
    Raises livekit_client.LiveKitError when LiveKit cannot be asked."""
    return _plan(phone_number, _Clock(deadline)).report


def provision(*, phone_number: PhoneNumber, deadline: float | None = None, dry_run: bool = False) -> ProvisionReport:
    """Makes LiveKit match the number (creating or replacing only what differs) and stores the ids.

    A plan with a refusal (an object made by hand in the way) writes nothing. Ids are stored as each
    object is written, so a LiveKit failure halfway leaves nothing unknown: the next run adopts them.
    Raises livekit_client.LiveKitError (LiveKit down, refusing, or the deadline passed) or ProvisionBusy."""
    clock = _Clock(deadline)
    if dry_run:
        return _plan(phone_number, clock).report
    with _lock(phone_number):
        plan = _plan(phone_number, clock)
        if plan.report.refused:
            return plan.report
        parts: list[PartReport] = []
        trunk_id = ""
        for part in plan.report.parts:
            if part.action == SKIP:
                parts.append(part)
                continue
            current = plan.objects.get(part.part)
            spec = plan.specs[part.part]
            if part.part == DISPATCH_RULE:
                # Bound to the trunk just made or kept: its id is known now, so compare again.
                spec = rule_spec(phone_number, trunk_id=trunk_id)
                part = _part(DISPATCH_RULE, _Found(current), spec)
            done = _write(part, current, spec, clock)
            if part.part == INBOUND_TRUNK:
                trunk_id = done.id
            _store(phone_number, _ID_COLUMNS[part.part], done.id)
            parts.append(PartReport(part.part, part.action, done.id, part.fields, part.note))
        return ProvisionReport(
            number=phone_number.number, code=str(phone_number.code), applied=True, parts=tuple(parts)
        )


_ID_COLUMNS = {INBOUND_TRUNK: "sip_trunk_id", DISPATCH_RULE: "dispatch_rule_id", OUTBOUND_TRUNK: "outbound_trunk_id"}
_WRITERS: dict[str, tuple[Any, Any]] = {
    INBOUND_TRUNK: (livekit_client.sip_inbound_trunk_create, livekit_client.sip_inbound_trunk_replace),
    DISPATCH_RULE: (livekit_client.sip_dispatch_rule_create, livekit_client.sip_dispatch_rule_replace),
    OUTBOUND_TRUNK: (livekit_client.sip_outbound_trunk_create, livekit_client.sip_outbound_trunk_replace),
}


def _write(part: PartReport, current: SipObject | None, spec: Any, clock: _Clock) -> SipObject:
    create, replace = _WRITERS[part.part]
    if part.action == CREATE:
        return create(spec=spec, timeout=clock.timeout())
    assert current is not None
    if part.action == UPDATE:
        return replace(current=current, spec=spec, timeout=clock.timeout())
    return current


def _store(phone_number: PhoneNumber, column: str, value: str) -> None:
    """Right after each write, so a failure further on leaves no object whose id the number lacks."""
    if getattr(phone_number, column) != value:
        phone_number_livekit_ids_set(tenant=phone_number.tenant, phone_number=phone_number, ids={column: value})
