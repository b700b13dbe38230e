"""Running a contact import (the Celery task's one service): stream the stored file in batches,
check each row with contact_rows.check_contact, stage the accepted rows with COPY in a temporary
table, write the error report as it goes, and insert every staged contact in one short final
transaction that also marks the import succeeded. Progress is saved between batches in autocommit,
so the portal and the API see it while the import runs; until the final transaction no contact
exists, so a failure, a crash or a redelivered task leaves nothing half-imported."""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from django.core.files import File
from django.db import connection, transaction
from django.utils import timezone

from campaigns_app import contact_rows
from campaigns_app.importer import files
from campaigns_app.models import (
    Campaign,
    Contact,
    ContactImport,
    ContactStatus,
    DncHandling,
    ImportMode,
    ImportStatus,
)
from campaigns_app.selectors import dnc_blocked
from campaigns_app.services import dnc_reason

logger = logging.getLogger(__name__)

BATCH_ROWS = 5000
STAGE_TABLE = "campaigns_contact_import_stage"
ON_DNC = "on the do-not-call list"
SKIPPED_ON_DNC = "imported as skipped: on the do-not-call list"
IN_CAMPAIGN = "already in this campaign"
REPORT_HEADER = ("line", "field", "value", "reason")
_STAGE_COLUMNS = "line, number, name, timezone, variables, status, reason"


class ImportFailed(Exception):
    """The whole import fails (nothing is written): the message says why and what to do."""


@dataclass
class _Counts:
    rows_read: int = 0
    refused: int = 0  # invalid or duplicate rows: these fail an all-or-nothing import
    excluded: int = 0  # left out because of the DNC list (dnc_handling=exclude)
    skipped: int = 0  # staged as skipped because of the DNC list
    staged: int = 0


def import_percent(contact_import: ContactImport) -> int:
    """How far the import is, 0-100, by bytes of the file read (100 once finished)."""
    if contact_import.is_finished:
        return 100
    if not contact_import.size_bytes:
        return 0
    return min(99, contact_import.bytes_read * 100 // contact_import.size_bytes)


@contextlib.contextmanager
def _exclusive(contact_import: ContactImport) -> Iterator[bool]:
    """A session advisory lock on the import: False when another worker runs it right now (a task
    redelivered while the first is alive). A crashed worker's lock goes with its connection."""
    key = f"contact_import:{contact_import.pk}"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])


def contact_import_run(*, contact_import: ContactImport) -> ContactImport:
    """Run a queued import to its end (succeeded or failed, never half-written). Safe to call again:
    a finished import is left alone, a running one whose worker died starts over from its file."""
    with _exclusive(contact_import) as acquired:
        if not acquired:
            logger.info("contact import %s is being run by another worker", contact_import.code)
            return contact_import
        contact_import.refresh_from_db()
        if contact_import.is_finished:
            return contact_import
        _start(contact_import)
        handle = tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="")
        try:
            with handle:
                report = _Report(handle)
                try:
                    counts = _stage(contact_import, report)
                    _finish(contact_import, counts, report)
                except (ImportFailed, files.FileProblem) as error:
                    _fail(contact_import, str(error), report)
                except Exception:
                    logger.exception("contact import %s stopped", contact_import.code)
                    _fail(contact_import, "The import stopped on an unexpected error; upload the file again.", report)
        finally:
            _drop_stage()
    return contact_import


def _start(contact_import: ContactImport) -> None:
    """Mark the import running with fresh counters (a restart forgets the previous try's progress)."""
    if contact_import.error_report:
        contact_import.error_report.delete(save=False)
    contact_import.status = ImportStatus.RUNNING
    contact_import.started_at = timezone.now()
    contact_import.finished_at = None
    contact_import.error = ""
    contact_import.bytes_read = contact_import.rows_read = contact_import.rows_imported = 0
    contact_import.rows_skipped = contact_import.rows_refused = 0
    contact_import.save(
        update_fields=[
            "status",
            "started_at",
            "finished_at",
            "error",
            "error_report",
            "bytes_read",
            "rows_read",
            "rows_imported",
            "rows_skipped",
            "rows_refused",
        ]
    )


def _create_stage() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE_TABLE}")
        # A temporary table: this connection's own, never WAL-logged, gone with a crashed worker.
        cursor.execute(
            f"CREATE TEMPORARY TABLE {STAGE_TABLE} (line integer NOT NULL, number varchar(32) NOT NULL, "
            "name varchar(200) NOT NULL, timezone varchar(64) NOT NULL, variables jsonb NOT NULL, "
            "status varchar(16) NOT NULL, reason varchar(200) NOT NULL)"
        )


