"""/api/v1/agents: the reference design's requests, filters, writes, and every kind of bad input."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from agents_app.models import Agent, BusinessHours, Holiday, PromptVersion
from tests.agents_app.conftest import TASK1_PAYLOAD
from voiceplatform.models import ApiKey

URL = "/api/v1/agents"


def _detail(agent_id: str) -> str:
    return f"{URL}/{agent_id}"


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """base with override laid over it; nested dicts merge, anything else replaces."""
    result = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = _merge(result[key], value)
        else:
            result[key] = value
    return result


def _assert_echoed(sent: Any, received: Any, where: str = "") -> None:
    if isinstance(sent, dict):
        assert isinstance(received, dict), where
        for key, value in sent.items():
            assert key in received, f"{where}.{key} missing from the response"
            _assert_echoed(value, received[key], f"{where}.{key}")
    else:
        assert received == sent, f"{where}: sent {sent!r}, got back {received!r}"


def _row_counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (Agent, BusinessHours, Holiday, PromptVersion)}


def _messages_at(body: dict[str, Any], path: tuple[str, ...]) -> list[str]:
    node: Any = body
    for part in path:
        assert isinstance(node, dict) and part in node, f"no error at {'.'.join(path)}: {body}"
        node = node[part]
    assert isinstance(node, list), node
    return node


@pytest.fixture
def sales(api) -> dict[str, Any]:
    """The reference's Task 1 agent, created through the API."""
    response = api.post(URL, TASK1_PAYLOAD, format="json")
    assert response.status_code == 201, response.content
    return response.json()


# --- the reference's requests ------------------------------------------------------------------


def test_reference_task1_payload_is_created_and_every_value_echoed(tenant, api):
    response = api.post(URL, TASK1_PAYLOAD, format="json")

    assert response.status_code == 201, response.content
    body = response.json()
    _assert_echoed(TASK1_PAYLOAD, body)
    uuid.UUID(body["id"])
    assert body["isActive"] is True
    assert body["llmProvider"] == "openai"
    assert body["promptVersion"] == 1
    assert body["metadata"]["businessHours"]["wednesday"] is None  # days not sent are closed
    assert body["metadata"]["customVoice"] is False
    # The stored agent, read back, says the same.
    again = api.get(_detail(body["id"])).json()
    _assert_echoed(TASK1_PAYLOAD, again)
    agent = Agent.objects.for_tenant(tenant).get(code=body["id"])
    assert (agent.tts_provider, agent.stt_provider, agent.dialer_type) == ("cartesia", "assemblyai", "predictive")
    assert BusinessHours.objects.for_tenant(tenant).filter(agent=agent).count() == 2


def test_reference_task3_put_with_only_system_prompt_changes_only_the_prompt(api, sales):
    response = api.put(_detail(sales["id"]), {"systemPrompt": "New system prompt here..."}, format="json")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["systemPrompt"] == "New system prompt here..."
    assert body["promptVersion"] == 2
    unchanged = {"systemPrompt", "promptVersion", "updatedAt"}
    assert {k: v for k, v in body.items() if k not in unchanged} == {
        k: v for k, v in sales.items() if k not in unchanged
    }
    history = api.get(f"{_detail(sales['id'])}/prompt-history").json()["results"]
    assert [(v["version"], v["systemPrompt"]) for v in history] == [
        (2, "New system prompt here..."),
        (1, TASK1_PAYLOAD["systemPrompt"]),
    ]


def test_api_made_prompt_versions_name_the_api_key_as_author(tenant, api, sales):
    key = ApiKey.objects.for_tenant(tenant).get(name="tests")

    history = api.get(f"{_detail(sales['id'])}/prompt-history").json()["results"]

    assert history[0]["author"] == f"API key tests ({key.display})"
    assert PromptVersion.objects.for_tenant(tenant).get(agent__code=sales["id"]).author_api_key == key


# --- list --------------------------------------------------------------------------------------


def test_list_is_paginated(tenant, api):
    Agent.objects.bulk_create(Agent(tenant=tenant, name=f"Agent {i:02d}") for i in range(51))

    first = api.get(URL).json()
    second = api.get(first["next"]).json()

    assert first["count"] == 51
    assert len(first["results"]) == 50
    assert first["results"][0]["name"] == "Agent 00"
    assert first["next"].endswith(f"{URL}?page=2")
    assert [a["name"] for a in second["results"]] == ["Agent 50"]
    assert second["next"] is None


