"""The contact import's writer: batches of checked rows into the campaign, inside one transaction
on the writer's own connection (see campaigns_app.importer.run), and the streamed error report."""

from __future__ import annotations

import csv
import functools
import logging
import queue
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _quote
from typing import IO, Any

from django.core.files import File
from django.db import connection, transaction
from django.utils import timezone
from psycopg.errors import UniqueViolation

from campaigns_app import contact_rows
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
from voiceplatform.models import UUID7_SQL, uuid7_texts

logger = logging.getLogger(__name__)

BATCH_ROWS = 2500
ON_DNC = "on the do-not-call list"
SKIPPED_ON_DNC = "imported as skipped: on the do-not-call list"
IN_CAMPAIGN = "already in this campaign"
REPORT_HEADER = ("line", "field", "value", "reason")
COUNTERS = ("bytes_read", "rows_read", "rows_imported", "rows_skipped", "rows_refused")
ABORT = object()  # the reader's "stop": the writer rolls back
_STAGE_TABLE = "campaigns_contact_import_stage"  # only when the API added numbers during the import
_COPY_COLUMNS = (
    "code, tenant_id, campaign_id, number, name, timezone, variables, status, attempts, last_outcome, reason, "
    "created_at, updated_at"
)
_COPY_SQL = f"COPY {Contact._meta.db_table} ({_COPY_COLUMNS}) FROM STDIN"


# An accepted row: (line, number as written, number in E.164, "name<TAB>timezone<TAB>variables as JSON").
Row = tuple[int, str, str, str]
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_SPECIAL = re.compile(r"[\\\t\n\r]")


def copy_fields(values: contact_rows.ContactValues) -> str:
    """A contact's name, time zone and variables as fields of a row of COPY's text format (tab-separated,
    backslash, tab, newline and carriage return escaped). Made in the checking processes, so the writer
    only joins strings."""
    fields = (values.name, values.timezone, _json(values.variables))
    if _COPY_SPECIAL.search(fields[0]) or _COPY_SPECIAL.search(fields[2]) or _COPY_SPECIAL.search(fields[1]):
        return "\t".join(text.translate(_COPY_ESCAPES) for text in fields)
    return "\t".join(fields)


def copy_text(value: str) -> str:
    """One field of COPY's text format."""
    return value.translate(_COPY_ESCAPES) if _COPY_SPECIAL.search(value) else value


def _json(variables: dict[str, str]) -> str:
    """json.dumps of a flat {str: str} dict at less than half its cost (this runs once per row)."""
    return "{" + ",".join([_quote(key) + ":" + _quote(value) for key, value in variables.items()]) + "}"


class ImportFailed(Exception):
    """The whole import fails (nothing is written): the message says why and what to do."""


