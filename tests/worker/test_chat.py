"""The text chat playground: a real AgentSession in text mode, the agent's own LLM over HTTP.

The LLM is the real openai plugin talking to a local fake OpenAI-compatible server
(voiceplatform/devtools/fake_openai.py) that speaks the streaming protocol; the tenant's credential points
at it. Nothing else is replaced: the loader, the Call rows, the API and the portal are real.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from agents_app.services import agent_create
from telephony_app import chat
from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.services import call_create
from voiceplatform.actor import SYSTEM
from voiceplatform.devtools.fake_openai import FakeOpenAI, error, text, tool_call
from voiceplatform.models import PROVIDER_ENV, Tenant
from voiceplatform.services import credential_set
from worker.agent import ERROR_APOLOGY, TRANSFER_LINE

TRANSFER_NUMBER = "+12125550142"
LOCAL_KEY = "sk-acme-local-7788"
LOCAL_MODEL = "llama-3.1-8b-local"
GREETING = "Hi, this is Maya from Acme. How can I help?"


@pytest.fixture(autouse=True)
def _no_provider_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the keys a test stores: the machine running the suite may have real ones exported."""
    for names in PROVIDER_ENV.values():
        for name in names.values():
            monkeypatch.delenv(name, raising=False)


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
            "system_prompt": "You are {{agent_name}}, the assistant of {{company_name}}. Only discuss plumbing.",
            "personality": "Warm and brief.",
            "greeting_message": "Hi, this is {{agent_name}} from {{company_name}}. How can I help?",
            "transfer_number": TRANSFER_NUMBER,
            **fields,
        },
    )


@pytest.fixture
def agent(tenant, fake):
    credential_set(tenant=tenant, provider="openai_compatible", secret=LOCAL_KEY, base_url=fake.base_url)
    return _agent(tenant)


def _url(agent) -> str:
    return reverse("api-agent-chat", kwargs={"id": agent.code})