@pytest.fixture
def three_agents(tenant, other_tenant, make_agent) -> None:
    make_agent(tenant, name="Sales outbound", direction="outbound")
    make_agent(tenant, name="Support line", direction="inbound", is_active=False)
    make_agent(tenant, name="Front desk", direction="both")
    make_agent(other_tenant, name="Support elsewhere", direction="inbound")


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", ["Front desk", "Sales outbound", "Support line"]),
        ("?isActive=true", ["Front desk", "Sales outbound"]),
        ("?isActive=false", ["Support line"]),
        ("?direction=inbound", ["Support line"]),
        ("?direction=outbound&isActive=true", ["Sales outbound"]),
        ("?search=SUPPORT", ["Support line"]),
        ("?search=s", ["Front desk", "Sales outbound", "Support line"]),
        ("?search=nobody", []),
    ],
)
def test_list_filters_by_is_active_and_direction_and_searches_by_name(api, three_agents, query, names):
    response = api.get(URL + query)

    assert response.status_code == 200
    assert [agent["name"] for agent in response.json()["results"]] == names


@pytest.mark.parametrize(("query", "field"), [("?isActive=maybe", "isActive"), ("?direction=sideways", "direction")])
def test_a_bad_filter_value_is_a_400_naming_the_filter(api, three_agents, query, field):
    response = api.get(URL + query)

    assert response.status_code == 400
    assert field in response.json()


# --- PATCH, DELETE, duplicate ------------------------------------------------------------------


def test_patch_changes_only_the_fields_sent_and_writes_no_prompt_version(api, sales):
    response = api.patch(
        _detail(sales["id"]),
        {"temperature": 1.2, "metadata": {"outboundConfig": {"maxRetries": 5}}},
        format="json",
    )

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["temperature"] == 1.2
    assert body["metadata"]["outboundConfig"] == {**sales["metadata"]["outboundConfig"], "maxRetries": 5}
    assert body["metadata"]["outboundConfig"]["dialerType"] == "predictive"
    assert body["metadata"]["businessHours"] == sales["metadata"]["businessHours"]
    assert body["promptVersion"] == 1


def test_patch_with_business_hours_null_means_always_open(api, sales):
    response = api.patch(_detail(sales["id"]), {"metadata": {"businessHours": None}}, format="json")

    assert response.status_code == 200
    assert response.json()["metadata"]["businessHours"] is None
    assert BusinessHours.objects.filter(agent__code=sales["id"]).count() == 0


def test_delete_is_a_204_and_the_agent_is_gone(api, sales):
    response = api.delete(_detail(sales["id"]))

    assert response.status_code == 204
    assert api.get(_detail(sales["id"])).status_code == 404
    assert api.get(URL).json()["count"] == 0
    assert _row_counts() == {"Agent": 0, "BusinessHours": 0, "Holiday": 0, "PromptVersion": 0}


def test_duplicate_creates_a_copy_with_its_own_id(api, sales):
    response = api.post(f"{_detail(sales['id'])}/duplicate")

    assert response.status_code == 201
    body = response.json()
    assert body["id"] != sales["id"]
    assert body["name"] == "Sales Agent (copy)"
    ignore = {"id", "name", "createdAt", "updatedAt"}
    assert {k: v for k, v in body.items() if k not in ignore} == {k: v for k, v in sales.items() if k not in ignore}
    assert api.get(URL).json()["count"] == 2


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("put", ""), ("patch", ""), ("delete", ""), ("post", "/duplicate"), ("get", "/prompt-history")],
)
def test_another_tenants_agent_is_a_404(api, other_tenant, make_agent, method, suffix):
    theirs = make_agent(other_tenant, name="Theirs")

    response = getattr(api, method)(f"{_detail(theirs.code)}{suffix}", {"name": "Mine now"}, format="json")

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "Theirs"
    assert Agent.objects.count() == 1


# --- bad input ---------------------------------------------------------------------------------

