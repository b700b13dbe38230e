"""Portal pages for webhooks: endpoints (list, add, edit, delete, rotate, test) and the delivery log."""

from __future__ import annotations

import json
import re

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from voiceplatform.models import Membership
from voiceplatform.portal import apply_errors, portal_view
from voiceplatform.webhooks import selectors, services
from voiceplatform.webhooks.forms import WebhookEndpointForm
from voiceplatform.webhooks.models import WebhookDelivery, WebhookEndpoint

DELIVERIES_PER_PAGE = 50
_ID = re.compile(r"[1-9][0-9]{0,18}")


def _secret_shown_once(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    return response


@portal_view()
def endpoint_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    tenant = membership.tenant
    context = {
        "endpoints": selectors.endpoint_list(tenant=tenant),
        "auto_disabled": selectors.endpoints_disabled_automatically(tenant=tenant),
    }
    return render(request, "webhooks/endpoint_list.html", context)


@portal_view(manage=True)
def endpoint_create(request: HttpRequest, membership: Membership) -> HttpResponse:
    form = WebhookEndpointForm(request.POST or None, initial={"is_enabled": True})
    if request.method == "POST" and form.is_valid():
        try:
            endpoint, secret = services.endpoint_create(tenant=membership.tenant, **form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, "Webhook endpoint added.")
            return _secret_shown_once(_detail(request, membership, endpoint, secret=secret))
    return render(request, "webhooks/endpoint_form.html", {"form": form}, status=400 if form.errors else 200)


def _page(request: HttpRequest, membership: Membership, endpoint: WebhookEndpoint) -> dict[str, object]:
    """One keyset page of the endpoint's deliveries, newest first: `before`/`after` a delivery's id."""
    deliveries = selectors.delivery_list(tenant=membership.tenant, endpoint=endpoint)
    before, after = request.GET.get("before", ""), request.GET.get("after", "")
    if after and _ID.fullmatch(after):
        rows = list(deliveries.filter(id__gt=int(after)).order_by("id")[: DELIVERIES_PER_PAGE + 1])
        has_newer, has_older = len(rows) > DELIVERIES_PER_PAGE, True
        rows = list(reversed(rows[:DELIVERIES_PER_PAGE]))
    else:
        if before and _ID.fullmatch(before):
            deliveries = deliveries.filter(id__lt=int(before))
        rows = list(deliveries[: DELIVERIES_PER_PAGE + 1])
        has_newer, has_older = bool(before and _ID.fullmatch(before)), len(rows) > DELIVERIES_PER_PAGE
        rows = rows[:DELIVERIES_PER_PAGE]
    return {
        "deliveries": rows,
        "newer": rows[0].pk if rows and has_newer else None,
        "older": rows[-1].pk if rows and has_older else None,
    }


def _detail(
    request: HttpRequest, membership: Membership, endpoint: WebhookEndpoint, *, secret: str = ""
) -> HttpResponse:
    context = {"endpoint": endpoint, "secret": secret, **_page(request, membership, endpoint)}
    return render(request, "webhooks/endpoint_detail.html", context)


@portal_view()
def endpoint_detail(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    return _detail(request, membership, selectors.endpoint_get(tenant=membership.tenant, code=code))


@portal_view(manage=True)
def endpoint_edit(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    endpoint = selectors.endpoint_get(tenant=membership.tenant, code=code)
    initial = {
        "url": endpoint.url,
        "description": endpoint.description,
        "event_types": endpoint.event_types,
        "is_enabled": endpoint.is_enabled,
    }
    form = WebhookEndpointForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.endpoint_update(tenant=membership.tenant, endpoint=endpoint, **form.cleaned_data)
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, "Webhook endpoint saved.")
            return redirect("tenancy-webhook-detail", code=endpoint.code)
    context = {"form": form, "endpoint": endpoint}
    return render(request, "webhooks/endpoint_form.html", context, status=400 if form.errors else 200)


@require_POST
@portal_view(manage=True)
def endpoint_delete(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    endpoint = selectors.endpoint_get(tenant=membership.tenant, code=code)
    services.endpoint_delete(tenant=membership.tenant, endpoint=endpoint)
    messages.success(request, f"Webhook endpoint {endpoint.url} deleted.")
    return redirect("tenancy-webhook-list")


@require_POST
@portal_view(manage=True)
def endpoint_rotate(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    endpoint = selectors.endpoint_get(tenant=membership.tenant, code=code)
    endpoint, secret = services.endpoint_rotate_secret(tenant=membership.tenant, endpoint=endpoint)
    messages.success(request, "New signing secret made. The previous one also signs for 24 hours.")
    return _secret_shown_once(_detail(request, membership, endpoint, secret=secret))


@require_POST
@portal_view(manage=True)
def endpoint_test(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    endpoint = selectors.endpoint_get(tenant=membership.tenant, code=code)
    services.delivery_send_test(tenant=membership.tenant, endpoint=endpoint)
    messages.success(request, "Test event queued; it appears in the delivery log below.")
    return redirect("tenancy-webhook-detail", code=endpoint.code)


@portal_view()
def delivery_detail(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    delivery: WebhookDelivery = selectors.delivery_get(tenant=membership.tenant, code=code)
    context = {
        "delivery": delivery,
        "attempts": selectors.attempt_list(tenant=membership.tenant, delivery=delivery),
        "body": json.dumps(json.loads(delivery.body), indent=2, ensure_ascii=False),
    }
    return render(request, "webhooks/delivery_detail.html", context)


@require_POST
@portal_view(manage=True)
def delivery_redeliver(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    delivery = selectors.delivery_get(tenant=membership.tenant, code=code)
    try:
        services.delivery_redeliver(tenant=membership.tenant, delivery=delivery)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, "Redelivery queued.")
    return redirect("tenancy-webhook-detail", code=delivery.endpoint.code)
