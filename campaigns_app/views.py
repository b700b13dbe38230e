"""Portal pages of campaigns: the list with progress, the create/edit form, the detail page with its
status buttons, the contacts table and the audit export. access -> form -> service -> render.
Contact imports are in import_views.py, the do-not-call and consent ledgers in ledger_views.py."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from agents_app.selectors import agent_list
from agents_app.validation import WEEKDAYS
from campaigns_app import audit, selectors, services
from campaigns_app.forms import CampaignFilterForm, CampaignForm, ContactFilterForm
from campaigns_app.live_views import live_context, preview_context
from campaigns_app.models import Campaign, CampaignStatus
from campaigns_app.services import CAMPAIGN_FIELDS
from telephony_app.selectors import phone_number_list
from voiceplatform.cursor import BadCursor, cursor_page
from voiceplatform.models import Membership, Tenant
from voiceplatform.portal import apply_errors, portal_view

CAMPAIGNS_PER_PAGE = 50
CONTACTS_PER_PAGE = 50
IMPORTS_ON_DETAIL = 10
# The badge each status wears (portal.css: ok = green, off = grey, plain = blue).
STATUS_BADGES = {
    CampaignStatus.DRAFT: "off",
    CampaignStatus.SCHEDULED: "",
    CampaignStatus.RUNNING: "ok",
    CampaignStatus.PAUSED: "off",
    CampaignStatus.COMPLETED: "ok",
    CampaignStatus.CANCELLED: "off",
}


def conflict_message(request: HttpRequest, conflict: services.CampaignStateConflict) -> None:
    """A refused status change as one error line: the message, then what to do about it."""
    messages.error(request, " ".join([conflict.message, *conflict.problems]))


def window_rows(campaign: Campaign) -> list[tuple[str, str]]:
    """(weekday, "09:00-12:00, 13:00-17:00" or "No calls") for the detail page."""
    window = campaign.calling_window if isinstance(campaign.calling_window, dict) else {}
    rows = []
    for day in WEEKDAYS:
        ranges = window.get(day) or []
        text = ", ".join(f"{item.get('start')}-{item.get('end')}" for item in ranges if isinstance(item, dict))
        rows.append((day.title(), text or "No calls"))
    return rows


# List -----------------------------------------------------------------------------------------


@require_GET
@portal_view()
def campaign_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    tenant = membership.tenant
    filters = CampaignFilterForm(request.GET)
    criteria = filters.selector_kwargs()
    campaigns = selectors.campaign_list(tenant=tenant, **criteria)
    page = Paginator(campaigns, CAMPAIGNS_PER_PAGE).get_page(request.GET.get("page"))
    counts = selectors.contact_counts(tenant=tenant, campaigns=page)
    rows = [(campaign, counts[campaign.pk], STATUS_BADGES[campaign.status]) for campaign in page]
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "rows": rows,
        "page": page,
        "filters": filters,
        "is_filtered": any(criteria.values()),
        "query": query.urlencode(),
    }
    return render(request, "campaigns_app/campaign_list.html", context)


# Create and edit ------------------------------------------------------------------------------


def _form(request: HttpRequest, tenant: Tenant, campaign: Campaign | None) -> CampaignForm:
    return CampaignForm(
        request.POST if request.method == "POST" else None,
        agents=agent_list(tenant=tenant),
        numbers=phone_number_list(tenant=tenant),
        current=campaign,
        initial=CampaignForm.initial_for(campaign),
    )


def _render_form(
    request: HttpRequest, form: CampaignForm, campaign: Campaign | None, *, status: int = 200
) -> HttpResponse:
    context = {
        "form": form,
        "campaign": campaign,
        # The menus hold a placeholder plus what can be chosen; with nothing to choose, the page says where to start.
        "no_agent": len(form.fields["agent"].widget.choices) < 2,
        "no_number": len(form.fields["caller_id"].widget.choices) < 2,
    }
    return render(request, "campaigns_app/campaign_form.html", context, status=400 if form.errors else status)


def _report_every_problem(form: CampaignForm, *, tenant: Tenant, campaign: Campaign | None) -> None:
    """A form that failed on some fields still gets the service's verdict on the others, so one save
    shows every mistake instead of one round at a time."""
    readable = {name: form.cleaned_data[name] for name in CAMPAIGN_FIELDS if name in form.cleaned_data}
    draft = copy.copy(campaign) if campaign is not None else Campaign(tenant=tenant)
    for name, value in readable.items():
        setattr(draft, name, value)
    for name, problems in services.campaign_problems(tenant=tenant, campaign=draft).items():
        if name in readable and name not in form.errors:
            form.add_error(name, problems)


def _validated(form: CampaignForm, *, tenant: Tenant, campaign: Campaign | None) -> bool:
    if not form.is_bound:
        return False
    if form.is_valid():
        return True
    _report_every_problem(form, tenant=tenant, campaign=campaign)
    return False


@portal_view(write=True)
def campaign_create(request: HttpRequest, membership: Membership) -> HttpResponse:
    tenant = membership.tenant
    form = _form(request, tenant, None)
    if _validated(form, tenant=tenant, campaign=None):
        try:
            campaign = services.campaign_create(tenant=tenant, fields=form.service_fields())
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, f"Campaign {campaign.name} was created as a draft. Import its contacts next.")
            return redirect("campaigns-campaign-detail", code=campaign.code)
    return _render_form(request, form, None)


@portal_view(write=True)
def campaign_edit(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    tenant = membership.tenant
    campaign = selectors.campaign_get(tenant=tenant, code=code)
    form = _form(request, tenant, campaign)
    if _validated(form, tenant=tenant, campaign=campaign):
        try:
            campaign = services.campaign_update(tenant=tenant, campaign=campaign, fields=form.service_fields())
        except ValidationError as error:
            apply_errors(form, error)
        except services.CampaignStateConflict as conflict:
            conflict_message(request, conflict)
            return _render_form(request, form, campaign, status=409)
        else:
            messages.success(request, f"Campaign {campaign.name} was saved.")
            return redirect("campaigns-campaign-detail", code=campaign.code)
    return _render_form(request, form, campaign)


# Detail and status buttons --------------------------------------------------------------------


@require_GET
@portal_view()
def campaign_detail(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    tenant = membership.tenant
    campaign = selectors.campaign_get(tenant=tenant, code=code)
    context = {
        **live_context(tenant=tenant, campaign=campaign),
        **preview_context(tenant=tenant, campaign=campaign),
        "badge": STATUS_BADGES[campaign.status],
        "window": window_rows(campaign),
        "imports": selectors.import_list(tenant=tenant, campaign=campaign)[:IMPORTS_ON_DETAIL],
        "can_start": campaign.status == CampaignStatus.DRAFT,
        "can_pause": campaign.status in (CampaignStatus.RUNNING, CampaignStatus.SCHEDULED),
        "can_resume": campaign.status == CampaignStatus.PAUSED,
        "tenant_zone": tenant.timezone,
    }
    with timezone.override(tenant.timezone):
        return render(request, "campaigns_app/campaign_detail.html", context)


def _change_status(
    request: HttpRequest, membership: Membership, code: str, change: Callable[..., Campaign], done: str
) -> HttpResponse:
    tenant = membership.tenant
    campaign = selectors.campaign_get(tenant=tenant, code=code)
    try:
        campaign = change(tenant=tenant, campaign=campaign)
    except services.CampaignStateConflict as conflict:
        conflict_message(request, conflict)
    else:
        messages.success(
            request, f"Campaign {campaign.name} {done}; it is now {campaign.get_status_display().lower()}."
        )
    return redirect("campaigns-campaign-detail", code=campaign.code)


@require_POST
@portal_view(write=True)
def campaign_start(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    return _change_status(request, membership, code, services.campaign_start, "was started")


@require_POST
@portal_view(write=True)
def campaign_pause(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    return _change_status(request, membership, code, services.campaign_pause, "was paused")


@require_POST
@portal_view(write=True)
def campaign_resume(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    return _change_status(request, membership, code, services.campaign_resume, "was resumed")


@require_POST
@portal_view(write=True)
def campaign_cancel(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    return _change_status(request, membership, code, services.campaign_cancel, "was cancelled")


@portal_view(write=True)
def campaign_delete(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    """GET asks for confirmation; POST deletes a campaign that never started (any other is cancelled instead)."""
    tenant = membership.tenant
    campaign = selectors.campaign_get(tenant=tenant, code=code)
    if request.method == "POST":
        try:
            services.campaign_delete(tenant=tenant, campaign=campaign)
        except services.CampaignStateConflict as conflict:
            conflict_message(request, conflict)
            return redirect("campaigns-campaign-detail", code=campaign.code)
        messages.success(request, f"Campaign {campaign.name} was deleted with its contacts.")
        return redirect("campaigns-campaign-list")
    return render(request, "campaigns_app/campaign_confirm_delete.html", {"campaign": campaign})


# Contacts and the audit export ----------------------------------------------------------------


@require_GET
@portal_view()
def contact_list(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    """The campaign's contacts, filtered, one keyset page at a time (no COUNT of the table)."""
    tenant = membership.tenant
    campaign = selectors.campaign_get(tenant=tenant, code=code)
    filters = ContactFilterForm(request.GET)
    criteria = filters.selector_kwargs()
    contacts = selectors.contact_list(tenant=tenant, campaign=campaign, **criteria)
    cursor = request.GET.get("cursor", "")
    try:
        page = cursor_page(contacts, cursor=cursor, keys=("id",), descending=False, size=CONTACTS_PER_PAGE)
    except BadCursor:  # an edited or stale link: start again at the first page
        messages.info(request, "That page link was not valid; this is the first page.")
        page = cursor_page(contacts, cursor="", keys=("id",), descending=False, size=CONTACTS_PER_PAGE)
    query = request.GET.copy()
    query.pop("cursor", None)
    context: dict[str, Any] = {
        "campaign": campaign,
        "filters": filters,
        "page": page,
        "query": query.urlencode(),
        "is_filtered": any(criteria.values()),
    }
    with timezone.override(tenant.timezone):
        return render(request, "campaigns_app/contact_list.html", context)


@require_GET
@portal_view()
def campaign_audit(request: HttpRequest, membership: Membership, code: str) -> StreamingHttpResponse:
    """Every contact with its status and reason, and every attempt, as a CSV streamed row by row."""
    tenant = membership.tenant
    campaign = selectors.campaign_get(tenant=tenant, code=code)
    response = StreamingHttpResponse(
        audit.audit_csv_stream(tenant=tenant, campaign=campaign), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{audit.audit_filename(campaign)}"'
    return response
