"""Portal pages of the tenant's do-not-call list and consent ledger: search a number (its whole
history and whether it is blocked / consented now), add, remove, grant, revoke, bulk upload, and
the ledger newest first. Every change is a new row; no page edits or deletes one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from campaigns_app import contact_rows, importer, selectors, services
from campaigns_app.forms import (
    ConsentGrantForm,
    ConsentRevokeForm,
    DncAddForm,
    DncRemoveForm,
    DncUploadForm,
    NumberSearchForm,
)
from campaigns_app.models import ConsentSource, DncSource
from voiceplatform.actor import Actor
from voiceplatform.cursor import BadCursor, CursorPage, cursor_page
from voiceplatform.models import Membership, Tenant
from voiceplatform.portal import apply_errors, portal_view

ROWS_PER_PAGE = 50


def normalized_number(form: forms.Form, field: str = "number", country_field: str = "country") -> str | None:
    """The form's number in E.164 (national numbers with the form's country), or None with a form error."""
    country = form.cleaned_data.get(country_field, "") if country_field in form.fields else ""
    try:
        return contact_rows.normalize_number(form.cleaned_data[field], country)
    except contact_rows.RowError as error:
        form.add_error(field, f"{error.value!r}: {error.reason}.")
        return None


def _ledger_page(request: HttpRequest, rows: QuerySet[Any]) -> CursorPage:
    """The ledger newest first, one keyset page; a cursor that is not ours shows the first page."""
    try:
        return cursor_page(
            rows, cursor=request.GET.get("cursor", ""), keys=("created_at", "id"), descending=True, size=ROWS_PER_PAGE
        )
    except BadCursor:
        messages.info(request, "That page link was not valid; this is the first page.")
        return cursor_page(rows, cursor="", keys=("created_at", "id"), descending=True, size=ROWS_PER_PAGE)


def _search(request: HttpRequest, *, tenant: Tenant, lookup: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """The search form from ?number=&country=, and for a valid number what `lookup` says about it."""
    if "number" not in request.GET:
        return {"search": NumberSearchForm(), "number": None}
    search = NumberSearchForm(request.GET)
    number = normalized_number(search) if search.is_valid() else None
    return {"search": search, "number": number, **(lookup(number) if number else {})}


def _query_without_cursor(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("cursor", None)
    return query.urlencode()


def _after_write(url_name: str, number: str) -> HttpResponse:
    """Back to the ledger page, showing the number's history (which now ends with the new row)."""
    return redirect(f"{reverse(url_name)}?{urlencode({'number': number})}")


# Do not call ----------------------------------------------------------------------------------


def _dnc_page(request: HttpRequest, membership: Membership, status: int = 200, **forms_: Any) -> HttpResponse:
    tenant = membership.tenant

    def lookup(number: str) -> dict[str, Any]:
        return {
            "deciding": selectors.dnc_entry_deciding(tenant=tenant, number=number),
            "history": list(selectors.dnc_history(tenant=tenant, number=number)),
        }

    context = {
        **_search(request, tenant=tenant, lookup=lookup),
        "add_form": DncAddForm(),
        "remove_form": None,
        "upload_form": DncUploadForm(),
        "page": _ledger_page(request, selectors.dnc_list(tenant=tenant)),
        "query": _query_without_cursor(request),
        "tenant_zone": tenant.timezone,
        **forms_,
    }
    if context.get("deciding") is not None and context["remove_form"] is None:
        context["remove_form"] = DncRemoveForm(initial={"number": context["number"]})
    with timezone.override(tenant.timezone):
        return render(request, "campaigns_app/dnc.html", context, status=status)


@require_GET
@portal_view()
def dnc_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    return _dnc_page(request, membership)


