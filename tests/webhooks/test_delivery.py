"""Webhook delivery: signatures, retries with a moved clock, the URL guard, the outbox's transaction."""

from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import json

import pytest
from django.db import transaction
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from tests.factories import TenantFactory
from voiceplatform.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from voiceplatform.webhooks.services import (
    MAX_ATTEMPTS,
    RETRY_DELAYS,
    deliveries_due,
    deliveries_prune,
    delivery_attempt,
    delivery_redeliver,
    delivery_send_test,
    endpoint_create,
    endpoint_rotate_secret,
    endpoint_update,
    webhook_emit,
)

CALL = {
    "id": "5b0e7a3c-2f51-4c8e-9b3a-6d1f0e2c4a77",
    "agentId": None,
    "agentName": "Front desk",
    "direction": "inbound",
    "status": "completed",
    "fromNumber": "+14155550123",
    "toNumber": "+14155550100",
    "startedAt": timezone.now(),
    "answeredAt": None,
    "endedAt": timezone.now(),
    "durationSeconds": 0.0,
    "endReason": "caller hung up",
    "estimatedCostUsd": None,
}


def _emit(tenant, django_capture_on_commit_callbacks, event="call.ended", data=CALL) -> list[WebhookDelivery]:
    with django_capture_on_commit_callbacks() as callbacks:
        with transaction.atomic():
            webhook_emit(tenant=tenant, event=event, data=data)
    assert len(callbacks) == 1  # the enqueue, after commit
    return list(WebhookDelivery.objects.for_tenant(tenant).order_by("id"))


def _run_due(delivery: WebhookDelivery, now: datetime.datetime):
    """What the countdown task or the beat sweep does when the row falls due, at a moved clock."""
    delivery.refresh_from_db()
    return delivery_attempt(delivery_id=delivery.pk, now=now)


