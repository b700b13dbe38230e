"""Writes for campaigns, their contacts and the ledgers. The portal, the API and the admin all come
through here; every function takes the tenant explicitly and reports every bad field at once."""

from __future__ import annotations

import datetime
import logging
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from agents_app.models import Agent
from agents_app.validation import business_hours_document, outbound_agent_problem, parse_business_hours
from campaigns_app import contact_rows
from campaigns_app.models import (
    CAMPAIGN_TRANSITIONS,
    OPEN_CAMPAIGN_STATUSES,
    Campaign,
    CampaignStatus,
    CampaignVoicemailAction,
    Consent,
    ConsentAction,
    ConsentKind,
    ConsentSource,
    Contact,
    ContactStatus,
    DncAction,
    DncEntry,
    DncHandling,
    DncSource,
)
from campaigns_app.selectors import consent_deciding, dnc_blocked, dnc_entry_deciding
from campaigns_app.webhook_events import campaign_status_changed, contact_opted_out
from telephony_app.models import PhoneNumber
from voiceplatform.actor import Actor
from voiceplatform.models import Tenant

logger = logging.getLogger(__name__)

# Fields a campaign's create/update accepts (the API and the form map their names onto these).
CAMPAIGN_FIELDS = (
    "name",
    "objective",
    "agent",
    "caller_id",
    "calling_window",
    "start_date",
    "end_date",
    "dialer_mode",
    "max_calls_per_second",
    "max_concurrent_calls",
    "max_attempts",
    "retry_backoff_minutes",
    "requires_consent",
    "voicemail_action",
    "voicemail_message",
    "recording_notice",
)
DEFAULT_CALLING_WINDOW: dict[str, list[dict[str, str]]] = {
    **{day: [{"start": "09:00", "end": "17:00"}] for day in ("monday", "tuesday", "wednesday", "thursday", "friday")},
    "saturday": [],
    "sunday": [],
}