def _start(api, agent) -> dict[str, Any]:
    response = api.post(_url(agent), {"action": "start"}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _send(api, agent, chat_id: str, message: str):
    return api.post(_url(agent), {"action": "send", "chatId": chat_id, "message": message}, format="json")


def _texts(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(message["role"], message["text"]) for message in messages]


# --- start ------------------------------------------------------------------------------------


def test_start_greets_verbatim_with_placeholders_filled_and_no_model_call(api, agent, fake):
    started = _start(api, agent)

    assert _texts(started["messages"]) == [("assistant", GREETING)]
    assert started["ended"] is False
    assert started["error"] is None
    assert fake.completions == []  # the greeting is said as written, not generated
    call = Call.objects.get(code=started["chatId"])
    assert call.direction == CallDirection.CHAT
    assert call.status == CallStatus.IN_PROGRESS
    assert call.agent == agent
    assert call.config_source in ("cache", "database")
    assert [(turn["role"], turn["text"]) for turn in call.transcript] == [("assistant", GREETING)]
    assert call.context["started_by"].startswith("API key tests")


def test_without_a_greeting_the_model_greets(api, tenant, agent, fake):
    quiet = _agent(tenant, name="Quiet", greeting_message="")
    fake.add(text("Hello! How can I help with your plumbing?"))

    started = _start(api, quiet)

    assert _texts(started["messages"]) == [("assistant", "Hello! How can I help with your plumbing?")]
    assert len(fake.completions) == 1


# --- send -------------------------------------------------------------------------------------


def test_send_returns_the_models_reply_and_stores_both_turns(api, agent, fake):
    chat_id = _start(api, agent)["chatId"]
    fake.add(text("We fix leaks every day of the week."))

    response = _send(api, agent, chat_id, "Do you fix leaks on Sundays?")

    assert response.status_code == 200
    body = response.json()
    assert _texts(body["messages"]) == [
        ("user", "Do you fix leaks on Sundays?"),
        ("assistant", "We fix leaks every day of the week."),
    ]
    assert body["ended"] is False
    call = Call.objects.get(code=chat_id)
    assert [(turn["role"], turn["text"]) for turn in call.transcript] == [
        ("assistant", GREETING),
        ("user", "Do you fix leaks on Sundays?"),
        ("assistant", "We fix leaks every day of the week."),
    ]
    assert call.status == CallStatus.IN_PROGRESS


def test_the_model_gets_the_agents_instructions_tools_conversation_and_the_tenants_key(api, agent, fake):
    chat_id = _start(api, agent)["chatId"]
    fake.add(text("Sure."), text("Tomorrow at nine."))

    _send(api, agent, chat_id, "Can you come today?")
    _send(api, agent, chat_id, "When, then?")

    first, second = fake.completions
    assert first.path == "/v1/chat/completions"
    assert first.headers["authorization"] == f"Bearer {LOCAL_KEY}"
    assert first.body["model"] == LOCAL_MODEL
    assert first.body["stream"] is True
    assert "You are Maya, the assistant of Acme. Only discuss plumbing." in first.system_text
    assert "Personality and tone: Warm and brief." in first.system_text
    assert "text chat" in first.system_text
    assert {"transfer_to_human", "end_call"} <= set(first.tool_names)
    turns = [(m["role"], m["content"]) for m in second.messages if m["role"] in ("user", "assistant")]
    assert turns == [
        ("assistant", GREETING),
        ("user", "Can you come today?"),
        ("assistant", "Sure."),
        ("user", "When, then?"),
    ]


def test_transfer_is_a_dry_run_that_says_the_number_and_ends_the_chat(api, agent, fake):
    chat_id = _start(api, agent)["chatId"]
    fake.add(tool_call("transfer_to_human", say="Of course."))

    body = _send(api, agent, chat_id, "Can I talk to a person?").json()

    assert _texts(body["messages"]) == [
        ("user", "Can I talk to a person?"),
        ("assistant", "Of course."),
        ("tool", "transfer_to_human()"),
        ("assistant", TRANSFER_LINE),
        ("system", f"would transfer to {TRANSFER_NUMBER}"),
    ]
    assert [m["dryRun"] for m in body["messages"]] == [False, False, False, False, True]
    assert body["ended"] is True
    call = Call.objects.get(code=chat_id)
    assert call.status == CallStatus.COMPLETED
    assert call.end_reason == f"the agent ended the chat: would transfer to {TRANSFER_NUMBER}"
    assert call.transcript[-1]["dry_run"] is True
    again = _send(api, agent, chat_id, "Hello?")
    assert again.status_code == 409
    assert "ended" in again.json()["detail"]
    assert len(fake.completions) == 1


def test_end_call_is_a_dry_run_after_the_goodbye(api, agent, fake):
    chat_id = _start(api, agent)["chatId"]
    fake.add(tool_call("end_call"), text("Thanks for chatting. Goodbye!"))

    body = _send(api, agent, chat_id, "That's all, bye.").json()

    assert _texts(body["messages"]) == [
        ("user", "That's all, bye."),
        ("tool", "end_call()"),
        ("assistant", "Thanks for chatting. Goodbye!"),
        ("system", "would end the call"),
    ]
    assert body["messages"][-1]["dryRun"] is True
    assert body["ended"] is True
    assert Call.objects.get(code=chat_id).status == CallStatus.COMPLETED


def test_a_provider_error_is_a_visible_turn_the_call_keeps_it_and_the_chat_goes_on(api, agent, fake):
    chat_id = _start(api, agent)["chatId"]
    fake.add(error(401, "Incorrect API key provided"))

    response = _send(api, agent, chat_id, "Hello?")

    assert response.status_code == 200
    body = response.json()
    # A fixed description and the status: the provider's own body never reaches the tenant.
    assert body["error"] == "HTTP 401 (the key was refused)"
    assert "Incorrect API key provided" not in response.content.decode()
    assert ("assistant", ERROR_APOLOGY) in _texts(body["messages"])  # what a caller would hear
    failure = body["messages"][-1]
    assert failure["role"] == "system"
    assert failure["error"] is True
    assert failure["text"] == "The language model provider failed: HTTP 401 (the key was refused)"
    call = Call.objects.get(code=chat_id)
    assert "HTTP 401" in call.error
    assert "Incorrect API key provided" not in call.error + str(call.transcript)
    assert call.status == CallStatus.IN_PROGRESS

    fake.add(text("Sorry about that. How can I help?"))
    later = _send(api, agent, chat_id, "Hello again?").json()
    assert _texts(later["messages"])[-1] == ("assistant", "Sorry about that. How can I help?")
    assert later["error"] is None


# --- end, usage and the call log ---------------------------------------------------------------


def test_end_completes_the_call_with_transcript_and_usage(api, agent, fake):
    chat_id = _start(api, agent)["chatId"]
    fake.add(text("Yes, we do."))
    _send(api, agent, chat_id, "Do you fix boilers?")

    response = api.post(_url(agent), {"action": "end", "chatId": chat_id}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["chatId"] == chat_id
    assert body["ended"] is True
    summary = body["call"]
    assert summary["direction"] == "chat"
    assert summary["status"] == "completed"
    assert summary["endReason"] == "ended from the chat playground"
    assert [turn["text"] for turn in summary["transcript"]] == [GREETING, "Do you fix boilers?", "Yes, we do."]
    [usage] = summary["usage"]
    assert usage["kind"] == "llm"
    assert usage["provider"] == "openai_compatible"
    assert usage["model"] == LOCAL_MODEL
    assert usage["input_tokens"] > 0
    assert usage["output_tokens"] > 0
    call = Call.objects.get(code=chat_id)
    assert call.status == CallStatus.COMPLETED
    assert call.ended_at is not None
    assert call.duration_seconds is not None
    assert call.estimated_cost_usd is None  # a self-hosted model has no list price
    again = api.post(_url(agent), {"action": "end", "chatId": chat_id}, format="json")
    assert again.status_code == 200  # ending an ended chat changes nothing
    assert Call.objects.get(code=chat_id).ended_at == call.ended_at


def test_usage_accumulates_and_a_priced_model_gets_an_estimated_cost(api, tenant, fake):
    # The tenant's OpenAI key with a base_url: the same plugin, pointed at the fake.
    credential_set(tenant=tenant, provider="openai", secret="sk-acme-openai-1111", base_url=fake.base_url)
    priced = _agent(tenant, llm_provider="openai", llm_model="gpt-4o-mini")
    chat_id = _start(api, priced)["chatId"]
    fake.add(text("One."), text("Two."))

    _send(api, priced, chat_id, "Count with me.")
    _send(api, priced, chat_id, "Go on.")
    api.post(_url(priced), {"action": "end", "chatId": chat_id}, format="json")

    call = Call.objects.get(code=chat_id)
    [usage] = call.usage
    assert (usage["provider"], usage["model"]) == ("openai", "gpt-4o-mini")
    assert usage["input_tokens"] > 0
    assert call.estimated_cost_usd is not None
    assert call.estimated_cost_usd > Decimal(0)
    assert fake.completions[0].headers["authorization"] == "Bearer sk-acme-openai-1111"


def test_the_chat_appears_in_the_call_log_with_direction_chat(api, agent, fake):
    chat_id = _start(api, agent)["chatId"]

    listed = api.get(reverse("api-call-list"), {"direction": "chat"}).json()["results"]

    assert [row["id"] for row in listed] == [chat_id]
    assert listed[0]["agentName"] == "Maya"
    assert api.get(reverse("api-call-list"), {"direction": "inbound"}).json()["results"] == []


# --- readiness and bad input --------------------------------------------------------------------


def test_without_a_base_url_start_is_400_naming_the_credential_and_writes_no_call(api, tenant):
    agent = _agent(tenant)  # openai_compatible, and no credential at all

    response = api.post(_url(agent), {"action": "start"}, format="json")

    assert response.status_code == 400
    body = response.json()
    assert body["problems"] == [
        "No base URL for the OpenAI-compatible (self-hosted) server: add it under Provider keys "
        "(OpenAI-compatible (self-hosted)); a key is optional."
    ]
    assert "not ready" in body["detail"]
    assert Call.objects.count() == 0


def test_without_an_openai_key_start_is_400_naming_the_key(api, tenant):
    agent = _agent(tenant, llm_provider="openai", llm_model="gpt-4o-mini")

    response = api.post(_url(agent), {"action": "start"}, format="json")

    assert response.status_code == 400
    assert response.json()["problems"] == ["No OpenAI key for the language model: add one under Provider keys."]
    assert Call.objects.count() == 0


def test_only_the_language_model_must_be_ready(api, tenant, fake):
    """A text chat speaks and hears nothing: missing voice and speech-to-text keys do not matter."""
    credential_set(tenant=tenant, provider="openai_compatible", base_url=fake.base_url)  # no key: optional
    agent = _agent(tenant, tts_provider="elevenlabs", voice_id="hpp4J3VqNfWAUOO0d1Us", stt_provider="deepgram")

    assert _start(api, agent)["messages"][0]["text"] == GREETING
    assert fake.completions == []


@pytest.mark.parametrize("message", ["", "   ", "x" * (chat.MAX_MESSAGE_CHARS + 1)], ids=["empty", "blank", "long"])
def test_an_empty_or_too_long_message_is_400_and_changes_nothing(api, agent, fake, message):
    chat_id = _start(api, agent)["chatId"]

    response = _send(api, agent, chat_id, message)

    assert response.status_code == 400
    assert list(response.json()) == ["message"]
    assert len(Call.objects.get(code=chat_id).transcript) == 1
    assert fake.completions == []


def test_a_message_of_the_maximum_length_is_sent(api, agent, fake):
    chat_id = _start(api, agent)["chatId"]
    fake.add(text("That was long."))

    response = _send(api, agent, chat_id, "x" * chat.MAX_MESSAGE_CHARS)

    assert response.status_code == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "action"),
        ({"action": "dance"}, "action"),
        ({"action": "send", "message": "hi"}, "chatId"),
        ({"action": "end"}, "chatId"),
        ({"action": "send", "chatId": str(uuid.uuid4())}, "message"),
        ({"action": "send", "chatId": "not-a-uuid", "message": "hi"}, "chatId"),
    ],
)
def test_a_bad_body_is_400_naming_the_field(api, agent, body, field):
    response = api.post(_url(agent), body, format="json")

    assert response.status_code == 400
    assert field in response.json()


