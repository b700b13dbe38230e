"""Portal pages for the tenant shell (dashboard, members, API keys, credentials) and /health."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from voiceplatform import selectors, services
from voiceplatform.forms import ApiKeyForm, CredentialForm, InviteForm, RoleForm
from voiceplatform.models import Membership, ProviderCredential
from voiceplatform.portal import SESSION_TENANT_KEY, portal_view

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """200 when the database and the cache answer; 503 naming what failed otherwise."""
    result = {"status": "ok", "database": "ok", "cache": "ok"}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:
        logger.exception("health: database check failed")
        result["database"] = "error"
    try:
        cache.set("health:ping", "1", timeout=5)
        if cache.get("health:ping") != "1":
            raise RuntimeError("cache returned a different value")
    except Exception:
        logger.exception("health: cache check failed")
        result["cache"] = "error"
    failed = [name for name in ("database", "cache") if result[name] != "ok"]
    if failed:
        result["status"] = "error"
    return JsonResponse(result, status=503 if failed else 200)


def _apply_errors(form: object, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, field_errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, field_errors)  # type: ignore[attr-defined]
    else:
        form.add_error(None, error.messages)  # type: ignore[attr-defined]


@portal_view()
def dashboard(request: HttpRequest, membership: Membership) -> HttpResponse:
    counts = selectors.dashboard_counts(tenant=membership.tenant)
    return render(request, "portal/dashboard.html", {"counts": counts})


@require_POST
@portal_view()
def tenant_switch(request: HttpRequest, membership: Membership) -> HttpResponse:
    code = request.POST.get("tenant", "")
    target = next((m for m in request.memberships if str(m.tenant.code) == code), None)  # type: ignore[attr-defined]
    if target is None:
        messages.error(request, "You are not a member of that tenant.")
    else:
        request.session[SESSION_TENANT_KEY] = str(target.tenant.code)
        messages.success(request, f"Switched to {target.tenant.name}.")
    return redirect("portal-dashboard")


# Members ------------------------------------------------------------------------------------


@portal_view(manage=True)
def member_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    tenant = membership.tenant
    form = InviteForm(request.POST or None)
    invite_link = None
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.membership_invite(
                tenant=tenant, email=form.cleaned_data["email"], role=form.cleaned_data["role"], actor=membership
            )
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            invite_link = invitation.set_password_url
            messages.success(request, f"{invitation.membership.user.email} is now a member.")
            form = InviteForm()
    status = 400 if form.errors else 200
    context = {
        "members": selectors.membership_list(tenant=tenant),
        "form": form,
        "invite_link": invite_link,
        "role_form": RoleForm(),
    }
    return render(request, "portal/members.html", context, status=status)


@require_POST
@portal_view(manage=True)
def member_role(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    target = selectors.membership_get(tenant=membership.tenant, code=code)
    form = RoleForm(request.POST)
    error = None
    if form.is_valid():
        try:
            target = services.membership_change_role(
                tenant=membership.tenant, membership=target, role=form.cleaned_data["role"], actor=membership
            )
        except ValidationError as exc:
            error = " ".join(exc.messages)
    else:
        error = " ".join(form.errors.get("role", ["Choose a valid role."]))
    if request.headers.get("HX-Request"):
        context = {"member": target, "row_error": error, "current_membership": membership}
        return render(request, "portal/_member_row.html", context, status=400 if error else 200)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"{target.user.email} is now {target.get_role_display()}.")
    return redirect("tenancy-member-list")


@require_POST
@portal_view(manage=True)
def member_remove(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    target = selectors.membership_get(tenant=membership.tenant, code=code)
    try:
        services.membership_remove(tenant=membership.tenant, membership=target, actor=membership)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"{target.user.email} was removed.")
    return redirect("tenancy-member-list")


# API keys -----------------------------------------------------------------------------------


@portal_view(manage=True)
def api_key_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    tenant = membership.tenant
    form = ApiKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        _api_key, new_key = services.api_key_create(
            tenant=tenant, name=form.cleaned_data["name"], created_by=request.user
        )
        form = ApiKeyForm()
    context = {"api_keys": selectors.api_key_list(tenant=tenant), "form": form, "new_key": new_key}
    response = render(request, "portal/api_keys.html", context, status=400 if form.errors else 200)
    if new_key:
        response["Cache-Control"] = "no-store"  # the only time the key is shown
    return response


@require_POST
@portal_view(manage=True)
def api_key_revoke(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    api_key = selectors.api_key_get(tenant=membership.tenant, code=code)
    services.api_key_revoke(tenant=membership.tenant, api_key=api_key)
    if request.headers.get("HX-Request"):
        return render(request, "portal/_api_key_row.html", {"key": api_key, "current_membership": membership})
    messages.success(request, f"Key {api_key.name} was revoked.")
    return redirect("tenancy-apikey-list")


# Provider credentials -----------------------------------------------------------------------


@portal_view(manage=True)
def credential_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    tenant = membership.tenant
    form = CredentialForm(request.POST or None, initial={"provider": request.GET.get("provider")})
    if request.method == "POST" and form.is_valid():
        try:
            credential = services.credential_set(tenant=tenant, **form.cleaned_data)
        except ValidationError as error:
            _apply_errors(form, error)
        else:
            messages.success(
                request, f"{credential.get_provider_display()} credential saved ({credential.masked_secret})."
            )
            return redirect("tenancy-credential-list")
    credentials = selectors.credential_list(tenant=tenant)
    context = {"credentials": credentials, "form": form, "configured": {c.provider for c in credentials}}
    return render(request, "portal/credentials.html", context, status=400 if form.errors else 200)


@require_POST
@portal_view(manage=True)
def credential_delete(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    credential: ProviderCredential = selectors.credential_get(tenant=membership.tenant, code=code)
    services.credential_delete(tenant=membership.tenant, credential=credential)
    messages.success(request, f"{credential.get_provider_display()} credential deleted.")
    return redirect("tenancy-credential-list")


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    reason = str(exception) if exception and str(exception) else "You do not have permission to do that."
    return render(request, "403.html", {"reason": reason}, status=403)