class CampaignStateConflict(Exception):
    """The campaign's status does not allow this change (pause a draft, edit a running campaign...).
    The API answers 409, the portal shows the message."""

    def __init__(self, message: str, problems: Iterable[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = list(problems)


# --- Campaign rules ---------------------------------------------------------------------------


def calling_window_document(value: Any) -> dict[str, list[dict[str, str]]]:
    """The weekly window as stored ({"monday": [{"start", "end"}], ... every day}), or ValidationError.

    Same format and parser as the agents' business hours, plus the campaign's rules: each range ends
    after it starts on the same day (no overnight dialing: the legal window is 08:00-21:00 anyway)
    and at least one day has a range."""
    ranges = parse_business_hours(value)
    problems = [
        f"{('monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday')[item.weekday]}: "
        f"{item.label()} ends before it starts; a calling window ends on the day it starts."
        for item in ranges
        if item.is_overnight
    ]
    if problems:
        raise ValidationError(problems)
    if not ranges:
        raise ValidationError("Give at least one day a calling window (e.g. monday 09:00-17:00).")
    return business_hours_document(ranges)


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def campaign_problems(*, tenant: Tenant, campaign: Campaign) -> dict[str, list[str]]:
    """Every rule a campaign's settings break, by field (empty when valid). The one check the
    form, the API, the admin and campaign_start use."""
    problems: dict[str, list[str]] = {}

    def add(name: str, message: str) -> None:
        problems.setdefault(name, []).append(message)

    try:
        campaign.full_clean(
            exclude=["tenant", "agent", "caller_id", "calling_window"],
            validate_unique=False,
            validate_constraints=False,
        )
    except ValidationError as error:
        for name, messages in error.message_dict.items():
            problems.setdefault(name, []).extend(messages)
    agent = campaign.agent if campaign.agent_id else None
    if agent is None or agent.tenant_id != tenant.pk:
        add("agent", "Choose one of your agents.")
    elif problem := outbound_agent_problem(name=agent.name, direction=agent.direction, is_active=agent.is_active):
        add("agent", problem)
    caller_id = campaign.caller_id if campaign.caller_id_id else None
    if caller_id is None or caller_id.tenant_id != tenant.pk:
        add("caller_id", "Choose one of your phone numbers as the caller ID.")
    elif not caller_id.is_active:
        add("caller_id", f"{caller_id.number} is switched off; calls cannot present it. Choose an active number.")
    try:
        campaign.calling_window = calling_window_document(campaign.calling_window)
    except ValidationError as error:
        problems.setdefault("calling_window", []).extend(error.messages)
    pace = _decimal(campaign.max_calls_per_second)
    maximum = settings.CAMPAIGN_MAX_CALLS_PER_SECOND
    if pace is None or not pace.is_finite() or pace <= 0:
        add("max_calls_per_second", "The pace must be more than 0 calls per second (e.g. 1).")
    elif pace > maximum:
        add("max_calls_per_second", f"At most {maximum} calls per second on this platform.")
    concurrency_max = settings.CAMPAIGN_MAX_CONCURRENT_CALLS
    if isinstance(campaign.max_concurrent_calls, int) and campaign.max_concurrent_calls > concurrency_max:
        add("max_concurrent_calls", f"At most {concurrency_max} calls at once on this platform.")
    if campaign.start_date and campaign.end_date and campaign.end_date < campaign.start_date:
        add("end_date", "The end date is before the start date.")
    if (
        campaign.voicemail_action == CampaignVoicemailAction.LEAVE_MESSAGE
        and not (campaign.voicemail_message or "").strip()
    ):
        add("voicemail_message", "Write the message to leave on voicemail.")
    return problems


def _check(*, tenant: Tenant, campaign: Campaign) -> None:
    problems = campaign_problems(tenant=tenant, campaign=campaign)
    if problems:
        raise ValidationError(problems)


def _resolve_related(*, tenant: Tenant, fields: dict[str, Any]) -> None:
    """Agent and caller ID given as codes (API) or rows (forms) become this tenant's rows, locked;
    another tenant's code, or a row deleted meanwhile, is 'not found', like a code that does not exist."""
    problems: dict[str, list[str]] = {}
    for name, model, message in (
        ("agent", Agent, "No such agent."),
        ("caller_id", PhoneNumber, "No such phone number."),
    ):
        value = fields.get(name)
        if value is None or (isinstance(value, model) and value.tenant_id != tenant.pk):
            continue  # campaign_problems names it, with the other fields' problems
        # Locked until the campaign is saved: agent_delete and phone_number_delete lock the row too,
        # so a delete either sees this campaign among the references or happens first (then: not found),
        # and an open campaign is never left without its agent or number (SET_NULL).
        rows = model.objects.for_tenant(tenant).select_for_update()
        try:
            row = rows.filter(pk=value.pk).first() if isinstance(value, model) else rows.filter(code=value).first()
        except (ValidationError, ValueError):  # not a UUID: as missing as a code nobody has
            row = None
        if row is None:
            problems[name] = [message]
        else:
            fields[name] = row
    if problems:
        raise ValidationError(problems)


@transaction.atomic
def campaign_create(*, tenant: Tenant, fields: Mapping[str, Any]) -> Campaign:
    """A new draft campaign; ValidationError lists every bad field."""
    values = {name: value for name, value in fields.items() if name in CAMPAIGN_FIELDS}
    _resolve_related(tenant=tenant, fields=values)
    values.setdefault("calling_window", DEFAULT_CALLING_WINDOW)
    campaign = Campaign(tenant=tenant, **values)
    _check(tenant=tenant, campaign=campaign)
    _snapshot(campaign)
    campaign.save()
    logger.info("campaign %s created", campaign.code)
    return campaign


@transaction.atomic
def campaign_update(*, tenant: Tenant, campaign: Campaign, fields: Mapping[str, Any]) -> Campaign:
    """Change a campaign's settings: a draft, scheduled or paused one (not while it dials, not once finished)."""
    campaign = _locked(tenant=tenant, campaign=campaign)
    if not campaign.is_editable:
        raise CampaignStateConflict(
            f"A {campaign.get_status_display().lower()} campaign cannot be changed.",
            ["Pause the campaign first." if campaign.status == CampaignStatus.RUNNING else "Create a new campaign."],
        )
    values = {name: value for name, value in fields.items() if name in CAMPAIGN_FIELDS}
    _resolve_related(tenant=tenant, fields=values)
    for name, value in values.items():
        setattr(campaign, name, value)
    _check(tenant=tenant, campaign=campaign)
    _snapshot(campaign)
    campaign.save()
    return campaign


def _snapshot(campaign: Campaign) -> None:
    """Copy the agent's name and the caller ID's number onto the campaign: what its record shows once
    it has finished and either was deleted (SET_NULL)."""
    if campaign.agent_id is not None:
        campaign.agent_name = campaign.agent.name
    if campaign.caller_id_id is not None:
        campaign.caller_id_number = campaign.caller_id.number


@transaction.atomic
def campaign_delete(*, tenant: Tenant, campaign: Campaign) -> None:
    """Delete a campaign that never started, with its contacts and imports; any other is cancelled instead."""
    campaign = _locked(tenant=tenant, campaign=campaign)
    if not campaign.can_delete:
        raise CampaignStateConflict(
            "A campaign that has started is kept for its record of calls.", ["Cancel it instead."]
        )
    campaign.delete()
    logger.info("campaign %s deleted", campaign.code)


def _locked(*, tenant: Tenant, campaign: Campaign) -> Campaign:
    return (
        # of=self: the agent and caller ID are outer joins (null once a finished campaign let go of
        # them), which PostgreSQL does not lock; the campaign row is what serialises its changes.
        Campaign.objects.for_tenant(tenant)
        .select_for_update(of=("self",))
        .select_related("agent", "caller_id", "tenant")
        .get(pk=campaign.pk)
    )


def _today(tenant: Tenant, now: datetime.datetime) -> datetime.date:
    return now.astimezone(zoneinfo.ZoneInfo(tenant.timezone)).date()


def _move(campaign: Campaign, to: str, now: datetime.datetime) -> Campaign:
    if to not in CAMPAIGN_TRANSITIONS[campaign.status]:
        raise CampaignStateConflict(
            f"A {campaign.get_status_display().lower()} campaign cannot become {CampaignStatus(to).label.lower()}.",
        )
    previous = campaign.status
    campaign.status = to
    campaign.status_changed_at = now
    if to in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED) and campaign.started_at is None:
        campaign.started_at = now
    if to in (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED):
        campaign.finished_at = now
        _snapshot(campaign)  # from now on the agent or number may be deleted: keep their latest name
    campaign.save(
        update_fields=[
            "status",
            "status_changed_at",
            "started_at",
            "finished_at",
            "agent_name",
            "caller_id_number",
            "updated_at",
        ]
    )
    campaign_status_changed(tenant=campaign.tenant, campaign=campaign, previous=previous, at=now)
    logger.info("campaign %s is now %s", campaign.code, to)
    return campaign


def start_problems(*, tenant: Tenant, campaign: Campaign, now: datetime.datetime) -> list[str]:
    """What stops the campaign from starting now (each line says what to do), empty when it can."""
    problems = [
        message for messages in campaign_problems(tenant=tenant, campaign=campaign).values() for message in messages
    ]
    if campaign.end_date and campaign.end_date < _today(tenant, now):
        problems.append(f"The end date ({campaign.end_date:%Y-%m-%d}) has passed; move it later.")
    caller_id = campaign.caller_id
    if caller_id is not None and not caller_id.outbound_trunk_id:
        problems.append(
            f"The caller ID {caller_id.number} has no outbound trunk, so no call can go out from it: set its "
            "LiveKit outbound trunk id (ST_...) on the Phone numbers page, or choose another caller ID."
        )
    callable_contacts = Contact.objects.for_tenant(tenant).filter(
        campaign=campaign, status__in=(ContactStatus.PENDING, ContactStatus.RETRY)
    )
    if not callable_contacts.exists():
        problems.append("The campaign has no contact left to call; import contacts first.")
    return problems


def _running_or_scheduled(tenant: Tenant, campaign: Campaign, now: datetime.datetime) -> str:
    if campaign.start_date and campaign.start_date > _today(tenant, now):
        return CampaignStatus.SCHEDULED
    return CampaignStatus.RUNNING


@transaction.atomic
def campaign_start(*, tenant: Tenant, campaign: Campaign, now: datetime.datetime | None = None) -> Campaign:
    """Draft -> running (or scheduled, when its start date is ahead). The dialer then places the calls."""
    now = now or timezone.now()
    campaign = _locked(tenant=tenant, campaign=campaign)
    if campaign.status != CampaignStatus.DRAFT:
        raise CampaignStateConflict(
            f"Only a draft campaign can be started; this one is {campaign.get_status_display().lower()}.",
            ["Resume it instead."] if campaign.status == CampaignStatus.PAUSED else [],
        )
    if problems := start_problems(tenant=tenant, campaign=campaign, now=now):
        raise CampaignStateConflict("The campaign cannot start yet.", problems)
    _classify_on_commit(campaign)
    return _move(campaign, _running_or_scheduled(tenant, campaign, now), now)


@transaction.atomic
def campaign_pause(*, tenant: Tenant, campaign: Campaign, now: datetime.datetime | None = None) -> Campaign:
    """Running or scheduled -> paused: no new call starts from the next tick; calls in progress finish."""
    campaign = _locked(tenant=tenant, campaign=campaign)
    if campaign.status not in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED):
        raise CampaignStateConflict(
            f"Only a running or scheduled campaign can be paused; this one is {campaign.get_status_display().lower()}."
        )
    return _move(campaign, CampaignStatus.PAUSED, now or timezone.now())