def test_a_phone_call_or_another_agents_chat_is_refused_by_name(api, tenant, agent, fake):
    phone = call_create(tenant=tenant, agent=agent, direction=CallDirection.INBOUND, from_number="+14155550100")
    other_agent = _agent(tenant, name="Bob")
    other_chat = _start(api, other_agent)["chatId"]

    not_chat = _send(api, agent, str(phone.code), "Hello")
    wrong_agent = _send(api, agent, other_chat, "Hello")

    assert not_chat.status_code == 400
    assert not_chat.json() == {"chatId": ["This id is not a text chat."]}
    assert wrong_agent.status_code == 400
    assert wrong_agent.json() == {"chatId": ["This chat is with another agent."]}
    assert len(Call.objects.get(code=other_chat).transcript) == 1


# --- tenancy ------------------------------------------------------------------------------------


@pytest.fixture
def their_chat(other_tenant, fake):
    credential_set(tenant=other_tenant, provider="openai_compatible", secret="sk-globex", base_url=fake.base_url)
    theirs = _agent(other_tenant, name="Globex desk")
    started = chat.chat_start(tenant=other_tenant, agent=theirs, actor=SYSTEM)
    return theirs, started.call


def test_another_tenants_agent_or_chat_is_404_and_nothing_is_written(api, agent, their_chat, fake):
    their_agent, their_call = their_chat
    before = list(Call.objects.values_list("code", "transcript", "status"))
    fake.add(text("should never be asked"))

    on_their_agent = api.post(_url(their_agent), {"action": "start"}, format="json")
    their_id_on_mine = _send(api, agent, str(their_call.code), "Hello")
    ending_theirs = api.post(_url(agent), {"action": "end", "chatId": str(their_call.code)}, format="json")
    unknown = _send(api, agent, str(uuid.uuid4()), "Hello")

    assert [r.status_code for r in (on_their_agent, their_id_on_mine, ending_theirs, unknown)] == [404] * 4
    assert list(Call.objects.values_list("code", "transcript", "status")) == before
    assert fake.completions == []


