"""The contact import pages: the upload form and its errors, the import's page with its polling
progress partial, and the refused rows' report download."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from campaigns_app.models import Contact, ContactImport, ImportStatus
from campaigns_app.services import campaign_cancel
from campaigns_app.tasks import import_contacts


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def csv_file(text: str | bytes, name: str = "members.csv") -> SimpleUploadedFile:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


GOOD_AND_BAD = (
    "phone,name,plan\n(212) 555-0100,Ada Lovelace,gold\nnot a number,Bob,silver\n+13125550101,Grace Hopper,\n"
)


def _upload(client, campaign, text: str | bytes = GOOD_AND_BAD, **fields):
    data = {
        "file": csv_file(text),
        "default_country": "US",
        "mode": "valid_rows",
        "dnc_handling": "skip",
        "encoding": "auto",
        **fields,
    }
    return client.post(reverse("campaigns-import-create", kwargs={"code": campaign.code}), data)


def test_an_upload_queues_the_import_and_its_page_shows_progress_then_the_report(
    tenant, campaign, owner, client_for, django_capture_on_commit_callbacks
):
    client = client_for(owner)

    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = _upload(client, campaign)

    contact_import = ContactImport.objects.for_tenant(tenant).get()
    detail = reverse("campaigns-import-detail", kwargs={"code": contact_import.code})
    progress = reverse("campaigns-import-progress", kwargs={"code": contact_import.code})
    assert response.status_code == 302 and response["Location"] == detail
    assert len(queued) == 1  # the task is enqueued once the upload has committed
    assert contact_import.original_name == "members.csv"

    waiting = client.get(detail)
    assert waiting.status_code == 200
    assert f'hx-get="{progress}" hx-trigger="every 1s"' in waiting.text
    assert "Queued" in waiting.text

    import_contacts(contact_import.pk)  # what the worker runs for the queued task

    done = client.get(progress, headers={"HX-Request": "true"})
    assert done.status_code == 200
    assert "hx-trigger" not in done.text  # finished: the partial stops polling
    assert 'data-status="succeeded"' in done.text
    assert '<progress max="100" value="100"' in done.text
    assert "<dt>Rows read</dt><dd>3</dd>" in done.text
    assert "<dt>Imported</dt><dd>2</dd>" in done.text
    assert "<dt>Refused</dt><dd>1</dd>" in done.text
    errors_url = reverse("campaigns-import-errors", kwargs={"code": contact_import.code})
    assert errors_url in done.text

    report = client.get(errors_url)
    assert report.status_code == 200
    assert report["Content-Type"].startswith("text/csv")
    assert "attachment" in report["Content-Disposition"]
    body = b"".join(report.streaming_content).decode()
    assert "not a number" in body
    assert sorted(Contact.objects.for_tenant(tenant).values_list("number", flat=True)) == [
        "+12125550100",
        "+13125550101",
    ]


def test_the_campaign_page_lists_its_imports(tenant, campaign, owner, client_for):
    client = client_for(owner)
    _upload(client, campaign)
    contact_import = ContactImport.objects.for_tenant(tenant).get()

    page = client.get(reverse("campaigns-campaign-detail", kwargs={"code": campaign.code})).text

    assert reverse("campaigns-import-detail", kwargs={"code": contact_import.code}) in page
    assert "members.csv" in page


def test_an_all_or_nothing_import_that_fails_shows_why_and_writes_nothing(tenant, campaign, owner, client_for):
    client = client_for(owner)
    _upload(client, campaign, mode="all_or_nothing")
    contact_import = ContactImport.objects.for_tenant(tenant).get()

    import_contacts(contact_import.pk)
    page = client.get(reverse("campaigns-import-detail", kwargs={"code": contact_import.code})).text

    contact_import.refresh_from_db()
    assert contact_import.status == ImportStatus.FAILED
    assert contact_import.error and contact_import.error[:40] in page
    assert reverse("campaigns-import-errors", kwargs={"code": contact_import.code}) in page
    assert not Contact.objects.for_tenant(tenant).exists()


def test_an_import_without_refused_rows_has_no_report_to_download(tenant, campaign, owner, client_for):
    client = client_for(owner)
    _upload(client, campaign, text="phone,name\n+12125550100,Ada\n")
    contact_import = ContactImport.objects.for_tenant(tenant).get()
    import_contacts(contact_import.pk)

    response = client.get(reverse("campaigns-import-errors", kwargs={"code": contact_import.code}))

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("text", "fields", "field", "says"),
    [
        ("", {}, "file", "empty"),
        ("name,plan\nAda,gold\n", {}, "file", "No column of phone numbers"),
        ("phone,name\n+12125550100,Ada\n", {"number_column": "Mobile"}, "number_column", "Mobile"),
        ("phone,name\n+12125550100,Ada\n", {"default_country": "XX"}, "default_country", ""),
        ("phone,name\n+12125550100,Ada\n", {"mode": "sometimes"}, "mode", ""),
        ("phone,name\n+12125550100,Ada\n", {"dnc_handling": "ignore"}, "dnc_handling", ""),
        ("phone,name\n+12125550100,Ada\n", {"encoding": "ebcdic"}, "encoding", ""),
        (b"phone,name\n+12125550100,Ad\xe9\n", {"encoding": "utf-8"}, "encoding", "not UTF-8"),
    ],
)
def test_a_bad_upload_is_a_form_error_and_imports_nothing(
    text, fields, field, says, tenant, campaign, owner, client_for
):
    response = _upload(client_for(owner), campaign, text=text, **fields)

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert field in errors, dict(errors)
    assert says in " ".join(errors[field])
    assert not ContactImport.objects.for_tenant(tenant).exists()


def test_a_file_over_the_size_limit_is_refused_with_the_limit(tenant, campaign, owner, client_for, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 1024

    response = _upload(client_for(owner), campaign, text="phone\n" + "+12125550100\n" * 200)

    assert response.status_code == 400
    assert response.context["form"].errors["file"]
    assert not ContactImport.objects.for_tenant(tenant).exists()


def test_an_upload_far_over_the_limit_is_refused_before_it_is_stored(tenant, campaign, owner, client_for, settings):
    settings.CONTACT_IMPORT_MAX_BYTES = 1024
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024

    response = _upload(client_for(owner), campaign, text="phone\n" + "+12125550100\n" * 400)

    assert response.status_code == 413
    assert "too large" in response.text
    assert not ContactImport.objects.for_tenant(tenant).exists()


def test_a_missing_file_is_a_form_error(tenant, campaign, owner, client_for):
    response = client_for(owner).post(
        reverse("campaigns-import-create", kwargs={"code": campaign.code}),
        {"mode": "valid_rows", "dnc_handling": "skip", "encoding": "auto"},
    )

    assert response.status_code == 400
    assert "file" in response.context["form"].errors


def test_an_empty_post_is_a_form_error_not_the_blank_form(tenant, campaign, owner, client_for):
    response = client_for(owner).post(reverse("campaigns-import-create", kwargs={"code": campaign.code}), {})

    assert response.status_code == 400
    assert "file" in response.context["form"].errors


def test_a_cancelled_campaign_takes_no_upload(tenant, campaign, owner, client_for):
    campaign_cancel(tenant=tenant, campaign=campaign)

    response = _upload(client_for(owner), campaign)

    assert response.status_code == 409
    assert "campaign takes no more contacts" in response.text
    assert not ContactImport.objects.for_tenant(tenant).exists()


def test_a_viewer_cannot_upload_but_sees_the_import(tenant, campaign, owner, viewer, client_for):
    _upload(client_for(owner), campaign)
    contact_import = ContactImport.objects.for_tenant(tenant).get()
    client = client_for(viewer)

    refused = _upload(client, campaign)

    assert refused.status_code == 403
    assert ContactImport.objects.for_tenant(tenant).count() == 1
    for name in ("campaigns-import-detail", "campaigns-import-progress"):
        assert client.get(reverse(name, kwargs={"code": contact_import.code})).status_code == 200


def test_another_tenants_import_pages_are_404(tenant, other_tenant, other_campaign, owner, outsider, client_for):
    _upload(client_for(outsider), other_campaign)
    theirs = ContactImport.objects.for_tenant(other_tenant).get()
    import_contacts(theirs.pk)
    client = client_for(owner)

    for name in ("campaigns-import-detail", "campaigns-import-progress", "campaigns-import-errors"):
        assert client.get(reverse(name, kwargs={"code": theirs.code})).status_code == 404, name
    assert _upload(client, other_campaign).status_code == 404
