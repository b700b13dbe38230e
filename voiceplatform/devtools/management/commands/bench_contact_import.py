"""Benchmark of the streamed contact import: a generated CSV through the import task the portal uses.

The CSV (written to a temporary file, never held in memory) has, per 100 rows, 92 valid numbers
across the US time zones in national and international formats, 1 number on the tenant's DNC list,
2 duplicates of an earlier row (another format) and 5 invalid numbers. The import is created with
contact_import_create (mode "import valid rows", DNC rows imported as skipped) and its task,
campaigns_app.tasks.import_contacts, runs in this process (Celery's eager mode: the same function a
worker runs). Timed: from contact_import_create (the upload's checks and storage included) to the
task's end. Memory: peak_rss_mb is the process's peak resident size (getrusage ru_maxrss), which
covers Django's start and the CSV generation too, so it is an upper bound of the import's own peak;
the line before it gives the RSS just before the import and the peak sampled (every 10 ms) while
it ran. Last line:
bench_contact_import rows=<n> seconds=<x> rows_per_s=<x> peak_rss_mb=<x> errors_reported=<n>
It exits non-zero when errors_reported is not invalid + duplicate + DNC rows.
"""

from __future__ import annotations

import csv
import io
import os
import resource
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import psutil
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError, CommandParser

from agents_app.services import agent_create
from campaigns_app import tasks as campaign_tasks
from campaigns_app.contact_rows import RowError, normalize_number
from campaigns_app.dialer.zones import classify_campaign_contacts
from campaigns_app.importer import contact_import_create
from campaigns_app.models import Campaign, Contact, ContactImport, ContactStatus, DncHandling, ImportMode, ImportStatus
from campaigns_app.services import campaign_create, dnc_add_many
from telephony_app.services import phone_number_create
from voiceplatform.actor import SYSTEM
from voiceplatform.celery import app as celery_app
from voiceplatform.models import Tenant
from voiceplatform.services import tenant_create, tenant_delete

# Area codes of each US time zone (Eastern, Central, Mountain, Arizona, Pacific, Alaska, Hawaii).
AREA_CODES = ("212", "404", "617", "312", "214", "713", "303", "801", "602", "213", "415", "206", "907", "808")
INVALID = ("12345", "not a number", "555-0100-99999", "+1 (000) 000-0000", "")
TIMEZONES = ("America/New_York", "America/Chicago", "", "America/Los_Angeles", "")
PLANS = ("gold", "silver", "bronze")


def _valid_numbers() -> Iterator[str]:
    """Distinct valid US numbers in E.164, spread over the area codes (checked with phonenumbers)."""
    for exchange in range(201, 1000):
        if exchange % 100 == 11:
            continue
        for line in range(0, 10000, 7):
            for area in AREA_CODES:
                e164 = f"+1{area}{exchange}{line:04d}"
                try:
                    normalize_number(e164)
                except RowError:
                    continue
                yield e164


def _national(e164: str) -> str:
    return f"({e164[2:5]}) {e164[5:8]}-{e164[8:]}"


class _Generated:
    def __init__(self) -> None:
        self.invalid = self.duplicates = self.dnc = 0
        self.dnc_numbers: list[str] = []


def _write_csv(handle: io.TextIOBase, rows: int) -> _Generated:
    """Write `rows` data rows (with a header) and count what was generated."""
    generated = _Generated()
    writer = csv.writer(handle)
    writer.writerow(("Phone", "Name", "Timezone", "Plan"))
    numbers = _valid_numbers()
    last_valid = ""
    for index in range(rows):
        slot = index % 100
        if slot >= 95:
            generated.invalid += 1
            writer.writerow((INVALID[slot - 95], f"Invalid {index}", "", "gold"))
            continue
        if slot in (93, 94):
            generated.duplicates += 1
            writer.writerow((last_valid, f"Again {index}", "", "silver"))  # E.164 of a national row
            continue
        number = next(numbers)
        if slot == 92:
            generated.dnc += 1
            generated.dnc_numbers.append(number)
        else:
            last_valid = number
        text = _national(number) if index % 2 else number
        writer.writerow((text, f"Person{index} Example", TIMEZONES[index % 5], PLANS[index % 3]))
    return generated


def _cpu_seconds() -> tuple[float, float]:
    """CPU seconds of this process and of its ended children (the import's checking processes)."""
    times = os.times()
    return times.user + times.system, times.children_user + times.children_system


