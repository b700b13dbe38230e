"""The inbound number cache (telephony_app/number_cache.py): Twilio's voice webhook finds the
dialed number, its tenant, agent and auth token in Redis, and every change to those reaches the
very next call. Over real HTTP, real PostgreSQL and Redis, as in test_twilio_webhooks.py."""

from __future__ import annotations

import pytest
import redis
from cryptography.fernet import Fernet
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from twilio.request_validator import RequestValidator

from agents_app.services import agent_delete, agent_update
from telephony_app import number_cache
from telephony_app.inbound import UNAVAILABLE_LINE
from telephony_app.models import Call, CallStatus
from telephony_app.services import phone_number_assign_agent, phone_number_create, phone_number_update
from tests.telephony_app.test_twilio_webhooks import (
    ACCOUNT_SID,
    NUMBER,
    OTHER_TOKEN,
    TOKEN,
    VOICE,
    agent,
    call_sid,
    calls,
    number,
    twilio,
    twiml,
    verbs,
    voice_params,
)
from voiceplatform.actor import SYSTEM
from voiceplatform.services import credential_set, credentials_reencrypt_all

# The webhook tests' fixtures: a tenant with a Twilio token, its agent, its number, a signing Twilio.
__all__ = ["agent", "number", "twilio"]

pytestmark = pytest.mark.usefixtures("transactional_db")

NEW_NUMBER = "+14155550188"


def connected(response) -> bool:
    return [tag for tag, _ in verbs(twiml(response))] == ["Dial"]


def test_a_warm_webhook_reads_no_routing_rows_from_the_database(twilio, livekit, tenant, number):
    """In-process (Django's test client, same PUBLIC_BASE_URL) to see every statement it runs."""
    twiml(twilio.post(VOICE, voice_params(call_sid())))  # the first call fills the cache
    params = voice_params(call_sid())
    signature = RequestValidator(TOKEN).compute_signature(twilio.base_url + VOICE, params)
    with CaptureQueriesContext(connection) as queries:
        response = Client().post(VOICE, params, HTTP_X_TWILIO_SIGNATURE=signature)

    assert response.status_code == 200, response.content
    assert b"<Sip>" in response.content
    # number, tenant, agent and token came from Redis; the database only writes and admits the Call,
    # in one message run as one transaction (voiceplatform/db_batch.py): the Call row, call.started's
    # outbox rows for the tenant's subscribed endpoints (one INSERT ... SELECT; none here), then, last,
    # the agent's row lock and its open-call count (max_concurrent_calls) in one function call
    assert len(queries.captured_queries) == 1
    statements = [statement.split()[0] for statement in queries.captured_queries[0]["sql"].split(";\n")]
    assert statements == ["INSERT", "INSERT", "SELECT"]
    sql = queries.captured_queries[0]["sql"].split(";\n")
    assert "webhookendpoint" in sql[1]
    assert sql[2].startswith("SELECT telephony_inbound_admit(")


def test_reassigning_the_number_sends_the_next_call_to_the_new_agent(twilio, livekit, tenant, number, make_agent):
    twiml(twilio.post(VOICE, voice_params(call_sid())))
    sales = make_agent(tenant, name="Sales")

    phone_number_assign_agent(tenant=tenant, phone_number=number, agent=sales)
    assert connected(twilio.post(VOICE, voice_params(call_sid())))

    assert [call.agent_name for call in calls(tenant)] == ["Front desk", "Sales"]


def test_a_deactivated_number_turns_the_next_caller_away(twilio, livekit, tenant, number):
    twiml(twilio.post(VOICE, voice_params(call_sid())))

    phone_number_update(tenant=tenant, phone_number=number, is_active=False)
    answer = verbs(twiml(twilio.post(VOICE, voice_params(call_sid()))))

    assert answer == [("Say", UNAVAILABLE_LINE), ("Hangup", "")]
    assert calls(tenant)[-1].status == CallStatus.FAILED


def test_a_renumbered_line_answers_on_its_new_number_only(twilio, livekit, tenant, number):
    twiml(twilio.post(VOICE, voice_params(call_sid())))

    phone_number_update(tenant=tenant, phone_number=number, number=NEW_NUMBER)

    assert twilio.post(VOICE, voice_params(call_sid())).status_code == 403  # nobody owns it any more
    assert connected(twilio.post(VOICE, voice_params(call_sid(), to=NEW_NUMBER)))


def test_a_number_added_after_a_call_to_it_was_refused_answers_at_once(twilio, livekit, tenant, agent):
    assert twilio.post(VOICE, voice_params(call_sid())).status_code == 403  # "nobody has it" is cached too

    phone_number_create(tenant=tenant, number=NUMBER, agent=agent)

    assert connected(twilio.post(VOICE, voice_params(call_sid())))


def test_an_inactive_or_deleted_agent_stops_taking_calls_at_once(twilio, livekit, tenant, agent, number):
    twiml(twilio.post(VOICE, voice_params(call_sid())))

    agent_update(tenant=tenant, agent=agent, actor=SYSTEM, fields={"is_active": False})
    assert verbs(twiml(twilio.post(VOICE, voice_params(call_sid()))))[0] == ("Say", UNAVAILABLE_LINE)

    agent_delete(tenant=tenant, agent=agent, detach=True)  # the number answered it: detach, as a user confirms
    assert verbs(twiml(twilio.post(VOICE, voice_params(call_sid()))))[0] == ("Say", UNAVAILABLE_LINE)
    assert calls(tenant)[-1].end_reason == f"number {NUMBER} has no agent assigned"


def test_a_rotated_auth_token_signs_the_very_next_webhook(twilio, livekit, tenant, number):
    twiml(twilio.post(VOICE, voice_params(call_sid())))

    credential_set(tenant=tenant, provider="twilio", secret=OTHER_TOKEN, account_id=ACCOUNT_SID)

    assert twilio.post(VOICE, voice_params(call_sid())).status_code == 403  # the old token no longer signs
    assert connected(twilio.post(VOICE, voice_params(call_sid()), token=OTHER_TOKEN))


def test_a_cached_token_encrypted_under_a_retired_key_is_read_again(twilio, livekit, tenant, number, settings):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    twiml(twilio.post(VOICE, voice_params(call_sid())))  # cached, encrypted under the old key
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    credentials_reencrypt_all()  # a queryset update: nothing drops the cached entry

    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key is retired

    assert connected(twilio.post(VOICE, voice_params(call_sid())))
    assert len(calls(tenant)) == 2


def test_calls_still_connect_when_redis_is_down(twilio, livekit, tenant, number, monkeypatch):
    dead = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, socket_timeout=0.2)
    monkeypatch.setattr(number_cache, "redis_client", lambda: dead)

    assert connected(twilio.post(VOICE, voice_params(call_sid())))
    assert Call.objects.for_tenant(tenant).count() == 1


def test_new_business_hours_apply_to_the_very_next_call(twilio, livekit, tenant, agent, number):
    assert connected(twilio.post(VOICE, voice_params(call_sid())))  # open: no hours set

    agent_update(
        tenant=tenant,
        agent=agent,
        actor=SYSTEM,
        fields={"business_hours_enabled": True, "out_of_hours_message": "Closed for the holidays."},
    )
    answer = verbs(twiml(twilio.post(VOICE, voice_params(call_sid()))))

    assert answer == [("Say", "Closed for the holidays."), ("Hangup", "")]  # no hours at all: always closed
