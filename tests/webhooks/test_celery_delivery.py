"""End to end: a committed change's event goes through the Redis broker to a real Celery worker,
which signs and POSTs it to the receiver."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from standardwebhooks.webhooks import Webhook

from telephony_app.models import CallDirection, CallStatus
from telephony_app.services import call_create
from tests.campaigns_app.conftest import _live_database_url
from tests.factories import TenantFactory
from voiceplatform.webhooks.models import DeliveryStatus, WebhookDelivery
from voiceplatform.webhooks.services import endpoint_create


@pytest.fixture
def webhook_worker(django_db_setup, django_db_blocker) -> Iterator[subprocess.Popen]:
    """`celery -A voiceplatform worker` on the test database and the suite's Redis, allowed to reach
    the receiver on 127.0.0.1 (the operator's setting, given to the worker's environment)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "voiceplatform.settings",
        "DATABASE_URL": _live_database_url(),
        "REDIS_URL": settings.CELERY_BROKER_URL,
        "WEBHOOK_URL_ALLOW_HTTP": "true",
        "WEBHOOK_URL_ALLOWED_HOSTS": "127.0.0.1",
    }
    command = [sys.executable, "-m", "celery", "-A", "voiceplatform", "worker", "--pool", "solo"]
    command += ["--concurrency", "1", "--loglevel", "warning", "--without-gossip", "--without-mingle"]
    log = tempfile.NamedTemporaryFile(mode="w+", prefix="celery-webhooks-", suffix=".log")
    process = subprocess.Popen(command, cwd=Path(settings.BASE_DIR), env=env, stdout=log, stderr=subprocess.STDOUT)
    process.log = lambda: Path(log.name).read_text()  # type: ignore[attr-defined]
    yield process
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_delivers_a_committed_calls_events(allow_local, receiver, webhook_worker):
    tenant = TenantFactory()
    _endpoint, secret = endpoint_create(tenant=tenant, url=receiver.url, event_types=["call.started"])

    call = call_create(tenant=tenant, direction=CallDirection.INBOUND, status=CallStatus.IN_PROGRESS)

    deadline = time.monotonic() + 60
    while not receiver.received:
        if time.monotonic() > deadline or webhook_worker.poll() is not None:
            pytest.fail(f"no delivery: {webhook_worker.log()}")
        time.sleep(0.1)
    (got,) = receiver.received
    event = Webhook(secret).verify(got.body, got.headers)
    assert event["type"] == "call.started" and event["data"]["id"] == str(call.code)
    while WebhookDelivery.objects.for_tenant(tenant).get().status != DeliveryStatus.DELIVERED:
        assert time.monotonic() < deadline, webhook_worker.log()
        time.sleep(0.1)