def test_the_portal_answers_404_for_another_tenants_chat(client_for, owner, agent, their_chat):
    _their_agent, their_call = their_chat
    client = client_for(owner)
    url = reverse("agents-agent-chat", kwargs={"code": agent.code})

    page = client.get(url, {"chat": their_call.code})
    send = client.post(
        url, {"action": "send", "chat": their_call.code, "message": "Hi"}, headers={"HX-Request": "true"}
    )
    end = client.post(url, {"action": "end", "chat": their_call.code})

    assert [page.status_code, send.status_code, end.status_code] == [404, 404, 404]
    assert Call.objects.get(pk=their_call.pk).status == CallStatus.IN_PROGRESS


# --- portal -------------------------------------------------------------------------------------


HTMX = {"HX-Request": "true"}


def test_portal_chat_flow_with_htmx(client_for, owner, agent, fake):
    client = client_for(owner)
    url = reverse("agents-agent-chat", kwargs={"code": agent.code})

    page = client.get(url)
    assert page.status_code == 200
    assert "Start a chat" in page.text

    started = client.post(url, {"action": "start"}, headers=HTMX)
    assert started.status_code == 200
    assert GREETING in started.text
    assert 'id="chat-log"' in started.text
    call = Call.objects.get(direction=CallDirection.CHAT)
    assert f'value="{call.code}"' in started.text
    assert call.context["started_by"] == "owner@acme.test"

    fake.add(tool_call("transfer_to_human", say="Let me get someone."))
    sent = client.post(url, {"action": "send", "chat": call.code, "message": "A human, please."}, headers=HTMX)
    assert sent.status_code == 200
    assert "A human, please." in sent.text
    assert "Let me get someone." in sent.text
    assert "chat-turn system dry-run" in sent.text
    assert f"would transfer to {TRANSFER_NUMBER}" in sent.text
    assert 'hx-swap-oob="true"' in sent.text  # the composer is replaced: the chat has ended
    assert "This chat has ended" in sent.text
    assert GREETING not in sent.text  # only the new turns are appended to the log