BAD_INPUT = [
    pytest.param({"temperature": 2.5}, ("temperature",), "less than or equal to 2.0", id="temperature-high"),
    pytest.param({"temperature": -0.1}, ("temperature",), "greater than or equal to 0.0", id="temperature-low"),
    pytest.param({"llmProvider": "skynet"}, ("llmProvider",), "Unknown LLM provider 'skynet'", id="llm-provider"),
    pytest.param(
        {"llmModel": "claude-sonnet-4-20250514"}, ("llmModel",), "OpenAI does not offer", id="model-of-other-provider"
    ),
    pytest.param({"llmModel": "gpt-7-ultra"}, ("llmModel",), "does not offer 'gpt-7-ultra'", id="unknown-model"),
    pytest.param(
        {"metadata": {"voiceProvider": "polly"}},
        ("metadata", "voiceProvider"),
        "Unknown voice provider 'polly'",
        id="voice-provider",
    ),
    pytest.param({"voiceId": "alloy"}, ("voiceId",), "'alloy' is a OpenAI voice", id="voice-of-other-provider"),
    pytest.param({"voiceId": "British Lady"}, ("voiceId",), "is not a voice id of Cartesia Sonic", id="unknown-voice"),
    pytest.param(
        {"metadata": {"sttProvider": "whisperx"}},
        ("metadata", "sttProvider"),
        "Unknown speech-to-text provider",
        id="stt-provider",
    ),
    pytest.param(
        {"metadata": {"sttModel": "nova-3"}}, ("metadata", "sttModel"), "AssemblyAI has no model", id="stt-model"
    ),
    pytest.param(
        {"metadata": {"transferNumber": "555-1234"}},
        ("metadata", "transferNumber"),
        "'555-1234' is not a phone number",
        id="transfer-number-local",
    ),
    pytest.param(
        {"metadata": {"transferNumber": "+1 800 555"}},
        ("metadata", "transferNumber"),
        "is not a valid phone number",
        id="transfer-number-short",
    ),
    pytest.param(
        {"metadata": {"fallbackNumber": "+999 1234567"}},
        ("metadata", "fallbackNumber"),
        "+999 1234567",
        id="fallback-number-no-country",
    ),
    pytest.param(
        {
            "metadata": {
                "businessHours": {"monday": [{"start": "09:00", "end": "12:00"}, {"start": "11:30", "end": "14:00"}]}
            }
        },
        ("metadata", "businessHours"),
        "monday: 09:00-12:00 overlaps monday 11:30-14:00",
        id="hours-overlap",
    ),
    pytest.param(
        {"metadata": {"businessHours": {"tuesday": {"start": "17:00", "end": "17:00"}}}},
        ("metadata", "businessHours"),
        "tuesday: 17:00-17:00 ends when it starts; for the whole day use 00:00-24:00.",
        id="hours-empty",
    ),
    pytest.param(
        {"metadata": {"businessHours": {"funday": {"start": "09:00", "end": "17:00"}}}},
        ("metadata", "businessHours"),
        "'funday' is not a weekday",
        id="hours-weekday",
    ),
    pytest.param(
        {"metadata": {"holidays": ["2026-13-01"]}}, ("metadata", "holidays"), "is not a date", id="holiday-date"
    ),
    pytest.param(
        {
            "metadata": {
                "ivrMenu": {"prompt": "Press A", "options": [{"digit": "A", "action": "message", "message": "Hi"}]}
            }
        },
        ("metadata", "ivrMenu"),
        "'A' is not a keypad key",
        id="ivr-digit",
    ),
    pytest.param(
        {
            "metadata": {
                "ivrMenu": {"prompt": "Press 1", "options": [{"digit": "1", "action": "transfer", "number": "911"}]}
            }
        },
        ("metadata", "ivrMenu"),
        "'911' is not an E.164 number",
        id="ivr-transfer-number",
    ),
    pytest.param(
        {"systemPrompt": "Be helpful. " * 38_000},
        ("systemPrompt",),
        "the limit is 32,000",
        id="prompt-too-long",
    ),
    pytest.param(
        {"llmProvider": "groq", "llmModel": "llama-3.1-8b-instant", "maxOutputTokens": 131_060},
        ("systemPrompt",),
        "context window of 131072 tokens",
        id="prompt-leaves-no-room-for-the-reply",
    ),
    pytest.param(
        {"maxOutputTokens": 20_000}, ("maxOutputTokens",), "at most 16384 tokens", id="max-output-over-model-limit"
    ),
    pytest.param({"maxConcurrentCalls": 0}, ("maxConcurrentCalls",), "greater than or equal to 1", id="concurrency"),
    pytest.param({"direction": "sideways"}, ("direction",), "not a valid choice", id="direction"),
    pytest.param({"metadata": {"timezone": "Mars/Olympus"}}, ("metadata", "timezone"), "Mars/Olympus", id="timezone"),
    pytest.param(
        {"metadata": {"outboundConfig": {"maxRetries": 11}}},
        ("metadata", "outboundConfig", "maxRetries"),
        "less than or equal to 10",
        id="max-retries",
    ),
    pytest.param(
        {"metadata": {"outboundConfig": {"voicemailAction": "leave_message"}}},
        ("metadata", "outboundConfig", "voicemailMessage"),
        "Write the message",
        id="voicemail-without-message",
    ),
    pytest.param(
        {"metadata": {"turnTaking": {"minEndpointingDelay": 4, "maxEndpointingDelay": 2}}},
        ("metadata", "turnTaking", "maxEndpointingDelay"),
        "at least the minimum",
        id="endpointing",
    ),
    pytest.param(
        {"voiceId": "marin", "metadata": {"voiceProvider": "openai", "ttsModel": "tts-1"}},
        ("voiceId",),
        "The voice Marin speaks only with gpt-4o-mini-tts, not tts-1: choose the voice model gpt-4o-mini-tts",
        id="voice-needs-its-model",
    ),
]


