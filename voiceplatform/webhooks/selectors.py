"""Reads for webhooks; every lookup takes the tenant explicitly and 404s alike for "not yours"."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from voiceplatform.models import Tenant
from voiceplatform.selectors import get_or_404
from voiceplatform.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


def endpoint_list(*, tenant: Tenant) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.for_tenant(tenant).order_by("-created_at")


def endpoint_get(*, tenant: Tenant, code: uuid.UUID | str) -> WebhookEndpoint:
    return get_or_404(WebhookEndpoint.objects.for_tenant(tenant), code)


def endpoints_disabled_automatically(*, tenant: Tenant) -> QuerySet[WebhookEndpoint]:
    return endpoint_list(tenant=tenant).filter(is_enabled=False, disabled_at__isnull=False)


def delivery_list(*, tenant: Tenant, endpoint: WebhookEndpoint | None = None) -> QuerySet[WebhookDelivery]:
    """Newest first (by id: cursor pagination reads one index range a page, never a count)."""
    deliveries = WebhookDelivery.objects.for_tenant(tenant).select_related("endpoint")
    if endpoint is not None:
        deliveries = deliveries.filter(endpoint=endpoint)
    return deliveries.order_by("-id")


def delivery_get(*, tenant: Tenant, code: uuid.UUID | str) -> WebhookDelivery:
    return get_or_404(WebhookDelivery.objects.for_tenant(tenant).select_related("endpoint"), code)


def attempt_list(*, tenant: Tenant, delivery: WebhookDelivery) -> QuerySet[WebhookAttempt]:
    return WebhookAttempt.objects.for_tenant(tenant).filter(delivery=delivery).order_by("id")
