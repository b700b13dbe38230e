"""The web server's webhook relay (voiceplatform/webhooks/relay.py): committed deliveries leave the
request and reach Celery from a background thread, several per message; none is lost if the process
dies first; and under the shipped gunicorn settings a Twilio call's call.started reaches the
tenant's receiver through a real Celery worker."""

from __future__ import annotations

import datetime
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.utils import timezone
from standardwebhooks.webhooks import Webhook

from agents_app.services import agent_create
from telephony_app.models import CallDirection, CallStatus
from telephony_app.services import call_create, phone_number_create
from tests.campaigns_app.conftest import _live_database_url
from tests.factories import TenantFactory
from tests.telephony_app.test_twilio_webhooks import ACCOUNT_SID, NUMBER, TOKEN, VOICE, Twilio, call_sid, voice_params
from tests.webhooks.test_celery_delivery import webhook_worker  # noqa: F401  (fixture)
from voiceplatform.actor import SYSTEM
from voiceplatform.services import credential_set
from voiceplatform.webhooks import relay
from voiceplatform.webhooks.models import DeliveryStatus, WebhookDelivery
from voiceplatform.webhooks.services import SWEEP_GRACE, deliveries_due, endpoint_create

BASE_DIR = Path(settings.BASE_DIR)


@pytest.fixture
def relayed() -> Iterator[list[list[int]]]:
    """This process relays as a web worker does; the batches it hands to Celery (really published)."""
    batches: list[list[int]] = []

    def send(delivery_ids: Sequence[int]) -> None:
        batches.append(list(delivery_ids))
        relay._publish_batch(delivery_ids)

    relay.enable(relay.Relay(send, window=0.5))
    yield batches
    relay.disable()


