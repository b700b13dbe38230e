"""Writes to the call log. Status only moves forward, and a terminal status, its end time and its
duration are written once, whatever order and however often the reports arrive (COMPLIANCE.md,
"Exactly once": Twilio retries and re-orders callbacks, LiveKit drops webhooks, workers crash)."""

from __future__ import annotations

import contextlib
import datetime
import functools
import logging
import uuid
from collections.abc import Iterator
from decimal import Decimal
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Field
from django.utils import timezone

from agents_app.models import Agent
from agents_app.validation import inbound_agent_problem, normalize_e164
from telephony_app import costs
from telephony_app.analysis import call_analysis_request_on_commit, has_conversation
from telephony_app.analytics import rollups
from telephony_app.call_hooks import call_ended_on_commit
from telephony_app.models import (
    ACTIVE_STATUSES,
    STATUS_RANK,
    TERMINAL_STATUSES,
    Call,
    CallDirection,
    CallStatus,
    NumberProvider,
    PhoneNumber,
    SipTransport,
)
from telephony_app.number_cache import inbound_numbers_forget_on_commit, phone_number_stored
from telephony_app.number_references import refuse_if_referenced
from voiceplatform import metrics
from voiceplatform.crypto import SecretDecryptionError, reencrypt_for_tenant
from voiceplatform.db_batch import StatementBatch
from voiceplatform.models import Tenant
from voiceplatform.webhooks.services import webhook_emit, webhook_emit_in_batch

logger = logging.getLogger(__name__)

REAPED_REASON = "no report from the voice worker (crashed or lost)"
CHAT_IDLE_REASON = "idle"  # a text chat with no turn for CHAT_IDLE_TIMEOUT

# Who ended a call is kept in Call.context["ended_by"]. An end seen only from outside the session
# (LiveKit's room/participant webhooks, the reconciliation against LiveKit's room list) is
# provisional: the worker's end-of-session report, when it comes, replaces its status, reason, end
# time and duration, once. Every other terminal status (the worker's, Twilio's status callback's)
# is final, as before.
ENDED_BY_WORKER = "worker"
# The inbound routing ends the calls no agent takes as it answers them (out of hours, unavailable);
# for one forwarded to the fallback number, Twilio's final status report adds the talk time.
ENDED_BY_ROUTING = "inbound routing"
PROVISIONAL_ENDERS = frozenset({"livekit_webhook", "reconcile"})


def _fit(call: Call, field: str, value: str) -> str:
    """A report's text clipped to its column: a too-long label must not lose the whole report."""
    limit = Call._meta.get_field(field).max_length
    if limit is not None and len(value) > limit:
        logger.warning("call %s: %s %r clipped to %d characters", call.code, field, value, limit)
        return value[:limit]
    return value


def _check_status(status: str) -> CallStatus:
    try:
        return CallStatus(status)
    except ValueError:
        raise ValidationError({"status": f"Unknown call status {status!r}."}) from None


def _locked(*, tenant: Tenant, call: Call) -> Call:
    """The tenant's row, re-read under a row lock (the caller holds a transaction)."""
    locked = Call.objects.for_tenant(tenant).select_for_update().get(pk=call.pk)
    locked.tenant = tenant  # the webhook events of this change name it without another query
    return locked


def webhook_call_data(call: Call) -> dict[str, Any]:
    """The call.started / call.ended payload (voiceplatform.webhooks.events.WebhookCallDataSerializer)."""
    return {
        "id": call.code,
        "agentId": call.agent.code if call.agent_id is not None else None,
        "agentName": call.agent_name,
        "direction": call.direction,
        "status": call.status,
        "fromNumber": call.from_number,
        "toNumber": call.to_number,
        "startedAt": call.started_at,
        "answeredAt": call.answered_at,
        "endedAt": call.ended_at,
        "durationSeconds": call.duration_seconds,
        "endReason": call.end_reason,
        "estimatedCostUsd": call.estimated_cost_usd,
    }


def _emit(call: Call, event: str) -> None:
    """The event as an outbox row in the transaction writing this change (sent after it commits).
    With the agent at hand (the inbound webhook's new call) the payload is ready and the outbox is one
    statement; otherwise it is gathered, a query for the agent, only when an endpoint wants it."""
    if call.agent_id is None or Call.agent.is_cached(call):
        webhook_emit(tenant=call.tenant, event=event, data=webhook_call_data(call))
    else:
        webhook_emit(tenant=call.tenant, event=event, data=lambda: webhook_call_data(call))