def test_portal_send_and_end_with_htmx(client_for, teammate, agent, fake):
    client = client_for(teammate)
    url = reverse("agents-agent-chat", kwargs={"code": agent.code})
    client.post(url, {"action": "start"}, headers=HTMX)
    call = Call.objects.get(direction=CallDirection.CHAT)
    fake.add(text("Drips are usually the washer."))

    sent = client.post(url, {"action": "send", "chat": call.code, "message": "My tap drips."}, headers=HTMX)
    ended = client.post(url, {"action": "end", "chat": call.code}, headers=HTMX)

    assert "Drips are usually the washer." in sent.text
    assert 'name="message"' in sent.text  # a fresh composer, the chat goes on
    assert ended.status_code == 200
    assert "This chat has ended" in ended.text
    assert "My tap drips." in ended.text  # the whole conversation stays on the page
    assert Call.objects.get(pk=call.pk).status == CallStatus.COMPLETED


def test_portal_rejects_an_empty_or_too_long_message_in_the_composer(client_for, owner, agent, fake):
    client = client_for(owner)
    url = reverse("agents-agent-chat", kwargs={"code": agent.code})
    client.post(url, {"action": "start"}, headers=HTMX)
    call = Call.objects.get(direction=CallDirection.CHAT)

    empty = client.post(url, {"action": "send", "chat": call.code, "message": "  "}, headers=HTMX)
    long = client.post(url, {"action": "send", "chat": call.code, "message": "y" * 2001}, headers=HTMX)

    assert "Type a message." in empty.text
    assert "Keep a message to 2000 characters" in long.text
    assert "y" * 2001 in long.text  # the draft is kept for editing
    assert 'class="chat-turn' not in empty.text + long.text
    assert len(Call.objects.get(pk=call.pk).transcript) == 1
    assert fake.completions == []


def test_portal_without_javascript_redirects_to_the_chat_page(client_for, owner, agent, fake):
    client = client_for(owner)
    url = reverse("agents-agent-chat", kwargs={"code": agent.code})

    started = client.post(url, {"action": "start"})
    call = Call.objects.get(direction=CallDirection.CHAT)
    assert started.status_code == 302
    assert started.url == f"{url}?chat={call.code}"
    page = client.get(started.url)
    assert GREETING in page.text
    fake.add(text("Noted."))
    sent = client.post(url, {"action": "send", "chat": call.code, "message": "Noted?"})
    assert sent.status_code == 302
    assert "Noted." in client.get(sent.url).text


