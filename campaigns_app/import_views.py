"""Portal pages of contact imports: the upload form, the import's page with its htmx progress bar
(polling a partial while the Celery task runs) and the refused rows' report as a CSV download."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET

from campaigns_app import importer, selectors, services
from campaigns_app.forms import ContactImportForm
from campaigns_app.models import ContactImport
from campaigns_app.views import conflict_message
from voiceplatform.actor import Actor
from voiceplatform.models import Membership
from voiceplatform.portal import apply_errors, portal_view

# Where the importer's field names land on the form (the column map has three fields of its own).
_IMPORTER_FIELDS = {"column_map": "number_column"}


def _progress_context(contact_import: ContactImport) -> dict[str, object]:
    return {"imp": contact_import, "percent": importer.import_percent(contact_import)}


@portal_view(write=True)
def import_create(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    tenant = membership.tenant
    campaign = selectors.campaign_get(tenant=tenant, code=code)
    is_post = request.method == "POST"  # a POST with no field at all is still a (bad) upload
    form = ContactImportForm(request.POST if is_post else None, request.FILES if is_post else None)
    status = 200
    if form.is_bound and form.is_valid():
        try:
            created = importer.contact_import_create(
                tenant=tenant, campaign=campaign, actor=Actor(user=request.user), **form.importer_kwargs()
            )
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                error = ValidationError(
                    {_IMPORTER_FIELDS.get(name, name): messages_ for name, messages_ in error.message_dict.items()}
                )
            apply_errors(form, error)
        except services.CampaignStateConflict as conflict:
            conflict_message(request, conflict)
            status = 409
        else:
            messages.success(request, f"{created.original_name or 'The file'} was uploaded; the import has started.")
            return redirect("campaigns-import-detail", code=created.code)
    if form.errors:
        status = 400
    context = {"campaign": campaign, "form": form}
    return render(request, "campaigns_app/import_form.html", context, status=status)


@require_GET
@portal_view()
def import_detail(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    tenant = membership.tenant
    contact_import = selectors.import_get_by_code(tenant=tenant, code=code)
    context = {"campaign": contact_import.campaign, **_progress_context(contact_import)}
    with timezone.override(tenant.timezone):
        return render(request, "campaigns_app/import_detail.html", context)


@require_GET
@portal_view()
def import_progress(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    """The progress partial the import's page polls every second until the import has finished."""
    contact_import = selectors.import_get_by_code(tenant=membership.tenant, code=code)
    return render(request, "campaigns_app/_import_progress.html", _progress_context(contact_import))


@require_GET
@portal_view()
def import_error_report(request: HttpRequest, membership: Membership, code: str) -> FileResponse:
    """The refused rows (line, value, reason) as the CSV the import wrote; 404 when there is none."""
    contact_import = selectors.import_get_by_code(tenant=membership.tenant, code=code)
    if not contact_import.error_report:
        raise Http404
    try:
        handle = contact_import.error_report.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    return FileResponse(
        handle,
        as_attachment=True,
        filename=f"import-{contact_import.code}-errors.csv",
        content_type="text/csv; charset=utf-8",
    )