def _drop_stage() -> None:
    with contextlib.suppress(Exception), connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE_TABLE}")


class _Report:
    """The error report, written row by row to a temporary file (never held in memory)."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle
        self._writer = csv.writer(handle)
        self._writer.writerow(REPORT_HEADER)
        self.rows = 0

    def add(self, line: int, field: str, value: str, reason: str) -> None:
        self._writer.writerow((line, field, value if len(value) <= 200 else value[:200] + "…", reason))
        self.rows += 1


def _stage(contact_import: ContactImport, report: _Report) -> _Counts:
    campaign = contact_import.campaign
    required = contact_rows.required_variables(campaign.agent)
    country = contact_import.default_country
    exclude_dnc = contact_import.dnc_handling == DncHandling.EXCLUDE
    counts = _Counts()
    seen: dict[str, int] = {}  # number -> the line that first had it
    _create_stage()
    with contact_import.file.open("rb") as binary:
        stream = files.RowStream(binary, contact_import.detected_encoding or "utf-8")
        header = stream.read_header()
        try:
            columns = files.map_columns(header, contact_import.column_map)
        except Exception as error:
            raise ImportFailed(" ".join(getattr(error, "messages", [str(error)]))) from None
        width = columns.width
        number_at, name_at, zone_at = columns.number, columns.name, columns.timezone
        variable_columns = columns.variables
        check = contact_rows.check_contact
        row_error = contact_rows.RowError
        batch: list[tuple[int, str, contact_rows.ContactValues]] = []
        for line, row in stream:
            if row is None:
                counts.rows_read += 1
                counts.refused += 1
                report.add(line, "", "", stream.problem)
                continue
            if not row or not any(row):
                continue  # a blank line
            counts.rows_read += 1
            if len(row) != width:
                counts.refused += 1
                report.add(line, "", ",".join(row), f"the row has {len(row)} fields; the header has {width}")
                continue
            raw_number = row[number_at]
            try:
                if "\x00" in raw_number or any("\x00" in cell for cell in row):
                    raise row_error("", "", "the row contains NUL bytes (binary data), not text")
                values = check(
                    number=raw_number,
                    name=row[name_at] if name_at is not None else "",
                    timezone=row[zone_at] if zone_at is not None else "",
                    variables={key: row[index] for index, key in variable_columns},
                    required=required,
                    default_country=country,
                )
            except row_error as error:
                counts.refused += 1
                report.add(line, error.field, error.value, error.reason)
                continue
            first = seen.get(values.number)
            if first is not None:
                counts.refused += 1
                report.add(line, "number", raw_number, f"duplicate of line {first}")
                continue
            seen[values.number] = line
            batch.append((line, raw_number, values))
            if len(batch) >= BATCH_ROWS:
                _flush(contact_import, campaign, batch, counts, report, exclude_dnc)
                batch = []
                _progress(contact_import, counts, stream.bytes_read)
        _flush(contact_import, campaign, batch, counts, report, exclude_dnc)
        _progress(contact_import, counts, stream.bytes_read)
    if counts.rows_read == 0:
        raise ImportFailed("The file has a header but no rows.")
    return counts


def _flush(
    contact_import: ContactImport,
    campaign: Campaign,
    batch: list[tuple[int, str, contact_rows.ContactValues]],
    counts: _Counts,
    report: _Report,
    exclude_dnc: bool,
) -> None:
    """Check a batch against the campaign's contacts and the DNC list (one query each), report the
    rows left out, and COPY the others into the stage."""
    if not batch:
        return
    tenant = contact_import.tenant
    numbers = [values.number for _line, _raw, values in batch]
    existing = set(
        Contact.objects.for_tenant(tenant)
        .filter(campaign=campaign, number__in=numbers)
        .values_list("number", flat=True)
    )
    blocked = dnc_blocked(tenant=tenant, numbers=numbers)
    dumps = json.dumps
    with connection.cursor() as cursor, cursor.copy(f"COPY {STAGE_TABLE} ({_STAGE_COLUMNS}) FROM STDIN") as copy:
        for line, raw, values in batch:
            number = values.number
            status, reason = ContactStatus.PENDING.value, ""
            if number in existing:
                counts.refused += 1
                report.add(line, "number", raw, IN_CAMPAIGN)
                continue
            entry = blocked.get(number)
            if entry is not None:
                if exclude_dnc:
                    counts.excluded += 1
                    report.add(line, "number", raw, ON_DNC)
                    continue
                counts.skipped += 1
                report.add(line, "number", raw, SKIPPED_ON_DNC)
                status, reason = ContactStatus.SKIPPED.value, dnc_reason(entry)
            copy.write_row((line, number, values.name, values.timezone, dumps(values.variables), status, reason))
            counts.staged += 1


def _progress(contact_import: ContactImport, counts: _Counts, bytes_read: int) -> None:
    """Save progress in its own statement (autocommit in the worker): other connections see it now."""
    ContactImport.objects.for_tenant(contact_import.tenant).filter(pk=contact_import.pk).update(
        bytes_read=bytes_read,
        rows_read=counts.rows_read,
        rows_refused=counts.refused + counts.excluded,
        rows_skipped=counts.skipped,
    )


def _save_report(contact_import: ContactImport, report: _Report) -> None:
    """Store the report (when it has rows) as the import's error_report file."""
    if not report.rows:
        return
    report.handle.flush()
    report.handle.seek(0)
    contact_import.error_report.save(f"{contact_import.code}-errors.csv", File(report.handle), save=False)


