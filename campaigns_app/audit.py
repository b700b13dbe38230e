"""The campaign's audit export: every contact and every call attempt, as a CSV streamed in chunks so a
campaign of any size is exported in bounded memory.

One row per attempt (a contact never dialed has one row with empty attempt cells), so the file says
what happened to each contact and why it was or was not called:

- contact_id ... next_attempt_at: the contact now (status, and `reason` for a skip or a hold, e.g.
  "dnc: on the do-not-call list", "zone: the number's time zone is unknown...").
- attempt_no ... attempt_ended_at: the attempt (outcome "" while in progress, `not_dialed` when the
  check right before dialing refused the claim, its `attempt_detail` then "<rule>: <reason>"), the
  call placed and the consent relied on.
- reason_rule: the rule of the contact's reason (the part before ":": dnc, consent, zone, window,
  attempts...), empty without a reason.
- attempt_number: the number dialed (a copy taken at the claim).
- attempt_rule: the rule that refused a not_dialed attempt (the part of its detail before ":").
- consent_granted_at: when the person gave the consent the attempt relied on.
- call_answered_at, call_first_words_ms, call_amd_result: the call's answer time, the agent's first
  words after it in ms (over 2,000: an abandoned call) and the answering-machine verdict.
"""

from __future__ import annotations

import csv
import datetime
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator

from campaigns_app.models import AttemptOutcome, CallAttempt, Campaign, Contact
from voiceplatform.models import Tenant

CHUNK_SIZE = 2000

AUDIT_HEADER: tuple[str, ...] = (
    "contact_id",
    "number",
    "name",
    "status",
    "reason",
    "attempts",
    "last_outcome",
    "next_attempt_at",
    "attempt_no",
    "attempt_outcome",
    "attempt_detail",
    "call_id",
    "consent_id",
    "attempt_created_at",
    "attempt_started_at",
    "attempt_ended_at",
    # Added with the dialer (issue 15); the columns above keep their places.
    "reason_rule",
    "attempt_number",
    "attempt_rule",
    "consent_granted_at",
    "call_answered_at",
    "call_first_words_ms",
    "call_amd_result",
)

# A cell a spreadsheet would run as a formula ("=HYPERLINK(...)" in a contact's name) is quoted with a
# leading apostrophe; an E.164 number or a plain signed number starts with + or - and stays as it is.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?\d[\d.]*")


def _cell(value: object) -> str:
    """A value as a CSV cell that a spreadsheet shows as text, never evaluates."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    text = str(value)
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def _contact_cells(contact: Contact) -> list[str]:
    return [
        _cell(contact.code),
        _cell(contact.number),
        _cell(contact.name),
        _cell(contact.status),
        _cell(contact.reason),
        _cell(contact.attempts),
        _cell(contact.last_outcome),
        _cell(contact.next_attempt_at),
    ]


def _attempt_cells(attempt: CallAttempt | None) -> list[str]:
    if attempt is None:
        return [""] * 8
    return [
        _cell(attempt.attempt_no),
        _cell(attempt.outcome),
        _cell(attempt.detail),
        _cell(attempt.call.code if attempt.call_id else ""),
        _cell(attempt.consent.code if attempt.consent_id else ""),
        _cell(attempt.created_at),
        _cell(attempt.started_at),
        _cell(attempt.ended_at),
    ]


def _rule(text: str) -> str:
    """The rule of a reason or a refusal: "dnc: on the do-not-call list" -> "dnc"."""
    rule, colon, _rest = text.partition(":")
    return rule.strip() if colon else ""


def _dialer_cells(contact: Contact, attempt: CallAttempt | None) -> list[str]:
    """The columns added with the dialer: the rules, the number dialed, the consent's date, the call's answer."""
    reason_rule = _cell(_rule(contact.reason))
    if attempt is None:
        return [reason_rule, *[""] * 6]
    call = attempt.call if attempt.call_id else None
    consent = attempt.consent if attempt.consent_id else None
    return [
        reason_rule,
        _cell(attempt.number),
        _cell(_rule(attempt.detail) if attempt.outcome == AttemptOutcome.NOT_DIALED else ""),
        _cell(consent.granted_at if consent else None),
        _cell(call.answered_at if call else None),
        _cell(call.first_words_ms if call else None),
        _cell(call.amd_result if call else None),
    ]


def _rows_for(tenant: Tenant, campaign: Campaign, contacts: list[Contact]) -> Iterable[list[str]]:
    """One row per attempt of each contact of the chunk (one row for a contact never dialed)."""
    by_contact: dict[int, list[CallAttempt]] = defaultdict(list)
    attempts = (
        CallAttempt.objects.for_tenant(tenant)
        .filter(campaign=campaign, contact_id__in=[contact.pk for contact in contacts])
        .select_related("call", "consent")
        .order_by("contact_id", "attempt_no")
    )
    for attempt in attempts:
        by_contact[attempt.contact_id].append(attempt)
    for contact in contacts:
        head = _contact_cells(contact)
        for attempt in by_contact.get(contact.pk) or [None]:
            yield head + _attempt_cells(attempt) + _dialer_cells(contact, attempt)


def _encode(rows: Iterable[Iterable[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def audit_csv_stream(*, tenant: Tenant, campaign: Campaign) -> Iterator[bytes]:
    """The campaign's audit CSV (UTF-8, header first) as byte chunks: every contact with its status and
    reason, one row per call attempt; contacts are read 2,000 at a time and their attempts per chunk."""
    yield _encode([AUDIT_HEADER])
    contacts = Contact.objects.for_tenant(tenant).filter(campaign=campaign).order_by("id")
    chunk: list[Contact] = []
    for contact in contacts.iterator(chunk_size=CHUNK_SIZE):
        chunk.append(contact)
        if len(chunk) == CHUNK_SIZE:
            yield _encode(_rows_for(tenant, campaign, chunk))
            chunk = []
    if chunk:
        yield _encode(_rows_for(tenant, campaign, chunk))


def audit_filename(campaign: Campaign) -> str:
    """The download's file name: the campaign's code and today's date (no user text in a header)."""
    return f"campaign-{campaign.code}-audit-{datetime.date.today().isoformat()}.csv"