def _advance(call: Call, *, status: CallStatus, reason: str, at: datetime.datetime, ended_by: str = "") -> bool:
    """Move a locked row forward to `status`; False (row untouched) for a same or backward move.
    A saved row's call.started and final call.ended webhook events are written here, once each."""
    if STATUS_RANK[status] <= STATUS_RANK[call.status]:
        return False
    announce_end = False
    starts = call.status == CallStatus.QUEUED and call.started_at is None
    if status in TERMINAL_STATUSES and ended_by:
        call.context = {**call.context, "ended_by": ended_by}
    if starts:
        call.started_at = at
    if status == CallStatus.IN_PROGRESS and call.answered_at is None:
        call.answered_at = at
    if status in TERMINAL_STATUSES:
        if call.ended_at is None:
            call.ended_at = at
        if call.duration_seconds is None:
            # Talk time: a call nobody answered lasted 0 s, however long it rang.
            answered = call.answered_at
            call.duration_seconds = max((call.ended_at - answered).total_seconds(), 0.0) if answered else 0.0
        if reason and not call.end_reason:
            call.end_reason = _fit(call, "end_reason", reason)
        # A new row is announced by call_create once it exists; a provisional end (a LiveKit webhook, the
        # reconciliation) when the worker's report replaces it (_replace_end), or, if none comes, by the
        # listeners' own backstops (campaigns_app's settle_ended_calls).
        if call.pk is not None and ended_by not in PROVISIONAL_ENDERS:
            call_ended_on_commit(
                call_id=call.pk, status=status, end_reason=call.end_reason, at=call.ended_at, direction=call.direction
            )
            announce_end = True
    call.status = status
    if call.pk is not None:
        if starts:
            _emit(call, "call.started")
        if announce_end:
            _emit(call, "call.ended")
    return True


PROVIDER_CALL_ID_TAKEN = "This tenant already has a call with this provider call id."


@functools.cache
def _insert_statement() -> tuple[str, tuple[Field[Any, Any], ...]]:
    """A new Call's INSERT and the fields it writes: what Model.save() would compile for every call
    (~0.3 ms of CPU on the inbound webhook's path; the Call model has no save signals)."""
    fields = tuple(field for field in Call._meta.concrete_fields if not field.primary_key and not field.generated)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    table, pk = quote(Call._meta.db_table), quote(Call._meta.pk.column)
    return f"INSERT INTO {table} ({columns}) VALUES ({placeholders}) RETURNING {pk}", fields  # noqa: S608


def _insert_values(call: Call) -> list[Any]:
    """The values Model.save() would write for a new Call (each field's pre_save, as auto_now and
    defaults set them, and its database form), in _insert_statement's order."""
    return [field.get_db_prep_save(field.pre_save(call, True), connection) for field in _insert_statement()[1]]


def _inserted(call: Call, pk: int) -> None:
    call.pk = pk
    call._state.adding, call._state.db = False, connection.alias


def _insert(call: Call) -> None:
    """Model.save() of a new Call, without compiling its statement: the same values, the same row."""
    with connection.cursor() as cursor:
        cursor.execute(_insert_statement()[0], _insert_values(call))
        _inserted(call, cursor.fetchone()[0])


def _check_fields(call: Call) -> None:
    """Field checks in Python; uniqueness and check constraints by the database.

    The tenant and agent are objects the caller already holds, and validating the constraints in
    Python costs five queries and ~10 ms per save (the inbound webhook's budget). The database
    refuses the same rows, and a duplicate provider call id comes back as the ValidationError
    full_clean would have raised (refused_call_rows)."""
    call.full_clean(exclude=["tenant", "agent"], validate_unique=False, validate_constraints=False)


@contextlib.contextmanager
def refused_call_rows() -> Iterator[None]:
    """A Call row the database refused for its duplicate provider call id, as a ValidationError."""
    try:
        yield
    except IntegrityError as exc:
        if "call_tenant_provider_call_id_uniq" in str(exc):
            raise ValidationError({"provider_call_id": PROVIDER_CALL_ID_TAKEN}) from None
        raise


