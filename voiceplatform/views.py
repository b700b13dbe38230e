"""Portal pages for the tenant shell (dashboard, members, API keys, credentials) and /health."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth.forms import SetPasswordForm
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from voiceplatform import selectors, services
from voiceplatform.forms import ApiKeyForm, CredentialForm, InviteForm, RoleForm
from voiceplatform.models import Invitation, Membership, ProviderCredential
from voiceplatform.portal import SESSION_TENANT_KEY, apply_errors, portal_view

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
    if request.method == "POST" and form.is_valid():
        try:
            created = services.invitation_create(
                tenant=tenant, email=form.cleaned_data["email"], role=form.cleaned_data["role"], actor=membership
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            # Word for word the same whether or not the address has an account anywhere.
            email, days = created.invitation.email, settings.INVITATION_MAX_AGE_DAYS
            if created.is_email_sent:
                messages.success(request, f"Invitation sent to {email}. The link works for {days} days.")
            else:
                messages.error(
                    request,
                    f"The invitation to {email} is saved, but the email could not be sent (the mail server "
                    "did not take it). Revoke it below and invite again later.",
                )
            return redirect("tenancy-member-list")
    context = {
        "members": selectors.membership_list(tenant=tenant),
        "invitations": selectors.invitation_list_pending(tenant=tenant, now=timezone.now()),
        "form": form,
        "role_form": RoleForm(),
    }
    return render(request, "portal/members.html", context, status=400 if form.errors else 200)


@require_POST
@portal_view(manage=True)
def invitation_revoke(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    invitation = selectors.invitation_get(tenant=membership.tenant, code=code)
    services.invitation_revoke(tenant=membership.tenant, invitation=invitation)
    messages.success(request, f"The invitation to {invitation.email} was revoked; its link no longer works.")
    return redirect("tenancy-member-list")


@never_cache
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """The invitee's page: accept with the account they are logged in with, or create one."""
    try:
        invitation = services.invitation_from_token(token=token)
    except services.InvitationUnusable as exc:
        return render(request, "registration/invitation_unusable.html", {"reason": exc.reason}, status=410)
    context: dict[str, object] = {"invitation": invitation}
    if request.user.is_authenticated:
        return _invitation_accept_logged_in(request, invitation, context)
    if services.user_account_exists(email=invitation.email):
        context["mode"] = "log_in"
        return render(request, "registration/invitation.html", context)
    return _invitation_accept_new_user(request, invitation, context)


def _invitation_accept_logged_in(request: HttpRequest, invitation: Invitation, context: dict) -> HttpResponse:
    if (request.user.email or "").lower() != invitation.email:
        context["mode"] = "wrong_account"
        return render(request, "registration/invitation.html", context, status=403)
    context["mode"] = "accept"
    if request.method != "POST":
        return render(request, "registration/invitation.html", context)
    try:
        services.invitation_accept(invitation=invitation, user=request.user)
    except services.InvitationUnusable as exc:
        return render(request, "registration/invitation_unusable.html", {"reason": exc.reason}, status=410)
    return _joined(request, invitation)


def _invitation_accept_new_user(request: HttpRequest, invitation: Invitation, context: dict) -> HttpResponse:
    user_model = get_user_model()
    form = SetPasswordForm(user_model(username=invitation.email, email=invitation.email), request.POST or None)
    context.update(mode="new_user", form=form)
    if request.method == "POST" and form.is_valid():
        try:
            user = services.invitation_accept_new_user(
                invitation=invitation, password=form.cleaned_data["new_password1"]
            )
        except services.InvitationUnusable as exc:
            return render(request, "registration/invitation_unusable.html", {"reason": exc.reason}, status=410)
        except ValidationError as error:
            apply_errors(form, error)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return _joined(request, invitation)
    return render(request, "registration/invitation.html", context, status=400 if form.errors else 200)


def _joined(request: HttpRequest, invitation: Invitation) -> HttpResponse:
    request.session[SESSION_TENANT_KEY] = str(invitation.tenant.code)
    messages.success(request, f"Welcome to {invitation.tenant.name}: you joined as {invitation.get_role_display()}.")
    return redirect("portal-dashboard")


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
            apply_errors(form, error)
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


def login_locked_out(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict | None = None
) -> HttpResponse:
    """django-axes' lockout answer: 429, Retry-After and a page saying how long to wait."""
    minutes = settings.LOGIN_LOCKOUT_MINUTES
    context = {"minutes": minutes, "is_admin": request.path.startswith("/admin/")}
    response = render(request, "registration/locked_out.html", context, status=429)
    # Each refused attempt restarts the wait (AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT).
    response["Retry-After"] = str(minutes * 60)
    return response


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    reason = str(exception) if exception and str(exception) else "You do not have permission to do that."
    return render(request, "403.html", {"reason": reason}, status=403)
