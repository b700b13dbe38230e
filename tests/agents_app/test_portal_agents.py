"""The agents portal as a person uses it: list, create and edit through the form, detail, history, actions."""

from __future__ import annotations

import datetime
import html
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django import forms
from django.urls import reverse

from agents_app.models import Agent, BusinessHours, Holiday, PromptVersion
from agents_app.services import agent_create, agent_update
from tests.factories import ProviderCredentialFactory
from voiceplatform.actor import SYSTEM
from voiceplatform.services import credential_set

NOT_ALLOWED = "Viewers can look but not change anything."
NOT_FOUND = "There is nothing here, or it belongs to a tenant you are not signed in to."
VALID_FORM: dict[str, Any] = {
    "name": "Front desk",
    "description": "Answers the main line",
    "direction": "inbound",
    "system_prompt": "You are the front desk of Acme.",
    "personality": "Calm",
    "greeting_message": "Hello, Acme here.",
    "llm_provider": "openai",
    "llm_model": "gpt-4o-mini",
    "temperature": "0.4",
    "max_output_tokens": "",
    "tts_provider": "deepgram",
    "voice_id": "aura-2-thalia-en",
    "custom_voice_id": "",
    "tts_model": "",
    "speaking_speed": "1.0",
    "stt_provider": "deepgram",
    "stt_model": "nova-3",
    "stt_language": "en",
    "allow_interruptions": "on",
    "min_endpointing_delay": "0.5",
    "max_endpointing_delay": "3",
    "timezone": "Europe/Paris",
    "business_hours_enabled": "on",
    "business_hours_monday_0_start": "09:00",
    "business_hours_monday_0_end": "12:00",
    "business_hours_monday_1_start": "13:00",
    "business_hours_monday_1_end": "17:00",
    "business_hours_tuesday_closed": "on",
    "business_hours_saturday_0_start": "10:00",
    "business_hours_saturday_0_end": "14:00",
    "holidays": "2026-12-25 Christmas Day\r\n2027-01-01",
    "transfer_number": "+33 1 42 68 53 00",
    "fallback_number": "",
    "out_of_hours_message": "We are closed.",
    "ivr_menu": "",
    "dialer_type": "progressive",
    "max_retries": "2",
    "retry_delay_minutes": "60",
    "voicemail_action": "hang_up",
    "voicemail_message": "",
    "consent_required": "on",
    "dnc_enabled": "on",
    "max_concurrent_calls": "4",
    "is_active": "on",
    "note": "First draft",
}


def _agent(tenant, name: str = "Sales Bot", **fields: Any) -> Agent:
    return agent_create(tenant=tenant, actor=SYSTEM, fields={"name": name, "system_prompt": "Sell politely.", **fields})