@transaction.atomic
def campaign_resume(*, tenant: Tenant, campaign: Campaign, now: datetime.datetime | None = None) -> Campaign:
    """Paused -> running (or scheduled, when its start date is still ahead)."""
    now = now or timezone.now()
    campaign = _locked(tenant=tenant, campaign=campaign)
    if campaign.status != CampaignStatus.PAUSED:
        raise CampaignStateConflict(
            f"Only a paused campaign can be resumed; this one is {campaign.get_status_display().lower()}."
        )
    if problems := start_problems(tenant=tenant, campaign=campaign, now=now):
        raise CampaignStateConflict("The campaign cannot resume yet.", problems)
    _classify_on_commit(campaign)
    return _move(campaign, _running_or_scheduled(tenant, campaign, now), now)


def _classify_on_commit(campaign: Campaign) -> None:
    """Have the dialer's classifier give the campaign's new contacts their zones once this commits."""
    pk = campaign.pk

    def enqueue() -> None:
        from campaigns_app.tasks import classify_contacts  # the task module imports this one

        classify_contacts.delay(pk)

    transaction.on_commit(enqueue)


@transaction.atomic
def campaign_cancel(*, tenant: Tenant, campaign: Campaign, now: datetime.datetime | None = None) -> Campaign:
    """Any open campaign -> cancelled, for good: no further call; its record stays."""
    campaign = _locked(tenant=tenant, campaign=campaign)
    if not campaign.is_open:
        raise CampaignStateConflict(f"The campaign is already {campaign.get_status_display().lower()}.")
    return _move(campaign, CampaignStatus.CANCELLED, now or timezone.now())


