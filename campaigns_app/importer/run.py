"""Running a contact import (the Celery task's one service).

Two threads, so that PostgreSQL's work overlaps Python's: the reader (the task's thread) streams
the stored file, checks each row with contact_rows.check_contact (the CPU-bound part: phonenumbers)
and finds duplicates within the file; the writer, on its own database connection and inside ONE
transaction, takes each batch of 2,500 rows, COPYs them into a temporary table, looks them up on the
DNC list and inserts them into the campaign with ON CONFLICT DO NOTHING (a number
already in the campaign is reported, not duplicated), writing the error report as it goes. At the
end the writer marks the import succeeded in that same transaction, or rolls everything back (an
all-or-nothing import with refused rows, an unreadable file, a crash): a failed import writes no
contact, and a redelivered task starts over from the file. The reader saves progress between
batches on its own connection in autocommit, so the portal and the API see it while the import runs.

Inside a caller's transaction (the test suite's) there is one connection: the reader and the writer
then run in turn on it, the writer's transaction being a savepoint."""

from __future__ import annotations

import contextlib
import csv
import logging
import queue
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _quote
from typing import IO, Any

from celery.exceptions import SoftTimeLimitExceeded
from django.core.exceptions import ValidationError
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
    DncEntry,
    DncHandling,
    ImportMode,
    ImportStatus,
)
from campaigns_app.selectors import dnc_blocked
from campaigns_app.services import dnc_reason

logger = logging.getLogger(__name__)

BATCH_ROWS = 2500
STAGE_TABLE = "campaigns_contact_import_stage"
ON_DNC = "on the do-not-call list"
SKIPPED_ON_DNC = "imported as skipped: on the do-not-call list"
IN_CAMPAIGN = "already in this campaign"
REPORT_HEADER = ("line", "field", "value", "reason")
_STAGE_COLUMNS = "line, number, name, timezone, variables, status, reason"
_QUEUED_BATCHES = 2  # batches read ahead of the writer (bounds memory)
_ABORT = object()
_COUNTERS = ("bytes_read", "rows_read", "rows_imported", "rows_skipped", "rows_refused")


def _json(variables: dict[str, str]) -> str:
    """json.dumps of a flat {str: str} dict at less than half its cost (this runs once per row)."""
    return "{" + ",".join([_quote(key) + ":" + _quote(value) for key, value in variables.items()]) + "}"


class ImportFailed(Exception):
    """The whole import fails (nothing is written): the message says why and what to do."""


