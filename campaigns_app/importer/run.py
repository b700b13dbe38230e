"""Running a contact import (the Celery task's one service).

Two threads, so that PostgreSQL's work overlaps Python's: the reader (the task's thread) streams
the stored file, has each row checked with contact_rows.check_contact (the CPU-bound part:
phonenumbers, ~20 µs a row) by two forked checking processes (a file under 64 KB: in the reader's
thread), and finds duplicates within the file in file order; the writer, on its own database connection and inside ONE
transaction, takes each batch of 2,500 rows, looks them up on the DNC list (and, when the campaign
already had contacts, in the campaign: such a number is reported, not duplicated) and COPYs them
straight into the campaign's contacts, writing the error report as it goes. The checking processes
hand back each valid row's fields already as COPY text, so the writer only joins strings. At the
end the writer marks the import succeeded in that same transaction, or rolls everything back (an
all-or-nothing import with refused rows, an unreadable file, a crash): a failed import writes no
contact, and a redelivered task starts over from the file. The reader saves progress between
batches on its own connection in autocommit, so the portal and the API see it while the import runs.

Inside a caller's transaction (the test suite's) there is one connection: the reader and the writer
then run in turn on it, the writer's transaction being a savepoint."""

from __future__ import annotations

import collections
import contextlib
import logging
import multiprocessing
import queue
import signal
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone

from campaigns_app import contact_rows
from campaigns_app.importer import files
from campaigns_app.importer.writer import (
    ABORT,
    BATCH_ROWS,
    COUNTERS,
    ON_DNC,
    SKIPPED_ON_DNC,
    Batch,
    EndOfFile,
    ImportFailed,
    Report,
    Writer,
    copy_fields,
)
from campaigns_app.models import ContactImport, ImportStatus

logger = logging.getLogger(__name__)

__all__ = ["ON_DNC", "SKIPPED_ON_DNC", "ImportFailed", "contact_import_run", "import_percent"]

_QUEUED_BATCHES = 2  # batches read ahead of the writer (bounds memory)
CHECK_PROCESS_MIN_BYTES = 64 * 1024  # smaller files are checked in the reader's thread alone
CHECK_PROCESSES = 2  # processes checking rows (phonenumbers), so the reader only reads and the writer writes
CHECK_AHEAD = 3  # batches handed to them ahead of the one awaited (bounds memory)
CHECK_TIMEOUT = 120  # seconds a batch may take (~0.1 s normally): a lost checking process fails the import


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
            report = Report(handle)
            writer = Writer(contact_import, report)
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
    contact_import.save(update_fields=[*COUNTERS, "status", "started_at", "finished_at", "error", "error_report"])


def _pipeline(contact_import: ContactImport, writer: Writer) -> None:
    """Read in this thread, write in another (see the module's docstring); raise what stopped either."""
    checker = _Checker(rule=None)  # type: ignore[arg-type]  (set once the header is read)
    if contact_import.size_bytes > CHECK_PROCESS_MIN_BYTES:
        checker.start_process()  # before the writer thread exists: see _Checker
    try:
        _write_all(contact_import, writer, _read(contact_import, writer, checker))
    finally:
        checker.close()


def _write_all(contact_import: ContactImport, writer: Writer, items: Iterator[Batch | EndOfFile]) -> None:
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
        _put(batches, ABORT, thread)
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


@dataclass(frozen=True)
class _RowRule:
    """What checking a row needs, picklable for the checking process: the columns and the row rule's inputs."""

    width: int
    number_at: int
    name_at: int | None
    zone_at: int | None
    variables: tuple[tuple[int, str], ...]
    required: frozenset[str]
    country: str


# A row as read: (line, fields) or (line, None) with the parse problem in a third item.
_RawRow = tuple[int, list[str] | None, str]
# A row checked: (line, number as written, number in E.164, its other fields as COPY text: see
# writer.copy_fields) or (line, number as written, None, (field, value, reason)). Plain strings and
# tuples: they cross from the checking process by pickle, which is slow for objects.
_Checked = tuple[int, str, str | None, str | tuple[str, str, str]]


def _check_rows(rule: _RowRule, rows: list[_RawRow]) -> list[_Checked]:
    """Each row through the one row rule (contact_rows.check_contact): runs in the checking process
    for every other batch, so it touches no database and no shared state."""
    check = contact_rows.check_contact
    row_error = contact_rows.RowError
    number_at, name_at, zone_at, variable_columns = rule.number_at, rule.name_at, rule.zone_at, rule.variables
    width = rule.width
    checked: list[_Checked] = []
    for line, row, problem in rows:
        if row is None:
            checked.append((line, "", None, ("", "", problem)))
            continue
        if len(row) != width:
            reason = f"the row has {len(row)} fields; the header has {width}"
            checked.append((line, "", None, ("", ",".join(row), reason)))
            continue
        raw_number = row[number_at]
        if "\x00" in "".join(row):
            checked.append((line, raw_number, None, ("", "", "the row contains NUL bytes (binary data), not text")))
            continue
        try:
            values = check(
                number=raw_number,
                name=row[name_at] if name_at is not None else "",
                timezone=row[zone_at] if zone_at is not None else "",
                variables={key: row[index] for index, key in variable_columns},
                required=rule.required,
                default_country=rule.country,
            )
        except row_error as error:
            checked.append((line, raw_number, None, (error.field, error.value, error.reason)))
            continue
        checked.append((line, raw_number, values.number, copy_fields(values)))
    return checked