def _save(call: Call, *, savepoint: bool = True) -> None:
    _check_fields(call)
    write = _insert if call._state.adding else Call.save
    with refused_call_rows():
        if savepoint and connection.in_atomic_block:
            # A savepoint, so that a refused row leaves the caller's transaction usable.
            with transaction.atomic():
                write(call)
        else:
            # One statement is atomic on its own; BEGIN/COMMIT around it would cost two more round
            # trips to the database on the inbound webhook's path.
            write(call)


def call_create(
    *,
    tenant: Tenant,
    agent: Agent | None = None,
    direction: str,
    from_number: str = "",
    to_number: str = "",
    room_name: str = "",
    context: dict[str, Any] | None = None,
    status: str = CallStatus.QUEUED,
    provider_call_id: str = "",
    code: uuid.UUID | None = None,
    campaign_code: uuid.UUID | None = None,
    savepoint: bool = True,
    batch: StatementBatch | None = None,
) -> Call:
    """A new Call of this tenant; the agent must belong to the same tenant. `code` may be chosen
    up front when something else (a room name) must carry it before the row exists; `campaign_code`
    names the campaign that placed it (the analytics filter by it).

    Inside the caller's transaction, a refused row (a duplicate provider call id) rolls back a
    savepoint and leaves that transaction usable. savepoint=False spares the two statements a
    savepoint costs, for a caller whose whole transaction ends with the error anyway.

    With `batch` (voiceplatform/db_batch.py), for a call that starts (ringing or in progress): the
    row and its call.started outbox rows become statements of the batch, written with its other
    statements in one round trip. The Call has its primary key once the batch has run; a duplicate
    provider call id then makes the batch raise IntegrityError (refused_call_rows turns it into the
    ValidationError above)."""
    if agent is not None and agent.tenant_id != tenant.pk:
        # Same wording as a missing agent: a caller must not learn that another tenant's agent exists.
        raise ValidationError({"agent": "No such agent."})
    call = Call(
        tenant=tenant,
        agent=agent,
        agent_name=agent.name if agent is not None else "",
        direction=direction,
        from_number=from_number,
        to_number=to_number,
        room_name=room_name,
        context=context or {},
        provider_call_id=provider_call_id,
        campaign_code=campaign_code,
    )
    if code is not None:
        call.code = code
    _advance(call, status=_check_status(status), reason="", at=timezone.now())
    if batch is not None:
        _write_in_batch(call, batch)
        return call
    if call.started_at is None:  # queued: nothing to announce yet
        _save(call, savepoint=savepoint)
        transaction.on_commit(partial(metrics.call_started, direction=call.direction))
        return call
    # The row, its webhook events and (created already ended) its rollup commit together. No savepoint of
    # _save's own: a refused row leaves this block by its exception, which rolls the block back.
    with transaction.atomic(savepoint=savepoint):
        if call.is_terminal:
            rollups.mark(call)
        _save(call, savepoint=False)
        _emit(call, "call.started")
        if call.is_terminal:
            rollups.apply(before=None, after=rollups.counted(call))
            call_ended_on_commit(
                call_id=call.pk,
                status=call.status,
                end_reason=call.end_reason,
                at=call.ended_at,
                direction=call.direction,
            )
            _emit(call, "call.ended")
    transaction.on_commit(partial(metrics.call_started, direction=call.direction))
    return call


def _write_in_batch(call: Call, batch: StatementBatch) -> None:
    if call.started_at is None or call.is_terminal:
        raise ValueError("call_create writes a call in a batch only when it has started and not ended")
    _check_fields(call)

    def written(rows: list[tuple[Any, ...]]) -> None:
        _inserted(call, rows[0][0])
        transaction.on_commit(partial(metrics.call_started, direction=call.direction))

    batch.add(_insert_statement()[0], _insert_values(call), on_rows=written)
    webhook_emit_in_batch(tenant=call.tenant, event="call.started", data=webhook_call_data(call), batch=batch)


def call_transition(
    *,
    tenant: Tenant,
    call: Call,
    status: str,
    reason: str = "",
    at: datetime.datetime | None = None,
    ended_by: str = "",
) -> Call:
    """The call moved forward to `status` (queued < ringing < in_progress < terminal); a same,
    backward or second terminal status is ignored and the row is returned unchanged. `ended_by`
    names who reported a terminal status (see PROVISIONAL_ENDERS)."""
    new_status = _check_status(status)
    with transaction.atomic():
        locked = _locked(tenant=tenant, call=call)
        before = rollups.counted(locked)
        if _advance(locked, status=new_status, reason=reason, at=at or timezone.now(), ended_by=ended_by):
            rollups.mark(locked)
            _save(locked)
            rollups.apply(before=before, after=rollups.counted(locked))
        else:
            logger.info("call %s: %s -> %s ignored (status only moves forward)", locked.code, locked.status, status)
    return locked