def _text(response) -> str:
    """The page as a reader sees it: tags removed, entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", response.text)).replace("\xa0", " ")


def _edit_data(response) -> dict[str, Any]:
    """The POST body a browser would send back for the form on a rendered page, unchanged."""
    form = response.context["form"]
    data: dict[str, Any] = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field.widget, forms.MultiWidget):
            for suffix, sub in zip(field.widget.widgets_names, field.widget.decompress(value), strict=True):
                if sub is True:
                    data[name + suffix] = "on"
                elif sub:
                    data[name + suffix] = sub
        elif isinstance(field, forms.BooleanField):
            if value:
                data[name] = "on"
        else:
            data[name] = "" if value is None else value
    return data


def _ranges(agent: Agent) -> list[tuple[int, str, str]]:
    return [
        (h.weekday, f"{h.start:%H:%M}", f"{h.end:%H:%M}")
        for h in BusinessHours.objects.for_tenant(agent.tenant).filter(agent=agent)
    ]


# List ----------------------------------------------------------------------------------------


@pytest.fixture
def three_agents(tenant, other_tenant):
    sales = _agent(tenant, "Sales Bot", direction="inbound", description="Sells things")
    support = _agent(tenant, "Support Line", direction="outbound", is_active=False)
    theirs = _agent(other_tenant, "Globex Sales", direction="inbound")
    return sales, support, theirs


def test_list_shows_only_own_agents_with_status_and_models(three_agents, owner, client_for):
    response = client_for(owner).get(reverse("agents-agent-list"))

    assert response.status_code == 200
    text = _text(response)
    assert "Sales Bot" in text
    assert "Support Line" in text
    assert "Globex Sales" not in text
    assert str(three_agents[2].code) not in response.text
    assert "inactive" in text
    assert "GPT-4o mini" in text  # the LLM summary
    assert "Alloy" in text  # the voice summary
    assert "New agent" in text


@pytest.mark.parametrize(
    ("query", "shown", "hidden"),
    [
        ({"q": "sales"}, "Sales Bot", "Support Line"),
        ({"status": "inactive"}, "Support Line", "Sales Bot"),
        ({"status": "active"}, "Sales Bot", "Support Line"),
        ({"direction": "outbound"}, "Support Line", "Sales Bot"),
    ],
)
def test_list_search_and_filters(three_agents, owner, client_for, query, shown, hidden):
    response = client_for(owner).get(reverse("agents-agent-list"), query)

    assert response.status_code == 200
    assert shown in _text(response)
    assert hidden not in _text(response)
    assert "Globex Sales" not in _text(response)


def test_list_ignores_an_invalid_filter_but_keeps_the_others(three_agents, owner, client_for):
    response = client_for(owner).get(reverse("agents-agent-list"), {"q": "support", "status": "bogus"})

    assert response.status_code == 200
    assert "Support Line" in _text(response)
    assert "Sales Bot" not in _text(response)


def test_list_with_no_match_says_so(three_agents, owner, client_for):
    response = client_for(owner).get(reverse("agents-agent-list"), {"q": "nothing like this"})

    assert "No agent matches these filters." in _text(response)


def test_empty_list_explains_what_an_agent_is(tenant, owner, client_for):
    response = client_for(owner).get(reverse("agents-agent-list"))

    assert "No agents yet" in _text(response)
    assert "An agent is an AI voice" in _text(response)
    assert reverse("agents-agent-create") in response.text


def test_viewer_sees_the_list_without_write_buttons(three_agents, viewer, client_for):
    response = client_for(viewer).get(reverse("agents-agent-list"))

    assert response.status_code == 200
    assert "Sales Bot" in _text(response)
    assert reverse("agents-agent-create") not in response.text
    assert "Deactivate" not in _text(response)


def test_dashboard_counts_agents(three_agents, owner, client_for):
    response = client_for(owner).get(reverse("portal-dashboard"))

    tiles = {stat.url_name: stat for stat in response.context["counts"]}
    assert tiles["agents-agent-list"].value == 2
    assert "agents (1 active)" in _text(response)


# Create --------------------------------------------------------------------------------------


def test_new_agent_form_shows_every_section_and_the_catalog(tenant, teammate, client_for):
    response = client_for(teammate).get(reverse("agents-agent-create"))

    assert response.status_code == 200
    text = _text(response)
    for section in ("Identity & prompt", "Language model", "Voice", "Speech-to-text", "Turn taking", "Inbound"):
        assert section in text
    assert "Outbound" in text and "Operations" in text
    assert "Context window" in text  # the default model's facts
    assert 'name="voice_id"' in response.text
    assert "Example IVR menu" in text
    assert 'value="Europe/Paris" selected' in response.text  # the tenant's time zone


def test_create_through_the_form(tenant, teammate, client_for):
    response = client_for(teammate).post(reverse("agents-agent-create"), VALID_FORM)

    agent = Agent.objects.for_tenant(tenant).get()
    assert response.status_code == 302
    assert response["Location"] == reverse("agents-agent-detail", kwargs={"code": agent.code})
    assert (agent.name, agent.direction, agent.temperature) == ("Front desk", "inbound", 0.4)
    assert (agent.tts_provider, agent.voice_id, agent.stt_model) == ("deepgram", "aura-2-thalia-en", "nova-3")
    assert agent.transfer_number == "+33142685300"  # normalised by the service
    assert agent.business_hours_enabled and agent.is_active and not agent.recording_enabled
    assert agent.ivr_menu == {}
    assert _ranges(agent) == [(0, "09:00", "12:00"), (0, "13:00", "17:00"), (5, "10:00", "14:00")]
    holidays = Holiday.objects.for_tenant(tenant).filter(agent=agent)
    assert [(h.date, h.name) for h in holidays] == [
        (datetime.date(2026, 12, 25), "Christmas Day"),
        (datetime.date(2027, 1, 1), ""),
    ]
    version = PromptVersion.objects.for_tenant(tenant).get(agent=agent)
    assert (version.version, version.system_prompt, version.note) == (
        1,
        "You are the front desk of Acme.",
        "First draft",
    )
    assert version.author_label == teammate.username
    assert "Agent Front desk was created." in _text(response.client.get(response["Location"]))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"temperature": "5"}, "Ensure this value is less than or equal to 2.0."),
        ({"tts_provider": "openai", "voice_id": "aura-2-thalia-en"}, "is a Deepgram Aura voice, not a OpenAI voice"),
        (
            {"tts_provider": "openai", "voice_id": "marin", "tts_model": "tts-1"},
            "The voice Marin speaks only with gpt-4o-mini-tts, not tts-1: choose the voice model gpt-4o-mini-tts",
        ),
        (
            {"tts_provider": "elevenlabs", "custom_voice_id": "not-a-voice"},
            "'not-a-voice' is not a voice id of ElevenLabs",
        ),
        (
            {"business_hours_monday_0_start": "17:00", "business_hours_monday_0_end": "17:00"},
            "monday: 17:00-17:00 ends when it starts; for the whole day use 00:00-24:00.",
        ),
        ({"business_hours_friday_0_start": "09:00"}, "friday: give both a start and an end time."),
        ({"holidays": "2026-13-45 Nope"}, "'2026-13-45' is not a date like 2026-12-25."),
        ({"transfer_number": "12345"}, "'12345' is not a phone number in international format"),
        (
            {
                "ivr_menu": json.dumps(
                    {"prompt": "Press 1", "options": [{"digit": "x", "action": "message", "message": "Hi"}]}
                )
            },
            "ivrMenu.options[0].digit: 'x' is not a keypad key; use 0-9, * or #.",
        ),
        ({"ivr_menu": "{not json"}, "Enter a valid JSON."),
        ({"llm_model": "gpt-99"}, "OpenAI does not offer 'gpt-99'"),
        ({"stt_language": "xx"}, "does not transcribe 'xx'"),
        ({"name": ""}, "This field is required."),
    ],
    ids=[
        "temperature",
        "voice-of-another-provider",
        "voice-needs-its-model",
        "bad-custom-voice",
        "inverted-hours",
        "half-range",
        "bad-holiday",
        "bad-e164",
        "ivr-digit",
        "ivr-json",
        "unknown-model",
        "stt-language",
        "no-name",
    ],
)
def test_invalid_create_shows_the_error_and_writes_nothing(tenant, owner, client_for, changes, message):
    response = client_for(owner).post(reverse("agents-agent-create"), {**VALID_FORM, **changes})

    assert response.status_code == 400
    assert "Nothing was saved." in _text(response)
    assert message in _text(response)
    assert Agent.objects.count() == 0
    assert PromptVersion.objects.count() == 0
    assert BusinessHours.objects.count() == 0


def test_a_service_error_lands_on_its_own_field(tenant, owner, client_for):
    response = client_for(owner).post(reverse("agents-agent-create"), {**VALID_FORM, "transfer_number": "12345"})

    assert list(response.context["form"].errors) == ["transfer_number"]
    assert 'value="Front desk"' in response.text  # what the person typed is still there
    assert "2026-12-25 Christmas Day" in _text(response)


def test_custom_voice_id_is_saved_as_the_voice(tenant, owner, client_for):
    data = {**VALID_FORM, "tts_provider": "elevenlabs", "voice_id": "", "custom_voice_id": "AbCdEfGhIj0123456789"}

    response = client_for(owner).post(reverse("agents-agent-create"), data)

    assert response.status_code == 302
    assert Agent.objects.for_tenant(tenant).get().voice_id == "AbCdEfGhIj0123456789"


def test_openai_compatible_takes_a_free_model_name(tenant, owner, client_for):
    data = {**VALID_FORM, "llm_provider": "openai_compatible", "llm_model": "llama3.1:8b"}

    response = client_for(owner).post(reverse("agents-agent-create"), data)

    assert response.status_code == 302
    assert Agent.objects.for_tenant(tenant).get().llm_model == "llama3.1:8b"


def test_ivr_agent_target_must_be_another_agent_of_this_tenant(tenant, other_tenant, owner, client_for):
    theirs = _agent(other_tenant, "Globex Sales")
    menu = {"prompt": "Press 1", "options": [{"digit": "1", "action": "agent", "agentId": str(theirs.code)}]}

    response = client_for(owner).post(reverse("agents-agent-create"), {**VALID_FORM, "ivr_menu": json.dumps(menu)})

    assert response.status_code == 400
    assert f"no other agent {theirs.code} in this tenant" in _text(response)
    assert not Agent.objects.for_tenant(tenant).exists()


# Edit ----------------------------------------------------------------------------------------


def test_edit_page_is_filled_in_and_saving_it_unchanged_writes_no_version(tenant, owner, client_for):
    agent = _agent(tenant, system_prompt="Line one.\nLine two.")
    client = client_for(owner)
    page = client.get(reverse("agents-agent-edit", kwargs={"code": agent.code}))
    assert page.status_code == 200
    assert 'value="Sales Bot"' in page.text

    data = _edit_data(page)
    data["system_prompt"] = data["system_prompt"].replace("\n", "\r\n")  # what a browser sends
    data["name"] = "Sales Bot 2"
    response = client.post(reverse("agents-agent-edit", kwargs={"code": agent.code}), data)

    assert response.status_code == 302
    agent.refresh_from_db()
    assert agent.name == "Sales Bot 2"
    assert agent.system_prompt == "Line one.\nLine two."
    assert PromptVersion.objects.for_tenant(tenant).filter(agent=agent).count() == 1


def test_edit_writes_a_prompt_version_when_a_prompt_text_changes(tenant, teammate, client_for):
    agent = _agent(tenant)
    client = client_for(teammate)
    data = _edit_data(client.get(reverse("agents-agent-edit", kwargs={"code": agent.code})))

    data.update(greeting_message="Hi, this is Acme sales.", note="Friendlier opening")
    response = client.post(reverse("agents-agent-edit", kwargs={"code": agent.code}), data)

    assert response.status_code == 302
    latest = PromptVersion.objects.for_tenant(tenant).filter(agent=agent).first()
    assert (latest.version, latest.greeting_message, latest.note) == (
        2,
        "Hi, this is Acme sales.",
        "Friendlier opening",
    )
    assert latest.author_label == teammate.username


def test_invalid_edit_changes_nothing(tenant, owner, client_for):
    agent = _agent(tenant)
    before = Agent.objects.filter(pk=agent.pk).values().get()
    client = client_for(owner)
    data = _edit_data(client.get(reverse("agents-agent-edit", kwargs={"code": agent.code})))

    data.update(name="Renamed", system_prompt="New prompt", max_endpointing_delay="0.1", min_endpointing_delay="2")
    response = client.post(reverse("agents-agent-edit", kwargs={"code": agent.code}), data)

    assert response.status_code == 400
    assert "Must be at least the minimum endpointing delay." in _text(response)
    assert Agent.objects.filter(pk=agent.pk).values().get() == before
    assert PromptVersion.objects.filter(agent=agent).count() == 1


def test_business_hours_editor_round_trip(tenant, owner, client_for):
    client = client_for(owner)
    client.post(reverse("agents-agent-create"), VALID_FORM)
    agent = Agent.objects.for_tenant(tenant).get()

    page = client.get(reverse("agents-agent-edit", kwargs={"code": agent.code}))
    data = _edit_data(page)

    assert data["business_hours_monday_0_start"] == "09:00"
    assert data["business_hours_monday_1_end"] == "17:00"
    assert data["business_hours_tuesday_closed"] == "on"
    assert "business_hours_monday_closed" not in data
    assert re.search(r'name="business_hours_saturday_0_start" value="10:00"', page.text)
    assert re.search(r'name="business_hours_sunday_closed"[^>]*checked', page.text)
    assert data["holidays"] == "2026-12-25 Christmas Day\n2027-01-01"

    client.post(reverse("agents-agent-edit", kwargs={"code": agent.code}), data)
    assert _ranges(agent) == [(0, "09:00", "12:00"), (0, "13:00", "17:00"), (5, "10:00", "14:00")]

    data.update(business_hours_sunday_2_start="20:00", business_hours_sunday_2_end="22:00")
    refused = client.post(reverse("agents-agent-edit", kwargs={"code": agent.code}), data)
    assert refused.status_code == 400
    assert "sunday: marked closed but has opening times" in _text(refused)

    del data["business_hours_sunday_closed"]
    for key in ("business_hours_monday_0_start", "business_hours_monday_0_end"):
        del data[key]
    data.update(business_hours_monday_1_start="", business_hours_monday_1_end="", business_hours_monday_closed="on")
    client.post(reverse("agents-agent-edit", kwargs={"code": agent.code}), data)
    assert _ranges(agent) == [(5, "10:00", "14:00"), (6, "20:00", "22:00")]


def test_account_voice_of_the_agent_is_shown_as_custom_when_the_vendor_is_not_asked(tenant, owner, client_for):
    agent = _agent(tenant, tts_provider="cartesia", voice_id="0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d")

    page = client_for(owner).get(reverse("agents-agent-edit", kwargs={"code": agent.code}))

    assert 'name="custom_voice_id" id="id_custom_voice_id" value="0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d"' in page.text


def test_a_voice_of_another_provider_is_not_carried_into_the_custom_field(tenant, owner, client_for):
    data = {**VALID_FORM, "tts_provider": "cartesia"}  # the provider changed without JavaScript

    response = client_for(owner).post(reverse("agents-agent-create"), data)

    assert response.status_code == 400
    assert "'aura-2-thalia-en' is a Deepgram Aura voice, not a Cartesia Sonic voice." in _text(response)
    assert 'name="custom_voice_id" id="id_custom_voice_id" value=""' in response.text
    assert 'value="f786b574-daa5-4673-aa0c-cbe3e8534c02" selected' in response.text  # Cartesia's first voice


# Option partials -----------------------------------------------------------------------------


def test_llm_options_list_the_providers_models_with_facts(owner, client_for):
    response = client_for(owner).get(
        reverse("agents-llm-options"), {"llm_provider": "anthropic"}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert 'id="llm-model-field"' in response.text
    assert 'value="claude-sonnet-4-20250514"' in response.text
    assert "gpt-4o-mini" not in response.text
    assert "Context window" in _text(response)
    assert "200,000 tokens" in _text(response)
    assert "<html" not in response.text  # a fragment, not a page


def test_llm_options_for_a_chosen_model_describe_that_model(owner, client_for):
    response = client_for(owner).get(reverse("agents-llm-options"), {"llm_provider": "openai", "llm_model": "gpt-5"})

    assert re.search(r'value="gpt-5" selected', response.text)
    assert "Complex reasoning and multi-step tool use" in _text(response)


def test_llm_options_for_openai_compatible_is_a_text_input(owner, client_for):
    response = client_for(owner).get(reverse("agents-llm-options"), {"llm_provider": "openai_compatible"})

    assert response.status_code == 200
    assert '<input type="text" name="llm_model"' in response.text


def test_voice_options_group_the_providers_voices(tenant, owner, client_for):
    response = client_for(owner).get(reverse("agents-voice-options"), {"tts_provider": "deepgram"})

    assert response.status_code == 200
    assert 'value="aura-2-thalia-en"' in response.text
    assert '<optgroup label="English voices">' in response.text
    assert '<optgroup label="Spanish voices">' in response.text
    assert '<optgroup label="English voices (legacy)">' in response.text
    assert 'value="alloy"' not in response.text
    assert "custom_voice_id" not in response.text  # Deepgram takes no custom voice ids
    assert "Gender" in _text(response) and "Accent" in _text(response)


def test_voice_options_offer_a_custom_voice_id_where_the_vendor_has_them(tenant, owner, client_for):
    response = client_for(owner).get(reverse("agents-voice-options"), {"tts_provider": "elevenlabs"})

    assert 'name="custom_voice_id"' in response.text
    assert "20 letters and digits" in _text(response)
    assert 'value="hpp4J3VqNfWAUOO0d1Us" selected' in response.text  # the first voice when none is chosen
    assert "eleven_turbo_v2_5" in response.text  # the voice models


def test_stt_options_list_models_languages_and_streaming(owner, client_for):
    response = client_for(owner).get(
        reverse("agents-stt-options"), {"stt_provider": "openai", "stt_model": "whisper-1"}
    )

    assert response.status_code == 200
    assert 'value="gpt-4o-transcribe"' in response.text
    assert re.search(r'value="whisper-1" selected', response.text)
    text = _text(response)
    assert "Streaming" in text and "no" in text
    assert '<datalist id="stt-languages">' in response.text
    assert 'value="nova-3"' not in response.text


@pytest.mark.parametrize(
    ("url_name", "param", "message"),
    [
        ("agents-llm-options", "llm_provider", "Unknown LLM provider “acme-ai”"),
        ("agents-voice-options", "tts_provider", "Unknown voice provider “acme-ai”"),
        ("agents-stt-options", "stt_provider", "Unknown speech-to-text provider “acme-ai”"),
    ],
)
def test_option_partials_refuse_an_unknown_provider(owner, client_for, url_name, param, message):
    response = client_for(owner).get(reverse(url_name), {param: "acme-ai"})

    assert response.status_code == 400
    assert message in _text(response)
    assert "<option" not in response.text


# Account voices from the vendor (a local fake of ElevenLabs' GET /v1/voices) -----------------

ACCOUNT_KEY = "sk_acme_0123456789abcdefghij"
ACCOUNT_VOICE = "AcmeClone0123456789a"


class _FakeElevenLabs(BaseHTTPRequestHandler):
    failing = False

    def do_GET(self) -> None:
        if self.server.failing or self.headers.get("xi-api-key") != ACCOUNT_KEY:  # type: ignore[attr-defined]
            self.send_response(500)
            self.end_headers()
            return
        body = json.dumps(
            {"voices": [{"voice_id": ACCOUNT_VOICE, "name": "Acme Support", "category": "cloned", "labels": {}}]}
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def elevenlabs(settings, monkeypatch, tenant):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeElevenLabs)
    server.failing = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    settings.ELEVENLABS_API_BASE = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.delenv("ELEVEN_API_KEY", raising=False)
    credential_set(tenant=tenant, provider="elevenlabs", secret=ACCOUNT_KEY)
    yield server
    server.shutdown()
    server.server_close()


def test_voice_options_put_the_accounts_voices_first(elevenlabs, owner, client_for):
    response = client_for(owner).get(
        reverse("agents-voice-options"), {"tts_provider": "elevenlabs", "voice_id": ACCOUNT_VOICE}
    )

    assert response.status_code == 200
    groups = re.findall(r'<optgroup label="([^"]+)"', html.unescape(response.text))
    assert groups[0] == "Your account's voices"
    assert re.search(rf'value="{ACCOUNT_VOICE}" selected', response.text)
    assert 'name="custom_voice_id" id="id_custom_voice_id" value=""' in response.text


def test_voice_options_show_the_vendors_notice_when_it_fails(elevenlabs, owner, client_for):
    elevenlabs.failing = True

    response = client_for(owner).get(reverse("agents-voice-options"), {"tts_provider": "elevenlabs"})

    assert response.status_code == 200
    assert "Could not load your ElevenLabs voices (HTTP 500); showing the standard catalog." in _text(response)
    assert "Your account's voices" not in _text(response)


# Detail --------------------------------------------------------------------------------------


def test_detail_shows_every_section_and_the_runtime_config_without_secrets(tenant, owner, client_for):
    ProviderCredentialFactory(tenant=tenant, provider="openai", secret="sk-very-secret-0000wxyz")
    client = client_for(owner)
    client.post(reverse("agents-agent-create"), VALID_FORM)
    agent = Agent.objects.for_tenant(tenant).get()

    response = client.get(reverse("agents-agent-detail", kwargs={"code": agent.code}))

    assert response.status_code == 200
    text = _text(response)
    for expected in (
        "You are the front desk of Acme.",
        "GPT-4o mini",
        "Thalia",
        "Nova-3",
        "09:00-12:00, 13:00-17:00",
        "2026-12-25 Christmas Day",
        "+33142685300",
        "Progressive (one call per free agent slot)",
        "Runtime config preview",
        f'"agent_id": "{agent.code}"',
        '"tts_voice_id": "aura-2-thalia-en"',
    ):
        assert expected in text, expected
    assert response.context["runtime"].source in ("cache", "database")
    assert "cached until" in text
    assert "sk-very-secret-0000wxyz" not in response.text
    assert "Config loader counters" not in text


def test_detail_shows_loader_counters_to_staff(tenant, owner, client_for):
    owner.is_staff = True
    owner.save()
    agent = _agent(tenant)

    response = client_for(owner).get(reverse("agents-agent-detail", kwargs={"code": agent.code}))

    assert "Config loader counters (staff only)" in _text(response)
    assert "cache_hit_rate" in _text(response)


def test_viewer_sees_the_detail_without_write_buttons(tenant, viewer, client_for):
    agent = _agent(tenant)

    response = client_for(viewer).get(reverse("agents-agent-detail", kwargs={"code": agent.code}))

    assert response.status_code == 200
    assert "Sell politely." in _text(response)
    assert reverse("agents-agent-edit", kwargs={"code": agent.code}) not in response.text
    assert reverse("agents-agent-duplicate", kwargs={"code": agent.code}) not in response.text


# Prompt history ------------------------------------------------------------------------------


@pytest.fixture
def agent_with_history(tenant, owner):
    agent = _agent(tenant, system_prompt="Greet warmly.")
    agent = agent_update(tenant=tenant, agent=agent, actor=SYSTEM, fields={"system_prompt": "Sell hard."})
    return agent_update(
        tenant=tenant, agent=agent, actor=SYSTEM, fields={"system_prompt": "Help patiently."}, note="Calmer"
    )


def test_prompt_history_lists_versions_and_diffs_previous_with_latest(agent_with_history, owner, client_for):
    response = client_for(owner).get(reverse("agents-prompt-list", kwargs={"code": agent_with_history.code}))

    assert response.status_code == 200
    text = _text(response)
    assert "v1" in text and "v2" in text and "v3" in text
    assert "Calmer" in text
    assert (response.context["older"].version, response.context["newer"].version) == (2, 3)
    assert "Sell hard." in text
    assert "Help patiently." in text
    assert '<table class="diff"' in response.text


def test_prompt_history_diff_between_any_two_versions(agent_with_history, owner, client_for):
    url = reverse("agents-prompt-list", kwargs={"code": agent_with_history.code})

    response = client_for(owner).get(url, {"from": 3, "to": 1})

    assert "Greet warmly." in _text(response)
    assert "Help patiently." in _text(response)
    assert "Sell hard." not in _text(response)
    assert client_for(owner).get(url, {"from": 1, "to": 9}).status_code == 404


def test_prompt_history_with_one_version_has_nothing_to_compare(tenant, owner, client_for):
    agent = _agent(tenant)

    response = client_for(owner).get(reverse("agents-prompt-list", kwargs={"code": agent.code}))

    assert "nothing to compare yet" in _text(response)


def test_prompt_text_is_escaped_in_the_diff(tenant, owner, client_for):
    agent = _agent(tenant, system_prompt="<script>alert(1)</script>")
    agent_update(tenant=tenant, agent=agent, actor=SYSTEM, fields={"system_prompt": "Plain."})

    response = client_for(owner).get(reverse("agents-prompt-list", kwargs={"code": agent.code}))

    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text


def test_revert_writes_a_new_version_with_the_old_texts(agent_with_history, tenant, teammate, client_for):
    url = reverse("agents-prompt-revert", kwargs={"code": agent_with_history.code})

    response = client_for(teammate).post(url, {"version": 1})

    assert response.status_code == 302
    agent_with_history.refresh_from_db()
    assert agent_with_history.system_prompt == "Greet warmly."
    latest = PromptVersion.objects.for_tenant(tenant).filter(agent=agent_with_history).first()
    assert (latest.version, latest.system_prompt, latest.note) == (4, "Greet warmly.", "Reverted to version 1")
    assert latest.author_label == teammate.username
    assert "The prompt texts of version 1 are back" in _text(response.client.get(response["Location"]))


def test_revert_to_the_current_texts_changes_nothing(agent_with_history, tenant, owner, client_for):
    url = reverse("agents-prompt-revert", kwargs={"code": agent_with_history.code})

    response = client_for(owner).post(url, {"version": 3}, follow=True)

    assert "already uses the texts of version 3" in _text(response)
    assert PromptVersion.objects.filter(agent=agent_with_history).count() == 3


def test_revert_to_a_missing_version_is_404(agent_with_history, owner, client_for):
    url = reverse("agents-prompt-revert", kwargs={"code": agent_with_history.code})

    assert client_for(owner).post(url, {"version": 42}).status_code == 404
    assert PromptVersion.objects.filter(agent=agent_with_history).count() == 3


# Duplicate, activate, delete ------------------------------------------------------------------


def test_duplicate_opens_the_copys_edit_page(tenant, teammate, client_for):
    agent = _agent(tenant, business_hours_enabled=True)

    response = client_for(teammate).post(reverse("agents-agent-duplicate", kwargs={"code": agent.code}))

    copy = Agent.objects.for_tenant(tenant).exclude(pk=agent.pk).get()
    assert copy.name == "Sales Bot (copy)"
    assert copy.system_prompt == agent.system_prompt
    assert response.status_code == 302
    assert response["Location"] == reverse("agents-agent-edit", kwargs={"code": copy.code})
    assert PromptVersion.objects.for_tenant(tenant).get(agent=copy).note == "Duplicated from Sales Bot"


def test_deactivate_and_activate(tenant, owner, client_for):
    agent = _agent(tenant)
    client = client_for(owner)

    response = client.post(reverse("agents-agent-deactivate", kwargs={"code": agent.code}))
    agent.refresh_from_db()
    assert response.status_code == 302
    assert response["Location"] == reverse("agents-agent-detail", kwargs={"code": agent.code})
    assert not agent.is_active

    client.post(reverse("agents-agent-activate", kwargs={"code": agent.code}))
    agent.refresh_from_db()
    assert agent.is_active


def test_deactivate_from_the_list_with_htmx_returns_the_row(tenant, owner, client_for):
    agent = _agent(tenant)

    response = client_for(owner).post(
        reverse("agents-agent-deactivate", kwargs={"code": agent.code}), headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert response.text.strip().startswith(f'<tr id="agent-{agent.code}">')
    assert "inactive" in _text(response)
    assert "Activate" in _text(response)
    assert "v1" in _text(response)


def test_deactivate_returns_to_a_local_next_url_only(tenant, owner, client_for):
    agent = _agent(tenant)
    url = reverse("agents-agent-deactivate", kwargs={"code": agent.code})

    local = client_for(owner).post(url, {"next": reverse("agents-agent-list")})
    foreign = client_for(owner).post(url, {"next": "https://evil.example/"})

    assert local["Location"] == reverse("agents-agent-list")
    assert foreign["Location"] == reverse("agents-agent-detail", kwargs={"code": agent.code})


def test_delete_asks_first_then_deletes(tenant, teammate, client_for):
    agent = _agent(tenant)
    client = client_for(teammate)
    url = reverse("agents-agent-delete", kwargs={"code": agent.code})

    confirm = client.get(url)
    assert confirm.status_code == 200
    assert "Delete Sales Bot?" in _text(confirm)
    assert Agent.objects.filter(pk=agent.pk).exists()

    response = client.post(url, follow=True)
    assert response.redirect_chain[-1][0] == reverse("agents-agent-list")
    assert "Agent Sales Bot was deleted." in _text(response)
    assert not Agent.objects.filter(pk=agent.pk).exists()
    assert not PromptVersion.objects.filter(agent_id=agent.pk).exists()


# Viewers and strangers ------------------------------------------------------------------------


def _viewer_posts(agent: Agent) -> list[tuple[str, dict[str, Any]]]:
    code = {"code": agent.code}
    return [
        (reverse("agents-agent-create"), VALID_FORM),
        (reverse("agents-agent-edit", kwargs=code), {**VALID_FORM, "name": "Viewer was here"}),
        (reverse("agents-agent-duplicate", kwargs=code), {}),
        (reverse("agents-agent-deactivate", kwargs=code), {}),
        (reverse("agents-agent-activate", kwargs=code), {}),
        (reverse("agents-agent-delete", kwargs=code), {}),
        (reverse("agents-prompt-revert", kwargs=code), {"version": 1}),
    ]


def test_viewer_gets_403_on_every_post_and_nothing_changes(tenant, viewer, client_for):
    agent = _agent(tenant)
    agent_update(tenant=tenant, agent=agent, actor=SYSTEM, fields={"system_prompt": "Second."})
    before = Agent.objects.filter(pk=agent.pk).values().get()
    client = client_for(viewer)

    for url, data in _viewer_posts(agent):
        response = client.post(url, data)
        assert response.status_code == 403, url
        assert NOT_ALLOWED in _text(response), url

    assert list(Agent.objects.values_list("pk", flat=True)) == [agent.pk]
    assert Agent.objects.filter(pk=agent.pk).values().get() == before
    assert PromptVersion.objects.filter(agent=agent).count() == 2


@pytest.mark.parametrize("url_name", ["agents-agent-edit", "agents-agent-delete"])
def test_viewer_gets_403_on_the_edit_and_delete_pages(tenant, viewer, client_for, url_name):
    agent = _agent(tenant)

    response = client_for(viewer).get(reverse(url_name, kwargs={"code": agent.code}))

    assert response.status_code == 403
    assert NOT_ALLOWED in _text(response)


def test_viewer_gets_403_on_the_new_agent_page(tenant, viewer, client_for):
    response = client_for(viewer).get(reverse("agents-agent-create"))

    assert response.status_code == 403


@pytest.mark.parametrize(
    "url_name",
    [
        "agents-agent-detail",
        "agents-agent-edit",
        "agents-agent-delete",
        "agents-prompt-list",
    ],
)
def test_another_tenants_agent_is_not_found(tenant, other_tenant, owner, client_for, url_name):
    theirs = _agent(other_tenant, "Globex Sales")

    response = client_for(owner).get(reverse(url_name, kwargs={"code": theirs.code}))

    assert response.status_code == 404
    assert NOT_FOUND in _text(response)
    assert "Globex Sales" not in _text(response)


@pytest.mark.parametrize(
    "url_name",
    ["agents-agent-list", "agents-agent-create", "agents-llm-options", "agents-voice-options", "agents-stt-options"],
)
def test_pages_redirect_anonymous_visitors_to_login(db, client, url_name):
    response = client.get(reverse(url_name))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_agent_list_is_paginated_and_keeps_the_filters(tenant, owner, client_for):
    from agents_app.services import agent_create
    from voiceplatform.actor import SYSTEM

    for index in range(55):
        agent_create(tenant=tenant, actor=SYSTEM, fields={"name": f"Bulk {index:02d}"})
    client = client_for(owner)

    first = client.get("/agents/?search=Bulk")
    second = client.get("/agents/?search=Bulk&page=2")

    assert "Page 1 of 2" in first.text
    assert "search=Bulk&amp;page=2" in first.text
    assert "Bulk 00" in first.text and "Bulk 54" not in first.text
    assert "Bulk 54" in second.text and "Bulk 00" not in second.text