def _plain_signals() -> None:
    """The checking process dies on SIGTERM and ignores Ctrl-C (its parent handles it), whatever
    handlers the parent (a Celery worker) had installed."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _Checker:
    """Checks batches of rows in forked processes: phonenumbers is most of an import's CPU, and the
    reader's thread (which shares the GIL with the writer's) would otherwise do all of it. The pool is
    forked before the writer thread starts, and its processes run only the row rule (no database, no
    logging). Without fork (or in a daemonic process, which may not have children) every batch is
    checked in this thread, with the same result."""

    def __init__(self, rule: _RowRule) -> None:
        self.rule = rule
        self._pool: Any = None

    def start_process(self) -> None:
        if "fork" not in multiprocessing.get_all_start_methods():
            return
        try:
            self._pool = multiprocessing.get_context("fork").Pool(processes=CHECK_PROCESSES, initializer=_plain_signals)
        except (AssertionError, OSError) as error:  # a daemonic Celery child, or no process left
            logger.info("contact import checks rows in one process: %s", error)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()  # its work is done or no longer wanted
            self._pool.join()
            self._pool = None

    def checked(self, batches: Iterator[list[_RawRow]]) -> Iterator[list[_Checked]]:
        """The batches checked, in file order, by the checking processes (a few batches ahead, so memory
        stays bounded), or in this thread when there are none."""
        if self._pool is None:
            for rows in batches:
                yield _check_rows(self.rule, rows)
            return
        pending: collections.deque[Any] = collections.deque()
        try:
            for rows in batches:
                pending.append(self._pool.apply_async(_check_rows, (self.rule, rows)))
                if len(pending) > CHECK_AHEAD:
                    yield pending.popleft().get(timeout=CHECK_TIMEOUT)
        except files.FileProblem:
            # The rows before the unreadable part still count in the progress the failure reports.
            while pending:
                yield pending.popleft().get(timeout=CHECK_TIMEOUT)
            raise
        while pending:
            yield pending.popleft().get(timeout=CHECK_TIMEOUT)


def _raw_batches(stream: files.RowStream) -> Iterator[list[_RawRow]]:
    """The file's non-blank rows in batches of BATCH_ROWS."""
    batch: list[_RawRow] = []
    for line, row in stream:
        if row is None:
            batch.append((line, None, stream.problem))
        elif any(row):
            batch.append((line, row, ""))
        else:
            continue  # a blank line
        if len(batch) >= BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


def _read(contact_import: ContactImport, writer: Writer, checker: _Checker) -> Iterator[Batch | EndOfFile]:
    """The file's rows in batches, each row checked by the row rule and against the file's earlier
    rows; progress saved after each batch; an EndOfFile last."""
    rows_read = refused = 0
    seen: dict[str, int] = {}  # number -> the line that first had it
    with contact_import.file.open("rb") as binary:
        stream = files.RowStream(binary, contact_import.detected_encoding or "utf-8")
        header = stream.read_header()
        try:
            columns = files.map_columns(header, contact_import.column_map)
        except ValidationError as error:
            raise ImportFailed(" ".join(error.messages)) from None
        checker.rule = _RowRule(
            width=columns.width,
            number_at=columns.number,
            name_at=columns.name,
            zone_at=columns.timezone,
            variables=tuple(columns.variables),
            required=contact_rows.required_variables(contact_import.campaign.agent),
            country=contact_import.default_country,
        )
        for checked in checker.checked(_raw_batches(stream)):
            batch = Batch()
            for line, raw_number, number, rest in checked:
                rows_read += 1
                if number is None:
                    refused += 1
                    batch.refused.append((line, *rest))  # type: ignore[arg-type]
                    continue
                first = seen.get(number)
                if first is not None:
                    refused += 1
                    batch.refused.append((line, "number", raw_number, f"duplicate of line {first}"))
                    continue
                seen[number] = line
                batch.rows.append((line, raw_number, number, rest))  # type: ignore[arg-type]
            yield batch
            writer.read(stream.bytes_read, rows_read, refused)
    if rows_read == 0:
        raise ImportFailed("The file has a header but no rows.")
    yield EndOfFile(rows_read=rows_read, refused=refused)


def _fail(contact_import: ContactImport, message: str, writer: Writer) -> None:
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
    contact_import.save(update_fields=[*COUNTERS, "status", "error", "finished_at", "error_report"])
    logger.info("contact import %s failed: %s", contact_import.code, message)