def test_the_signature_verifies_with_the_reference_algorithm(
    tenant, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    _endpoint, secret = make_endpoint(tenant, receiver.url)
    (delivery,) = _emit(tenant, django_capture_on_commit_callbacks)

    result = delivery_attempt(delivery_id=delivery.pk)

    assert result is not None and result.is_success
    (got,) = receiver.received
    # The Standard Webhooks reference library accepts it...
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "call.ended" and payload["data"]["id"] == CALL["id"]
    # ...and so does the algorithm written out: HMAC-SHA256 over "id.timestamp.body", base64, "v1,".
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{got.headers['webhook-id']}.{got.headers['webhook-timestamp']}.".encode() + got.body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert got.headers["webhook-signature"] == expected
    assert secret.startswith("whsec_") and len(key) == 32
    # A different secret does not verify.
    _other, other_secret = endpoint_create(tenant=tenant, url=receiver.url, event_types=["call.ended"])
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(other_secret).verify(got.body, got.headers)


def test_the_secret_is_encrypted_at_rest(tenant, receiver, make_endpoint):
    endpoint, secret = make_endpoint(tenant, receiver.url)

    stored = WebhookEndpoint.objects.for_tenant(tenant).values().get(pk=endpoint.pk)

    assert secret not in json.dumps(stored, default=str)
    assert secret.removeprefix("whsec_") not in json.dumps(stored, default=str)


def test_after_a_rotation_both_secrets_sign_for_a_day(
    tenant, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    endpoint, old = make_endpoint(tenant, receiver.url)
    endpoint, new = endpoint_rotate_secret(tenant=tenant, endpoint=endpoint)
    assert new != old
    (delivery,) = _emit(tenant, django_capture_on_commit_callbacks)

    delivery_attempt(delivery_id=delivery.pk)

    (got,) = receiver.received
    assert len(got.headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(got.body, got.headers)
    Webhook(old).verify(got.body, got.headers)


def test_a_receiver_failing_three_times_gets_one_successful_delivery_after_retries(
    tenant, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    receiver.script = [500, 503, 502]  # then 200
    _endpoint, secret = make_endpoint(tenant, receiver.url)
    (delivery,) = _emit(tenant, django_capture_on_commit_callbacks)
    clock = timezone.now()

    results = []
    for _ in range(10):
        delivery.refresh_from_db()
        if delivery.status != DeliveryStatus.PENDING:
            break
        clock = max(clock, delivery.next_attempt_at)  # time travel: straight to the next due time
        with django_capture_on_commit_callbacks(execute=False):
            results.append(_run_due(delivery, clock))
        # A duplicate task at the same moment finds nothing to do.
        assert delivery_attempt(delivery_id=delivery.pk, now=clock) is None

    assert [r.response_code for r in results] == [500, 503, 502, 200]
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 4
    attempts = list(WebhookAttempt.objects.for_tenant(tenant).filter(delivery=delivery))
    assert [(a.number, a.is_success, a.response_code) for a in attempts] == [
        (1, False, 500),
        (2, False, 503),
        (3, False, 502),
        (4, True, 200),
    ]
    assert [a.error_class for a in attempts] == ["http_status", "http_status", "http_status", ""]
    assert sum(a.is_success for a in attempts) == 1
    assert len(receiver.received) == 4
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1  # one event, one id
    for got in receiver.received:
        Webhook(secret).verify(got.body, got.headers)
    # Nothing of the receiver's answer is kept.
    assert "internal detail" not in json.dumps(list(WebhookAttempt.objects.for_tenant(tenant).values()), default=str)


def test_a_retry_is_not_sent_before_it_is_due(tenant, receiver, make_endpoint, django_capture_on_commit_callbacks):
    receiver.script = [500]
    make_endpoint(tenant, receiver.url)
    (delivery,) = _emit(tenant, django_capture_on_commit_callbacks)
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=False):
        delivery_attempt(delivery_id=delivery.pk, now=now)
    delivery.refresh_from_db()

    assert delivery.next_attempt_at == now + datetime.timedelta(seconds=RETRY_DELAYS[0])
    assert (
        delivery_attempt(delivery_id=delivery.pk, now=delivery.next_attempt_at - datetime.timedelta(seconds=3)) is None
    )
    assert len(receiver.received) == 1


def test_the_retry_schedule_spans_a_day_and_no_countdown_outlives_the_visibility_timeout(
    settings, tenant, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    assert len(RETRY_DELAYS) >= 8 and MAX_ATTEMPTS == len(RETRY_DELAYS) + 1
    assert sum(RETRY_DELAYS) >= 24 * 3600
    assert list(RETRY_DELAYS) == sorted(RETRY_DELAYS)
    visibility = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    receiver.script = [500] * MAX_ATTEMPTS
    make_endpoint(tenant, receiver.url)
    (delivery,) = _emit(tenant, django_capture_on_commit_callbacks)
    clock = timezone.now()
    countdowns, swept = [], 0
    for _ in range(MAX_ATTEMPTS):
        delivery.refresh_from_db()
        clock = max(clock, delivery.next_attempt_at)
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            _run_due(delivery, clock)
        delivery.refresh_from_db()
        if delivery.status == DeliveryStatus.PENDING:
            if callbacks:  # a countdown task
                countdowns.append((delivery.next_attempt_at - clock).total_seconds())
            else:  # left to the beat sweep, which finds it once due
                assert delivery.pk not in deliveries_due(now=delivery.next_attempt_at)
                assert delivery.pk in deliveries_due(now=delivery.next_attempt_at + datetime.timedelta(seconds=31))
                swept += 1

    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == MAX_ATTEMPTS
    assert countdowns and all(c < visibility for c in countdowns)
    assert swept == sum(1 for d in RETRY_DELAYS if d >= visibility - 60)
    assert len(receiver.received) == MAX_ATTEMPTS


def test_an_endpoint_on_127_0_0_1_is_refused_unless_the_operator_allows_it(settings, tenant, receiver, api):
    settings.WEBHOOK_URL_ALLOW_HTTP = True
    settings.WEBHOOK_URL_ALLOWED_HOSTS = []
    # The provider allow-list does not open webhooks (the test settings allow 127.0.0.1 for providers).
    assert "127.0.0.1" in settings.PROVIDER_URL_ALLOWED_HOSTS

    response = api.post("/api/v1/webhook-endpoints", {"url": receiver.url, "eventTypes": ["call.ended"]}, format="json")

    assert response.status_code == 400
    assert "127.0.0.1" in response.json()["url"][0] and "WEBHOOK_URL_ALLOWED_HOSTS" in response.json()["url"][0]
    assert not WebhookEndpoint.objects.for_tenant(tenant).exists()


def test_an_endpoint_saved_while_allowed_is_refused_at_send_time_once_the_operator_withdraws_it(
    settings, tenant, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    make_endpoint(tenant, receiver.url)
    (delivery,) = _emit(tenant, django_capture_on_commit_callbacks)
    settings.WEBHOOK_URL_ALLOWED_HOSTS = []

    with django_capture_on_commit_callbacks(execute=False):
        result = delivery_attempt(delivery_id=delivery.pk)

    assert result is not None and not result.is_success and result.error_class == "destination_refused"
    assert receiver.received == []


@pytest.mark.django_db(transaction=True)
def test_an_event_is_never_delivered_for_a_rolled_back_change(allow_local, receiver):
    tenant = TenantFactory()
    endpoint_create(tenant=tenant, url=receiver.url, event_types=["call.ended"])

    with pytest.raises(RuntimeError):
        with transaction.atomic():
            assert webhook_emit(tenant=tenant, event="call.ended", data=CALL) == 1
            raise RuntimeError("the change failed after the event was written")

    assert not WebhookDelivery.objects.for_tenant(tenant).exists()
    assert deliveries_due(now=timezone.now() + datetime.timedelta(days=2)) == []
    assert receiver.received == []


def test_one_tenants_endpoints_never_receive_another_tenants_events(
    tenant, other_tenant, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    mine, _ = make_endpoint(tenant, receiver.url + "/acme")
    make_endpoint(other_tenant, receiver.url + "/globex")

    (delivery,) = _emit(tenant, django_capture_on_commit_callbacks)
    delivery_attempt(delivery_id=delivery.pk)

    assert delivery.endpoint_id == mine.pk
    assert [r.path for r in receiver.received] == ["/hooks/acme"]
    assert not WebhookDelivery.objects.for_tenant(other_tenant).exists()


def test_only_subscribed_enabled_endpoints_get_an_event(
    tenant, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    ended, _ = make_endpoint(tenant, receiver.url + "/ended", ["call.ended"])
    make_endpoint(tenant, receiver.url + "/started", ["call.started"])
    make_endpoint(tenant, receiver.url + "/off", ["call.ended"], is_enabled=False)

    deliveries = _emit(tenant, django_capture_on_commit_callbacks)

    assert [d.endpoint_id for d in deliveries] == [ended.pk]


def test_an_endpoint_is_disabled_after_n_events_in_a_row_fail_every_retry(
    settings, tenant, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 2
    receiver.script = [500] * (2 * MAX_ATTEMPTS)
    endpoint, _ = make_endpoint(tenant, receiver.url)
    clock = timezone.now()
    for n in range(2):
        endpoint.refresh_from_db()
        assert endpoint.is_enabled, f"disabled after {n} failed events"
        delivery = _emit(tenant, django_capture_on_commit_callbacks)[-1]
        for _ in range(MAX_ATTEMPTS):
            delivery.refresh_from_db()
            clock = max(clock, delivery.next_attempt_at)
            with django_capture_on_commit_callbacks(execute=False):
                _run_due(delivery, clock)

    endpoint.refresh_from_db()
    assert not endpoint.is_enabled and endpoint.disabled_at is not None
    assert "2 events in a row failed every retry" in endpoint.disabled_reason
    # A disabled endpoint gets no new events; enabling it again starts the count afresh.
    with transaction.atomic():
        assert webhook_emit(tenant=tenant, event="call.ended", data=CALL) == 0
    endpoint = endpoint_update(tenant=tenant, endpoint=endpoint, is_enabled=True)
    assert endpoint.consecutive_failures == 0 and endpoint.disabled_reason == ""


def test_a_delivered_event_resets_the_failure_count(
    settings, tenant, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_DISABLE_AFTER_FAILURES = 2
    endpoint, _ = make_endpoint(tenant, receiver.url)
    WebhookEndpoint.objects.for_tenant(tenant).filter(pk=endpoint.pk).update(consecutive_failures=1)
    (delivery,) = _emit(tenant, django_capture_on_commit_callbacks)

    delivery_attempt(delivery_id=delivery.pk)

    endpoint.refresh_from_db()
    assert endpoint.consecutive_failures == 0 and endpoint.is_enabled


def test_a_test_event_and_a_redelivery(tenant, receiver, make_endpoint, django_capture_on_commit_callbacks):
    endpoint, secret = make_endpoint(tenant, receiver.url, ["call.started"])
    with django_capture_on_commit_callbacks(execute=False):
        test = delivery_send_test(tenant=tenant, endpoint=endpoint)
    delivery_attempt(delivery_id=test.pk)
    with django_capture_on_commit_callbacks(execute=False):
        again = delivery_redeliver(tenant=tenant, delivery=test)
    delivery_attempt(delivery_id=again.pk)

    first, second = (Webhook(secret).verify(r.body, r.headers) for r in receiver.received)
    assert first["type"] == "webhook.test" and first["data"]["endpointId"] == str(endpoint.code)
    assert first == second
    assert receiver.received[0].headers["webhook-id"] == receiver.received[1].headers["webhook-id"]
    assert again.pk != test.pk


def test_the_sweep_sends_a_delivery_whose_enqueue_was_lost(
    tenant, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    make_endpoint(tenant, receiver.url)
    with django_capture_on_commit_callbacks(execute=False):  # the process died before its on_commit enqueue
        with transaction.atomic():
            webhook_emit(tenant=tenant, event="call.ended", data=CALL)
    (delivery,) = WebhookDelivery.objects.for_tenant(tenant)
    later = timezone.now() + datetime.timedelta(minutes=1)

    due = deliveries_due(now=later)
    for delivery_id in due:
        delivery_attempt(delivery_id=delivery_id, now=later)

    assert due == [delivery.pk]
    assert len(receiver.received) == 1


def test_an_unknown_event_is_refused_where_it_is_emitted(tenant):
    with pytest.raises(ValueError, match="not a registered webhook event"):
        webhook_emit(tenant=tenant, event="call.exploded", data={})


def test_an_unreadable_secret_is_a_logged_failure_not_an_unsigned_request(
    tenant, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    endpoint, _ = make_endpoint(tenant, receiver.url)
    # As if its key had been removed from FIELD_ENCRYPTION_KEYS.
    WebhookEndpoint.objects.for_tenant(tenant).filter(pk=endpoint.pk).update(encrypted_secret="gAAAAA-not-a-token")
    (delivery,) = _emit(tenant, django_capture_on_commit_callbacks)

    with django_capture_on_commit_callbacks(execute=False):
        result = delivery_attempt(delivery_id=delivery.pk)

    assert result is not None and result.error_class == "secret_unreadable"
    assert receiver.received == []
    assert WebhookAttempt.objects.for_tenant(tenant).get().error_class == "secret_unreadable"


def test_the_delivery_log_keeps_finished_deliveries_for_the_retention_period(
    settings, tenant, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 30
    make_endpoint(tenant, receiver.url)
    delivered, pending = (
        _emit(tenant, django_capture_on_commit_callbacks) + _emit(tenant, django_capture_on_commit_callbacks)[1:]
    )
    delivery_attempt(delivery_id=delivered.pk)
    long_ago = timezone.now() - datetime.timedelta(days=31)
    WebhookDelivery.objects.for_tenant(tenant).update(created_at=long_ago)
    (recent,) = _emit(tenant, django_capture_on_commit_callbacks)[2:]
    delivery_attempt(delivery_id=recent.pk)

    assert deliveries_prune() == 1

    assert set(WebhookDelivery.objects.for_tenant(tenant).values_list("pk", flat=True)) == {pending.pk, recent.pk}
    assert list(WebhookAttempt.objects.for_tenant(tenant).values_list("delivery_id", flat=True)) == [recent.pk]


def test_each_try_is_counted_in_the_metrics_by_result(
    tenant, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    from prometheus_client import REGISTRY

    def counted(result: str) -> float:
        return REGISTRY.get_sample_value("webhook_deliveries_total", {"result": result}) or 0.0

    receiver.script = [500]  # then 200
    make_endpoint(tenant, receiver.url)
    (delivery,) = _emit(tenant, django_capture_on_commit_callbacks)
    before = {result: counted(result) for result in ("retrying", "delivered")}

    for _ in range(2):
        delivery.refresh_from_db()
        with django_capture_on_commit_callbacks(execute=False):
            _run_due(delivery, delivery.next_attempt_at or timezone.now())

    assert counted("retrying") - before["retrying"] == 1
    assert counted("delivered") - before["delivered"] == 1