@pytest.mark.parametrize(("override", "path", "message"), BAD_INPUT)
def test_bad_input_on_create_is_a_400_naming_the_field_and_writes_nothing(api, override, path, message):
    before = _row_counts()

    response = api.post(URL, _merge(TASK1_PAYLOAD, override), format="json")

    assert response.status_code == 400, response.content
    messages = _messages_at(response.json(), path)
    assert any(message in m for m in messages), messages
    assert _row_counts() == before


@pytest.mark.parametrize(("override", "path", "message"), BAD_INPUT[::3])
def test_bad_input_on_update_is_a_400_and_leaves_the_agent_as_it_was(api, sales, override, path, message):
    before = _row_counts()
    # Valid prompt and schedule changes ride along with the bad field; none of them may be written.
    override = _merge(
        {
            "systemPrompt": "Changed prompt.",
            "metadata": {"businessHours": {"friday": {"start": "08:00", "end": "18:00"}}, "holidays": ["2026-12-25"]},
        },
        override,
    )

    response = api.patch(_detail(sales["id"]), override, format="json")

    assert response.status_code == 400, response.content
    assert any(message in m for m in _messages_at(response.json(), path))
    assert api.get(_detail(sales["id"])).json() == sales
    assert _row_counts() == before


def test_several_bad_fields_are_reported_together(api):
    response = api.post(
        URL,
        _merge(TASK1_PAYLOAD, {"temperature": 9, "metadata": {"voiceProvider": "polly", "transferNumber": "1"}}),
        format="json",
    )

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"temperature", "metadata"}
    assert set(body["metadata"]) == {"voiceProvider", "transferNumber"}


def test_a_reply_limit_above_the_models_is_blamed_on_the_limit_not_on_the_prompt(api):
    response = api.post(URL, _merge(TASK1_PAYLOAD, {"maxOutputTokens": 200_000}), format="json")

    assert response.status_code == 400
    assert response.json() == {"maxOutputTokens": ["GPT-4o mini writes at most 16384 tokens per reply."]}


def test_an_ivr_option_routing_to_another_tenants_agent_is_rejected(api, other_tenant, make_agent):
    theirs = make_agent(other_tenant, name="Their support")
    before = _row_counts()
    menu = {
        "prompt": "Press 2 for support",
        "options": [{"digit": "2", "action": "agent", "agentId": str(theirs.code)}],
    }

    response = api.post(URL, _merge(TASK1_PAYLOAD, {"metadata": {"ivrMenu": menu}}), format="json")

    assert response.status_code == 400
    [message] = _messages_at(response.json(), ("metadata", "ivrMenu"))
    assert message == f"ivrMenu.options[0].agentId: no other agent {theirs.code} in this tenant."
    assert _row_counts() == before


def test_an_ivr_option_routing_to_an_own_agent_is_accepted(api, sales):
    menu = {"prompt": "Press 2 for sales", "options": [{"digit": "2", "action": "agent", "agentId": sales["id"]}]}

    response = api.post(URL, {"name": "Front desk", "metadata": {"ivrMenu": menu}}, format="json")

    assert response.status_code == 201, response.content
    assert response.json()["metadata"]["ivrMenu"] == menu


