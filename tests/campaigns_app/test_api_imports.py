"""Contact imports through the API: a multipart upload answers 202 with the queued import, its
progress reads by id, and its error report downloads as CSV."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from campaigns_app.importer import contact_import_create
from campaigns_app.models import ContactImport, ImportStatus
from campaigns_app.services import campaign_cancel
from campaigns_app.tasks import import_contacts
from voiceplatform.actor import SYSTEM


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _csv(text: bytes = b"phone,name,first_name\n+12125550100,Ada,Ada\nnonsense,Bob,Bob\n") -> SimpleUploadedFile:
    return SimpleUploadedFile("november.csv", text, content_type="text/csv")


def _imports(campaign) -> str:
    return f"/api/v1/campaigns/{campaign.code}/imports"


def _finished_import(tenant, campaign) -> ContactImport:
    made = contact_import_create(tenant=tenant, campaign=campaign, upload=_csv(), mode="valid_rows", actor=SYSTEM)
    import_contacts(made.pk)
    made.refresh_from_db()
    return made


def test_an_upload_answers_202_with_the_queued_import(api, tenant, campaign):
    body = {"file": _csv(), "defaultCountry": "US", "mode": "valid_rows", "columnMap": '{"number": "phone"}'}

    response = api.post(_imports(campaign), body, format="multipart")

    assert response.status_code == 202, response.json()
    data = response.json()
    made = ContactImport.objects.for_tenant(tenant).get()
    assert data["id"] == str(made.code)
    assert data["status"] == ImportStatus.QUEUED
    assert data["fileName"] == "november.csv"
    assert data["mode"] == "valid_rows"
    assert data["percent"] == 0
    assert data["createdBy"].startswith("API key tests")
    assert made.column_map == {"number": "phone"}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "file"),
        ({"file": "not a file"}, "file"),
        ({"mode": "some"}, "mode"),
        ({"defaultCountry": "USA"}, "defaultCountry"),
        ({"columnMap": "[1, 2]"}, "columnMap"),
        ({"columnMap": "{not json"}, "columnMap"),
        ({"encoding": "ebcdic"}, "encoding"),
    ],
)
def test_a_bad_upload_is_a_400_naming_the_field(api, tenant, campaign, body, field):
    body = {"file": _csv(), **body} if field != "file" else body

    response = api.post(_imports(campaign), body, format="multipart")

    assert response.status_code == 400
    assert field in response.json(), response.json()
    assert not ContactImport.objects.for_tenant(tenant).exists()


def test_an_empty_file_is_refused_naming_file(api, tenant, campaign):
    response = api.post(_imports(campaign), {"file": _csv(b"")}, format="multipart")

    assert response.status_code == 400
    assert "file" in response.json()


def test_a_json_body_is_415(api, campaign):
    response = api.post(_imports(campaign), {"mode": "valid_rows"}, format="json")

    assert response.status_code == 415


def test_a_finished_import_reads_its_counts_and_downloads_its_error_report(api, tenant, campaign):
    made = _finished_import(tenant, campaign)
    url = f"{_imports(campaign)}/{made.code}"

    listed = api.get(_imports(campaign)).json()
    progress = api.get(url).json()
    report = api.get(progress["errorReportUrl"])

    assert [row["id"] for row in listed] == [str(made.code)]
    assert progress["status"] == ImportStatus.SUCCEEDED
    assert progress["percent"] == 100
    assert (progress["rowsRead"], progress["rowsImported"], progress["rowsRefused"]) == (2, 1, 1)
    assert progress["errorReportUrl"] == f"{url}/errors.csv"
    assert report.status_code == 200
    assert report["Content-Type"].startswith("text/csv")
    assert "attachment" in report["Content-Disposition"]
    assert b"nonsense" in b"".join(report.streaming_content)


def test_an_import_without_refused_rows_has_no_report_and_says_so(api, tenant, campaign):
    made = contact_import_create(tenant=tenant, campaign=campaign, upload=_csv(), actor=SYSTEM)

    response = api.get(f"{_imports(campaign)}/{made.code}/errors.csv")

    assert response.status_code == 404
    assert "no error report" in response.json()["detail"]


def test_another_campaigns_import_is_404_under_this_campaign(api, tenant, campaign, make_campaign):
    made = _finished_import(tenant, make_campaign(tenant, name="Other"))

    detail = api.get(f"{_imports(campaign)}/{made.code}")
    report = api.get(f"{_imports(campaign)}/{made.code}/errors.csv")

    assert detail.status_code == 404
    assert report.status_code == 404


def test_a_cancelled_campaign_takes_no_import_409(api, tenant, campaign):
    campaign_cancel(tenant=tenant, campaign=campaign)

    response = api.post(_imports(campaign), {"file": _csv()}, format="multipart")

    assert response.status_code == 409
    assert not ContactImport.objects.for_tenant(tenant).exists()


def test_a_csv_larger_than_a_json_body_may_be_is_accepted(api, tenant, campaign, settings):
    # A contact list is far larger than any JSON body (DATA_UPLOAD_MAX_MEMORY_SIZE); the import's own
    # limit (CONTACT_IMPORT_MAX_BYTES) applies to it instead.
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    rows = b"".join(b"+1415555%04d,Person %d,P\n" % (i, i) for i in range(1000))
    text = b"phone,name,first_name\n" + rows

    response = api.post(_imports(campaign), {"file": _csv(text)}, format="multipart")

    assert len(text) > 20_000
    assert response.status_code == 202, response.json()
    assert response.json()["sizeBytes"] == len(text)


def test_a_file_over_the_import_limit_is_a_clear_error(api, tenant, campaign, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 2_000
    text = b"phone,name,first_name\n" + b"+14155550100,Person,P\n" * 200

    response = api.post(_imports(campaign), {"file": _csv(text)}, format="multipart")

    assert response.status_code in (400, 413)
    assert not ContactImport.objects.for_tenant(tenant).exists()


def test_an_upload_far_over_every_limit_is_refused_before_it_is_read(api, tenant, campaign, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000
    settings.CONTACT_IMPORT_MAX_BYTES = 1_000
    text = b"phone,name,first_name\n" + b"+14155550100,Person,P\n" * 200

    response = api.post(_imports(campaign), {"file": _csv(text)}, format="multipart")

    assert response.status_code == 413
    assert response.json()["problems"] == ["body: larger than the 2000 bytes this API accepts."]
    assert not ContactImport.objects.for_tenant(tenant).exists()
