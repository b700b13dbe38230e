"""The contact import in a real Celery worker process, and the two-connection path (the writer's
transaction on its own connection while progress is saved in autocommit) outside a test transaction."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns_app.importer import contact_import_create
from campaigns_app.models import Contact, ContactImport, ContactStatus, ImportMode, ImportStatus
from campaigns_app.services import dnc_add
from campaigns_app.tasks import import_contacts
from tests.campaigns_app.conftest import wait_until_classified
from voiceplatform.actor import SYSTEM

pytestmark = pytest.mark.django_db(transaction=True)

WORKER_TIMEOUT_SECONDS = 60


def _file(rows: int, bad_every: int = 0) -> SimpleUploadedFile:
    lines = ["Phone,Name"]
    for index in range(rows):
        number = f"(212) {200 + index // 10000}-{index % 10000:04d}"
        lines.append(f"{'garbage' if bad_every and index % bad_every == 3 else number},Person{index} Example")
    return SimpleUploadedFile("contacts.csv", ("\n".join(lines) + "\n").encode(), content_type="text/csv")


def _wait_until_finished(contact_import: ContactImport, worker) -> ContactImport:
    deadline = time.monotonic() + WORKER_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        contact_import.refresh_from_db()
        if contact_import.is_finished:
            return contact_import
        if worker.poll() is not None:
            pytest.fail(f"the Celery worker exited: {worker.log()}")
        time.sleep(0.1)  # polling another process: there is nothing to wait on but the row
    pytest.fail(f"the import is still {contact_import.status} after {WORKER_TIMEOUT_SECONDS} s: {worker.log()}")


def _cleanup(contact_import: ContactImport) -> None:
    for stored in (contact_import.file, contact_import.error_report):
        if stored:
            stored.delete(save=False)


def test_a_real_celery_worker_imports_a_5000_row_file(tenant, campaign, celery_worker_process):
    dnc_add(tenant=tenant, number="+12122000005", actor=SYSTEM)
    contact_import = contact_import_create(
        tenant=tenant,
        campaign=campaign,
        upload=_file(5000, bad_every=1000),
        default_country="US",
        mode=ImportMode.VALID_ROWS,
        actor=SYSTEM,
    )  # committed (no test transaction): the task is on its way to the worker
    try:
        contact_import = _wait_until_finished(contact_import, celery_worker_process)
        assert contact_import.status == ImportStatus.SUCCEEDED, contact_import.error
        assert (contact_import.rows_read, contact_import.rows_imported, contact_import.rows_refused) == (5000, 4995, 5)
        assert contact_import.rows_skipped == 1
        assert Contact.objects.filter(campaign=campaign).count() == 4995
        assert Contact.objects.get(campaign=campaign, number="+12122000005").status == ContactStatus.SKIPPED
        assert contact_import.error_report
        # The import's end queued the dialer's classifier: the same worker gives every contact its zone.
        wait_until_classified(campaign)
        campaign.refresh_from_db()
        assert campaign.dial_zones == ["US|America/New_York"] and not campaign.zones_pending
    finally:
        _cleanup(contact_import)


def test_outside_a_transaction_a_failed_all_or_nothing_import_writes_nothing(tenant, campaign):
    contact_import = contact_import_create(
        tenant=tenant, campaign=campaign, upload=_file(6000, bad_every=3000), default_country="US", actor=SYSTEM
    )
    try:
        # The worker's path: the writer thread's transaction on its own connection, progress in autocommit.
        ContactImport.objects.filter(pk=contact_import.pk).update(status=ImportStatus.QUEUED)
        import_contacts(contact_import.pk)
        contact_import.refresh_from_db()
        assert contact_import.status == ImportStatus.FAILED
        assert contact_import.error.startswith("2 rows were refused")
        assert (contact_import.rows_read, contact_import.rows_refused) == (6000, 2)
        assert contact_import.bytes_read == contact_import.size_bytes
        assert not Contact.objects.filter(campaign=campaign).exists()
    finally:
        _cleanup(contact_import)


def test_outside_a_transaction_a_valid_import_commits_every_batch(tenant, campaign, celery_worker_process):
    contact_import = contact_import_create(
        tenant=tenant, campaign=campaign, upload=_file(6000), default_country="US", actor=SYSTEM
    )
    try:
        import_contacts(contact_import.pk)
        contact_import.refresh_from_db()
        assert contact_import.status == ImportStatus.SUCCEEDED, contact_import.error
        assert Contact.objects.filter(campaign=campaign).count() == 6000
        wait_until_classified(campaign)
        import_contacts(contact_import.pk)  # redelivered: nothing more
        assert Contact.objects.filter(campaign=campaign).count() == 6000
    finally:
        _cleanup(contact_import)


def test_outside_a_transaction_an_unreadable_file_stops_the_writer_and_writes_nothing(tenant, campaign):
    rows = "".join(f"+1212555{index:04d},Person{index} Example\n" for index in range(6000))
    data = ("Phone,Name\n" + rows).encode() + "+13125550101,José\n".encode("latin-1")
    upload = SimpleUploadedFile("contacts.csv", data, content_type="text/csv")
    contact_import = contact_import_create(
        tenant=tenant, campaign=campaign, upload=upload, default_country="US", mode=ImportMode.VALID_ROWS, actor=SYSTEM
    )
    try:
        import_contacts(contact_import.pk)
        contact_import.refresh_from_db()
        assert contact_import.status == ImportStatus.FAILED
        assert "Latin-1" in contact_import.error
        assert 0 < contact_import.rows_read <= 6000  # progress as of the last batch before the bad byte
        assert not Contact.objects.filter(campaign=campaign).exists()
    finally:
        _cleanup(contact_import)