class _PeakSampler(threading.Thread):
    """Samples this process's RSS every 10 ms until stopped; keeps the peak."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.01):
            self.peak = max(self.peak, self.process.memory_info().rss)


class _HeldClassifier:
    """Stands in for the classify_contacts task while the import is timed; run() classifies afterwards."""

    def __init__(self) -> None:
        self.task = campaign_tasks.classify_contacts
        self.campaign_ids: list[int] = []
        campaign_tasks.classify_contacts = self  # type: ignore[assignment]

    def delay(self, campaign_id: int) -> None:
        self.campaign_ids.append(campaign_id)

    def run(self) -> float:
        campaign_tasks.classify_contacts = self.task
        started = time.perf_counter()
        for campaign_id in self.campaign_ids:
            classify_campaign_contacts(campaign_id)
        return time.perf_counter() - started


class Command(BaseCommand):
    help = "Time a contact import of a generated CSV (invalid, duplicate and DNC rows included) through the task."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rows", type=int, default=100_000, help="data rows (default 100000)")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = options["rows"]
        if rows < 100:
            raise CommandError("--rows must be at least 100")
        tenant = tenant_create(name="Benchmark", slug=f"bench-{secrets.token_hex(4)}", timezone_name="UTC")
        contact_import = None
        try:
            report, ok, contact_import = self._run(tenant, rows)
        finally:
            for stored in (contact_import.file, contact_import.error_report) if contact_import else ():
                if stored:
                    stored.delete(save=False)
            # A campaign holds its agent and caller ID (PROTECT): it goes first.
            Campaign.objects.for_tenant(tenant).delete()
            tenant_delete(tenant=tenant)
        for line in report:
            self.stdout.write(line)
        if not ok:
            sys.exit(1)

    def _run(self, tenant: Tenant, rows: int) -> tuple[list[str], bool, ContactImport]:
        agent = agent_create(
            tenant=tenant,
            actor=SYSTEM,
            fields={"name": "Bench caller", "direction": "outbound", "system_prompt": "Remind {{first_name}}."},
        )
        caller_id = phone_number_create(
            tenant=tenant, number=f"+1415{200 + secrets.randbelow(700)}{secrets.randbelow(10**4):04d}"
        )
        campaign = campaign_create(tenant=tenant, fields={"name": "Bench", "agent": agent, "caller_id": caller_id})
        with tempfile.TemporaryFile() as binary:
            text = io.TextIOWrapper(binary, encoding="utf-8", newline="")
            generated = _write_csv(text, rows)
            text.flush()
            text.detach()
            dnc_add_many(tenant=tenant, numbers=generated.dnc_numbers, actor=SYSTEM)
            binary.seek(0)
            upload = File(binary, name="bench.csv")
            # The task runs in this process, inside contact_import_create's on_commit, as a worker would run it.
            celery_app.conf.task_always_eager = True
            # The import's end queues the dialer's classifier (another task, run by another worker in
            # production): held back here and timed on its own below.
            held = _HeldClassifier()
            sampler = _PeakSampler()
            before_mb = sampler.peak / 1_048_576
            sampler.start()
            started, cpu_started = time.perf_counter(), _cpu_seconds()
            contact_import = contact_import_create(
                tenant=tenant,
                campaign=campaign,
                upload=upload,
                default_country="US",
                mode=ImportMode.VALID_ROWS,
                dnc_handling=DncHandling.SKIP,
                actor=SYSTEM,
            )
            seconds, cpu_ended = time.perf_counter() - started, _cpu_seconds()
            cpu_seconds, children_cpu_seconds = (
                ended - began for ended, began in zip(cpu_ended, cpu_started, strict=True)
            )
            sampler.stopped.set()
            sampler.join()
            classify_seconds = held.run()
        contact_import.refresh_from_db()
        if contact_import.status != ImportStatus.SUCCEEDED:
            raise CommandError(f"the import did not succeed: {contact_import.status} {contact_import.error}")
        reported = 0
        if contact_import.error_report:
            with contact_import.error_report.open("rb") as handle:
                reported = sum(1 for _ in csv.reader(io.TextIOWrapper(handle, encoding="utf-8", newline=""))) - 1
        expected = generated.invalid + generated.duplicates + generated.dnc
        skipped = Contact.objects.for_tenant(tenant).filter(campaign=campaign, status=ContactStatus.SKIPPED).count()
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        lines = [
            f"generated: {generated.invalid} invalid, {generated.duplicates} duplicate, {generated.dnc} on the DNC "
            f"list; imported {contact_import.rows_imported} ({skipped} skipped), "
            f"left out {contact_import.rows_refused}",
            f"rss before the import {before_mb:.1f} MB, sampled peak during it {sampler.peak / 1_048_576:.1f} MB; "
            f"this process's CPU during the import {cpu_seconds:.2f} s, its checking processes' "
            f"{children_cpu_seconds:.2f} s (the database server's is not counted)",
            f"the dialer's classifier, which the import queues for another worker, took {classify_seconds:.2f} s "
            "afterwards (not in the import's time)",
        ]
        if reported != expected:
            lines.append(f"MISMATCH: the error report lists {reported} rows, {expected} were generated")
        lines.append(
            f"bench_contact_import rows={rows} seconds={seconds:.2f} rows_per_s={rows / seconds:.0f} "
            f"peak_rss_mb={peak_mb:.1f} errors_reported={reported}"
        )
        return lines, reported == expected, contact_import
