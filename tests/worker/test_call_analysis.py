"""Post-call analysis: after a call ends, the agent's own model (the real openai plugin against the local
fake OpenAI-compatible server, voiceplatform/devtools/fake_openai.py) writes a summary, the data of the
agent's schema and a success verdict onto the Call.

The call-end hook queues the task by name on the real Celery broker (Redis): the tests read the message
there and run the task the message names, as a Celery worker would (in this process, so that the fake's
requests can be counted).
"""

from __future__ import annotations

import base64
import datetime
import json
from decimal import Decimal
from typing import Any

import pytest
import redis
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from agents_app.services import agent_create, agent_update
from telephony_app.analysis import ANALYSIS_CLAIM_LEASE, ANALYSIS_TASK, NOT_QUEUED
from telephony_app.models import AnalysisStatus, Call, CallDirection, CallStatus
from telephony_app.services import call_create, call_finish
from voiceplatform.actor import SYSTEM
from voiceplatform.celery import app as celery_app
from voiceplatform.devtools.fake_openai import FakeOpenAI, error, text
from voiceplatform.models import PROVIDER_ENV, Tenant
from voiceplatform.services import credential_set
from worker import tasks

LOCAL_MODEL = "llama-3.1-8b-local"
SCHEMA = {
    "type": "object",
    "properties": {
        "customer_name": {"type": "string", "description": "The caller's name."},
        "intent": {"type": "string", "enum": ["booking", "question", "other"], "description": "Why they called."},
        "party_size": {"type": "integer", "description": "People in the booking."},
        "topics": {"type": "array", "items": {"type": "string"}, "description": "Subjects raised."},
    },
    "required": ["intent"],
}
RUBRIC = "A table was booked."
TRANSCRIPT = [
    {"role": "assistant", "text": "Hi, this is Maya from Acme. How can I help?", "at": "2026-12-03T10:00:00Z"},
    {"role": "user", "text": "I'm Dana, a table for four tonight please.", "at": "2026-12-03T10:00:05Z"},
    {"role": "assistant", "text": "Booked: four people at eight.", "at": "2026-12-03T10:00:09Z"},
]
GOOD = {
    "summary": "Dana booked a table for four tonight at eight.",
    "extracted": {"customer_name": "Dana", "intent": "booking", "party_size": 4, "topics": ["booking"]},
    "success": True,
}


@pytest.fixture(autouse=True)
def _no_provider_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for names in PROVIDER_ENV.values():
        for name in names.values():
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def broker() -> Any:
    """The Celery broker's default queue (Redis), emptied before and after the test."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queue = celery_app.conf.task_default_queue
    client.delete(queue)
    yield client
    client.delete(queue)


def queued_analyses(client: redis.Redis) -> list[int]:
    """The call ids of the analysis messages waiting on the broker's default queue."""
    found = []
    for raw in client.lrange(celery_app.conf.task_default_queue, 0, -1):
        message = json.loads(raw)
        if message["headers"]["task"] == ANALYSIS_TASK:
            args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
            found.append(args[0])
    return found


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


def _agent(tenant: Tenant, **fields: Any):
    return agent_create(
        tenant=tenant,
        actor=SYSTEM,
        fields={
            "name": "Maya",
            "llm_provider": "openai_compatible",
            "llm_model": LOCAL_MODEL,
            "system_prompt": "You book tables.",
            "greeting_message": "Hi, this is {{agent_name}} from {{company_name}}. How can I help?",
            "analysis_enabled": True,
            "analysis_summary_prompt": "One sentence: who booked what.",
            "analysis_schema": SCHEMA,
            "analysis_success_rubric": RUBRIC,
            **fields,
        },
    )


@pytest.fixture
def agent(tenant, fake):
    credential_set(tenant=tenant, provider="openai_compatible", secret="sk-local", base_url=fake.base_url)
    return _agent(tenant)


