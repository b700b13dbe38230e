"""The audit export: every contact, one row per call attempt, streamed in chunks."""

from __future__ import annotations

import csv
import datetime
import io

from campaigns_app import audit, services
from campaigns_app.models import AttemptOutcome, CallAttempt, Contact, ContactStatus
from telephony_app.models import Call, CallDirection
from telephony_app.services import call_create
from voiceplatform.actor import SYSTEM


def _read(chunks) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(b"".join(chunks).decode("utf-8"))))


def test_the_audit_lists_every_contact_and_one_row_per_attempt(tenant, campaign, other_campaign, other_tenant):
    services.contacts_add(
        tenant=tenant,
        campaign=campaign,
        rows=[
            {"number": "+14155550101", "name": "Ann", "variables": {"first_name": "Ann"}},
            {"number": "+14155550102", "name": '=HYPERLINK("x")', "variables": {"first_name": "Bo"}},
        ],
    )
    services.contacts_add(
        tenant=other_tenant,
        campaign=other_campaign,
        rows=[{"number": "+14155550199", "variables": {"first_name": "Eve"}}],
    )
    ann = Contact.objects.for_tenant(tenant).get(number="+14155550101")
    consent = services.consent_grant(tenant=tenant, number=ann.number, evidence="web form #1", actor=SYSTEM)
    for attempt_no, outcome in ((1, AttemptOutcome.NO_ANSWER), (2, AttemptOutcome.ANSWERED)):
        CallAttempt.objects.create(
            tenant=tenant, campaign=campaign, contact=ann, attempt_no=attempt_no, outcome=outcome, consent=consent
        )

    rows = _read(audit.audit_csv_stream(tenant=tenant, campaign=campaign))

    assert [(row["number"], row["attempt_no"], row["attempt_outcome"]) for row in rows] == [
        ("+14155550101", "1", "no_answer"),
        ("+14155550101", "2", "answered"),
        ("+14155550102", "", ""),
    ]
    assert rows[0]["consent_id"] == str(consent.code)
    assert rows[2]["name"] == '\'=HYPERLINK("x")'  # never evaluated by a spreadsheet
    assert rows[2]["status"] == "pending"


def test_the_audit_is_streamed_in_chunks(tenant, campaign, monkeypatch):
    monkeypatch.setattr(audit, "CHUNK_SIZE", 2)
    services.contacts_add(
        tenant=tenant,
        campaign=campaign,
        rows=[{"number": f"+1415555020{i}", "variables": {"first_name": "X"}} for i in range(5)],
    )

    chunks = list(audit.audit_csv_stream(tenant=tenant, campaign=campaign))

    assert len(chunks) == 1 + 3  # the header, then 2 + 2 + 1 contacts
    assert len(_read(chunks)) == 5


def _dial(contact: Contact, attempt_no: int, outcome: str, **fields) -> CallAttempt:
    return CallAttempt.objects.create(
        tenant=contact.tenant,
        campaign=contact.campaign,
        contact=contact,
        attempt_no=attempt_no,
        number=contact.number,
        outcome=outcome,
        **fields,
    )


def test_the_audit_keeps_its_first_columns_and_adds_the_dialers_at_the_end():
    assert audit.AUDIT_HEADER[:16] == (
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
    )
    assert audit.AUDIT_HEADER[16:] == (
        "reason_rule",
        "attempt_number",
        "attempt_rule",
        "consent_granted_at",
        "call_answered_at",
        "call_first_words_ms",
        "call_amd_result",
    )


def test_the_audit_says_why_each_contact_was_or_was_not_called(tenant, campaign):
    services.dnc_add(tenant=tenant, number="+14155550103", reason="asked by letter", actor=SYSTEM)
    services.contacts_add(
        tenant=tenant,
        campaign=campaign,
        rows=[
            {"number": "+14155550101", "name": "Ann"},
            {"number": "+14155550102", "name": "Bo"},
            {"number": "+14155550103", "name": "Cy"},  # on the DNC list: imported as skipped
            {"number": "+14155550104", "name": "Di"},
        ],
    )
    ann, bo, _cy, di = Contact.objects.for_tenant(tenant).filter(campaign=campaign).order_by("id")
    granted = datetime.datetime(2026, 10, 1, 12, 0, tzinfo=datetime.UTC)
    consent = services.consent_grant(
        tenant=tenant, number=ann.number, evidence="web form #7", granted_at=granted, actor=SYSTEM
    )
    answered_at = datetime.datetime(2026, 11, 20, 15, 0, 5, tzinfo=datetime.UTC)
    call = call_create(
        tenant=tenant, direction=CallDirection.OUTBOUND, to_number=ann.number, from_number="+14155550999"
    )
    Call.objects.for_tenant(tenant).filter(pk=call.pk).update(
        answered_at=answered_at, first_words_ms=2400, amd_result="human"
    )
    _dial(ann, 1, AttemptOutcome.NO_ANSWER, consent=consent, detail="no answer after 30 s")
    _dial(ann, 2, AttemptOutcome.ANSWERED, consent=consent, call=call)
    _dial(bo, 1, AttemptOutcome.NOT_DIALED, detail="window: outside the calling window in the contact's time zone")
    Contact.objects.for_tenant(tenant).filter(pk=di.pk).update(
        status=ContactStatus.HELD, reason="zone: the number's time zone is unknown; give the contact a timezone"
    )

    rows = _read(audit.audit_csv_stream(tenant=tenant, campaign=campaign))

    assert [(r["number"], r["attempt_no"], r["attempt_outcome"]) for r in rows] == [
        ("+14155550101", "1", "no_answer"),
        ("+14155550101", "2", "answered"),
        ("+14155550102", "1", "not_dialed"),
        ("+14155550103", "", ""),
        ("+14155550104", "", ""),
    ]
    first, second, refused, skipped, held = rows
    assert first["attempt_number"] == "+14155550101" and first["attempt_rule"] == ""
    assert first["consent_granted_at"] == granted.isoformat()
    assert first["call_id"] == "" and first["call_first_words_ms"] == ""
    assert second["call_id"] == str(call.code)
    assert (second["call_answered_at"], second["call_first_words_ms"], second["call_amd_result"]) == (
        answered_at.isoformat(),
        "2400",
        "human",
    )
    assert refused["attempt_rule"] == "window"
    assert refused["attempt_detail"].startswith("window: outside the calling window")
    assert (skipped["status"], skipped["reason_rule"]) == ("skipped", "dnc")
    assert skipped["reason"].startswith("dnc:")
    assert (held["status"], held["reason_rule"]) == ("held", "zone")
    assert held["attempt_number"] == ""


def test_the_audit_reads_each_chunks_attempts_in_one_query(tenant, campaign, monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(audit, "CHUNK_SIZE", 3)
    services.contacts_add(
        tenant=tenant,
        campaign=campaign,
        rows=[{"number": f"+1415555030{i}", "variables": {"first_name": "X"}} for i in range(6)],
    )
    for contact in Contact.objects.for_tenant(tenant).filter(campaign=campaign):
        call = call_create(tenant=tenant, direction=CallDirection.OUTBOUND, to_number=contact.number)
        _dial(contact, 1, AttemptOutcome.BUSY)
        _dial(contact, 2, AttemptOutcome.ANSWERED, call=call)

    # the contacts (one server-side cursor), then each chunk's attempts with their calls and consents
    with django_assert_num_queries(3):
        rows = _read(audit.audit_csv_stream(tenant=tenant, campaign=campaign))

    assert len(rows) == 12
    assert {row["call_amd_result"] for row in rows} == {""}
    assert sum(1 for row in rows if row["call_id"]) == 6