def test_portal_missing_credential_shows_the_problem_and_links_to_provider_keys(client_for, owner, tenant):
    agent = _agent(tenant)  # no credential
    url = reverse("agents-agent-chat", kwargs={"code": agent.code})

    response = client_for(owner).post(url, {"action": "start"}, headers=HTMX)

    assert response.status_code == 200
    assert "No base URL for the OpenAI-compatible (self-hosted) server" in response.text
    assert reverse("tenancy-credential-list") in response.text
    assert Call.objects.count() == 0
    plain = client_for(owner).post(url, {"action": "start"})
    assert plain.status_code == 400
    assert reverse("tenancy-credential-list") in plain.text


def test_viewers_can_read_but_not_run_a_chat(client_for, tenant, viewer, agent, fake):
    client = client_for(viewer)
    url = reverse("agents-agent-chat", kwargs={"code": agent.code})
    existing = chat.chat_start(tenant=tenant, agent=agent, actor=SYSTEM).call

    page = client.get(url)
    reading = client.get(url, {"chat": existing.code})
    start = client.post(url, {"action": "start"}, headers=HTMX)

    assert page.status_code == 200
    assert "Viewers can read text chats but not run one" in page.text
    assert "Start a chat" not in page.text
    assert GREETING in reading.text
    assert 'name="message"' not in reading.text
    assert start.status_code == 403
    assert Call.objects.count() == 1


def test_the_agent_page_links_to_the_playground_for_editors(client_for, owner, viewer, agent):
    detail = reverse("agents-agent-detail", kwargs={"code": agent.code})
    playground = reverse("agents-agent-chat", kwargs={"code": agent.code})

    assert playground in client_for(owner).get(detail).text
    assert "Try it by text chat" in client_for(owner).get(detail).text
    assert playground not in client_for(viewer).get(detail).text


def test_a_bad_portal_action_is_400(client_for, owner, agent):
    response = client_for(owner).post(reverse("agents-agent-chat", kwargs={"code": agent.code}), {"action": "x"})

    assert response.status_code == 400


# --- plugins off the main thread -------------------------------------------------------------------

_IMPORT_OFF_MAIN_THREAD = """
import sys, threading
import django
django.setup()
from livekit.agents import Plugin
from worker.chat_runner import _ensure_plugin

errors = []
def direct():
    try:
        import livekit.plugins.anthropic  # noqa: F401
    except RuntimeError as exc:
        errors.append(str(exc))

thread = threading.Thread(target=direct); thread.start(); thread.join()
assert errors == ["Plugins must be registered on the main thread"], errors
thread = threading.Thread(target=_ensure_plugin, args=("groq",)); thread.start(); thread.join()
assert "livekit.plugins.groq" in sys.modules
assert [p.title for p in Plugin.registered_plugins].count("livekit.plugins.groq") == 1
assert "register_anywhere" not in repr(Plugin.__dict__["register_plugin"].__func__)  # the check is back
print("ok")
"""


def test_a_web_request_thread_can_load_the_llm_plugin():
    """Plugins refuse to register off the main thread; a web server's request threads are never it."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "voiceplatform.settings_test"}
    result = subprocess.run(
        [sys.executable, "-c", _IMPORT_OFF_MAIN_THREAD], env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


def test_merge_usage_sums_rows_of_the_same_model():
    stored = [{"kind": "llm", "provider": "openai", "model": "gpt-4o-mini", "input_tokens": 10, "output_tokens": 2}]
    new = [
        {"kind": "llm", "provider": "openai", "model": "gpt-4o-mini", "input_tokens": 5, "output_tokens": 1},
        {"kind": "llm", "provider": "groq", "model": "llama-3.1-8b-instant", "input_tokens": 7, "output_tokens": 3},
    ]

    merged = chat.merge_usage(stored, new)

    assert [(row["provider"], row["input_tokens"], row["output_tokens"]) for row in merged] == [
        ("openai", 15, 3),
        ("groq", 7, 3),
    ]