def call_finish(
    *,
    tenant: Tenant,
    call: Call,
    status: str,
    end_reason: str = "",
    transcript: list[dict[str, Any]] | None = None,
    turn_metrics: list[dict[str, Any]] | None = None,
    usage: list[dict[str, Any]] | None = None,
    config_source: str = "",
    error: str = "",
    ended_at: datetime.datetime | None = None,
    ended_by: str = ENDED_BY_WORKER,
) -> Call:
    """The worker's end-of-session report: its transcript, metrics, usage, cost, config source and
    error are written even if someone else already ended the call; status, end time and duration
    only move forward as in call_transition, except that the worker's report (ended_by="worker",
    the default) replaces a provisional end recorded by the LiveKit webhook or the reconciliation.
    Other reporters pass their own `ended_by` (e.g. "twilio") and never replace anything."""
    new_status = _check_status(status)
    with transaction.atomic():
        locked = _locked(tenant=tenant, call=call)
        was_terminal = locked.is_terminal
        before = rollups.counted(locked)
        if transcript is not None:
            locked.transcript = transcript
        if turn_metrics is not None:
            locked.turn_metrics = turn_metrics
        if usage is not None:
            locked.usage = usage
            estimate = costs.estimate_cost(usage, on=(ended_at or timezone.now()).date())
            locked.estimated_cost_usd = estimate.total_usd
            if estimate.unpriced:
                logger.info("call %s: cost estimate leaves out %s", locked.code, "; ".join(estimate.notes))
        if config_source:
            locked.config_source = _fit(locked, "config_source", config_source)
        if error:
            locked.error = error
        if _replaces_provisional_end(locked, status=new_status, ended_by=ended_by):
            _replace_end(locked, status=new_status, reason=end_reason, ended_at=ended_at, ended_by=ended_by)
        elif not _advance(
            locked, status=new_status, reason=end_reason, at=ended_at or timezone.now(), ended_by=ended_by
        ):
            if end_reason and not locked.end_reason and locked.is_terminal:
                # Ended by a status callback that gave no reason: the worker's reason fills the gap.
                locked.end_reason = _fit(locked, "end_reason", end_reason)
        rollups.mark(locked)
        _save(locked)
        # The share counted so far (a provisional end, a status callback's end without metrics) is
        # replaced by the report's: only the difference is added.
        rollups.apply(before=before, after=rollups.counted(locked))
        if was_terminal and not locked.analysis_status and has_conversation(transcript):
            # Ended before this report brought the transcript (a status callback first): the call-end
            # hook found nothing to analyse then, so the analysis is asked for now (at most once).
            call_analysis_request_on_commit(call_id=locked.pk)
    return locked


def _replaces_provisional_end(call: Call, *, status: CallStatus, ended_by: str) -> bool:
    return (
        ended_by == ENDED_BY_WORKER
        and status in TERMINAL_STATUSES
        and call.is_terminal
        and call.context.get("ended_by") in PROVISIONAL_ENDERS
    )


def _replace_end(
    call: Call, *, status: CallStatus, reason: str, ended_at: datetime.datetime | None, ended_by: str
) -> None:
    """The worker's outcome over a provisional one: status and reason are the worker's; the end time
    is the worker's own if it gave one, else the earlier of the two (LiveKit's event time is when the
    room really closed; the report may be written later); duration follows from the end time."""
    previous = {"by": call.context.get("ended_by"), "status": call.status, "end_reason": call.end_reason}
    now = timezone.now()
    if ended_at is not None:
        end = ended_at
    elif call.ended_at is not None and previous["by"] == "livekit_webhook":
        end = min(call.ended_at, now)
    else:
        end = now
    call.status = status
    call.end_reason = _fit(call, "end_reason", reason) if reason else call.end_reason
    call.ended_at = end
    answered = call.answered_at
    call.duration_seconds = max((end - answered).total_seconds(), 0.0) if answered else 0.0
    call.context = {**call.context, "ended_by": ended_by, "provisional_end": previous}
    call_ended_on_commit(call_id=call.pk, status=status, end_reason=call.end_reason, at=end, direction=call.direction)
    _emit(call, "call.ended")
    logger.info(
        "call %s: the worker's report (%s) replaces the provisional end by %s (%s)",
        call.code,
        status,
        previous["by"],
        previous["status"],
    )


