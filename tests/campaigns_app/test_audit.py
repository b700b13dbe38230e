"""The audit export: every contact, one row per call attempt, streamed in chunks."""

from __future__ import annotations

import csv
import io

from campaigns_app import audit, services
from campaigns_app.models import AttemptOutcome, CallAttempt, Contact
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