@dataclass
class Batch:
    """Rows read: those the row rule accepted (first of their number in the file), as (line, number as
    written, number in E.164, the rest as COPY text: see copy_fields), and those refused while reading,
    as report rows."""

    rows: list[Row] = field(default_factory=list)
    refused: list[tuple[int, str, str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class EndOfFile:
    """The reader's last word: the file was read to its end."""

    rows_read: int
    refused: int


class Report:
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


class Writer:
    """Writes batches into the campaign in one transaction (the design: campaigns_app.importer.run)."""

    def __init__(self, contact_import: ContactImport, report: Report) -> None:
        self.contact_import = contact_import
        self.report = report
        self.exclude_dnc = contact_import.dnc_handling == DncHandling.EXCLUDE
        self.in_campaign = 0  # numbers already in the campaign: refused rows
        self.excluded = 0  # on the DNC list and left out (dnc_handling=exclude)
        self.skipped = 0  # on the DNC list and imported as skipped
        self.imported = 0
        self.now: Any = None  # the transaction's start: every contact's created_at (set by consume)
        self.campaign_had_contacts = False  # when it had, each batch first asks which numbers it holds
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
            self.consume(iter(batches.get, ABORT), own_transaction=True)
        except BaseException as error:  # handed to the reader's thread, which raises it
            self.error = error
        finally:
            connection.close()  # this thread's own connection

    def consume(self, items: Iterable[Batch | EndOfFile], *, own_transaction: bool = False) -> None:
        """Write every batch, then finish, in one transaction (rolled back on any exception)."""
        with transaction.atomic():
            if own_transaction:
                # Check the contacts' foreign keys batch by batch, while the reader still reads,
                # instead of 100,000 deferred checks at commit.
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            with connection.cursor() as cursor:
                # One time for every row, as one INSERT's now() would give them (the transaction's start).
                cursor.execute(
                    f"SELECT now(), EXISTS (SELECT 1 FROM {Contact._meta.db_table} WHERE campaign_id = %s)",  # noqa: S608
                    [self.contact_import.campaign_id],
                )
                self.now, self.campaign_had_contacts = cursor.fetchone()
            for item in items:
                if isinstance(item, EndOfFile):
                    self._finish(item)
                    return
                self._write(item)  # type: ignore[arg-type]
            raise ImportFailed("The import was stopped before the end of the file; nothing was imported.")

    def _write(self, batch: Batch) -> None:
        """One batch: the DNC list's verdict and the numbers already in the campaign (when it had any), then
        COPY straight into the campaign's contacts; the batch's report rows in line order."""
        lines = list(batch.refused)
        staged = {row[2]: row for row in batch.rows}  # number -> row
        with connection.cursor() as cursor:
            blocked = self._blocked(cursor, list(staged))
            if self.campaign_had_contacts:
                for number in self._existing(cursor, list(staged)):
                    line, raw, _number, _fields = staged.pop(number)
                    self.in_campaign += 1
                    lines.append((line, "number", raw, IN_CAMPAIGN))
            if blocked and self.exclude_dnc:
                for number in blocked:
                    row = staged.pop(number, None)
                    if row is not None:
                        self.excluded += 1
                        lines.append((row[0], "number", row[1], ON_DNC))
            inserted = self._insert(cursor, list(staged.values()), blocked)
        self.imported += len(inserted)
        if len(inserted) < len(staged):
            for number, (line, raw, _number, _fields) in staged.items():
                if number not in inserted:
                    # Added by the API while this import ran: kept as it is.
                    self.in_campaign += 1
                    lines.append((line, "number", raw, IN_CAMPAIGN))
        if not self.exclude_dnc:
            for number in blocked:
                if number in inserted:
                    self.skipped += 1
                    line, raw, _number, _fields = staged[number]
                    lines.append((line, "number", raw, SKIPPED_ON_DNC))
        lines.sort(key=lambda item: item[0])
        for line, field_name, value, reason in lines:
            self.report.add(line, field_name, value, reason)

    def _insert(self, cursor: Any, rows: list[Row], blocked: dict[str, DncEntry]) -> set[str]:
        """The rows into the campaign as contacts (pending, or skipped when on the DNC list): the numbers
        inserted. One COPY (the fastest way in) inside a savepoint; when the API added one of the numbers
        meanwhile, the unique key refuses the COPY and the batch goes in with ON CONFLICT DO NOTHING."""
        if not rows:
            return set()
        now = copy_text(str(self.now))
        head = f"\t{self.contact_import.tenant_id}\t{self.contact_import.campaign_id}\t"
        pending = f"\t{ContactStatus.PENDING.value}\t0\t\t\t{now}\t{now}\n"
        text = [
            code
            + head
            + number
            + "\t"
            + fields
            + (pending if number not in blocked else self._skipped_tail(blocked[number], now))
            for code, (_line, _raw, number, fields) in zip(uuid7_texts(len(rows)), rows, strict=True)
        ]
        try:
            with transaction.atomic(), cursor.copy(_COPY_SQL) as copy:
                copy.write("".join(text))
        except UniqueViolation:
            self.campaign_had_contacts = True  # from now on, each batch asks first
            return self._insert_missing(cursor, rows, blocked)
        return {row[2] for row in rows}

    @staticmethod
    def _skipped_tail(entry: DncEntry, now: str) -> str:
        return f"\t{ContactStatus.SKIPPED.value}\t0\t\t{copy_text(dnc_reason(entry))}\t{now}\t{now}\n"

    def _insert_missing(self, cursor: Any, rows: list[Row], blocked: dict[str, DncEntry]) -> set[str]:
        """The rows whose numbers are not in the campaign yet: through a temporary table and INSERT ...
        ON CONFLICT DO NOTHING (the numbers inserted)."""
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE_TABLE} (line integer NOT NULL, "
            "number varchar(32) NOT NULL, name varchar(200) NOT NULL, timezone varchar(64) NOT NULL, "
            "variables jsonb NOT NULL, status varchar(16) NOT NULL, reason varchar(200) NOT NULL) ON COMMIT DROP"
        )
        with cursor.copy(f"COPY {_STAGE_TABLE} FROM STDIN") as copy:
            for line, _raw, number, fields in rows:
                entry = blocked.get(number)
                status = ContactStatus.PENDING.value if entry is None else ContactStatus.SKIPPED.value
                reason = "" if entry is None else copy_text(dnc_reason(entry))
                copy.write(f"{line}\t{number}\t{fields}\t{status}\t{reason}\n")
        cursor.execute(
            f"INSERT INTO {Contact._meta.db_table} ({_COPY_COLUMNS}) "  # noqa: S608
            f"SELECT {UUID7_SQL}, %s, %s, number, name, timezone, variables, status, 0, '', reason, %s, %s "
            f"FROM {_STAGE_TABLE} ORDER BY line ON CONFLICT (campaign_id, number) DO NOTHING RETURNING number",
            [self.contact_import.tenant_id, self.contact_import.campaign_id, self.now, self.now],
        )
        inserted = {number for (number,) in cursor.fetchall()}
        cursor.execute(f"TRUNCATE {_STAGE_TABLE}")
        return inserted

    def _existing(self, cursor: Any, numbers: list[str]) -> list[str]:
        """Those of `numbers` already in the campaign."""
        cursor.execute(
            f"SELECT number FROM {Contact._meta.db_table} WHERE campaign_id = %s AND number = ANY(%s)",  # noqa: S608
            [self.contact_import.campaign_id, numbers],
        )
        return [number for (number,) in cursor.fetchall()]

    def _blocked(self, cursor: Any, numbers: list[str]) -> dict[str, DncEntry]:
        """Those of `numbers` on the DNC list now, with their deciding rows. The database first picks the
        few numbers with any DNC row (one indexed lookup per number); dnc_blocked then decides on those,
        by their newest row, in one query."""
        cursor.execute(
            f"SELECT DISTINCT number FROM {DncEntry._meta.db_table} "  # noqa: S608
            "WHERE tenant_id = %s AND number = ANY(%s)",
            [self.contact_import.tenant_id, numbers],
        )
        candidates = [number for (number,) in cursor.fetchall()]
        return dnc_blocked(tenant=self.contact_import.tenant, numbers=candidates) if candidates else {}

    def _finish(self, end: EndOfFile) -> None:
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
        if self.imported:  # the dialer's classifier gives the new contacts their zones, once this commits
            campaign.zones_pending = True
            campaign.save(update_fields=["zones_pending"])
            transaction.on_commit(functools.partial(_classify, campaign.pk))
        self.report.save(contact_import)
        contact_import.status = ImportStatus.SUCCEEDED
        contact_import.bytes_read = contact_import.size_bytes
        contact_import.rows_read = end.rows_read
        contact_import.rows_imported = self.imported
        contact_import.rows_skipped = self.skipped
        contact_import.rows_refused = refused + self.excluded
        contact_import.finished_at = timezone.now()
        contact_import.save(update_fields=[*COUNTERS, "status", "finished_at", "error_report"])
        logger.info(
            "contact import %s: %d rows, %d imported (%d skipped), %d left out",
            contact_import.code,
            end.rows_read,
            self.imported,
            self.skipped,
            contact_import.rows_refused,
        )


def _classify(campaign_id: int) -> None:
    from campaigns_app.tasks import classify_contacts  # the task module imports this package

    classify_contacts.delay(campaign_id)