def call_fail(*, tenant: Tenant, call: Call, reason: str) -> Call:
    """The call failed for `reason` (kept as its error, and as its end reason if it was still open)."""
    return call_finish(tenant=tenant, call=call, status=CallStatus.FAILED, end_reason=reason, error=reason)


def call_record_outbound_facts(
    *, tenant: Tenant, call: Call, amd_result: str = "", first_words_ms: int | None = None
) -> None:
    """What the voice worker measured on an answered outbound call: the answering-machine verdict and
    the ms from the answer to the agent's first words. Each is written once (the first report wins)."""
    calls = Call.objects.for_tenant(tenant).filter(pk=call.pk)
    now = timezone.now()
    if amd_result:
        calls.filter(amd_result="").update(amd_result=_fit(call, "amd_result", amd_result), updated_at=now)
    if first_words_ms is not None:
        calls.filter(first_words_ms__isnull=True).update(first_words_ms=max(0, int(first_words_ms)), updated_at=now)


_REAPER_FIELDS = (
    "status",
    "started_at",
    "ended_at",
    "duration_seconds",
    "end_reason",
    "error",
    "is_rolled_up",
    "updated_at",
)


def calls_reap_stale(*, older_than: datetime.timedelta) -> int:
    """Marks open calls that nobody has updated for `older_than` as failed; returns how many."""
    cutoff = timezone.now() - older_than
    # Crosses tenants on purpose: this is housekeeping with one rule for every row (an open call
    # with no news for too long is dead). It reads nothing of one tenant into another's context and
    # changes each row only through its own tenant. SKIP LOCKED leaves alone any call a worker is
    # writing right now; the locked re-read applies the rule to the row as it is at that moment.
    reaped = 0
    with transaction.atomic():
        stale = (
            Call.objects.across_tenants(reason="the reaper: one rule for every open call, each row its own tenant's")
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("tenant")  # each call's call.ended event goes to its own tenant's endpoints
            .filter(status__in=ACTIVE_STATUSES, updated_at__lt=cutoff)
        )
        for call in stale:
            before = rollups.counted(call)
            # It ended, at the latest, when it was last heard of; that keeps its duration honest.
            _advance(call, status=CallStatus.FAILED, reason=REAPED_REASON, at=call.updated_at)
            call.error = call.error or REAPED_REASON
            rollups.mark(call)
            # No full_clean here: one odd legacy row must not stop the reaping of all the others.
            call.save(update_fields=[*_REAPER_FIELDS])
            rollups.apply(before=before, after=rollups.counted(call))
            reaped += 1
            logger.warning("call %s (tenant %s) marked failed: %s", call.code, call.tenant_id, REAPED_REASON)
    return reaped


def chats_end_idle(*, idle_for: datetime.timedelta, now: datetime.datetime | None = None) -> int:
    """Completes text chats with no turn for `idle_for` (reason "idle"); returns how many."""
    cutoff = (now or timezone.now()) - idle_for
    # Crosses tenants on purpose, like calls_reap_stale: one rule for every chat row, each changed
    # through its own tenant. A chat's row changes with every turn, so updated_at is its last turn;
    # SKIP LOCKED leaves alone a chat whose turn is being written right now.
    ended = 0
    with transaction.atomic():
        idle = (
            Call.objects.across_tenants(reason="idle chats end: one rule for every chat, each in its own tenant")
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("tenant")
        )
        for call in idle.filter(direction=CallDirection.CHAT, status__in=ACTIVE_STATUSES, updated_at__lt=cutoff):
            # It ended with its last turn: the chat's duration is the conversation, not the wait.
            call_transition(
                tenant=call.tenant, call=call, status=CallStatus.COMPLETED, reason=CHAT_IDLE_REASON, at=call.updated_at
            )
            ended += 1
    return ended


# Phone numbers ---------------------------------------------------------------------------------

UNSET: Any = object()  # "leave as it is" in phone_number_update
NUMBER_TAKEN = "This number is already registered."


