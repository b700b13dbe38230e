"""Webhook endpoints, their outbox of deliveries, and each delivery's attempts (all tenant-owned).

A WebhookDelivery is the outbox row: written by webhook_emit in the transaction of the change it
reports, then sent after commit and retried until it is delivered or out of attempts. Each try is a
WebhookAttempt row (the delivery log); nothing of the receiver's answer is kept but its status code.
"""

from __future__ import annotations

from django.contrib.postgres.fields import ArrayField
from django.db import models

from voiceplatform.models import Tenant, TenantOwned


class WebhookEndpoint(TenantOwned):
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = ArrayField(models.CharField(max_length=64), default=list)
    is_enabled = models.BooleanField(default=True)
    # "whsec_…" Standard Webhooks secrets, encrypted for the tenant (voiceplatform.crypto). The previous
    # one keeps signing (a second signature) until previous_secret_expires_at, so receivers can roll over.
    encrypted_secret = models.TextField(editable=False)
    encrypted_previous_secret = models.TextField(blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    consecutive_failures = models.PositiveIntegerField(
        default=0, help_text="Events in a row that failed every retry; reset by a delivered one."
    )
    disabled_at = models.DateTimeField(null=True, blank=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["tenant", "is_enabled"], name="webhook_endpoint_tenant_idx")]

    def __str__(self) -> str:
        return self.url

    def __repr__(self) -> str:  # never the ciphertext in debug output
        return f"<WebhookEndpoint {self.code} tenant={self.tenant_id} {self.url}>"

    @property
    def is_auto_disabled(self) -> bool:
        return not self.is_enabled and self.disabled_at is not None


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(TenantOwned):
    # No single-column indexes on the two foreign keys: the log's indexes below lead with them and
    # serve the same lookups (the cascade deletes too), and every event written on the inbound
    # webhook's path would update two more indexes.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", db_index=False)
    event_type = models.CharField(max_length=64)
    # The Standard Webhooks `webhook-id`: the same for every attempt and redelivery of one event to
    # one endpoint, so a receiver can drop duplicates.
    message_id = models.CharField(max_length=40)
    body = models.TextField(help_text="The JSON body sent, byte for byte: {type, timestamp, data}.")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error_class = models.CharField(max_length=40, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "webhook deliveries"
        indexes = [
            # The delivery log: an endpoint's (or a tenant's) newest first, by cursor.
            models.Index(fields=["endpoint", "-id"], name="webhook_delivery_endpoint_idx"),
            models.Index(fields=["tenant", "-id"], name="webhook_delivery_tenant_idx"),
            # The due sweep reads only pending rows.
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due_idx",
                condition=models.Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id} ({self.status})"


class WebhookAttempt(TenantOwned):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveSmallIntegerField(help_text="1 for the first try of the delivery.")
    is_success = models.BooleanField()
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField()
    error_class = models.CharField(max_length=40, blank=True, help_text="e.g. timeout, http_status; never the body.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["delivery", "id"], name="webhook_attempt_delivery_idx")]

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"