def _ended_call(tenant: Tenant, agent, capture, *, transcript: list[dict[str, Any]] | None = None) -> Call:
    """A phone call that ended with the worker's report, its end hooks run as after a commit."""
    call = call_create(tenant=tenant, agent=agent, direction=CallDirection.INBOUND, status=CallStatus.IN_PROGRESS)
    with capture(execute=True):
        call_finish(
            tenant=tenant,
            call=call,
            status=CallStatus.COMPLETED,
            end_reason="caller hung up",
            transcript=TRANSCRIPT if transcript is None else transcript,
        )
    return Call.objects.get(pk=call.pk)


def _run_queued(client: redis.Redis) -> list[str]:
    """Run each queued analysis task as a Celery worker would: the task the message names, its args."""
    return [celery_app.tasks[ANALYSIS_TASK](call_id) for call_id in queued_analyses(client)]


# --- the whole path ---------------------------------------------------------------------------


def test_an_ended_call_is_queued_then_analysed_with_summary_data_success_and_cost(
    tenant, agent, fake, broker, django_capture_on_commit_callbacks
):
    call = _ended_call(tenant, agent, django_capture_on_commit_callbacks)

    assert call.analysis_status == AnalysisStatus.PENDING
    assert queued_analyses(broker) == [call.pk]
    fake.add(text(json.dumps(GOOD)))

    assert _run_queued(broker) == ["done"]

    call.refresh_from_db()
    assert call.analysis_status == AnalysisStatus.DONE
    assert call.summary == GOOD["summary"]
    assert call.extracted == GOOD["extracted"]
    assert call.success is True
    assert call.analysis_error == ""
    assert call.analyzed_at is not None
    assert call.analysis_cost_usd is None  # a self-hosted model has no list price
    [request] = fake.completions
    # The agent's model, asked for the answer's JSON Schema (structured output), with the conversation.
    assert request.body["model"] == LOCAL_MODEL
    response_format = request.body["response_format"]
    assert response_format["type"] == "json_schema"
    answer_schema = response_format["json_schema"]["schema"]
    assert answer_schema["properties"]["extracted"]["properties"] == SCHEMA["properties"]
    assert answer_schema["required"] == ["summary", "extracted", "success"]
    assert "One sentence: who booked what." in request.system_text
    assert RUBRIC in request.system_text
    user_text = request.messages[-1]["content"]
    assert "Caller: I'm Dana, a table for four tonight please." in user_text
    assert "Agent: Booked: four people at eight." in user_text


def test_the_cost_is_the_list_price_of_the_tokens_used(tenant, fake, broker, django_capture_on_commit_callbacks):
    # OpenAI's own provider pointed at the fake through the tenant's base URL: gpt-4o-mini has a list price.
    credential_set(tenant=tenant, provider="openai", secret="sk-test", base_url=fake.base_url)
    agent = _agent(tenant, llm_provider="openai", llm_model="gpt-4o-mini")
    call = _ended_call(tenant, agent, django_capture_on_commit_callbacks)
    fake.add(text(json.dumps(GOOD)))

    _run_queued(broker)

    call.refresh_from_db()
    assert call.analysis_status == AnalysisStatus.DONE
    tokens = fake.completions[0]
    assert tokens.body["response_format"]["type"] == "json_schema"
    assert call.analysis_cost_usd is not None and call.analysis_cost_usd > Decimal(0)


def test_optional_fields_the_model_leaves_null_or_adds_are_dropped(
    tenant, agent, fake, broker, django_capture_on_commit_callbacks
):
    call = _ended_call(tenant, agent, django_capture_on_commit_callbacks)
    answer = {**GOOD, "extracted": {"intent": "question", "customer_name": None, "mood": "happy"}, "success": False}
    fake.add(text(json.dumps(answer)))

    _run_queued(broker)

    call.refresh_from_db()
    assert call.analysis_status == AnalysisStatus.DONE
    assert call.extracted == {"intent": "question"}
    assert call.success is False


# --- invalid answers: one retry, then failed ----------------------------------------------------