WRONG_TYPES = [
    pytest.param({"name": ["Sales"]}, id="name-list"),
    pytest.param({"name": None}, id="name-null"),
    pytest.param({"temperature": "hot"}, id="temperature-text"),
    pytest.param({"temperature": "NaN"}, id="temperature-nan"),
    pytest.param({"temperature": [0.5]}, id="temperature-list"),
    pytest.param({"isActive": "maybe"}, id="is-active-text"),
    pytest.param({"maxConcurrentCalls": "many"}, id="concurrency-text"),
    pytest.param({"maxOutputTokens": 10**12}, id="max-output-huge"),
    pytest.param({"voiceId": {"id": "x"}}, id="voice-object"),
    pytest.param({"systemPrompt": None}, id="prompt-null"),
    pytest.param({"metadata": "cartesia"}, id="metadata-text"),
    pytest.param({"metadata": ["cartesia"]}, id="metadata-list"),
    pytest.param({"metadata": {"businessHours": "9-5"}}, id="hours-text"),
    pytest.param({"metadata": {"businessHours": [{"start": "09:00", "end": "17:00"}]}}, id="hours-list"),
    pytest.param({"metadata": {"businessHours": {"monday": "9-5"}}}, id="hours-day-text"),
    pytest.param({"metadata": {"businessHours": {"monday": [1, 2]}}}, id="hours-day-numbers"),
    pytest.param({"metadata": {"businessHours": {"monday": {"start": 9, "end": 17}}}}, id="hours-times-numbers"),
    pytest.param({"metadata": {"holidays": "christmas"}}, id="holidays-text"),
    pytest.param({"metadata": {"holidays": [{"date": 20261225}]}}, id="holiday-number"),
    pytest.param({"metadata": {"holidays": [None]}}, id="holiday-null"),
    pytest.param({"metadata": {"ivrMenu": "press 1"}}, id="ivr-text"),
    pytest.param({"metadata": {"ivrMenu": [1]}}, id="ivr-list"),
    pytest.param({"metadata": {"ivrMenu": {"prompt": "p", "options": 5}}}, id="ivr-options-number"),
    pytest.param({"metadata": {"ivrMenu": {"prompt": "p", "options": True}}}, id="ivr-options-bool"),
    pytest.param({"metadata": {"ivrMenu": {"prompt": 1, "options": []}}}, id="ivr-prompt-number"),
    pytest.param(
        {"metadata": {"ivrMenu": {"prompt": "p", "options": [{"digit": 1, "action": "message", "message": "m"}]}}},
        id="ivr-digit-number",
    ),
    pytest.param(
        {"metadata": {"ivrMenu": {"prompt": "p", "options": [{"digit": "1", "action": "agent", "agentId": 7}]}}},
        id="ivr-agent-id-number",
    ),
    pytest.param({"metadata": {"ivrMenu": {"prompt": "p", "options": ["1"]}}}, id="ivr-option-text"),
    pytest.param({"metadata": {"transferNumber": ["+18005551234"]}}, id="number-list"),
    pytest.param({"metadata": {"outboundConfig": []}}, id="outbound-list"),
    pytest.param({"metadata": {"outboundConfig": {"maxRetries": "three"}}}, id="retries-text"),
    pytest.param({"metadata": {"outboundConfig": {"dncEnabled": "perhaps"}}}, id="dnc-text"),
    pytest.param({"metadata": {"turnTaking": "fast"}}, id="turn-taking-text"),
    pytest.param({"metadata": {"speakingSpeed": "Infinity"}}, id="speed-infinity"),
]


@pytest.mark.parametrize("override", WRONG_TYPES)
def test_wrong_json_types_are_a_400_never_a_500(api, override):
    response = api.post(URL, _merge(TASK1_PAYLOAD, override), format="json")

    assert response.status_code == 400, response.content
    assert response.json()
    assert Agent.objects.count() == 0


@pytest.mark.parametrize("override", WRONG_TYPES[::4])
def test_wrong_json_types_on_update_are_a_400_and_change_nothing(api, sales, override):
    response = api.patch(_detail(sales["id"]), override, format="json")

    assert response.status_code == 400, response.content
    assert api.get(_detail(sales["id"])).json() == sales


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'"Sales"', b"null", b""])
def test_a_body_that_is_not_a_json_object_is_a_400(api, body):
    response = api.generic("POST", URL, body, content_type="application/json")

    assert response.status_code == 400
    assert Agent.objects.count() == 0


def test_a_missing_name_is_a_400_naming_it(api):
    payload = {k: v for k, v in TASK1_PAYLOAD.items() if k != "name"}

    response = api.post(URL, payload, format="json")

    assert response.status_code == 400
    assert "name" in response.json()
