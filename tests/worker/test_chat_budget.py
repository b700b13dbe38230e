"""A slow provider cannot hold a web request past WEB_REQUEST_BUDGET_SECONDS (issue 12, item 2).

The chat's model is the real openai plugin talking to the local fake OpenAI server, made slow.
The budget is set low here so the tests are quick; what is asserted is the user-visible outcome:
a 504 with {detail, problems} in time, the turn recorded, the chat still usable.
"""

from __future__ import annotations

import dataclasses
import time

import pytest
from django.urls import reverse

from telephony_app.models import Call, CallStatus
from tests.worker.test_chat import _agent, _no_provider_keys_in_the_environment  # noqa: F401
from voiceplatform.devtools.fake_openai import FakeOpenAI, text
from voiceplatform.services import credential_set

BUDGET = 4


@pytest.fixture
def fake():
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def agent(tenant, fake, settings):
    settings.WEB_REQUEST_BUDGET_SECONDS = BUDGET
    credential_set(tenant=tenant, provider="openai_compatible", secret="sk-local-1234", base_url=fake.base_url)
    return _agent(tenant)


def _slow(answer_text: str, seconds: float):
    return dataclasses.replace(text(answer_text), delay=seconds)


def _post(client, agent, body):
    return client.post(reverse("api-agent-chat", kwargs={"id": agent.code}), body, format="json")


def test_a_slow_model_gets_a_504_within_the_budget_and_the_chat_goes_on(api_client_for, tenant, agent, fake):
    api = api_client_for(tenant)
    chat_id = _post(api, agent, {"action": "start"}).json()["chatId"]
    fake.add(_slow("Too late.", 30), _slow("Too late again.", 30))  # the first try and its retry

    began = time.monotonic()
    response = _post(api, agent, {"action": "send", "chatId": chat_id, "message": "Are you there?"})
    elapsed = time.monotonic() - began

    assert response.status_code == 504, response.content
    assert elapsed < BUDGET + 0.5
    body = response.json()
    assert f"did not answer within {BUDGET} seconds" in body["detail"]
    assert body["problems"] and all(isinstance(problem, str) for problem in body["problems"])
    assert body["chatId"] == chat_id
    call = Call.objects.get(code=chat_id)
    assert call.status == CallStatus.IN_PROGRESS  # consistent: the chat is kept, not half-ended
    assert ("user", "Are you there?") in [(turn["role"], turn["text"]) for turn in call.transcript]
    assert call.transcript[-1]["role"] == "system"
    assert call.transcript[-1]["error"] is True
    assert f"no answer within {BUDGET} seconds" in call.error

    fake.add(text("Yes, I am here."))
    later = _post(api, agent, {"action": "send", "chatId": chat_id, "message": "Hello?"})
    assert later.status_code == 200
    assert later.json()["messages"][-1]["text"] == "Yes, I am here."


def test_the_retry_fits_in_the_budget(api_client_for, tenant, agent, fake):
    """Each attempt is cut so the first try, the pause and the retry all end within the budget."""
    api = api_client_for(tenant)
    chat_id = _post(api, agent, {"action": "start"}).json()["chatId"]
    fake.add(_slow("Too late.", 30), text("Second try in time."))

    began = time.monotonic()
    response = _post(api, agent, {"action": "send", "chatId": chat_id, "message": "Are you there?"})

    assert time.monotonic() - began < BUDGET + 0.5
    assert response.status_code == 200, response.content
    assert response.json()["messages"][-1]["text"] == "Second try in time."
    assert len(fake.completions) == 2


def test_the_portal_says_the_model_was_too_slow_and_keeps_the_draft(client_for, owner, agent, fake):
    client = client_for(owner)
    url = reverse("agents-agent-chat", kwargs={"code": agent.code})
    client.post(url, {"action": "start"})
    call = Call.objects.get(agent=agent)
    fake.add(_slow("Too late.", 30), _slow("Too late again.", 30))

    began = time.monotonic()
    response = client.post(
        url, {"action": "send", "chat": str(call.code), "message": "Anyone?"}, headers={"HX-Request": "true"}
    )

    assert time.monotonic() - began < BUDGET + 0.5
    assert response.status_code == 200
    page = response.content.decode()
    assert f"did not answer within {BUDGET} seconds" in page
    assert ">Anyone?</textarea>" in page  # the typed message is kept for another try
    call.refresh_from_db()
    assert call.status == CallStatus.IN_PROGRESS