def _finish(contact_import: ContactImport, counts: _Counts, report: _Report) -> None:
    """Insert the staged contacts and mark the import succeeded, in one short transaction."""
    if counts.refused and contact_import.mode == ImportMode.ALL_OR_NOTHING:
        rows = "row was" if counts.refused == 1 else "rows were"
        raise ImportFailed(
            f"{counts.refused} {rows} refused, so no contact was imported (all or nothing). Download the "
            "error report, fix those rows (or choose to import the valid rows) and upload the file again."
        )
    _save_report(contact_import, report)
    now = timezone.now()
    with transaction.atomic():
        campaign = (
            Campaign.objects.for_tenant(contact_import.tenant).select_for_update().get(pk=contact_import.campaign_id)
        )
        if not campaign.is_open:
            raise ImportFailed(f"The campaign was {campaign.get_status_display().lower()} during the import.")
        with connection.cursor() as cursor:
            # ON CONFLICT: a contact another import or the API added since the batch's check stays.
            cursor.execute(
                f"WITH added AS (INSERT INTO {Contact._meta.db_table} (code, tenant_id, campaign_id, number, "  # noqa: S608
                "name, timezone, variables, status, attempts, last_outcome, reason, created_at, updated_at) "
                "SELECT gen_random_uuid(), %s, %s, number, name, timezone, variables, status, 0, '', reason, %s, %s "
                f"FROM {STAGE_TABLE} ORDER BY line ON CONFLICT (campaign_id, number) DO NOTHING RETURNING status) "
                "SELECT count(*), count(*) FILTER (WHERE status = %s) FROM added",
                [contact_import.tenant_id, campaign.pk, now, now, ContactStatus.SKIPPED.value],
            )
            imported, skipped = cursor.fetchone()
        contact_import.status = ImportStatus.SUCCEEDED
        contact_import.rows_read = counts.rows_read
        contact_import.rows_imported = imported
        contact_import.rows_skipped = skipped
        contact_import.rows_refused = counts.refused + counts.excluded
        contact_import.bytes_read = contact_import.size_bytes
        contact_import.finished_at = now
        contact_import.save(
            update_fields=[
                "status",
                "rows_read",
                "rows_imported",
                "rows_skipped",
                "rows_refused",
                "bytes_read",
                "finished_at",
                "error_report",
            ]
        )
    logger.info(
        "contact import %s: %d rows, %d imported (%d skipped), %d left out",
        contact_import.code,
        counts.rows_read,
        imported,
        skipped,
        counts.refused + counts.excluded,
    )


def _fail(contact_import: ContactImport, message: str, report: _Report | None) -> None:
    """Mark the import failed with the reason (no contact was written); keep the report of the rows."""
    try:
        if report is not None:
            _save_report(contact_import, report)
    except Exception:
        logger.exception("contact import %s: the error report could not be saved", contact_import.code)
    contact_import.status = ImportStatus.FAILED
    contact_import.error = message
    contact_import.finished_at = timezone.now()
    contact_import.save(update_fields=["status", "error", "finished_at", "error_report"])
    logger.info("contact import %s failed: %s", contact_import.code, message)
