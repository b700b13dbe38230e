"""Writes for webhooks: endpoints and their secrets, the outbox (webhook_emit), and delivery.

Exactly-once where it matters: webhook_emit writes one delivery row per subscribed endpoint in the
caller's transaction and enqueues it only after that commits, so a rolled-back change sends nothing
and a committed one is never lost (enqueue_due_webhook_deliveries, run by beat, picks up what a dead
process did not enqueue or did not finish). Delivery is at least once: a row is claimed before its
request (its due time moves past the request's end), and a receiver drops repeats by `webhook-id`.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Field
from django.utils import timezone

from voiceplatform import metrics
from voiceplatform.crypto import SecretDecryptionError, decrypt_for_tenant, encrypt_for_tenant, reencrypt_for_tenant
from voiceplatform.db_batch import StatementBatch
from voiceplatform.models import Tenant
from voiceplatform.outbound_url import WEBHOOK_URLS, validate_tenant_url
from voiceplatform.webhooks import relay
from voiceplatform.webhooks.events import EVENT_TYPES, render_payload
from voiceplatform.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from voiceplatform.webhooks.sender import AttemptResult, post_signed
from voiceplatform.webhooks.signing import secret_generate, signed_headers

logger = logging.getLogger(__name__)

TEST_EVENT = "webhook.test"
# Seconds after a failed try until the next: exponential (5 s * 4^n) up to 10 h; 9 retries, ~27.6 h in all.
RETRY_DELAYS: tuple[int, ...] = tuple(min(5 * 4**n, 36_000) for n in range(9))
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# How long the previous secret keeps signing after a rotation (receivers switch within it).
PREVIOUS_SECRET_GRACE = datetime.timedelta(hours=24)
# A try in flight holds its row this long past its own timeout; a process that died mid-request
# leaves the row due again after it, and the sweep sends it again.
CLAIM_MARGIN = datetime.timedelta(seconds=60)
# The sweep leaves rows alone for this long after they fall due: their own countdown task runs then.
SWEEP_GRACE = datetime.timedelta(seconds=30)
# A countdown task may start a moment before the row's due time (clocks of broker and database).
EARLY_TOLERANCE = datetime.timedelta(seconds=2)
MAX_EVENT_TYPES = 20
# Every event is written once per subscribed endpoint, in the transaction of the change: bounded fan-out.
MAX_ENDPOINTS_PER_TENANT = 20


# Endpoints ----------------------------------------------------------------------------------


def _clean_event_types(event_types: Iterable[str]) -> list[str]:
    chosen = list(dict.fromkeys(event_types))
    unknown = [name for name in chosen if name not in EVENT_TYPES or not EVENT_TYPES[name].subscribable]
    if unknown:
        known = ", ".join(name for name, event in EVENT_TYPES.items() if event.subscribable)
        raise ValidationError({"event_types": f"Unknown event type {unknown[0][:64]!r}; use some of: {known}."})
    if not chosen:
        raise ValidationError({"event_types": "Choose at least one event type."})
    return chosen[:MAX_EVENT_TYPES]


def check_endpoint_url(url: str) -> None:
    """ValidationError (on "url") when webhooks may not be sent to this URL: the outbound-URL rule
    with the webhooks' operator exceptions (checked again on every request)."""
    validate_tenant_url(url.strip(), field="url", policy=WEBHOOK_URLS)