def test_an_answer_that_is_not_json_is_sent_back_once_then_the_analysis_fails_with_the_reason(
    tenant, agent, fake, broker, django_capture_on_commit_callbacks
):
    call = _ended_call(tenant, agent, django_capture_on_commit_callbacks)
    fake.add(text("Sure! The caller booked a table."), text("Here you go: summary = booked"))

    assert _run_queued(broker) == ["failed"]

    call.refresh_from_db()
    assert call.analysis_status == AnalysisStatus.FAILED
    assert call.analysis_error.startswith("the model's answer was invalid twice: the answer is not valid JSON")
    assert call.summary == "" and call.extracted == {} and call.success is None
    _first, second = fake.completions
    # The retry shows the model its answer and what was wrong with it.
    assert second.messages[-2] == {"role": "assistant", "content": "Sure! The caller booked a table."}
    assert "not valid JSON" in second.messages[-1]["content"]


def test_an_answer_breaking_the_schema_is_retried_and_a_valid_second_answer_is_stored(
    tenant, agent, fake, broker, django_capture_on_commit_callbacks
):
    call = _ended_call(tenant, agent, django_capture_on_commit_callbacks)
    wrong = {**GOOD, "extracted": {"intent": "reservation", "party_size": "four"}}
    fake.add(text(json.dumps(wrong)), text(json.dumps(GOOD)))

    assert _run_queued(broker) == ["done"]

    call.refresh_from_db()
    assert call.extracted == GOOD["extracted"]
    assert len(fake.completions) == 2
    feedback = fake.completions[1].messages[-1]["content"]
    assert "extracted.intent: 'reservation' is not one of ['booking', 'question', 'other']" in feedback
    assert "extracted.party_size: 'four' is not of type 'integer'" in feedback


def test_a_provider_error_fails_the_analysis_without_the_providers_words(
    tenant, agent, fake, broker, django_capture_on_commit_callbacks
):
    call = _ended_call(tenant, agent, django_capture_on_commit_callbacks)
    fake.add(error(500, "Traceback at 10.0.0.7: secret internals"))

    _run_queued(broker)

    call.refresh_from_db()
    assert call.analysis_status == AnalysisStatus.FAILED
    assert call.analysis_error == "the language model provider failed: HTTP 500 (the provider's server failed)"
    assert len(fake.completions) == 1


def test_a_server_refusing_the_structured_output_option_is_asked_once_without_it(
    tenant, agent, fake, broker, django_capture_on_commit_callbacks
):
    call = _ended_call(tenant, agent, django_capture_on_commit_callbacks)
    fake.add(error(400, "unknown field response_format"), text(json.dumps(GOOD)))

    assert _run_queued(broker) == ["done"]

    first, second = fake.completions
    assert "response_format" in first.body
    assert "response_format" not in second.body
    assert "The answer's JSON Schema" in second.system_text  # the shape is in the instructions as well
    call.refresh_from_db()
    assert call.summary == GOOD["summary"]


def test_an_empty_summary_is_an_invalid_answer(tenant, agent, fake, broker, django_capture_on_commit_callbacks):
    call = _ended_call(tenant, agent, django_capture_on_commit_callbacks)
    fake.add(text(json.dumps({**GOOD, "summary": " "})), text(json.dumps({**GOOD, "summary": ""})))

    _run_queued(broker)

    call.refresh_from_db()
    assert call.analysis_status == AnalysisStatus.FAILED
    assert call.analysis_error == "the model's answer was invalid twice: summary: it is empty"


def test_a_model_that_does_not_answer_in_time_fails_the_analysis(
    tenant, agent, fake, broker, settings, django_capture_on_commit_callbacks
):
    settings.CALL_ANALYSIS_TIMEOUT_SECONDS = 1
    call = _ended_call(tenant, agent, django_capture_on_commit_callbacks)
    fake.add(text(json.dumps(GOOD), delay=3))

    _run_queued(broker)

    call.refresh_from_db()
    assert call.analysis_status == AnalysisStatus.FAILED
    assert "did not answer within 1 seconds" in call.analysis_error or "did not answer in time" in call.analysis_error


