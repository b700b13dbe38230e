"""The streamed contact import: contact_import_create's checks, then the task's rules (duplicates,
the DNC list, required variables, modes), the error report and the progress fields."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns_app.importer import contact_import_create, import_percent
from campaigns_app.models import Contact, ContactImport, ContactStatus, DncHandling, ImportMode, ImportStatus
from campaigns_app.services import CampaignStateConflict, campaign_cancel, contacts_add, dnc_add
from campaigns_app.tasks import import_contacts
from voiceplatform.actor import SYSTEM

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def upload(text: str | bytes, name: str = "contacts.csv") -> SimpleUploadedFile:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


def run(tenant, campaign, text: str | bytes, **options) -> ContactImport:
    """Create the import and run the task as the worker would (by id), then re-read it."""
    options.setdefault("default_country", "US")
    contact_import = contact_import_create(
        tenant=tenant, campaign=campaign, upload=upload(text), actor=SYSTEM, **options
    )
    import_contacts(contact_import.pk)
    contact_import.refresh_from_db()
    return contact_import


def report_rows(contact_import: ContactImport) -> list[dict[str, str]]:
    if not contact_import.error_report:
        return []
    with contact_import.error_report.open("rb") as handle:
        return list(csv.DictReader(io.StringIO(handle.read().decode("utf-8"))))


def numbers(campaign) -> list[str]:
    return list(Contact.objects.filter(campaign=campaign).order_by("id").values_list("number", flat=True))


def test_a_valid_file_imports_every_row_with_its_name_timezone_and_variables(tenant, campaign):
    text = (
        "Phone,Full Name,Time Zone,Plan Type\n"
        "(212) 555-0100,Ada Lovelace,America/New_York,gold\n"
        "+1 312 555 0101,Grace Hopper,,silver\n"
    )
    contact_import = run(tenant, campaign, text, column_map={"name": "Full Name"})
    assert contact_import.status == ImportStatus.SUCCEEDED, contact_import.error
    assert (contact_import.rows_read, contact_import.rows_imported, contact_import.rows_refused) == (2, 2, 0)
    ada = Contact.objects.get(campaign=campaign, number="+12125550100")
    assert ada.name == "Ada Lovelace"
    assert ada.timezone == "America/New_York"
    assert ada.variables["plan_type"] == "gold"
    assert ada.variables["first_name"] == "Ada"
    assert ada.status == ContactStatus.PENDING
    assert ada.tenant_id == tenant.pk
    assert not contact_import.error_report
    assert import_percent(contact_import) == 100
    assert contact_import.bytes_read == contact_import.size_bytes


def test_a_national_number_needs_the_default_country_and_the_row_says_so(tenant, campaign):
    contact_import = run(tenant, campaign, "number,name\n(212) 555-0100,Ada\n", default_country="")
    assert contact_import.status == ImportStatus.FAILED
    [row] = report_rows(contact_import)
    assert row["line"] == "2"
    assert row["field"] == "number"
    assert "default country" in row["reason"]


def test_all_or_nothing_with_one_refused_row_imports_nothing_and_names_the_count(tenant, campaign):
    text = "number,name\n+12125550100,Ada\nnot a number,Bob\n+13125550101,Grace\n"
    contact_import = run(tenant, campaign, text)
    assert contact_import.status == ImportStatus.FAILED
    assert "1 row was refused" in contact_import.error
    assert "error report" in contact_import.error
    assert contact_import.rows_imported == 0
    assert contact_import.rows_refused == 1
    assert numbers(campaign) == []
    assert [(row["line"], row["field"], row["value"]) for row in report_rows(contact_import)] == [
        ("3", "number", "not a number")
    ]


def test_valid_rows_mode_imports_the_valid_rows_and_reports_the_others(tenant, campaign):
    text = "number,name\n+12125550100,Ada\nnot a number,Bob\n+13125550101,Grace\n"
    contact_import = run(tenant, campaign, text, mode=ImportMode.VALID_ROWS)
    assert contact_import.status == ImportStatus.SUCCEEDED
    assert numbers(campaign) == ["+12125550100", "+13125550101"]
    assert (contact_import.rows_read, contact_import.rows_imported, contact_import.rows_refused) == (3, 2, 1)
    assert report_rows(contact_import) == [
        {"line": "3", "field": "number", "value": "not a number", "reason": "not a phone number"}
    ]


def test_duplicates_within_the_file_name_the_first_line(tenant, campaign):
    text = "number,name\n+12125550100,Ada\n(212) 555-0100,Ada again\n"
    contact_import = run(tenant, campaign, text, mode=ImportMode.VALID_ROWS)
    assert numbers(campaign) == ["+12125550100"]
    [row] = report_rows(contact_import)
    assert (row["line"], row["value"], row["reason"]) == ("3", "(212) 555-0100", "duplicate of line 2")


def test_a_number_already_in_the_campaign_is_reported_and_kept_as_it_was(tenant, campaign):
    contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": "+12125550100", "name": "Original"}])
    text = "number,name\n+12125550100,Ada\n+13125550101,Grace\n"
    contact_import = run(tenant, campaign, text, mode=ImportMode.VALID_ROWS)
    assert contact_import.rows_imported == 1
    assert Contact.objects.get(campaign=campaign, number="+12125550100").name == "Original"
    [row] = report_rows(contact_import)
    assert (row["line"], row["reason"]) == ("2", "already in this campaign")
    # In all-or-nothing mode the same file is refused whole.
    failed = run(tenant, campaign, "number,name\n+12125550100,Ada\n+14155550109,New\n")
    assert failed.status == ImportStatus.FAILED
    assert not Contact.objects.filter(campaign=campaign, number="+14155550109").exists()


def test_numbers_on_the_dnc_list_are_imported_as_skipped_with_the_reason(tenant, campaign):
    dnc_add(tenant=tenant, number="+12125550100", actor=SYSTEM)
    text = "number,name\n+12125550100,Ada\n+13125550101,Grace\n"
    contact_import = run(tenant, campaign, text)  # all or nothing: DNC rows are not refused rows
    assert contact_import.status == ImportStatus.SUCCEEDED, contact_import.error
    ada = Contact.objects.get(campaign=campaign, number="+12125550100")
    assert ada.status == ContactStatus.SKIPPED
    assert ada.reason.startswith("dnc: on the do-not-call list since")
    assert (contact_import.rows_imported, contact_import.rows_skipped, contact_import.rows_refused) == (2, 1, 0)
    [row] = report_rows(contact_import)
    assert (row["line"], row["reason"]) == ("2", "imported as skipped: on the do-not-call list")


def test_numbers_on_the_dnc_list_are_left_out_when_the_user_chooses_so(tenant, campaign):
    dnc_add(tenant=tenant, number="+12125550100", actor=SYSTEM)
    text = "number,name\n+12125550100,Ada\n+13125550101,Grace\n"
    contact_import = run(tenant, campaign, text, dnc_handling=DncHandling.EXCLUDE)
    assert contact_import.status == ImportStatus.SUCCEEDED, contact_import.error
    assert numbers(campaign) == ["+13125550101"]
    assert (contact_import.rows_imported, contact_import.rows_skipped, contact_import.rows_refused) == (1, 0, 1)
    [row] = report_rows(contact_import)
    assert (row["line"], row["reason"]) == ("2", "on the do-not-call list")


def test_a_missing_required_variable_names_the_line_and_the_placeholder(tenant, make_campaign, make_outbound_agent):
    agent = make_outbound_agent(tenant, system_prompt="Hello {{first_name}}, your plan {{contact.plan}} renews.")
    campaign = make_campaign(tenant, agent=agent)
    text = "number,name,plan\n+12125550100,Ada,gold\n+13125550101,Grace,\n"
    contact_import = run(tenant, campaign, text, mode=ImportMode.VALID_ROWS)
    assert numbers(campaign) == ["+12125550100"]
    [row] = report_rows(contact_import)
    assert (row["line"], row["field"]) == ("3", "plan")
    assert "{{contact.plan}}" in row["reason"]


def test_latin1_files_are_detected_and_bom_files_read(tenant, campaign):
    latin = "number,name\n+12125550100,José Müller\n".encode("latin-1")
    contact_import = run(tenant, campaign, latin)
    assert contact_import.detected_encoding == "latin-1"
    assert Contact.objects.get(campaign=campaign).name == "José Müller"
    bom = "\ufeffnumber,name\n+13125550101,Zoë\n".encode()
    contact_import = run(tenant, campaign, bom)
    assert contact_import.status == ImportStatus.SUCCEEDED, contact_import.error
    assert Contact.objects.get(campaign=campaign, number="+13125550101").name == "Zoë"


def test_a_latin1_file_uploaded_as_utf8_is_a_clear_encoding_error(tenant, campaign):
    latin = "number,name\n+12125550100,José\n".encode("latin-1")
    with pytest.raises(ValidationError) as caught:
        contact_import_create(tenant=tenant, campaign=campaign, upload=upload(latin), encoding="utf-8", actor=SYSTEM)
    assert "not UTF-8" in caught.value.message_dict["encoding"][0]
    assert "line 2" in caught.value.message_dict["encoding"][0]


def test_a_file_that_stops_being_utf8_after_its_start_fails_whole(tenant, campaign):
    rows = "".join(f"+1212555{index:04d},Person{index} Example\n" for index in range(2000, 5000))
    data = ("number,name\n" + rows).encode() + "+13125550101,José\n".encode("latin-1")
    assert len(data) > 64 * 1024
    contact_import = run(tenant, campaign, data, mode=ImportMode.VALID_ROWS)
    assert contact_import.status == ImportStatus.FAILED
    assert "Latin-1" in contact_import.error
    assert numbers(campaign) == []


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (b"", "file", "empty"),
        (b"\n\n", "file", "empty"),
        (b"name,city\nAda,London\n", "file", "No column of phone numbers"),
        (b"+12125550100,Ada\n", "file", "looks like data"),
        (b"PK\x03\x04\x00\x00binary", "file", "NUL bytes"),
        (b"number,Plan (2024)\n+12125550100,gold\n", "file", "cannot become a variable"),
        (b"number,plan,Plan\n+12125550100,a,b\n", "file", "twice"),
    ],
)
def test_files_that_cannot_be_imported_are_refused_at_upload(tenant, campaign, data, field, words):
    with pytest.raises(ValidationError) as caught:
        contact_import_create(tenant=tenant, campaign=campaign, upload=upload(data), actor=SYSTEM)
    assert words in " ".join(caught.value.message_dict[field])
    assert not ContactImport.objects.filter(campaign=campaign).exists()


def test_bad_choices_are_refused_by_field(tenant, campaign):
    with pytest.raises(ValidationError) as caught:
        contact_import_create(
            tenant=tenant,
            campaign=campaign,
            upload=upload("phone\n+12125550100\n"),
            default_country="XX",
            mode="some",
            dnc_handling="ignore",
            encoding="ebcdic",
            column_map={"number": "Mobile", "email": "E-mail"},
            actor=SYSTEM,
        )
    problems = caught.value.message_dict
    assert set(problems) == {"default_country", "mode", "dnc_handling", "encoding"}
    with pytest.raises(ValidationError) as caught:
        contact_import_create(
            tenant=tenant,
            campaign=campaign,
            upload=upload("phone\n+12125550100\n"),
            column_map={"number": "Mobile", "email": "E-mail"},
            actor=SYSTEM,
        )
    messages = " ".join(caught.value.message_dict["column_map"])
    assert "no column 'Mobile'" in messages
    assert "Unknown field email" in messages


def test_the_size_limit_names_the_limit_in_mb(tenant, campaign, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 1024 * 1024
    data = b"number\n" + b"+12125550100\n" * 90_000
    with pytest.raises(ValidationError) as caught:
        contact_import_create(tenant=tenant, campaign=campaign, upload=upload(data), actor=SYSTEM)
    assert "the limit is 1 MB" in caught.value.message_dict["file"][0]


def test_a_closed_campaign_takes_no_import(tenant, campaign):
    campaign_cancel(tenant=tenant, campaign=campaign)
    with pytest.raises(CampaignStateConflict):
        contact_import_create(tenant=tenant, campaign=campaign, upload=upload("number\n+12125550100\n"), actor=SYSTEM)


def test_garbage_ragged_nul_and_huge_rows_are_refused_line_by_line(tenant, campaign):
    text = (
        "number,name,note\n"
        "+12125550100,Ada,\n"
        f"+12125550199,Long,{'x' * 70_000}\n"  # a variable past its limit, and the next rows past the first 64 KB
        "+13125550101,Grace,,extra\n"  # too many fields
        "+14155550102\n"  # too few
        "\x00\x01\x02,\x03,\n"  # binary garbage
        '"' + "9" * 200_000 + '",Huge,\n'  # a field past the csv limit
        "+16175550103,Kate,\n"
    )
    contact_import = run(tenant, campaign, text, mode=ImportMode.VALID_ROWS)
    assert contact_import.status == ImportStatus.SUCCEEDED, contact_import.error
    assert numbers(campaign) == ["+12125550100", "+16175550103"]
    reasons = {row["line"]: row["reason"] for row in report_rows(contact_import)}
    assert reasons["3"] == "longer than 1000 characters"
    assert reasons["4"] == "the row has 4 fields; the header has 3"
    assert reasons["5"] == "the row has 1 fields; the header has 3"
    assert "NUL" in reasons["6"]
    assert "longer than 131072 characters" in reasons["7"]
    assert contact_import.rows_refused == 5


def test_a_header_with_no_rows_fails_clearly(tenant, campaign):
    contact_import = run(tenant, campaign, "number,name\n")
    assert contact_import.status == ImportStatus.FAILED
    assert contact_import.error == "The file has a header but no rows."


def _big_file(rows: int, bad_every: int = 0) -> str:
    lines = ["Phone,Name,Plan"]
    for index in range(rows):
        number = f"+1212{200 + index // 10000}{index % 10000:04d}"
        lines.append(f"{'garbage' if bad_every and index % bad_every == 7 else number},Person{index} Example,gold")
    return "\n".join(lines) + "\n"


def test_a_5000_row_file_in_valid_rows_mode(tenant, campaign):
    contact_import = run(tenant, campaign, _big_file(5000, bad_every=10), mode=ImportMode.VALID_ROWS)
    assert contact_import.status == ImportStatus.SUCCEEDED, contact_import.error
    assert (contact_import.rows_read, contact_import.rows_imported, contact_import.rows_refused) == (5000, 4500, 500)
    assert Contact.objects.filter(campaign=campaign).count() == 4500
    report = report_rows(contact_import)
    assert len(report) == 500
    assert report[0] == {"line": "9", "field": "number", "value": "garbage", "reason": "not a phone number"}
    assert [int(row["line"]) for row in report] == sorted(int(row["line"]) for row in report)
    first = Contact.objects.filter(campaign=campaign).order_by("id").first()
    assert first.variables == {
        "plan": "gold",
        "full_name": "Person0 Example",
        "first_name": "Person0",
        "last_name": "Example",
    }


def test_a_5000_row_file_in_all_or_nothing_mode(tenant, campaign):
    contact_import = run(tenant, campaign, _big_file(5000))
    assert contact_import.status == ImportStatus.SUCCEEDED, contact_import.error
    assert contact_import.rows_imported == 5000
    failed = run(tenant, make_other := campaign, _big_file(5000, bad_every=2500))
    assert failed.status == ImportStatus.FAILED
    assert make_other.contacts.count() == 5000  # the first import's contacts only
    assert failed.rows_refused == 5002 - 2  # every row is now in the campaign, two are garbage too


def test_progress_fields_and_percent(tenant, campaign):
    contact_import = contact_import_create(
        tenant=tenant, campaign=campaign, upload=upload(_big_file(50)), default_country="US", actor=SYSTEM
    )
    assert contact_import.status == ImportStatus.QUEUED
    assert import_percent(contact_import) == 0
    assert contact_import.size_bytes == len(_big_file(50).encode())
    assert contact_import.original_name == "contacts.csv"
    assert contact_import.created_by == "system"
    contact_import.bytes_read = contact_import.size_bytes // 2
    contact_import.status = ImportStatus.RUNNING
    assert import_percent(contact_import) == 49 or import_percent(contact_import) == 50
    import_contacts(contact_import.pk)
    contact_import.refresh_from_db()
    assert contact_import.bytes_read == contact_import.size_bytes
    assert contact_import.rows_read == 50
    assert contact_import.started_at <= contact_import.finished_at


def test_a_redelivered_task_does_not_duplicate(tenant, campaign):
    contact_import = run(tenant, campaign, _big_file(20))
    assert contact_import.rows_imported == 20
    import_contacts(contact_import.pk)  # a finished import: nothing happens
    assert Contact.objects.filter(campaign=campaign).count() == 20
    # A worker that died mid-import leaves it "running" with no contact written: it starts over.
    second = contact_import_create(
        tenant=tenant,
        campaign=campaign,
        upload=upload(_big_file(30)),
        default_country="US",
        mode=ImportMode.VALID_ROWS,
        actor=SYSTEM,
    )
    ContactImport.objects.filter(pk=second.pk).update(status=ImportStatus.RUNNING, rows_read=7, bytes_read=99)
    import_contacts(second.pk)
    second.refresh_from_db()
    assert second.status == ImportStatus.SUCCEEDED
    assert (second.rows_read, second.rows_imported, second.rows_refused) == (30, 10, 20)
    assert Contact.objects.filter(campaign=campaign).count() == 30
    import_contacts(second.pk)
    assert Contact.objects.filter(campaign=campaign).count() == 30


def test_a_task_for_a_deleted_import_does_nothing(tenant, campaign):
    import_contacts(987654321)


def test_names_and_variables_with_tabs_newlines_backslashes_and_quotes_are_stored_as_written(tenant, campaign):
    # The contacts go in through COPY's text format, where a tab, a newline or a backslash in a value
    # would otherwise split the row or be read as an escape.
    awkward = {
        "name": 'Ada\t"The Countess"\\ Lovelace',
        "plan": "gold\nline two\r\\N",
        "note": 'He said "hi" \\u00e9 {json} [x]',
        "city": "Zürich 東京 🎉",
    }
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["Phone", "Name", "Plan", "Note", "City"])
    writer.writerow(["(212) 555-0100", awkward["name"], awkward["plan"], awkward["note"], awkward["city"]])
    writer.writerow(["(212) 555-0101", "\\N", "\\.", "\\", "plain"])
    contact_import = run(tenant, campaign, buffer.getvalue())
    assert contact_import.status == ImportStatus.SUCCEEDED, contact_import.error
    first = Contact.objects.get(campaign=campaign, number="+12125550100")
    assert first.name == awkward["name"]
    assert (first.variables["plan"], first.variables["note"], first.variables["city"]) == (
        awkward["plan"],
        awkward["note"],
        awkward["city"],
    )
    second = Contact.objects.get(campaign=campaign, number="+12125550101")
    assert (second.name, second.variables["plan"], second.variables["note"]) == ("\\N", "\\.", "\\")


def test_a_number_the_api_adds_during_the_import_is_reported_and_the_rest_imported(tenant, campaign, monkeypatch):
    """The campaign had no contacts when the import began, so its batches go in by COPY without asking
    first; one number arrives through the API between two batches: the unique key refuses that batch's
    COPY, which is redone without the number (the API's contact kept), and later batches ask first."""
    from campaigns_app.importer import writer as writer_module

    monkeypatch.setattr("campaigns_app.importer.run.BATCH_ROWS", 2)
    added = []
    saved_progress = writer_module.Writer.read

    def read_then_add(self, bytes_read: int, rows_read: int, refused: int) -> None:
        saved_progress(self, bytes_read, rows_read, refused)
        if rows_read == 2:  # the first batch is written: the API adds a number of the second and one of the third
            contacts_add(
                tenant=tenant,
                campaign=campaign,
                rows=[{"number": "+13125550103", "name": "From the API"}, {"number": "+13125550105", "name": "Too"}],
            )
            added.append(True)

    monkeypatch.setattr(writer_module.Writer, "read", read_then_add)
    text = "number,name\n" + "".join(f"+1312555010{index},Person {index}\n" for index in range(8))
    contact_import = run(tenant, campaign, text, mode=ImportMode.VALID_ROWS)
    assert added
    assert contact_import.status == ImportStatus.SUCCEEDED, contact_import.error
    assert (contact_import.rows_imported, contact_import.rows_refused) == (6, 2)
    assert Contact.objects.get(campaign=campaign, number="+13125550103").name == "From the API"
    assert Contact.objects.get(campaign=campaign, number="+13125550105").name == "Too"
    assert Contact.objects.get(campaign=campaign, number="+13125550102").name == "Person 2"
    assert Contact.objects.filter(campaign=campaign).count() == 8
    assert [(row["line"], row["reason"]) for row in report_rows(contact_import)] == [
        ("5", "already in this campaign"),
        ("7", "already in this campaign"),
    ]


def test_imported_contacts_get_time_ordered_unique_codes(tenant, campaign):
    import uuid

    text = "number,name\n" + "".join(f"+1312555{index:04d},Person {index}\n" for index in range(50))
    contact_import = run(tenant, campaign, text)
    assert contact_import.rows_imported == 50
    codes = [uuid.UUID(str(code)) for code in Contact.objects.filter(campaign=campaign).values_list("code", flat=True)]
    assert len(set(codes)) == 50
    assert {code.version for code in codes} == {7}
    assert {code.variant for code in codes} == {uuid.RFC_4122}
    # The first 48 bits are the import's moment in Unix milliseconds.
    moment = codes[0].int >> 80
    assert abs(moment / 1000 - contact_import.started_at.timestamp()) < 60
