"""webhook_emit writes its outbox rows with one INSERT ... SELECT built from the model: each row must
be what the ORM would have written, for exactly the tenant's enabled, subscribed endpoints."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.db import transaction

from tests.factories import TenantFactory
from voiceplatform.webhooks.events import render_payload
from voiceplatform.webhooks.models import WebhookDelivery
from voiceplatform.webhooks.services import endpoint_create, webhook_emit

pytestmark = pytest.mark.django_db

URL = "https://crm.example.invalid/hooks"
DATA = {"endpointId": str(uuid.uuid4()), "message": 'tab\t, quote " backslash \\ and é'}


def test_each_subscribed_endpoint_gets_the_row_the_orm_would_write(tenant):
    first = endpoint_create(tenant=tenant, url=URL, event_types=["call.started", "call.ended"])[0]
    second = endpoint_create(tenant=tenant, url=URL, event_types=["call.started"])[0]
    endpoint_create(tenant=tenant, url=URL, event_types=["call.ended"])  # not subscribed
    endpoint_create(tenant=tenant, url=URL, event_types=["call.started"], is_enabled=False)
    endpoint_create(tenant=TenantFactory(), url=URL, event_types=["call.started"])  # another tenant's

    with transaction.atomic():
        written = webhook_emit(tenant=tenant, event="call.started", data=lambda: _call_data())

    rows = list(WebhookDelivery.objects.for_tenant(tenant).order_by("id"))
    assert written == 2 and [row.endpoint_id for row in rows] == [first.pk, second.pk]
    theirs = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                tenant=tenant,
                endpoint=first,
                event_type="call.started",
                message_id=rows[0].message_id,
                body=rows[0].body,
                next_attempt_at=rows[0].next_attempt_at,
            )
        ]
    )[0]
    theirs.refresh_from_db()
    for field in WebhookDelivery._meta.concrete_fields:
        if field.name not in {"id", "code", "created_at"}:
            assert getattr(rows[0], field.attname) == getattr(theirs, field.attname), field.name
    # auto_now_add, set as the row is built, a moment after the event's time (its first try)
    assert datetime.timedelta(0) <= rows[0].created_at - rows[0].next_attempt_at < datetime.timedelta(seconds=1)
    assert rows[0].message_id == rows[1].message_id  # one event: one webhook-id for every endpoint
    assert len({row.code for row in rows}) == 2 and all(row.code.version == 4 for row in rows)


def test_with_no_subscribed_endpoint_nothing_is_written(tenant):
    endpoint_create(tenant=tenant, url=URL, event_types=["call.ended"])

    assert webhook_emit(tenant=tenant, event="call.started", data=_call_data()) == 0
    assert not WebhookDelivery.objects.for_tenant(tenant).exists()


def test_a_cached_payload_writer_renders_each_event_afresh():
    first = render_payload("webhook.test", DATA)
    second = render_payload("webhook.test", {**DATA, "message": "another"})

    assert first == DATA and second == {**DATA, "message": "another"}
    with pytest.raises(KeyError):
        render_payload("webhook.test", {"message": "no endpoint id"})


def _call_data() -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()), "agentId": None, "agentName": "Front desk", "direction": "inbound",
        "status": "ringing", "fromNumber": "+12125550100", "toNumber": "+14155550123",
        "startedAt": None, "answeredAt": None, "endedAt": None, "durationSeconds": None,
        "endReason": "", "estimatedCostUsd": None,
    }  # fmt: skip