# --- exactly once -------------------------------------------------------------------------------


def test_a_redelivered_task_does_not_call_the_model_again(
    tenant, agent, fake, broker, django_capture_on_commit_callbacks
):
    call = _ended_call(tenant, agent, django_capture_on_commit_callbacks)
    fake.add(text(json.dumps(GOOD)), text(json.dumps({**GOOD, "summary": "A second, different summary."})))

    assert tasks.analyze_call(call.pk) == "done"
    assert tasks.analyze_call(call.pk) == "skipped"  # the same message delivered again

    call.refresh_from_db()
    assert call.summary == GOOD["summary"]
    assert len(fake.completions) == 1


def test_a_call_being_analysed_elsewhere_is_left_alone_until_its_claim_expires(
    tenant, agent, fake, broker, django_capture_on_commit_callbacks
):
    call = _ended_call(tenant, agent, django_capture_on_commit_callbacks)
    started = timezone.now() - datetime.timedelta(minutes=1)
    Call.objects.filter(pk=call.pk).update(analysis_status=AnalysisStatus.RUNNING, analysis_started_at=started)

    assert tasks.analyze_call(call.pk) == "skipped"
    assert fake.completions == []

    # The task holding it died (kill -9); acks_late redelivers its message after the lease.
    expired = timezone.now() - ANALYSIS_CLAIM_LEASE - datetime.timedelta(seconds=1)
    Call.objects.filter(pk=call.pk).update(analysis_started_at=expired)
    fake.add(text(json.dumps(GOOD)))

    assert tasks.analyze_call(call.pk) == "done"
    assert len(fake.completions) == 1


def test_a_second_end_report_does_not_queue_a_second_analysis(
    tenant, agent, fake, broker, django_capture_on_commit_callbacks
):
    call = _ended_call(tenant, agent, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=True):
        call_finish(tenant=tenant, call=call, status=CallStatus.COMPLETED, transcript=TRANSCRIPT)

    assert queued_analyses(broker) == [call.pk]


# --- which calls ----------------------------------------------------------------------------------


def test_calls_of_an_agent_without_analysis_are_not_analysed(
    tenant, agent, fake, broker, django_capture_on_commit_callbacks
):
    agent = agent_update(tenant=tenant, agent=agent, actor=SYSTEM, fields={"analysis_enabled": False})

    call = _ended_call(tenant, agent, django_capture_on_commit_callbacks)

    assert call.analysis_status == ""
    assert queued_analyses(broker) == []


def test_a_call_without_a_conversation_is_not_analysed(tenant, agent, broker, django_capture_on_commit_callbacks):
    call = _ended_call(tenant, agent, django_capture_on_commit_callbacks, transcript=[])

    assert call.analysis_status == ""
    assert queued_analyses(broker) == []


def test_a_call_ended_before_its_transcript_arrived_is_analysed_when_the_report_brings_it(
    tenant, agent, broker, django_capture_on_commit_callbacks
):
    call = call_create(tenant=tenant, agent=agent, direction=CallDirection.INBOUND, status=CallStatus.IN_PROGRESS)
    with django_capture_on_commit_callbacks(execute=True):  # Twilio's status callback: ended, no transcript
        call_finish(tenant=tenant, call=call, status=CallStatus.COMPLETED, ended_by="twilio")
    assert queued_analyses(broker) == []

    with django_capture_on_commit_callbacks(execute=True):  # the worker's report, later
        call_finish(tenant=tenant, call=call, status=CallStatus.COMPLETED, transcript=TRANSCRIPT)

    assert Call.objects.get(pk=call.pk).analysis_status == AnalysisStatus.PENDING
    assert queued_analyses(broker) == [call.pk]