def _clean_number(raw: str) -> str:
    try:
        number = normalize_e164(raw)
    except ValidationError as error:
        raise ValidationError({"number": error.messages}) from None
    if not number:
        raise ValidationError({"number": "Enter the phone number in international format, e.g. +14155550123."})
    return number


def _check_agent(*, tenant: Tenant, agent: Agent | None) -> None:
    if agent is not None and agent.tenant_id != tenant.pk:
        # Same wording as a missing agent: a caller must not learn that another tenant's agent exists.
        raise ValidationError({"agent": "No such agent."})
    if agent is not None and (problem := inbound_agent_problem(name=agent.name, direction=agent.direction)):
        raise ValidationError({"agent": problem})


def _save_phone_number(phone_number: PhoneNumber) -> PhoneNumber:
    # Numbers are unique across the platform, so this one query looks past the tenant; it answers
    # only "taken or not", in the same words whoever holds the number, and reveals nothing else.
    others = PhoneNumber.objects.across_tenants(reason="a number is unique across tenants; answers only taken or not")
    taken = others.filter(number=phone_number.number).exclude(pk=phone_number.pk).exists()
    if taken:
        raise ValidationError({"number": NUMBER_TAKEN})
    phone_number.full_clean(validate_unique=False)  # uniqueness: checked above, and by the index below
    try:
        with transaction.atomic():
            stored = phone_number_stored(phone_number)
            phone_number.save()
            inbound_numbers_forget_on_commit([phone_number.number, stored])
    except IntegrityError:  # another request registered the same number in between
        raise ValidationError({"number": NUMBER_TAKEN}) from None
    return phone_number


def phone_number_create(
    *,
    tenant: Tenant,
    number: str,
    label: str = "",
    provider: str = NumberProvider.TWILIO,
    agent: Agent | None = None,
    is_active: bool = True,
    sip_trunk_id: str = "",
    outbound_trunk_id: str = "",
    outbound_cps: Decimal | None = None,
    outbound_address: str = "",
    outbound_transport: str = SipTransport.AUTO,
    outbound_auth_username: str = "",
    outbound_auth_password: str = "",
) -> PhoneNumber:
    """A new number of this tenant, normalised to E.164; refused if any tenant already has it.
    `outbound_trunk_id` (LiveKit ST_...) lets calls be placed from it, at most `outbound_cps` a second
    (default 1). `outbound_address` and the auth fields describe the carrier for LiveKit SIP
    provisioning (telephony_app.provisioning); the password is stored encrypted."""
    number = _clean_number(number)
    _check_agent(tenant=tenant, agent=agent)
    phone_number = PhoneNumber(
        tenant=tenant,
        number=number,
        label=label,
        provider=provider,
        agent=agent,
        is_active=is_active,
        sip_trunk_id=sip_trunk_id,
        outbound_trunk_id=outbound_trunk_id,
        outbound_address=outbound_address.strip(),
        outbound_transport=outbound_transport,
        outbound_auth_username=outbound_auth_username.strip(),
    )
    if outbound_cps is not None:
        phone_number.outbound_cps = outbound_cps
    _set_outbound_password(phone_number, outbound_auth_password)
    return _save_phone_number(phone_number)


def _set_outbound_password(phone_number: PhoneNumber, password: str) -> None:
    """Write-only: a new password replaces the stored one; no username means no credentials at all."""
    if password and not phone_number.outbound_auth_username:
        raise ValidationError({"outbound_auth_username": "Enter the username that goes with the password."})
    if not phone_number.outbound_auth_username:
        phone_number.set_outbound_auth_password("")
    elif password:
        phone_number.set_outbound_auth_password(password)