@dataclass
class _Batch:
    """Rows read: those the row rule accepted (first of their number in the file), as
    (line, number as written, values), and those refused while reading, as report rows."""

    rows: list[tuple[int, str, contact_rows.ContactValues]] = field(default_factory=list)
    refused: list[tuple[int, str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class _EndOfFile:
    """The reader's last word: the file was read to its end."""

    rows_read: int
    refused: int


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
        with tempfile.TemporaryFile(mode="w+", encoding="utf-8", newline="") as handle:
            report = _Report(handle)
            writer = _Writer(contact_import, report)
            try:
                _pipeline(contact_import, writer)
            except (ImportFailed, files.FileProblem) as error:
                _fail(contact_import, str(error), writer)
            except SoftTimeLimitExceeded:
                _fail(contact_import, "The import took longer than the time limit; split the file into parts.", writer)
            except Exception:
                logger.exception("contact import %s stopped", contact_import.code)
                _fail(contact_import, "The import stopped on an unexpected error; upload the file again.", writer)
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
    contact_import.save(update_fields=[*_COUNTERS, "status", "started_at", "finished_at", "error", "error_report"])


class _Report:
    """The error report, written row by row to a temporary file (never held in memory)."""

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle
        self._writer = csv.writer(handle)
        self._writer.writerow(REPORT_HEADER)
        self.rows = 0

    def add(self, line: int, field_name: str, value: str, reason: str) -> None:
        self._writer.writerow((line, field_name, value if len(value) <= 200 else value[:200] + "…", reason))
        self.rows += 1

    def save(self, contact_import: ContactImport) -> None:
        """Store the report (when it has rows) as the import's error_report file (not saved to the row)."""
        if not self.rows:
            return
        self.handle.flush()
        self.handle.seek(0)
        contact_import.error_report.save(f"{contact_import.code}-errors.csv", File(self.handle), save=False)


def _pipeline(contact_import: ContactImport, writer: _Writer) -> None:
    """Read in this thread, write in another (see the module's docstring); raise what stopped either."""
    items = _read(contact_import, writer)
    if connection.in_atomic_block:
        writer.consume(items)  # the caller's transaction holds the only connection that sees its rows
        return
    batches: queue.Queue[object] = queue.Queue(maxsize=_QUEUED_BATCHES)
    thread = threading.Thread(target=writer.consume_queue, args=(batches,), name="contact-import-writer")
    thread.start()
    try:
        for item in items:
            if not _put(batches, item, thread):
                break  # the writer stopped: its error is raised below
    except BaseException:
        _put(batches, _ABORT, thread)
        thread.join()
        raise
    thread.join()
    if writer.error is not None:
        raise writer.error


def _put(batches: queue.Queue[object], item: object, thread: threading.Thread) -> bool:
    """Hand an item to the writer, waiting while it is busy; False when the writer has stopped."""
    while thread.is_alive():
        try:
            batches.put(item, timeout=0.5)
            return True
        except queue.Full:
            continue
    return False


def _read(contact_import: ContactImport, writer: _Writer) -> Iterator[_Batch | _EndOfFile]:
    """The file's rows in batches, each row checked by the row rule and against the file's earlier
    rows; progress saved after each batch; an _EndOfFile last."""
    required = contact_rows.required_variables(contact_import.campaign.agent)
    country = contact_import.default_country
    rows_read = refused = 0
    seen: dict[str, int] = {}  # number -> the line that first had it
    with contact_import.file.open("rb") as binary:
        stream = files.RowStream(binary, contact_import.detected_encoding or "utf-8")
        header = stream.read_header()
        try:
            columns = files.map_columns(header, contact_import.column_map)
        except ValidationError as error:
            raise ImportFailed(" ".join(error.messages)) from None
        width = columns.width
        number_at, name_at, zone_at = columns.number, columns.name, columns.timezone
        variable_columns = columns.variables
        check = contact_rows.check_contact
        row_error = contact_rows.RowError
        batch = _Batch()
        for line, row in stream:
            if row is None:
                rows_read += 1
                refused += 1
                batch.refused.append((line, "", "", stream.problem))
                continue
            if not any(row):
                continue  # a blank line
            rows_read += 1
            if len(row) != width:
                refused += 1
                reason = f"the row has {len(row)} fields; the header has {width}"
                batch.refused.append((line, "", ",".join(row), reason))
                continue
            raw_number = row[number_at]
            try:
                if any("\x00" in cell for cell in row):
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
                refused += 1
                batch.refused.append((line, error.field, error.value, error.reason))
                continue
            first = seen.get(values.number)
            if first is not None:
                refused += 1
                batch.refused.append((line, "number", raw_number, f"duplicate of line {first}"))
                continue
            seen[values.number] = line
            batch.rows.append((line, raw_number, values))
            if len(batch.rows) >= BATCH_ROWS:
                yield batch
                batch = _Batch()
                writer.read(stream.bytes_read, rows_read, refused)
        yield batch
        writer.read(stream.bytes_read, rows_read, refused)
    if rows_read == 0:
        raise ImportFailed("The file has a header but no rows.")
    yield _EndOfFile(rows_read=rows_read, refused=refused)


class _Writer:
    """Writes batches into the campaign in one transaction (see the module's docstring)."""

    def __init__(self, contact_import: ContactImport, report: _Report) -> None:
        self.contact_import = contact_import
        self.report = report
        self.exclude_dnc = contact_import.dnc_handling == DncHandling.EXCLUDE
        self.in_campaign = 0  # numbers already in the campaign: refused rows
        self.excluded = 0  # on the DNC list and left out (dnc_handling=exclude)
        self.skipped = 0  # on the DNC list and imported as skipped
        self.imported = 0
        self.error: BaseException | None = None
        # The reader's progress (bytes and rows read, rows refused while reading).
        self.bytes_read = self.rows_read = self.read_refused = 0

    @property
    def left_out(self) -> int:
        return self.in_campaign + self.excluded

    def read(self, bytes_read: int, rows_read: int, refused: int) -> None:
        """The reader's progress after a batch, saved in its own statement (autocommit in the worker)
        so other connections see it now. Contacts count as imported once the writer commits."""
        self.bytes_read, self.rows_read, self.read_refused = bytes_read, rows_read, refused
        contact_import = self.contact_import
        ContactImport.objects.for_tenant(contact_import.tenant).filter(pk=contact_import.pk).update(
            bytes_read=bytes_read,
            rows_read=rows_read,
            rows_refused=refused + self.left_out,
            rows_skipped=self.skipped,
        )

    def consume_queue(self, batches: queue.Queue[object]) -> None:
        """The writer thread: consume until the end of the file (commit) or an abort (roll back)."""
        try:
            self.consume(iter(batches.get, _ABORT), own_transaction=True)
        except BaseException as error:  # handed to the reader's thread, which raises it
            self.error = error
        finally:
            connection.close()  # this thread's own connection

    def consume(self, items: Iterable[_Batch | _EndOfFile], *, own_transaction: bool = False) -> None:
        """Write every batch, then finish, in one transaction (rolled back on any exception)."""
        with transaction.atomic():
            if own_transaction:
                # Check the contacts' foreign keys batch by batch, while the reader still reads,
                # instead of 100,000 deferred checks at commit.
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            _create_stage()
            for item in items:
                if isinstance(item, _EndOfFile):
                    self._finish(item)
                    return
                self._write(item)  # type: ignore[arg-type]
            raise ImportFailed("The import was stopped before the end of the file; nothing was imported.")

    def _write(self, batch: _Batch) -> None:
        """One batch: COPY into the stage, the DNC list's verdict, INSERT ... ON CONFLICT DO NOTHING into
        the campaign; the batch's report rows in line order."""
        contact_import = self.contact_import
        lines = list(batch.refused)
        staged: dict[str, tuple[int, str]] = {}  # number -> (line, as written)
        pending = ContactStatus.PENDING.value
        with connection.cursor() as cursor:
            with cursor.copy(f"COPY {STAGE_TABLE} ({_STAGE_COLUMNS}) FROM STDIN") as copy:
                write_row = copy.write_row
                for line, raw, values in batch.rows:
                    write_row((line, values.number, values.name, values.timezone, _json(values.variables), pending, ""))
                    staged[values.number] = (line, raw)
            blocked = self._blocked(cursor)
            if blocked and self.exclude_dnc:
                cursor.execute(f"DELETE FROM {STAGE_TABLE} WHERE number = ANY(%s)", [list(blocked)])  # noqa: S608
                for number in blocked:
                    line, raw = staged.pop(number)
                    self.excluded += 1
                    lines.append((line, "number", raw, ON_DNC))
            elif blocked:
                numbers = list(blocked)
                cursor.execute(
                    f"UPDATE {STAGE_TABLE} AS s SET status = %s, reason = v.reason "  # noqa: S608
                    "FROM unnest(%s::text[], %s::text[]) AS v(number, reason) WHERE s.number = v.number",
                    [ContactStatus.SKIPPED.value, numbers, [dnc_reason(blocked[number]) for number in numbers]],
                )
            cursor.execute(
                f"INSERT INTO {Contact._meta.db_table} (code, tenant_id, campaign_id, number, name, timezone, "  # noqa: S608
                "variables, status, attempts, last_outcome, reason, created_at, updated_at) "
                "SELECT gen_random_uuid(), %s, %s, number, name, timezone, variables, status, 0, '', reason, "
                "now(), now() "
                f"FROM {STAGE_TABLE} ORDER BY line ON CONFLICT (campaign_id, number) DO NOTHING RETURNING number",
                [contact_import.tenant_id, contact_import.campaign_id],
            )
            inserted = {number for (number,) in cursor.fetchall()}
            cursor.execute(f"TRUNCATE {STAGE_TABLE}")
        self.imported += len(inserted)
        if len(inserted) < len(staged):
            for number, (line, raw) in staged.items():
                if number not in inserted:
                    # In the campaign before this import (or added by the API meanwhile): kept as it is.
                    self.in_campaign += 1
                    lines.append((line, "number", raw, IN_CAMPAIGN))
        if not self.exclude_dnc:
            for number in blocked:
                if number in inserted:
                    self.skipped += 1
                    line, raw = staged[number]
                    lines.append((line, "number", raw, SKIPPED_ON_DNC))
        lines.sort(key=lambda item: item[0])
        for line, field_name, value, reason in lines:
            self.report.add(line, field_name, value, reason)

    def _blocked(self, cursor: Any) -> dict[str, DncEntry]:
        """The staged numbers on the DNC list now, with their deciding rows. The database first picks the
        few numbers with any DNC row (an indexed semi-join, no list of the batch's numbers sent back and forth);
        dnc_blocked then decides on those, by their newest row, in one query."""
        cursor.execute(
            f"SELECT DISTINCT s.number FROM {STAGE_TABLE} AS s WHERE EXISTS (SELECT 1 FROM "  # noqa: S608
            f"{DncEntry._meta.db_table} AS d WHERE d.tenant_id = %s AND d.number = s.number)",
            [self.contact_import.tenant_id],
        )
        candidates = [number for (number,) in cursor.fetchall()]
        return dnc_blocked(tenant=self.contact_import.tenant, numbers=candidates) if candidates else {}

    def _finish(self, end: _EndOfFile) -> None:
        """Commit (the import succeeded) or raise ImportFailed to roll every contact back."""
        contact_import = self.contact_import
        refused = end.refused + self.in_campaign
        if refused and contact_import.mode == ImportMode.ALL_OR_NOTHING:
            rows = "row was" if refused == 1 else "rows were"
            raise ImportFailed(
                f"{refused} {rows} refused, so no contact was imported (all or nothing). Download the error "
                "report, fix those rows (or choose to import the valid rows) and upload the file again."
            )
        campaign = (
            Campaign.objects.for_tenant(contact_import.tenant).select_for_update().get(pk=contact_import.campaign_id)
        )
        if not campaign.is_open:
            raise ImportFailed(f"The campaign was {campaign.get_status_display().lower()} during the import.")
        self.report.save(contact_import)
        contact_import.status = ImportStatus.SUCCEEDED
        contact_import.bytes_read = contact_import.size_bytes
        contact_import.rows_read = end.rows_read
        contact_import.rows_imported = self.imported
        contact_import.rows_skipped = self.skipped
        contact_import.rows_refused = refused + self.excluded
        contact_import.finished_at = timezone.now()
        contact_import.save(update_fields=[*_COUNTERS, "status", "finished_at", "error_report"])
        logger.info(
            "contact import %s: %d rows, %d imported (%d skipped), %d left out",
            contact_import.code,
            end.rows_read,
            self.imported,
            self.skipped,
            contact_import.rows_refused,
        )


def _create_stage() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE_TABLE}")
        # Temporary: this connection's own, never WAL-logged, dropped with the transaction.
        cursor.execute(
            f"CREATE TEMPORARY TABLE {STAGE_TABLE} (line integer NOT NULL, number varchar(32) NOT NULL, "
            "name varchar(200) NOT NULL, timezone varchar(64) NOT NULL, variables jsonb NOT NULL, "
            "status varchar(16) NOT NULL, reason varchar(200) NOT NULL) ON COMMIT DROP"
        )


def _fail(contact_import: ContactImport, message: str, writer: _Writer) -> None:
    """Mark the import failed with the reason (no contact was written); keep the report of the rows."""
    try:
        writer.report.save(contact_import)
    except Exception:
        logger.exception("contact import %s: the error report could not be saved", contact_import.code)
    contact_import.status = ImportStatus.FAILED
    contact_import.error = message
    contact_import.bytes_read = writer.bytes_read
    contact_import.rows_read = writer.rows_read
    contact_import.rows_refused = writer.read_refused + writer.left_out
    contact_import.rows_imported = contact_import.rows_skipped = 0
    contact_import.finished_at = timezone.now()
    contact_import.save(update_fields=[*_COUNTERS, "status", "error", "finished_at", "error_report"])
    logger.info("contact import %s failed: %s", contact_import.code, message)
