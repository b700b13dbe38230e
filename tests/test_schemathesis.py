"""schemathesis over the app's own OpenAPI schema (/api/schema/), through the WSGI app: for every
operation, a bounded number of generated requests (valid and invalid, NULs included) with a real API
key of a tenant that owns real objects; no answer is a server error, and every answer's status,
content type and body are the ones the schema documents."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from agents_app.services import agent_create
from campaigns_app.services import campaign_create
from telephony_app.models import CallDirection
from telephony_app.services import call_create, phone_number_create
from voiceplatform.actor import SYSTEM
from voiceplatform.devtools.fake_livekit import KEY, SECRET, FakeLiveKit
from voiceplatform.models import Tenant
from voiceplatform.services import api_key_create, credential_set
from voiceplatform.webhooks.services import delivery_send_test, endpoint_create
from voiceplatform.wsgi import application

# Per operation. 16 paths / 30 operations: ~25 s on the shared 2-core machine; raise locally to dig.
MAX_EXAMPLES = 6
# Updates through ServiceWriteMixin (the create's serializer and service; see the test's first lines).
SAME_BODY_AS_CREATE = frozenset(
    {"/api/v1/agents/{id}", "/api/v1/campaigns/{id}", "/api/v1/phone-numbers/{id}", "/api/v1/webhook-endpoints/{id}"}
)
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]
# Not checked: negative_data_rejection (the API accepts more than the schema states on purpose, e.g.
# "+1 (415) 555-0123" where the schema documents E.164, and ignores unknown query parameters) and
# positive_data_acceptance (schema-valid agents can still break business rules: unknown voices).


@pytest.fixture
def _test_connection_stays_open(db: None) -> Iterator[None]:
    """Calls through the bare WSGI app, like Django's test client, keep the test's open transaction:
    Django closes the connection at the end of each request, which would end that transaction."""
    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (signals.request_started, signals.request_finished):
        signal.connect(close_old_connections)


# Loaded once at collection, through the WSGI app (the schema view needs no database).
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)
# deterministic: the same examples every run, so a failure is reproducible and the time bounded.
schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True, database="none")


@pytest.fixture
def owned(tenant: Tenant) -> dict[str, str]:
    """One real object of each kind, so detail routes reach real rows: {path segment: id}."""
    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Front desk", "system_prompt": "Be helpful."})
    number = phone_number_create(tenant=tenant, number="+14155550123", agent=agent, label="Main line")
    call = call_create(
        tenant=tenant,
        agent=agent,
        direction=CallDirection.INBOUND,
        from_number="+12125550100",
        to_number="+14155550123",
    )
    # A Twilio credential, not a model key: the agent's language model is not ready, so no generated
    # chat can reach a real provider (the chat answers its documented 400 with `problems`).
    credential = credential_set(
        tenant=tenant, provider="twilio", secret="0f1e2d3c4b5a69788796a5b4c3d2e1f0", account_id="AC" + "1" * 32
    )
    campaign = campaign_create(tenant=tenant, fields={"name": "Reminders", "agent": agent, "caller_id": number})
    # A public address literal: saved without a DNS lookup; its deliveries wait for a commit that never comes.
    endpoint, _secret = endpoint_create(tenant=tenant, url="https://93.184.216.34/hooks", event_types=["call.ended"])
    delivery = delivery_send_test(tenant=tenant, endpoint=endpoint)
    return {
        "webhook-endpoints": str(endpoint.code),
        "webhook-deliveries": str(delivery.code),
        "agents": str(agent.code),
        "campaigns": str(campaign.code),
        "calls": str(call.code),
        "phone-numbers": str(number.code),
        "provider-credentials": str(credential.code),
    }


@pytest.fixture
def livekit(settings: Any) -> Iterator[FakeLiveKit]:
    """LiveKit configured and answered by the local fake, so the routes that open rooms run in full
    (unconfigured, they answer their documented 503, which not_a_server_error counts as a failure)."""
    with FakeLiveKit() as fake:
        settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = fake.url, KEY, SECRET
        settings.LIVEKIT_SIP_HOST = "vp-test.sip.livekit.cloud"
        settings.LIVEKIT_PUBLIC_URL = ""
        yield fake


@pytest.fixture
def bearer(tenant: Tenant) -> str:
    _key, raw_key = api_key_create(tenant=tenant, name="schemathesis")
    return f"Bearer {raw_key}"


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_answers_as_its_schema_says(
    case: Any, owned: dict[str, str], bearer: str, livekit: FakeLiveKit, _test_connection_stays_open: None
) -> None:
    # An update's body is its create's, field for field (ServiceWriteMixin: PUT and PATCH change the
    # fields sent through the same serializer and service): the coverage phase's boundary bodies are
    # sent once, to POST, not three times (they were ~60 s of the suite for agents alone).
    if (
        case.method in ("PUT", "PATCH")
        and case.path in SAME_BODY_AS_CREATE
        and case.meta is not None
        and case.meta.phase.name.value == "coverage"
    ):
        return
    # Generated ids are random UUIDs (404s); most cases aim at the tenant's real rows instead. A
    # DELETE keeps its random id, so one example cannot remove the row the next ones need.
    if "id" in (case.path_parameters or {}) and case.method != "DELETE":
        case.path_parameters["id"] = owned[case.path.split("/")[3]]
    case.call_and_validate(headers={"Authorization": bearer}, checks=CHECKS)