@transaction.atomic
def campaign_complete(*, tenant: Tenant, campaign: Campaign, now: datetime.datetime | None = None) -> Campaign:
    """Running or paused -> completed (the dialer, when no contact is left to call)."""
    campaign = _locked(tenant=tenant, campaign=campaign)
    return _move(campaign, CampaignStatus.COMPLETED, now or timezone.now())


# --- Contacts through the API (JSON); CSV files go through campaigns_app.importer. ---------------


@dataclass
class ContactsAdded:
    """What a JSON contacts request did: rows created, and each refused row's index, field and reason."""

    created: list[Contact] = field(default_factory=list)
    skipped_dnc: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


@transaction.atomic
def contacts_add(
    *,
    tenant: Tenant,
    campaign: Campaign,
    rows: list[Mapping[str, Any]],
    default_country: str = "",
    dnc_handling: str = DncHandling.SKIP,
    all_or_nothing: bool = True,
) -> ContactsAdded:
    """Add contacts given as {number, name?, timezone?, variables?} objects, with the importer's rules:
    numbers normalised (a national number needs default_country), duplicates in the request or the
    campaign refused, DNC numbers skipped or left out. all_or_nothing: any refused row adds nothing."""
    campaign = _locked(tenant=tenant, campaign=campaign)
    if not campaign.is_open:
        raise CampaignStateConflict(f"A {campaign.get_status_display().lower()} campaign takes no more contacts.")
    required = contact_rows.required_variables(campaign.agent)
    result = ContactsAdded()
    valid: list[tuple[int, contact_rows.ContactValues]] = []
    seen: dict[str, int] = {}
    for index, row in enumerate(rows):
        try:
            values = contact_rows.check_contact(
                number=str(row.get("number") or ""),
                name=str(row.get("name") or ""),
                timezone=str(row.get("timezone") or ""),
                variables=row.get("variables") or {},
                required=required,
                default_country=default_country,
            )
        except contact_rows.RowError as error:
            result.errors.append({"index": index, "field": error.field, "value": error.value, "reason": error.reason})
            continue
        if values.number in seen:
            result.errors.append(
                {
                    "index": index,
                    "field": "number",
                    "value": values.number,
                    "reason": f"duplicate of row {seen[values.number]}",
                }
            )
            continue
        seen[values.number] = index
        valid.append((index, values))
    existing = set(
        Contact.objects.for_tenant(tenant)
        .filter(campaign=campaign, number__in=list(seen))
        .values_list("number", flat=True)
    )
    blocked = dnc_blocked(tenant=tenant, numbers=seen)
    to_create: list[Contact] = []
    for index, values in valid:
        if values.number in existing:
            result.errors.append(
                {"index": index, "field": "number", "value": values.number, "reason": "already in this campaign"}
            )
            continue
        contact = Contact(
            tenant=tenant,
            campaign=campaign,
            number=values.number,
            name=values.name,
            timezone=values.timezone,
            variables=values.variables,
        )
        if values.number in blocked:
            result.skipped_dnc += 1
            if dnc_handling == DncHandling.EXCLUDE:
                continue
            contact.status = ContactStatus.SKIPPED
            contact.reason = dnc_reason(blocked[values.number])
        to_create.append(contact)
    if result.errors and all_or_nothing:
        return ContactsAdded(errors=result.errors, skipped_dnc=0)
    result.created = Contact.objects.bulk_create(to_create)
    if result.created:  # the dialer's classifier gives them their zones (campaigns_app.dialer.zones)
        Campaign.objects.for_tenant(tenant).filter(pk=campaign.pk).update(zones_pending=True)
    return result