def phone_number_update(
    *,
    tenant: Tenant,
    phone_number: PhoneNumber,
    number: str = UNSET,
    label: str = UNSET,
    provider: str = UNSET,
    agent: Agent | None = UNSET,
    is_active: bool = UNSET,
    sip_trunk_id: str = UNSET,
    outbound_trunk_id: str = UNSET,
    outbound_cps: Decimal | None = UNSET,
    outbound_address: str = UNSET,
    outbound_transport: str = UNSET,
    outbound_auth_username: str = UNSET,
    outbound_auth_password: str = UNSET,
) -> PhoneNumber:
    """The tenant's number with the given fields changed; fields left out keep their value.
    `outbound_auth_password` is write-only: "" or UNSET keeps the stored one (a blank form field), and
    clearing `outbound_auth_username` removes both."""
    if phone_number.tenant_id != tenant.pk:
        raise ValidationError("No such phone number.")
    if number is not UNSET:
        phone_number.number = _clean_number(number)
    if agent is not UNSET:
        _check_agent(tenant=tenant, agent=agent)
        phone_number.agent = agent
    if is_active is False and phone_number.is_active:
        refuse_if_referenced(tenant=tenant, phone_number=phone_number, deleting=False, field="is_active")
    for field, value in (
        ("label", label),
        ("provider", provider),
        ("is_active", is_active),
        ("sip_trunk_id", sip_trunk_id),
        ("outbound_trunk_id", outbound_trunk_id),
        ("outbound_cps", outbound_cps),
        ("outbound_transport", outbound_transport),
    ):
        if value is not UNSET:
            setattr(phone_number, field, value)
    for field, text in (("outbound_address", outbound_address), ("outbound_auth_username", outbound_auth_username)):
        if text is not UNSET:
            setattr(phone_number, field, text.strip())
    _set_outbound_password(phone_number, "" if outbound_auth_password is UNSET else outbound_auth_password)
    return _save_phone_number(phone_number)


def phone_numbers_reencrypt_passwords() -> int:
    """Re-encrypts every stored carrier password under the first key of FIELD_ENCRYPTION_KEYS."""
    numbers = PhoneNumber.objects.across_tenants(reason="re-encryption: each row under its own tenant's key")
    count = 0
    for number in numbers.exclude(outbound_auth_password_encrypted="").only("pk", "tenant_id", "code").iterator():
        with transaction.atomic():
            stored = (
                numbers.select_for_update()
                .filter(pk=number.pk)
                .values_list("outbound_auth_password_encrypted", flat=True)
            )
            token = stored.first()
            if not token:
                continue
            try:
                fresh = reencrypt_for_tenant(tenant_id=number.tenant_id, token=token)
            except SecretDecryptionError as exc:
                raise SecretDecryptionError(f"phone number {number.code} (carrier password): {exc}") from None
            numbers.filter(pk=number.pk).update(outbound_auth_password_encrypted=fresh)
        count += 1
    return count


def phone_number_livekit_ids_set(*, tenant: Tenant, phone_number: PhoneNumber, ids: dict[str, str]) -> None:
    """Stores the LiveKit ids provisioning made or found (sip_trunk_id, dispatch_rule_id, outbound_trunk_id)
    with one UPDATE of those columns only, so an edit saved meanwhile is not overwritten; the inbound
    routing's cached copy of the number is dropped on commit."""
    allowed = {"sip_trunk_id", "dispatch_rule_id", "outbound_trunk_id"}
    if not ids:
        return
    if set(ids) - allowed:
        raise ValueError(f"not a LiveKit id column: {sorted(set(ids) - allowed)}")
    with transaction.atomic():
        PhoneNumber.objects.for_tenant(tenant).filter(pk=phone_number.pk).update(**ids, updated_at=timezone.now())
        inbound_numbers_forget_on_commit([phone_number.number])
    for field, value in ids.items():
        setattr(phone_number, field, value)


def phone_number_assign_agent(*, tenant: Tenant, phone_number: PhoneNumber, agent: Agent | None) -> PhoneNumber:
    """Calls to the number now reach `agent` (of the same tenant); None leaves the number unassigned."""
    return phone_number_update(tenant=tenant, phone_number=phone_number, agent=agent)


def phone_number_delete(*, tenant: Tenant, phone_number: PhoneNumber) -> None:
    """The tenant's number is removed; its past calls stay in the call log. Refused (ValidationError
    naming the campaign) while an open campaign presents it as its caller ID."""
    if phone_number.tenant_id != tenant.pk:
        raise ValidationError("No such phone number.")
    with transaction.atomic():
        # Locked first, as campaign_create/campaign_update lock the number they take: a campaign saved
        # meanwhile is among the references, never left holding a deleted number.
        PhoneNumber.objects.for_tenant(tenant).select_for_update().filter(pk=phone_number.pk).exists()
        refuse_if_referenced(tenant=tenant, phone_number=phone_number, deleting=True)
        phone_number.delete()
        inbound_numbers_forget_on_commit([phone_number.number])