@require_POST
@portal_view(write=True)
def dnc_add(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = DncAddForm(request.POST)
    number = normalized_number(form) if form.is_valid() else None
    if number is not None:
        try:
            written = services.dnc_add(
                tenant=membership.tenant,
                number=number,
                reason=form.cleaned_data["reason"],
                source=DncSource.MANUAL,
                actor=Actor(user=request.user),
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            if written.created:
                messages.success(request, f"{number} is on the do-not-call list; no campaign will call it.")
            else:
                messages.info(request, f"{number} was already on the do-not-call list; nothing changed.")
            return _after_write("dnc-entry-list", number)
    return _dnc_page(request, membership, status=400, add_form=form)


@require_POST
@portal_view(write=True)
def dnc_remove(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = DncRemoveForm(request.POST)
    number = normalized_number(form, country_field="") if form.is_valid() else None
    if number is not None:
        try:
            services.dnc_remove(
                tenant=membership.tenant,
                number=number,
                reason=form.cleaned_data["reason"],
                actor=Actor(user=request.user),
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, f"{number} was taken off the do-not-call list (the history keeps both events).")
            return _after_write("dnc-entry-list", number)
    return _dnc_page(request, membership, status=400, remove_form=form)


@require_POST
@portal_view(write=True)
def dnc_upload(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = DncUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            result = importer.dnc_upload(
                tenant=membership.tenant,
                upload=form.cleaned_data["file"],
                default_country=form.cleaned_data["default_country"],
                reason=form.cleaned_data["reason"],
                actor=Actor(user=request.user),
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            return _dnc_page(request, membership, upload_form=DncUploadForm(), upload_result=result)
    return _dnc_page(request, membership, status=400, upload_form=form)


# Consents -------------------------------------------------------------------------------------


def _consent_page(request: HttpRequest, membership: Membership, status: int = 200, **forms_: Any) -> HttpResponse:
    tenant = membership.tenant

    def lookup(number: str) -> dict[str, Any]:
        return {
            "deciding": selectors.consent_deciding(tenant=tenant, number=number),
            "history": list(selectors.consent_history(tenant=tenant, number=number)),
        }

    context = {
        **_search(request, tenant=tenant, lookup=lookup),
        "grant_form": ConsentGrantForm(),
        "revoke_form": None,
        "page": _ledger_page(request, selectors.consent_list(tenant=tenant)),
        "query": _query_without_cursor(request),
        "tenant_zone": tenant.timezone,
        **forms_,
    }
    if context.get("deciding") is not None and context["revoke_form"] is None:
        context["revoke_form"] = ConsentRevokeForm(initial={"number": context["number"]})
    with timezone.override(tenant.timezone):
        return render(request, "campaigns_app/consents.html", context, status=status)


@require_GET
@portal_view()
def consent_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    return _consent_page(request, membership)


@require_POST
@portal_view(write=True)
def consent_grant(request: HttpRequest, membership: Membership) -> HttpResponse:
    tenant = membership.tenant
    with timezone.override(tenant.timezone):  # a typed time is the tenant's local time
        form = ConsentGrantForm(request.POST)
        valid = form.is_valid()
    number = normalized_number(form) if valid else None
    if number is not None:
        try:
            services.consent_grant(
                tenant=tenant,
                number=number,
                evidence=form.cleaned_data["evidence"],
                kind=form.cleaned_data["kind"],
                source=form.cleaned_data["source"] or ConsentSource.MANUAL,
                granted_at=form.cleaned_data["granted_at"],
                actor=Actor(user=request.user),
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, f"Consent of {number} was recorded.")
            return _after_write("consents-consent-list", number)
    return _consent_page(request, membership, status=400, grant_form=form)


@require_POST
@portal_view(write=True)
def consent_revoke(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = ConsentRevokeForm(request.POST)
    number = normalized_number(form, country_field="") if form.is_valid() else None
    if number is not None:
        try:
            services.consent_revoke(
                tenant=membership.tenant,
                number=number,
                evidence=form.cleaned_data["evidence"],
                actor=Actor(user=request.user),
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, f"Consent of {number} was revoked; campaigns that require consent skip it.")
            return _after_write("consents-consent-list", number)
    return _consent_page(request, membership, status=400, revoke_form=form)