def dnc_reason(entry: DncEntry) -> str:
    """The skip reason a contact on the DNC list gets ("dnc: ..."), naming the deciding entry's date."""
    return f"dnc: on the do-not-call list since {entry.created_at:%Y-%m-%d} ({entry.get_source_display().lower()})"


# --- The ledgers: every change is a new row. ------------------------------------------------------


def _number(value: str) -> str:
    try:
        return contact_rows.normalize_number(value)
    except contact_rows.RowError as error:
        raise ValidationError({"number": f"{error.value!r}: {error.reason}."}) from None


@dataclass(frozen=True)
class LedgerWrite:
    """A ledger write's result: the deciding row, and whether this call wrote it (False: already so)."""

    entry: DncEntry | Consent
    created: bool


@transaction.atomic
def dnc_add(
    *, tenant: Tenant, number: str, source: str = DncSource.MANUAL, reason: str = "", actor: Actor, call: Any = None
) -> LedgerWrite:
    """Put a number on the tenant's do-not-call list (every campaign honours it from the next dial).
    A number already on it keeps its deciding row; nothing new is written."""
    number = _number(number)
    if source not in DncSource.values:
        raise ValidationError({"source": f"Unknown source {source!r}; use one of {', '.join(DncSource.values)}."})
    if call is not None and call.tenant_id != tenant.pk:  # the evidence must be this tenant's own call
        raise ValidationError({"call": "No such call."})
    _lock_number(tenant, "dnc", number)
    current = dnc_entry_deciding(tenant=tenant, number=number)
    if current is not None:
        return LedgerWrite(current, created=False)
    entry = DncEntry(tenant=tenant, number=number, source=source, reason=reason.strip(), actor=actor.label, call=call)
    entry.full_clean()
    entry.save()
    if source == DncSource.IN_CALL_OPT_OUT:
        call_code = call.code if call is not None else None
        contact_opted_out(tenant=tenant, number=number, call_code=call_code, reason=entry.reason, at=entry.created_at)
    logger.info("dnc: number added (%s)", source)
    return LedgerWrite(entry, created=True)


