"""Celery tasks of the tenancy app: webhook delivery (thin: each calls one service)."""

from __future__ import annotations

from celery import shared_task

from voiceplatform.webhooks.services import deliveries_due, deliveries_prune, delivery_attempt


@shared_task
def deliver_webhook(delivery_id: int) -> None:
    """Try one delivery if it is due (a duplicate or early task finds nothing to do)."""
    delivery_attempt(delivery_id=delivery_id)


@shared_task
def deliver_webhooks(delivery_ids: list[int]) -> int:
    """A web worker's batch of committed deliveries (webhooks/relay.py): one deliver_webhook task each."""
    for delivery_id in delivery_ids:
        deliver_webhook.delay(delivery_id)
    return len(delivery_ids)


@shared_task
def enqueue_due_webhook_deliveries() -> int:
    """Beat: enqueue deliveries that are due and were not (retries later than a countdown may be, lost enqueues)."""
    due = deliveries_due()
    for delivery_id in due:
        deliver_webhook.delay(delivery_id)
    return len(due)


@shared_task
def prune_webhook_deliveries() -> int:
    """Beat: the delivery log keeps finished deliveries for WEBHOOK_DELIVERY_RETENTION_DAYS."""
    return deliveries_prune()
