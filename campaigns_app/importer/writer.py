"""The contact import's writer: batches of checked rows into the campaign, inside one transaction
on the writer's own connection (see campaigns_app.importer.run), and the streamed error report."""

from __future__ import annotations

import csv
import functools
import logging
import queue
from collections.abc import Iterable
from dataclasses import dataclass, field
from json.encoder import encode_basestring as _quote
from typing import IO, Any

from django.core.files import File
from django.db import connection, transaction
from django.utils import timezone

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
from voiceplatform.models import UUID7_SQL

logger = logging.getLogger(__name__)

BATCH_ROWS = 2500
STAGE_TABLE = "campaigns_contact_import_stage"
ON_DNC = "on the do-not-call list"
SKIPPED_ON_DNC = "imported as skipped: on the do-not-call list"
IN_CAMPAIGN = "already in this campaign"
REPORT_HEADER = ("line", "field", "value", "reason")
COUNTERS = ("bytes_read", "rows_read", "rows_imported", "rows_skipped", "rows_refused")
ABORT = object()  # the reader's "stop": the writer rolls back
_STAGE_COLUMNS = "line, number, name, timezone, variables, status, reason"


def _json(variables: dict[str, str]) -> str:
    """json.dumps of a flat {str: str} dict at less than half its cost (this runs once per row)."""
    return "{" + ",".join([_quote(key) + ":" + _quote(value) for key, value in variables.items()]) + "}"


class ImportFailed(Exception):
    """The whole import fails (nothing is written): the message says why and what to do."""


@dataclass
class Batch:
    """Rows read: those the row rule accepted (first of their number in the file), as
    (line, number as written, values), and those refused while reading, as report rows."""

    rows: list[tuple[int, str, contact_rows.ContactValues]] = field(default_factory=list)
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
            _create_stage()
            for item in items:
                if isinstance(item, EndOfFile):
                    self._finish(item)
                    return
                self._write(item)  # type: ignore[arg-type]
            raise ImportFailed("The import was stopped before the end of the file; nothing was imported.")

    def _write(self, batch: Batch) -> None:
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
                f"SELECT {UUID7_SQL}, %s, %s, number, name, timezone, variables, status, 0, '', reason, "
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


def _create_stage() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE_TABLE}")
        # Temporary: this connection's own, never WAL-logged, dropped with the transaction.
        cursor.execute(
            f"CREATE TEMPORARY TABLE {STAGE_TABLE} (line integer NOT NULL, number varchar(32) NOT NULL, "
            "name varchar(200) NOT NULL, timezone varchar(64) NOT NULL, variables jsonb NOT NULL, "
            "status varchar(16) NOT NULL, reason varchar(200) NOT NULL) ON COMMIT DROP"
        )