@transaction.atomic
def dnc_remove(*, tenant: Tenant, number: str, reason: str, actor: Actor, source: str = DncSource.MANUAL) -> DncEntry:
    """Take a number off the do-not-call list: a removal row (the additions stay in the history)."""
    number = _number(number)
    if not reason.strip():
        raise ValidationError({"reason": "Say why the number may be called again (e.g. the person asked for calls)."})
    _lock_number(tenant, "dnc", number)
    if dnc_entry_deciding(tenant=tenant, number=number) is None:
        raise ValidationError({"number": f"{number} is not on the do-not-call list."})
    entry = DncEntry(
        tenant=tenant, number=number, action=DncAction.REMOVE, source=source, reason=reason.strip(), actor=actor.label
    )
    entry.full_clean()
    entry.save()
    logger.info("dnc: number removed")
    return entry


@transaction.atomic
def dnc_add_many(
    *, tenant: Tenant, numbers: Iterable[str], source: str = DncSource.IMPORT, reason: str = "", actor: Actor
) -> int:
    """Add many E.164 numbers at once (a bulk upload): one lookup, one insert; returns how many were new."""
    wanted = sorted(set(numbers))
    blocked = dnc_blocked(tenant=tenant, numbers=wanted)
    rows = [
        DncEntry(tenant=tenant, number=number, source=source, reason=reason.strip(), actor=actor.label)
        for number in wanted
        if number not in blocked
    ]
    DncEntry.objects.bulk_create(rows, batch_size=2000)
    return len(rows)


@transaction.atomic
def consent_grant(
    *,
    tenant: Tenant,
    number: str,
    evidence: str,
    actor: Actor,
    kind: str = ConsentKind.PRIOR_EXPRESS_WRITTEN,
    source: str = ConsentSource.MANUAL,
    granted_at: datetime.datetime | None = None,
) -> Consent:
    """Record that the person at `number` consented (kind, source, evidence, when): a new grant row."""
    number = _number(number)
    granted_at = granted_at or timezone.now()
    if granted_at > timezone.now() + datetime.timedelta(minutes=5):
        raise ValidationError({"granted_at": "Consent cannot be given in the future."})
    _lock_number(tenant, "consent", number)
    consent = Consent(
        tenant=tenant,
        number=number,
        action=ConsentAction.GRANT,
        kind=kind,
        source=source,
        evidence=evidence.strip(),
        granted_at=granted_at,
        actor=actor.label,
    )
    consent.full_clean()
    consent.save()
    # Contacts held for want of consent may be called again, in every open campaign of the tenant.
    Contact.objects.for_tenant(tenant).filter(
        number=number,
        status=ContactStatus.HELD,
        reason__startswith="consent:",
        campaign__status__in=OPEN_CAMPAIGN_STATUSES,
    ).update(status=ContactStatus.PENDING, reason="", next_attempt_at=timezone.now(), updated_at=timezone.now())
    logger.info("consent: granted (%s)", kind)
    return consent


@transaction.atomic
def consent_revoke(
    *,
    tenant: Tenant,
    number: str,
    actor: Actor,
    evidence: str = "",
    source: str = ConsentSource.MANUAL,
    revoked_at: datetime.datetime | None = None,
) -> Consent:
    """Record that the person withdrew consent: a revocation row (the grant stays in the history)."""
    number = _number(number)
    _lock_number(tenant, "consent", number)
    if consent_deciding(tenant=tenant, number=number) is None:
        raise ValidationError({"number": f"{number} has no consent to revoke."})
    consent = Consent(
        tenant=tenant,
        number=number,
        action=ConsentAction.REVOKE,
        kind="",
        source=source,
        evidence=evidence.strip(),
        revoked_at=revoked_at or timezone.now(),
        actor=actor.label,
    )
    consent.full_clean()
    consent.save()
    logger.info("consent: revoked")
    return consent


def _lock_number(tenant: Tenant, ledger: str, number: str) -> None:
    """Serialise writes of one number's ledger (two "remove" clicks must not both pass the check):
    a transaction-scoped advisory lock on (tenant, ledger, number)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", [f"{tenant.pk}:{ledger}:{number}"])
