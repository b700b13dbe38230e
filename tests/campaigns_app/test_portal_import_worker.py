"""The import page end to end: an upload through the portal, a real Celery worker running the task,
and the page's progress partial polled (as htmx does) until it says the import has finished."""

from __future__ import annotations

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns_app.models import Contact, ContactImport
from tests.campaigns_app.conftest import wait_until_classified

pytestmark = pytest.mark.django_db(transaction=True)

WORKER_TIMEOUT_SECONDS = 60


def test_the_progress_partial_follows_a_real_worker_to_the_error_report(
    tenant, campaign, owner, client_for, celery_worker_process
):
    lines = ["phone,name", *(f"(212) 555-{index:04d},Person {index}" for index in range(200)), "garbage,Nobody"]
    upload = SimpleUploadedFile("members.csv", ("\n".join(lines) + "\n").encode(), content_type="text/csv")
    client = client_for(owner)
    response = client.post(
        reverse("campaigns-import-create", kwargs={"code": campaign.code}),
        {"file": upload, "default_country": "US", "mode": "valid_rows", "dnc_handling": "skip", "encoding": "auto"},
    )
    contact_import = ContactImport.objects.for_tenant(tenant).get()
    progress = reverse("campaigns-import-progress", kwargs={"code": contact_import.code})
    try:
        assert response.status_code == 302
        deadline = time.monotonic() + WORKER_TIMEOUT_SECONDS
        partial = client.get(progress, headers={"HX-Request": "true"}).text
        while 'hx-trigger="every 1s"' in partial:  # the partial asks again until the import is finished
            if time.monotonic() > deadline or celery_worker_process.poll() is not None:
                pytest.fail(f"the import did not finish: {celery_worker_process.log()}")
            time.sleep(0.1)  # another process does the work: nothing to wait on but the page
            partial = client.get(progress, headers={"HX-Request": "true"}).text

        assert 'data-status="succeeded"' in partial
        assert "<dt>Rows read</dt><dd>201</dd>" in partial
        assert "<dt>Imported</dt><dd>200</dd>" in partial
        assert "<dt>Refused</dt><dd>1</dd>" in partial
        report = client.get(reverse("campaigns-import-errors", kwargs={"code": contact_import.code}))
        assert report.status_code == 200
        assert "garbage" in b"".join(report.streaming_content).decode()
        assert Contact.objects.for_tenant(tenant).filter(campaign=campaign).count() == 200
        # The import's end queued the dialer's classifier: it has run before the tables are emptied.
        wait_until_classified(campaign, WORKER_TIMEOUT_SECONDS)
    finally:
        contact_import.refresh_from_db()
        for stored in (contact_import.file, contact_import.error_report):
            if stored:
                stored.delete(save=False)
