"""The streamed contact import: contact_import_create's checks, then the task's rules (duplicates,
the DNC list, required variables, modes), the error report and the progress fields."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings

from campaigns_app.importer import contact_import_create, contact_import_run, import_percent
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
    contact_import = contact_import_create(tenant=tenant, campaign=campaign, upload=upload(text), actor=SYSTEM, **options)
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
