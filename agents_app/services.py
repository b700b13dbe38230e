"""Writes for agents: create, update, duplicate, activate, delete, revert a prompt."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max

from agents_app import config_cache
from agents_app.models import PROMPT_FIELDS, Agent, BusinessHours, Holiday, PromptVersion
from agents_app.references import AgentReference, agent_references, agent_references_detach, blocking_references
from agents_app.validation import HoursRange, normalize_e164, parse_business_hours, parse_holidays
from voiceplatform.actor import Actor
from voiceplatform.models import Tenant

logger = logging.getLogger(__name__)

# Fields a caller may set; everything else (tenant, code, timestamps) is the platform's.
EDITABLE_FIELDS = frozenset(
    field.name
    for field in Agent._meta.concrete_fields
    if field.editable and field.name not in {"id", "tenant", "code", "created_at", "updated_at"}
)
PHONE_FIELDS = ("transfer_number", "fallback_number")
JSON_OBJECT_FIELDS = ("ivr_menu", "analysis_schema")
UNSET: Any = object()
# A check that reads another field's value: when that field itself could not be read (a form or
# serializer error), its verdict would be about a value nobody sent, so agent_check drops it.
DEPENDS_ON: dict[str, frozenset[str]] = {
    "llm_model": frozenset({"llm_provider"}),
    "max_output_tokens": frozenset({"llm_provider", "llm_model"}),
    "system_prompt": frozenset({"llm_provider", "llm_model", "max_output_tokens"}),
    "voice_id": frozenset({"tts_provider"}),
    "tts_model": frozenset({"tts_provider"}),
    "stt_model": frozenset({"stt_provider"}),
    "stt_language": frozenset({"stt_provider", "stt_model"}),
    "max_endpointing_delay": frozenset({"min_endpointing_delay"}),
    "voicemail_message": frozenset({"voicemail_action"}),
}


class AgentInUse(Exception):
    """The agent is referred to (IVR options, phone numbers, campaigns); delete with detach=True."""

    def __init__(self, agent: Agent, references: list[AgentReference]) -> None:
        self.references = references
        # Open campaigns: detach cannot remove them, so the message says what to do instead.
        self.blocking = blocking_references(references)
        if self.blocking:
            remedies = " ".join(dict.fromkeys(f"{r.on_detach}." for r in self.blocking))
            message = (
                f"{agent.name} cannot be deleted while {'; '.join(r.label for r in self.blocking)} "
                f"{'uses' if len(self.blocking) == 1 else 'use'} it. {remedies}"
            )
        else:
            message = (
                f"{agent.name} is still used by {len(references)} "
                f"{'thing' if len(references) == 1 else 'things'}: {'; '.join(r.label for r in references)}."
            )
        super().__init__(message)


def _apply_fields(agent: Agent, fields: Mapping[str, Any], errors: dict[str, list[str]]) -> None:
    unknown = set(fields) - EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not agent fields: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        if name in JSON_OBJECT_FIELDS and value is None:
            value = {}  # an empty JSON box (admin, portal) or null (API): none
        if name in PHONE_FIELDS:
            try:
                value = normalize_e164(value or "")
            except ValidationError as exc:
                errors.setdefault(name, []).extend(exc.messages)
                continue
        if isinstance(value, str) and name not in PROMPT_FIELDS:
            value = value.strip()
        setattr(agent, name, value)


def _validate(
    agent: Agent, *, errors: dict[str, list[str]], business_hours: Any, holidays: Any
) -> tuple[list[HoursRange] | None, list | None]:
    """Run every check before anything is written, and raise them all together."""
    ranges = parsed_holidays = None
    if business_hours is not UNSET:
        try:
            ranges = parse_business_hours(business_hours)
        except ValidationError as exc:
            errors.setdefault("business_hours", []).extend(exc.messages)
    if holidays is not UNSET:
        try:
            parsed_holidays = parse_holidays(holidays)
        except ValidationError as exc:
            errors.setdefault("holidays", []).extend(exc.messages)
    try:
        agent.full_clean(exclude=["tenant", *errors])
    except ValidationError as exc:
        for field, messages in exc.message_dict.items():
            errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    return ranges, parsed_holidays


def agent_check(
    *,
    tenant: Tenant,
    agent: Agent | None,
    fields: Mapping[str, Any],
    business_hours: Any = UNSET,
    holidays: Any = UNSET,
    unreadable: Collection[str] = (),
) -> dict[str, list[str]]:
    """Every problem agent_create/agent_update would report for these values, writing nothing.

    For a form or request that already failed on some fields (`unreadable`, left out of `fields`):
    the rest is checked now, so one save reports every mistake, not one round at a time."""
    candidate = Agent(tenant=tenant, timezone=tenant.timezone) if agent is None else _fresh(tenant, agent)
    errors: dict[str, list[str]] = {}
    _apply_fields(candidate, fields, errors)
    try:
        _validate(candidate, errors=errors, business_hours=business_hours, holidays=holidays)
    except ValidationError as exc:
        errors = exc.message_dict
    unreadable = set(unreadable)
    return {
        field: messages
        for field, messages in errors.items()
        if field not in unreadable and not DEPENDS_ON.get(field, frozenset()) & unreadable
    }


def _fresh(tenant: Tenant, agent: Agent) -> Agent:
    return Agent.objects.for_tenant(tenant).get(pk=agent.pk)


def _write_schedule(agent: Agent, ranges: list[HoursRange] | None, holidays: list | None) -> None:
    if ranges is not None:
        BusinessHours.objects.for_tenant(agent.tenant).filter(agent=agent).delete()
        BusinessHours.objects.bulk_create(
            BusinessHours(tenant=agent.tenant, agent=agent, weekday=r.weekday, start=r.start, end=r.end) for r in ranges
        )
    if holidays is not None:
        Holiday.objects.for_tenant(agent.tenant).filter(agent=agent).delete()
        Holiday.objects.bulk_create(Holiday(tenant=agent.tenant, agent=agent, date=d, name=n) for d, n in holidays)


def _write_prompt_version(agent: Agent, *, actor: Actor, note: str) -> PromptVersion:
    last = PromptVersion.objects.for_tenant(agent.tenant).filter(agent=agent).aggregate(n=Max("version"))["n"] or 0
    return PromptVersion.objects.create(
        tenant=agent.tenant,
        agent=agent,
        version=last + 1,
        system_prompt=agent.system_prompt,
        personality=agent.personality,
        greeting_message=agent.greeting_message,
        author_user=actor.user,
        author_api_key=actor.api_key,
        author_label=actor.label[:200],
        note=note[:300],
    )


@transaction.atomic
def agent_create(
    *,
    tenant: Tenant,
    actor: Actor,
    fields: Mapping[str, Any],
    business_hours: Any = UNSET,
    holidays: Any = UNSET,
    note: str = "",
) -> Agent:
    agent = Agent(tenant=tenant, timezone=tenant.timezone)
    errors: dict[str, list[str]] = {}
    _apply_fields(agent, fields, errors)
    if business_hours is not UNSET and business_hours and "business_hours_enabled" not in fields:
        agent.business_hours_enabled = True  # hours given without the switch: they are meant to apply
    ranges, parsed_holidays = _validate(agent, errors=errors, business_hours=business_hours, holidays=holidays)
    agent.save()
    _write_schedule(agent, ranges, parsed_holidays)
    _write_prompt_version(agent, actor=actor, note=note or "Created")
    config_cache.agent_changed(tenant=tenant, agent=agent)
    logger.info("agent %s created by %s", agent.code, actor.label)
    return agent


@transaction.atomic
def agent_update(
    *,
    tenant: Tenant,
    agent: Agent,
    actor: Actor,
    fields: Mapping[str, Any],
    business_hours: Any = UNSET,
    holidays: Any = UNSET,
    note: str = "",
) -> Agent:
    """Change an agent; a new PromptVersion is written only when a prompt text really changes."""
    agent = Agent.objects.for_tenant(tenant).select_for_update().get(pk=agent.pk)
    before = {name: getattr(agent, name) for name in PROMPT_FIELDS}
    errors: dict[str, list[str]] = {}
    _apply_fields(agent, fields, errors)
    ranges, parsed_holidays = _validate(agent, errors=errors, business_hours=business_hours, holidays=holidays)
    agent.save()
    _write_schedule(agent, ranges, parsed_holidays)
    if any(getattr(agent, name) != value for name, value in before.items()):
        _write_prompt_version(agent, actor=actor, note=note)
    config_cache.agent_changed(tenant=tenant, agent=agent)
    return agent


@transaction.atomic
def agent_set_active(*, tenant: Tenant, agent: Agent, is_active: bool) -> Agent:
    """Switch the agent on or off; switching off an agent an open campaign calls with is refused
    (ValidationError on is_active naming the campaign)."""
    agent = Agent.objects.for_tenant(tenant).select_for_update().get(pk=agent.pk)
    agent.is_active = is_active
    if not is_active and (problems := agent.direction_problems().get("is_active")):
        raise ValidationError({"is_active": problems})
    agent.save(update_fields=["is_active", "updated_at"])
    config_cache.agent_changed(tenant=tenant, agent=agent)
    return agent


@transaction.atomic
def agent_duplicate(*, tenant: Tenant, agent: Agent, actor: Actor, name: str = "") -> Agent:
    source = Agent.objects.for_tenant(tenant).get(pk=agent.pk)
    fields = {field: getattr(source, field) for field in EDITABLE_FIELDS}
    fields["name"] = (name or f"{source.name} (copy)")[: Agent._meta.get_field("name").max_length]
    copy = Agent(tenant=tenant)
    errors: dict[str, list[str]] = {}
    _apply_fields(copy, fields, errors)
    copy.timezone = source.timezone
    _validate(copy, errors=errors, business_hours=UNSET, holidays=UNSET)
    copy.save()
    BusinessHours.objects.bulk_create(
        BusinessHours(tenant=tenant, agent=copy, weekday=h.weekday, start=h.start, end=h.end)
        for h in BusinessHours.objects.for_tenant(tenant).filter(agent=source)
    )
    Holiday.objects.bulk_create(
        Holiday(tenant=tenant, agent=copy, date=h.date, name=h.name)
        for h in Holiday.objects.for_tenant(tenant).filter(agent=source)
    )
    _write_prompt_version(copy, actor=actor, note=f"Duplicated from {source.name}")
    config_cache.agent_changed(tenant=tenant, agent=copy)
    return copy


@transaction.atomic
def agent_delete(*, tenant: Tenant, agent: Agent, detach: bool = False) -> list[AgentReference]:
    """Delete the agent with its hours, holidays and prompt history. Anything that refers to it
    (other agents' IVR options, phone numbers, campaigns) refuses the delete with AgentInUse, or
    with detach=True is detached in this same transaction; returns what was detached. An open
    campaign is never detached: AgentInUse even with detach=True (its `blocking` names it)."""
    agent = Agent.objects.for_tenant(tenant).select_for_update().get(pk=agent.pk)
    references = agent_references(tenant=tenant, agent=agent)
    if references and (not detach or blocking_references(references)):
        raise AgentInUse(agent, references)
    if references:
        agent_references_detach(tenant=tenant, agent=agent)
    config_cache.agent_changed(tenant=tenant, agent=agent)  # its config removed, its numbers dropped
    agent.delete()
    logger.info("agent %s deleted, %d references detached", agent.code, len(references))
    return references


@transaction.atomic
def agent_revert_prompt(*, tenant: Tenant, agent: Agent, version: int, actor: Actor) -> Agent:
    """Bring back the texts of an earlier version; this writes a new version, history stays intact."""
    snapshot = PromptVersion.objects.for_tenant(tenant).filter(agent=agent, version=version).first()
    if snapshot is None:
        raise ValidationError({"version": f"Version {version} does not exist for this agent."})
    fields = {name: getattr(snapshot, name) for name in PROMPT_FIELDS}
    return agent_update(tenant=tenant, agent=agent, actor=actor, fields=fields, note=f"Reverted to version {version}")