def test_a_broker_that_does_not_answer_fails_the_analysis_instead_of_leaving_it_pending(
    tenant, agent, monkeypatch, django_capture_on_commit_callbacks
):
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ConnectionError("broker down")

    # The broker is the edge here: its client refuses, as redis-py does when Redis is down.
    monkeypatch.setattr(celery_app, "send_task", refuse)

    call = _ended_call(tenant, agent, django_capture_on_commit_callbacks)

    assert call.analysis_status == AnalysisStatus.FAILED
    assert call.analysis_error == NOT_QUEUED


def test_the_celery_app_knows_the_task_the_hook_queues_by_name():
    celery_app.loader.import_default_modules()  # what a Celery worker does at start (autodiscovery)

    assert ANALYSIS_TASK in celery_app.tasks


# --- a text chat ------------------------------------------------------------------------------------


def test_a_text_chat_is_analysed_when_it_ends(api, tenant, agent, fake, broker, django_capture_on_commit_callbacks):
    url = reverse("api-agent-chat", kwargs={"id": agent.code})
    chat_id = api.post(url, {"action": "start"}, format="json").json()["chatId"]
    fake.add(text("Booked: four people at eight."))
    api.post(url, {"action": "send", "chatId": chat_id, "message": "A table for four tonight."}, format="json")
    fake.reset()

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(url, {"action": "end", "chatId": chat_id}, format="json")
    assert response.status_code == 200, response.content

    call = Call.objects.get(code=chat_id)
    assert queued_analyses(broker) == [call.pk]
    fake.add(text(json.dumps(GOOD)))
    _run_queued(broker)

    detail = api.get(reverse("api-call-detail", kwargs={"id": chat_id})).json()
    assert detail["analysis"] == {
        "status": "done",
        "error": "",
        "summary": GOOD["summary"],
        "extracted": GOOD["extracted"],
        "success": True,
        "costUsd": None,
        "analyzedAt": detail["analysis"]["analyzedAt"],
    }
    assert "Caller: A table for four tonight." in fake.completions[0].messages[-1]["content"]


def test_an_idle_chat_ended_by_the_reconciler_is_analysed(tenant, agent, broker, django_capture_on_commit_callbacks):
    from telephony_app.services import chats_end_idle

    call = call_create(tenant=tenant, agent=agent, direction=CallDirection.CHAT, status=CallStatus.IN_PROGRESS)
    Call.objects.filter(pk=call.pk).update(transcript=TRANSCRIPT)

    with django_capture_on_commit_callbacks(execute=True):
        ended = chats_end_idle(idle_for=datetime.timedelta(seconds=0), now=timezone.now() + datetime.timedelta(1))

    assert ended == 1
    assert queued_analyses(broker) == [call.pk]


def test_a_stored_analysis_is_a_call_analyzed_webhook_event(
    tenant, agent, fake, broker, settings, django_capture_on_commit_callbacks
):
    from voiceplatform.webhooks.models import WebhookDelivery
    from voiceplatform.webhooks.services import endpoint_create

    settings.WEBHOOK_URL_ALLOW_HTTP = True
    settings.WEBHOOK_URL_ALLOWED_HOSTS = ["127.0.0.1"]
    endpoint_create(tenant=tenant, url="http://127.0.0.1:9/hooks", event_types=["call.analyzed"])
    call = _ended_call(tenant, agent, django_capture_on_commit_callbacks)
    assert not WebhookDelivery.objects.for_tenant(tenant).exists()  # ended, not analysed yet
    fake.add(text(json.dumps(GOOD)))

    with django_capture_on_commit_callbacks(execute=False):
        assert _run_queued(broker) == ["done"]

    [delivery] = WebhookDelivery.objects.for_tenant(tenant)
    body = json.loads(delivery.body)
    assert body["type"] == "call.analyzed"
    assert body["data"] == {
        "callId": str(call.code),
        "summary": GOOD["summary"],
        "extracted": GOOD["extracted"],
        "success": True,
    }