def _wait(condition, what: str, worker: subprocess.Popen | None = None, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline or (worker is not None and worker.poll() is not None):
            pytest.fail(f"{what}: {worker.log() if worker is not None else 'timed out'}")  # type: ignore[attr-defined]
        time.sleep(0.05)


@pytest.mark.django_db(transaction=True)
def test_relayed_deliveries_reach_a_real_worker_several_per_message(allow_local, receiver, webhook_worker, relayed):  # noqa: F811
    tenant = TenantFactory()
    _endpoint, secret = endpoint_create(tenant=tenant, url=receiver.url, event_types=["call.started"])

    calls = [call_create(tenant=tenant, direction=CallDirection.INBOUND, status=CallStatus.RINGING) for _ in range(5)]

    _wait(lambda: len(receiver.received) == 5, "not every event arrived", webhook_worker)
    sent = {Webhook(secret).verify(got.body, got.headers)["data"]["id"] for got in receiver.received}
    assert sent == {str(call.code) for call in calls}
    ids = set(WebhookDelivery.objects.for_tenant(tenant).values_list("pk", flat=True))
    assert sorted(i for batch in relayed for i in batch) == sorted(ids)  # each handed over once
    assert len(relayed) < 5  # and not one message per delivery
    _wait(
        lambda: all(d.status == DeliveryStatus.DELIVERED for d in WebhookDelivery.objects.for_tenant(tenant)),
        "deliveries not marked delivered",
        webhook_worker,
    )


@pytest.mark.django_db(transaction=True)
def test_deliveries_a_dead_process_still_held_are_left_to_the_due_sweep(allow_local, receiver):
    tenant = TenantFactory()
    endpoint_create(tenant=tenant, url=receiver.url, event_types=["call.started"])
    relay.enable(relay.Relay(window=3600))  # the thread never gets to send: the process "dies"
    try:
        call_create(tenant=tenant, direction=CallDirection.INBOUND, status=CallStatus.RINGING)
    finally:
        relay._relay = None  # gone with the process, without its flush
    (delivery,) = WebhookDelivery.objects.for_tenant(tenant)

    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.pk not in deliveries_due()  # its own enqueue still has the grace to arrive
    assert delivery.pk in deliveries_due(now=timezone.now() + SWEEP_GRACE + datetime.timedelta(seconds=1))


def test_each_gunicorn_worker_relays_after_the_fork_and_sends_what_it_holds_on_exit(tmp_path):
    """The shipped gunicorn settings' hooks, as gunicorn calls them in a worker process."""
    script = (
        "import voiceplatform.gunicorn_conf as conf\n"
        "from voiceplatform.webhooks import relay\n"
        "assert relay._relay is None\n"
        "conf.post_fork(None, None)\n"
        "sent = []\n"
        "relay._relay._send = sent.extend\n"
        "relay._relay._window = 3600\n"
        "relay.enqueue([7, 8])\n"
        "conf.worker_exit(None, None)\n"
        "print(sent)\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=60, check=False
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[7, 8]"


@pytest.mark.django_db(transaction=True)
def test_a_broker_failure_is_logged_and_leaves_the_rows_to_the_sweep(allow_local, receiver, caplog):
    tenant = TenantFactory()
    endpoint_create(tenant=tenant, url=receiver.url, event_types=["call.started"])

    def broker_down(delivery_ids: Sequence[int]) -> None:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    relay.enable(relay.Relay(broker_down, window=3600))
    try:
        call_create(tenant=tenant, direction=CallDirection.INBOUND, status=CallStatus.RINGING)
        with caplog.at_level(logging.ERROR, logger="voiceplatform.webhooks.relay"):
            assert relay.flush() == 0
    finally:
        relay.disable()

    assert "1 deliveries not handed to Celery; the due sweep will" in caplog.text
    (delivery,) = WebhookDelivery.objects.for_tenant(tenant)
    assert delivery.status == DeliveryStatus.PENDING and delivery.attempts == 0


def test_ids_pushed_while_the_thread_sends_go_in_its_next_message():
    batches: list[list[int]] = []
    sending = threading.Event()
    release = threading.Event()

    def slow_send(delivery_ids: Sequence[int]) -> None:
        batches.append(list(delivery_ids))
        sending.set()
        release.wait(10)

    relaying = relay.Relay(slow_send, window=0.01)
    relaying.push([1, 2])
    assert sending.wait(10)
    relaying.push([3])  # while the first message is on its way
    relaying.push([4])
    release.set()
    deadline = time.monotonic() + 10
    while len(batches) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)

    assert batches == [[1, 2], [3, 4]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db(transaction=True)
def test_under_the_shipped_web_server_a_calls_event_reaches_the_tenants_receiver(
    allow_local,
    receiver,
    webhook_worker,  # noqa: F811
    livekit,
):
    tenant = TenantFactory()
    credential_set(tenant=tenant, provider="twilio", secret=TOKEN, account_id=ACCOUNT_SID)
    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Front desk", "system_prompt": "Hi."})
    phone_number_create(tenant=tenant, number=NUMBER, agent=agent)
    _endpoint, secret = endpoint_create(tenant=tenant, url=receiver.url, event_types=["call.started"])
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "voiceplatform.settings",
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "DATABASE_URL": _live_database_url(),
        "REDIS_URL": settings.CELERY_BROKER_URL,
        "PUBLIC_BASE_URL": base_url,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "LIVEKIT_URL": livekit.url,
        "LIVEKIT_API_KEY": settings.LIVEKIT_API_KEY,
        "LIVEKIT_API_SECRET": settings.LIVEKIT_API_SECRET,
        "LIVEKIT_SIP_HOST": settings.LIVEKIT_SIP_HOST,
        "WEB_BIND": f"127.0.0.1:{port}",
        "WEB_WORKERS": "2",
        "LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "python:voiceplatform.gunicorn_conf"]
    master = subprocess.Popen(
        [*command, "voiceplatform.wsgi:application"], cwd=BASE_DIR, env=env, start_new_session=True
    )
    try:
        _wait(lambda: _answers(base_url), "gunicorn did not start")
        sids = [call_sid() for _ in range(3)]
        for sid in sids:
            response = Twilio(base_url).post(VOICE, voice_params(sid))
            assert response.status_code == 200 and b"<Sip>" in response.content, response.text

        _wait(lambda: len(receiver.received) == 3, "the calls' events did not arrive", webhook_worker)
    finally:
        os.killpg(master.pid, signal.SIGTERM)
        master.wait(timeout=30)
    events = [Webhook(secret).verify(got.body, got.headers) for got in receiver.received]
    assert {event["type"] for event in events} == {"call.started"}
    assert len({event["data"]["id"] for event in events}) == 3


def _answers(base_url: str) -> bool:
    try:
        return httpx.get(base_url + "/health", timeout=2, trust_env=False).status_code == 200
    except httpx.TransportError:
        return False
