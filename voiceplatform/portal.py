"""Portal plumbing: the current tenant of a request, the access decorator and template context."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms import BaseForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from voiceplatform.logging import tenant_var
from voiceplatform.models import Membership, Role, Tenant
from voiceplatform.selectors import memberships_for_user
from voiceplatform.webhooks.selectors import endpoints_disabled_automatically

SESSION_TENANT_KEY = "current_tenant"


class CurrentTenantMiddleware:
    """Sets request.membership / request.tenant from the session's chosen tenant (or the first one).

    The tenant travels on the request object and is passed explicitly from there on; nothing
    global holds it.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.membership = None  # type: ignore[attr-defined]
        request.tenant = None  # type: ignore[attr-defined]
        if request.user.is_authenticated:
            memberships = list(memberships_for_user(user=request.user))
            request.memberships = memberships  # type: ignore[attr-defined]
            chosen = request.session.get(SESSION_TENANT_KEY)
            membership = next((m for m in memberships if str(m.tenant.code) == chosen), None)
            membership = membership or (memberships[0] if memberships else None)
            if membership is not None:
                request.membership = membership  # type: ignore[attr-defined]
                request.tenant = membership.tenant  # type: ignore[attr-defined]
                tenant_var.set(membership.tenant.slug)
        return self.get_response(request)


def portal_view(
    *, write: bool = False, manage: bool = False
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Log-in and role check for a portal view; the view receives (request, membership, ...)."""

    def decorator(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            membership: Membership | None = request.membership  # type: ignore[attr-defined]
            if membership is None:
                return render(request, "portal/no_tenant.html", status=403)
            unsafe = request.method not in ("GET", "HEAD", "OPTIONS")
            if manage and (unsafe or write) and not membership.can_manage:
                raise PermissionDenied("Only owners and admins can change this.")
            if (write or unsafe) and not membership.can_write:
                raise PermissionDenied("Viewers can look but not change anything.")
            return view(request, membership, *args, **kwargs)

        return wrapper

    return decorator


def apply_errors(form: BaseForm, error: ValidationError) -> None:
    """Put a service's errors on the form: each on its field when the form has it, else on the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for field, field_errors in error.message_dict.items():
        form.add_error(field if field in form.fields else None, field_errors)


def portal_context(request: HttpRequest) -> dict[str, Any]:
    tenant = getattr(request, "tenant", None)
    return {
        "current_membership": getattr(request, "membership", None),
        "current_tenant": tenant,
        "all_memberships": getattr(request, "memberships", []),
        "roles": Role.choices,
        # Called only by the page layout that shows it (one indexed count, ≤ 20 endpoints a tenant).
        "webhooks_disabled_automatically": functools.partial(_webhooks_disabled_automatically, tenant),
    }


def _webhooks_disabled_automatically(tenant: Tenant | None) -> int:
    """How many of the tenant's webhook endpoints the platform switched off after failed events: every
    portal page says so (the webhook pages themselves list them), so nobody misses that events stopped."""
    return endpoints_disabled_automatically(tenant=tenant).count() if tenant is not None else 0
