"""The bulk do-not-call upload: a CSV of numbers, streamed, added to the tenant's list in one go."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns_app.importer import DncUpload, dnc_upload
from campaigns_app.models import DncEntry, DncSource
from campaigns_app.selectors import dnc_blocked
from campaigns_app.services import dnc_add
from voiceplatform.actor import SYSTEM

pytestmark = pytest.mark.django_db


def upload(data: str | bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("dnc.csv", data.encode() if isinstance(data, str) else data, content_type="text/csv")


def test_one_column_of_numbers_is_added_with_the_source_import(tenant, other_tenant):
    dnc_add(tenant=tenant, number="+12125550100", actor=SYSTEM)
    result = dnc_upload(
        tenant=tenant,
        upload=upload("+12125550100\n(312) 555-0101\n\n+13125550101\nnonsense\n"),
        default_country="US",
        reason="Complaint list",
        actor=SYSTEM,
    )
    assert result == DncUpload(
        added=1, already_listed=1, errors=[(5, "nonsense", "not a phone number")], errors_total=1
    )
    entry = DncEntry.objects.for_tenant(tenant).get(number="+13125550101")
    assert (entry.source, entry.reason, entry.actor) == (DncSource.IMPORT, "Complaint list", "system")
    assert dnc_blocked(tenant=other_tenant, numbers=["+13125550101"]) == {}


def test_a_header_with_a_number_column_is_read(tenant):
    text = "Name,Phone Number\nAda,+12125550100\nGrace,+44 20 7946 0958\n"
    result = dnc_upload(tenant=tenant, upload=upload(text), actor=SYSTEM)
    assert (result.added, result.errors) == (2, [])
    assert set(dnc_blocked(tenant=tenant, numbers=["+12125550100", "+442079460958"])) == {
        "+12125550100",
        "+442079460958",
    }


def test_latin1_and_bom_files_are_read(tenant):
    assert dnc_upload(tenant=tenant, upload=upload("\ufeffnumber\n+12125550100\n".encode()), actor=SYSTEM).added == 1
    latin = "phone,name\n+13125550101,José\n".encode("latin-1")
    assert dnc_upload(tenant=tenant, upload=upload(latin), actor=SYSTEM).added == 1


def test_a_national_number_without_a_country_is_a_line_error(tenant):
    result = dnc_upload(tenant=tenant, upload=upload("number\n(212) 555-0100\n"), actor=SYSTEM)
    assert result.added == 0
    [(line, value, reason)] = result.errors
    assert (line, value) == (2, "(212) 555-0100")
    assert "default country" in reason


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        (b"", "file", "empty"),
        (b"name,city\nAda,London\n", "file", "one column of numbers"),
        (b"\x00\x01binary", "file", "NUL bytes"),
    ],
)
def test_unreadable_files_are_refused_before_anything_is_added(tenant, data, field, words):
    with pytest.raises(ValidationError) as caught:
        dnc_upload(tenant=tenant, upload=upload(data), actor=SYSTEM)
    assert words in " ".join(caught.value.message_dict[field])
    assert not DncEntry.objects.for_tenant(tenant).exists()


def test_the_size_limit_and_the_country_are_checked(tenant, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 1024 * 1024
    with pytest.raises(ValidationError) as caught:
        dnc_upload(tenant=tenant, upload=upload(b"+12125550100\n" * 90_000), actor=SYSTEM)
    assert "the limit is 1 MB" in caught.value.message_dict["file"][0]
    with pytest.raises(ValidationError) as caught:
        dnc_upload(tenant=tenant, upload=upload("+12125550100\n"), default_country="ZZ", actor=SYSTEM)
    assert "default_country" in caught.value.message_dict