def _save(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    endpoint.url = endpoint.url.strip()
    endpoint.description = endpoint.description.strip()
    endpoint.event_types = _clean_event_types(endpoint.event_types)
    endpoint.full_clean(exclude=["tenant"])
    check_endpoint_url(endpoint.url)
    endpoint.save()
    return endpoint


def endpoint_create(
    *, tenant: Tenant, url: str, event_types: Iterable[str], description: str = "", is_enabled: bool = True
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned once; only its ciphertext is kept)."""
    if WebhookEndpoint.objects.for_tenant(tenant).count() >= MAX_ENDPOINTS_PER_TENANT:
        raise ValidationError(
            f"A tenant has at most {MAX_ENDPOINTS_PER_TENANT} webhook endpoints; delete one you no longer use."
        )
    secret = secret_generate()
    endpoint = WebhookEndpoint(
        tenant=tenant,
        url=url,
        event_types=list(event_types),
        description=description,
        is_enabled=is_enabled,
        encrypted_secret=encrypt_for_tenant(tenant_id=tenant.pk, plaintext=secret),
    )
    _save(endpoint)
    logger.info("webhook endpoint %s created for tenant %s", endpoint.code, tenant.slug)
    return endpoint, secret


_UNSET: Any = object()


@transaction.atomic
def endpoint_update(
    *,
    tenant: Tenant,
    endpoint: WebhookEndpoint,
    url: str = _UNSET,
    event_types: Iterable[str] = _UNSET,
    description: str = _UNSET,
    is_enabled: bool = _UNSET,
) -> WebhookEndpoint:
    """Change the fields given; enabling an endpoint again starts its failure count afresh."""
    locked = WebhookEndpoint.objects.for_tenant(tenant).select_for_update().get(pk=endpoint.pk)
    if url is not _UNSET:
        locked.url = url
    if event_types is not _UNSET:
        locked.event_types = list(event_types)
    if description is not _UNSET:
        locked.description = description
    if is_enabled is not _UNSET:
        if is_enabled and not locked.is_enabled:
            locked.consecutive_failures = 0
            locked.disabled_at = None
            locked.disabled_reason = ""
        locked.is_enabled = is_enabled
    return _save(locked)


def endpoint_delete(*, tenant: Tenant, endpoint: WebhookEndpoint) -> None:
    """The endpoint and its delivery log go; its pending deliveries are never sent."""
    WebhookEndpoint.objects.for_tenant(tenant).filter(pk=endpoint.pk).delete()
    logger.info("webhook endpoint %s deleted for tenant %s", endpoint.code, tenant.slug)


@transaction.atomic
def endpoint_rotate_secret(
    *, tenant: Tenant, endpoint: WebhookEndpoint, now: datetime.datetime | None = None
) -> tuple[WebhookEndpoint, str]:
    """A new secret (returned once); the old one also signs for PREVIOUS_SECRET_GRACE, so a receiver
    that still checks with it keeps accepting deliveries while it is updated."""
    now = now or timezone.now()
    locked = WebhookEndpoint.objects.for_tenant(tenant).select_for_update().get(pk=endpoint.pk)
    secret = secret_generate()
    locked.encrypted_previous_secret = locked.encrypted_secret
    locked.previous_secret_expires_at = now + PREVIOUS_SECRET_GRACE
    locked.encrypted_secret = encrypt_for_tenant(tenant_id=tenant.pk, plaintext=secret)
    locked.save(update_fields=["encrypted_secret", "encrypted_previous_secret", "previous_secret_expires_at"])
    logger.info("webhook endpoint %s: secret rotated", locked.code)
    return locked, secret


def _secrets_in_use(endpoint: WebhookEndpoint, now: datetime.datetime) -> list[str]:
    found = [decrypt_for_tenant(tenant_id=endpoint.tenant_id, token=endpoint.encrypted_secret)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.encrypted_previous_secret and expires is not None and now < expires:
        found.append(decrypt_for_tenant(tenant_id=endpoint.tenant_id, token=endpoint.encrypted_previous_secret))
    return found


# The outbox ---------------------------------------------------------------------------------


def _body(event: str, data: Mapping[str, Any], at: datetime.datetime) -> str:
    envelope = {"type": event, "timestamp": at.isoformat().replace("+00:00", "Z"), "data": render_payload(event, data)}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False)


def _message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def _enqueue_on_commit(delivery_ids: list[int]) -> None:
    if not delivery_ids:
        return
    # In a web worker the relay's thread publishes them a moment later, batched (webhooks/relay.py).
    transaction.on_commit(functools.partial(relay.enqueue, delivery_ids))


# The outbox's INSERT: one delivery row per enabled endpoint of the tenant subscribed to the event, in
# one statement (the subscription check and the rows together: on the inbound webhook's path a round
# trip and bulk_create's ~0.2 ms of CPU fewer, docs/benchmarks.md "Fourteenth session"). Built once from
# the model, so every column gets what the ORM would write: the row's values are an unsaved
# WebhookDelivery's own (defaults, auto_now_add), each cast to its column's type; the endpoint is each
# subscribed one, and the code a fresh random UUID per row, as uuid4 would be.
_DELIVERY_COLUMNS_FROM_ENDPOINT = {"endpoint": "e.id", "code": "gen_random_uuid()"}
_SUBSCRIBED_WHERE = "e.tenant_id = %s AND e.is_enabled AND e.event_types @> ARRAY[%s]::varchar(64)[]"
# Whether any endpoint wants the event, for data that costs a query to gather (webhook_emit).
_SUBSCRIBED_SQL = f"SELECT 1 FROM {WebhookEndpoint._meta.db_table} e WHERE {_SUBSCRIBED_WHERE} LIMIT 1"  # noqa: S608


@functools.cache
def _outbox_insert() -> tuple[str, tuple[Field[Any, Any], ...]]:
    delivery, endpoint = WebhookDelivery._meta, WebhookEndpoint._meta
    quote = connection.ops.quote_name
    written = [field for field in delivery.concrete_fields if not field.primary_key]
    given = tuple(field for field in written if field.name not in _DELIVERY_COLUMNS_FROM_ENDPOINT)
    columns = ", ".join(quote(field.column) for field in written)
    values = ", ".join(
        _DELIVERY_COLUMNS_FROM_ENDPOINT.get(field.name) or f"%s::{field.cast_db_type(connection)}" for field in written
    )
    sql = (
        f"INSERT INTO {quote(delivery.db_table)} ({columns}) SELECT {values} FROM {quote(endpoint.db_table)} e"  # noqa: S608
        f" WHERE {_SUBSCRIBED_WHERE} ORDER BY e.id RETURNING {quote(delivery.pk.column)}"
    )
    return sql, given


def webhook_emit(*, tenant: Tenant, event: str, data: Mapping[str, Any] | Callable[[], Mapping[str, Any]]) -> int:
    """Write `event` for each of the tenant's enabled endpoints subscribed to it, in the caller's
    transaction, and send after commit; returns how many deliveries were written.

    `data` given as a mapping: one statement, which writes the rows or, with no subscriber, nothing
    (the body is rendered either way, ~0.05 ms). As a function: called only when an endpoint wants
    the event, for data that costs a query to gather; a hot path with no subscribers then pays one
    indexed query and nothing else, and one with subscribers a second statement."""
    _check_event(event)
    if callable(data):
        with connection.cursor() as cursor:
            cursor.execute(_SUBSCRIBED_SQL, [tenant.pk, event])
            if cursor.fetchone() is None:
                return 0
        data = data()
    sql, params = _outbox_statement(tenant=tenant, event=event, data=data)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        delivery_ids = [delivery_id for (delivery_id,) in cursor.fetchall()]
    _enqueue_on_commit(delivery_ids)
    return len(delivery_ids)


def webhook_emit_in_batch(*, tenant: Tenant, event: str, data: Mapping[str, Any], batch: StatementBatch) -> None:
    """webhook_emit as one statement of `batch` (voiceplatform/db_batch.py): the outbox rows are
    written with the batch's other rows, in its transaction, and sent after it commits."""
    _check_event(event)
    sql, params = _outbox_statement(tenant=tenant, event=event, data=data)
    batch.add(sql, params, on_rows=lambda rows: _enqueue_on_commit([delivery_id for (delivery_id,) in rows]))


def _check_event(event: str) -> None:
    if event not in EVENT_TYPES or not EVENT_TYPES[event].subscribable:
        raise ValueError(f"{event!r} is not a registered webhook event (voiceplatform/webhooks/events.py)")


def _outbox_statement(*, tenant: Tenant, event: str, data: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """The outbox's INSERT ... SELECT and its parameters for this event and payload."""
    now = timezone.now()
    row = WebhookDelivery(
        tenant=tenant, event_type=event, message_id=_message_id(), body=_body(event, data, now), next_attempt_at=now
    )
    sql, given = _outbox_insert()
    values = [field.get_db_prep_save(field.pre_save(row, True), connection) for field in given]
    return sql, [*values, tenant.pk, event]


def delivery_send_test(*, tenant: Tenant, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """A webhook.test event to this endpoint only (even a disabled one: that is how it is checked)."""
    now = timezone.now()
    data = {"endpointId": endpoint.code, "message": "A test event from voiceplatform."}
    delivery = WebhookDelivery.objects.create(
        tenant=tenant,
        endpoint=endpoint,
        event_type=TEST_EVENT,
        message_id=_message_id(),
        body=_body(TEST_EVENT, data, now),
        next_attempt_at=now,
    )
    _enqueue_on_commit([delivery.pk])
    return delivery


def delivery_redeliver(*, tenant: Tenant, delivery: WebhookDelivery) -> WebhookDelivery:
    """The same event (same body and webhook-id) sent again to its endpoint, as a new delivery."""
    endpoint = WebhookEndpoint.objects.for_tenant(tenant).get(pk=delivery.endpoint_id)
    if not endpoint.is_enabled and delivery.event_type != TEST_EVENT:
        raise ValidationError("This endpoint is disabled; enable it before redelivering.")
    again = WebhookDelivery.objects.create(
        tenant=tenant,
        endpoint=endpoint,
        event_type=delivery.event_type,
        message_id=delivery.message_id,
        body=delivery.body,
        next_attempt_at=timezone.now(),
    )
    _enqueue_on_commit([again.pk])
    return again


# Delivery -----------------------------------------------------------------------------------


def _claim(delivery_id: int, now: datetime.datetime) -> WebhookDelivery | None:
    """The due, pending row, its attempt counted and its due time moved past this try's end; None
    when it is not due (sent already, or another task has it)."""
    with transaction.atomic():
        delivery = (
            # Crosses tenants on purpose: a task names its delivery by primary key, and the row is
            # sent to its own tenant's endpoint with that tenant's secret.
            WebhookDelivery.objects.across_tenants(reason="a delivery task names its row by id")
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint", "tenant")
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING, next_attempt_at__lte=now + EARLY_TOLERANCE)
            .first()
        )
        if delivery is None:
            return None
        if not delivery.endpoint.is_enabled and delivery.event_type != TEST_EVENT:
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error_class = "endpoint_disabled"
            delivery.next_attempt_at = None
            delivery.save(update_fields=["status", "last_error_class", "next_attempt_at"])
            return None
        delivery.attempts += 1
        delivery.next_attempt_at = now + datetime.timedelta(seconds=settings.WEBHOOK_TIMEOUT_SECONDS) + CLAIM_MARGIN
        delivery.save(update_fields=["attempts", "next_attempt_at"])
    return delivery


def delivery_attempt(*, delivery_id: int, now: datetime.datetime | None = None) -> AttemptResult | None:
    """Try a due delivery once and log the try; None when it was not due. `now` is the scheduler's
    clock (tests move it); the signature's timestamp is always the real time of sending."""
    now = now or timezone.now()
    delivery = _claim(delivery_id, now)
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    sent_at = timezone.now()
    try:
        secrets_in_use = _secrets_in_use(endpoint, sent_at)
    except SecretDecryptionError:
        # Its key was removed from FIELD_ENCRYPTION_KEYS: nothing can be signed. Logged as a failed try
        # (so retries end and the endpoint is eventually disabled) rather than retried for ever.
        logger.error("webhook endpoint %s: its signing secret cannot be decrypted", endpoint.code)
        result = AttemptResult(False, None, 0, "secret_unreadable")
    else:
        headers = signed_headers(
            message_id=delivery.message_id, body=delivery.body, secrets_in_use=secrets_in_use, at=sent_at
        )
        result = post_signed(url=endpoint.url, body=delivery.body.encode(), headers=headers)
    _record(delivery, result, now)
    return result


def _retry_countdown_limit() -> float:
    """The longest countdown a task may wait in the broker: below its visibility timeout, after
    which Redis would hand the unacknowledged task to a second worker."""
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    return float(options.get("visibility_timeout", 3600)) - 60.0


@transaction.atomic
def _record(delivery: WebhookDelivery, result: AttemptResult, now: datetime.datetime) -> None:
    tenant = delivery.tenant
    WebhookAttempt.objects.create(
        tenant=tenant,
        delivery=delivery,
        number=delivery.attempts,
        is_success=result.is_success,
        response_code=result.response_code,
        latency_ms=result.latency_ms,
        error_class=result.error_class,
    )
    delivery.last_response_code = result.response_code
    delivery.last_error_class = result.error_class
    endpoints = WebhookEndpoint.objects.for_tenant(tenant).filter(pk=delivery.endpoint_id)
    if result.is_success:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = timezone.now()
        delivery.next_attempt_at = None
        if delivery.event_type != TEST_EVENT:
            endpoints.exclude(consecutive_failures=0).update(consecutive_failures=0)
    elif delivery.attempts < MAX_ATTEMPTS:
        delay = RETRY_DELAYS[delivery.attempts - 1]
        delivery.next_attempt_at = now + datetime.timedelta(seconds=delay)
        if delay < _retry_countdown_limit():
            _enqueue_later_on_commit(delivery.pk, delay)
        # Later retries wait in the table: the beat sweep enqueues them once due.
    else:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
        if delivery.event_type != TEST_EVENT:
            _count_exhausted(tenant, delivery.endpoint_id, result, now)
    delivery.save(update_fields=["status", "delivered_at", "next_attempt_at", "last_response_code", "last_error_class"])
    metrics.webhook_delivery_counted(result=_metric_result(delivery, result))


def _metric_result(delivery: WebhookDelivery, result: AttemptResult) -> str:
    """The try as webhook_deliveries_total counts it (voiceplatform/metrics.py)."""
    if result.is_success:
        return "delivered"
    if result.error_class == "destination_refused":
        return "refused"
    return "failed" if delivery.status == DeliveryStatus.FAILED else "retrying"


def _enqueue_later_on_commit(delivery_id: int, countdown: int) -> None:
    from voiceplatform.tasks import deliver_webhook

    transaction.on_commit(lambda: deliver_webhook.apply_async((delivery_id,), countdown=countdown))


def _count_exhausted(tenant: Tenant, endpoint_id: int, result: AttemptResult, now: datetime.datetime) -> None:
    """One more event failed every retry; at WEBHOOK_DISABLE_AFTER_FAILURES in a row the endpoint is disabled."""
    endpoint = WebhookEndpoint.objects.for_tenant(tenant).select_for_update().get(pk=endpoint_id)
    endpoint.consecutive_failures = F("consecutive_failures") + 1
    endpoint.save(update_fields=["consecutive_failures"])
    endpoint.refresh_from_db(fields=["consecutive_failures"])
    limit = settings.WEBHOOK_DISABLE_AFTER_FAILURES
    if endpoint.is_enabled and endpoint.consecutive_failures >= limit:
        last = f"{result.error_class} {result.response_code}" if result.response_code else result.error_class
        endpoint.is_enabled = False
        endpoint.disabled_at = now
        endpoint.disabled_reason = f"Disabled automatically: {limit} events in a row failed every retry (last: {last})."
        endpoint.save(update_fields=["is_enabled", "disabled_at", "disabled_reason", "updated_at"])
        logger.warning("webhook endpoint %s disabled after %s failed events", endpoint.code, limit)


def deliveries_due(*, now: datetime.datetime | None = None, limit: int = 1000) -> list[int]:
    """Pending deliveries due for longer than SWEEP_GRACE: their enqueue was lost, or their retry is
    later than a broker countdown may be. Oldest first."""
    cutoff = (now or timezone.now()) - SWEEP_GRACE
    # Crosses tenants on purpose: one rule for every pending row; each is then sent by delivery_attempt
    # to its own tenant's endpoint.
    due = WebhookDelivery.objects.across_tenants(reason="the due-delivery sweep serves every tenant").filter(
        status=DeliveryStatus.PENDING, next_attempt_at__lte=cutoff
    )
    return list(due.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


def endpoint_secrets_reencrypt_all() -> int:
    """Re-encrypt every endpoint's signing secrets under the first key of FIELD_ENCRYPTION_KEYS."""
    # Crosses tenants on purpose, like credentials_reencrypt_all: each row under its own tenant's key.
    endpoints = WebhookEndpoint.objects.across_tenants(reason="re-encryption: each row under its own tenant's key")
    count = 0
    for endpoint in endpoints.iterator():
        previous = endpoint.encrypted_previous_secret
        fields = {
            "encrypted_secret": reencrypt_for_tenant(tenant_id=endpoint.tenant_id, token=endpoint.encrypted_secret),
            "encrypted_previous_secret": (
                reencrypt_for_tenant(tenant_id=endpoint.tenant_id, token=previous) if previous else ""
            ),
        }
        endpoints.filter(pk=endpoint.pk).update(**fields)
        count += 1
    return count


def deliveries_prune(*, now: datetime.datetime | None = None, batch: int = 5000) -> int:
    """Delete finished deliveries (and their attempts) older than WEBHOOK_DELIVERY_RETENTION_DAYS, in
    batches; pending ones are kept whatever their age. Returns how many went."""
    cutoff = (now or timezone.now()) - datetime.timedelta(days=settings.WEBHOOK_DELIVERY_RETENTION_DAYS)
    # Crosses tenants on purpose: one retention rule for every tenant's log.
    old = WebhookDelivery.objects.across_tenants(reason="the delivery log's retention, one rule for all").filter(
        created_at__lt=cutoff, status__in=[DeliveryStatus.DELIVERED, DeliveryStatus.FAILED]
    )
    pruned = 0
    while ids := list(old.values_list("pk", flat=True)[:batch]):
        with transaction.atomic():
            WebhookAttempt.objects.across_tenants(reason="the attempts of pruned deliveries").filter(
                delivery_id__in=ids
            ).delete()
            WebhookDelivery.objects.across_tenants(reason="pruned deliveries, by id").filter(pk__in=ids).delete()
        pruned += len(ids)
    return pruned
