"""Content-Security-Policy: every portal page sends it, scripts need this origin or the nonce."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from agents_app.services import agent_create
from telephony_app.models import CallDirection
from telephony_app.services import call_create, phone_number_create
from voiceplatform.actor import SYSTEM

ROOT = Path(settings.BASE_DIR)
INLINE_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)


def _policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def _assert_strict_policy(response) -> None:
    """The header is there, scripts are 'self' + nonce only, and every inline script has the nonce."""
    assert "Content-Security-Policy" in response, response.request["PATH_INFO"]
    policy = _policy(response)
    assert policy["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in policy["script-src"]
    assert "'unsafe-eval'" not in policy["script-src"]
    assert policy["object-src"] == ["'none'"]
    html = response.content.decode()
    assert not INLINE_HANDLER.search(html), INLINE_HANDLER.search(html).group(0)
    nonces = [source for source in policy["script-src"] if source.startswith("'nonce-")]
    for attributes in SCRIPT_TAG.findall(html):
        if "src=" in attributes or 'type="application/json"' in attributes:
            continue
        assert nonces, f"an inline <script{attributes}> but no nonce in the policy"
        assert f'nonce="{nonces[0][7:-1]}"' in attributes, f"inline <script{attributes}> without the nonce"


@pytest.fixture
def pages(tenant, owner) -> list[str]:
    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Front desk", "system_prompt": "Be helpful."})
    call = call_create(tenant=tenant, agent=agent, direction=CallDirection.INBOUND, from_number="+14155550100")
    number = phone_number_create(tenant=tenant, number="+14155550199", agent=agent)
    return [
        reverse("portal-dashboard"),
        reverse("agents-agent-list"),
        reverse("agents-agent-create"),
        reverse("agents-agent-detail", args=[agent.code]),
        reverse("agents-agent-edit", args=[agent.code]),
        reverse("agents-agent-chat", args=[agent.code]),
        reverse("agents-agent-test", args=[agent.code]),
        reverse("agents-prompt-list", args=[agent.code]),
        reverse("calls-call-list"),
        reverse("calls-call-detail", args=[call.code]),
        reverse("numbers-number-list"),
        reverse("numbers-number-create"),
        reverse("numbers-number-edit", args=[number.code]),
        reverse("tenancy-member-list"),
        reverse("tenancy-apikey-list"),
        reverse("tenancy-credential-list"),
    ]


def test_every_portal_page_sends_a_strict_policy(pages, owner, client_for):
    client = client_for(owner)
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        _assert_strict_policy(response)


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/", "/api/docs/", "/no-such-page/"])
def test_public_pages_send_a_strict_policy(db, path):
    response = Client().get(path)

    assert response.status_code in (200, 404)
    _assert_strict_policy(response)


def test_the_test_call_page_may_connect_to_livekit(tenant, owner, client_for, settings):
    settings.LIVEKIT_URL = "http://livekit.internal:7880"
    settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = "key", "secret"
    settings.LIVEKIT_PUBLIC_URL = "wss://livekit.example.com"
    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Front desk", "system_prompt": "Be helpful."})

    response = client_for(owner).get(reverse("agents-agent-test", args=[agent.code]))

    connect = _policy(response)["connect-src"]
    assert connect == ["'self'", "wss://livekit.example.com", "https://livekit.example.com"]
    assert "livekit.internal" not in response["Content-Security-Policy"]


def test_the_api_docs_load_their_script_from_a_url_not_inline(db):
    response = Client().get("/api/docs/")
    script_url = re.search(r'<script src="([^"]*\?[^"]*script=[^"]*)"', response.content.decode()).group(1)

    script = Client().get(script_url.replace("&amp;", "&"))

    assert script.status_code == 200
    assert "SwaggerUIBundle" in script.content.decode()


def test_no_template_has_an_inline_event_handler_or_a_script_without_nonce():
    """Pages not requested above are covered here: the templates themselves."""
    offenders = []
    for template in [*ROOT.glob("templates/**/*.html"), *ROOT.glob("*/templates/**/*.html")]:
        text = template.read_text()
        if INLINE_HANDLER.search(text):
            offenders.append(f"{template}: inline event handler")
        for attributes in SCRIPT_TAG.findall(text):
            if "src=" not in attributes and "request.csp_nonce" not in attributes:
                offenders.append(f"{template}: <script{attributes}> without src or nonce")
    assert offenders == []
