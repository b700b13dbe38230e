"""The outbound-URL guard (issue 12, security item 1): tenant base URLs cannot reach internal addresses.

The suite's settings allow http and 127.0.0.1 on purpose (its fake providers listen there); every
test here sets the operator's settings itself. DNS is the internet's edge: the rebinding tests
replace socket.getaddrinfo for one made-up host name and let every other name through.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory
from tests.worker.test_chat import _agent, _no_provider_keys_in_the_environment  # noqa: F401
from voiceplatform import outbound_url
from voiceplatform.config import ConfigError, Settings
from voiceplatform.devtools.fake_openai import FakeOpenAI
from voiceplatform.models import ProviderCredential
from voiceplatform.services import credential_set

REBIND_HOST = "rebind.attacker.test"
PUBLIC_ADDRESS = "93.184.216.34"

REFUSED_URLS = [
    "https://127.0.0.1/v1",
    "https://127.0.0.1:8000/v1",
    "https://10.1.2.3/v1",
    "https://172.16.0.5/v1",
    "https://192.168.1.10/v1",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/v1",
    "https://0.0.0.0/v1",
    "https://224.0.0.1/v1",
    "https://[::1]/v1",
    "https://[::ffff:127.0.0.1]/v1",
    "https://[::ffff:a9fe:a9fe]/v1",
    "https://[fe80::1]/v1",
    "https://[fc00::1]/v1",
    "https://[2002:7f00:1::]/v1",  # 6to4 wrapping 127.0.0.1
    "https://localhost/v1",
]


@pytest.fixture
def strict(settings):
    """The shipped defaults: https only, nothing allow-listed."""
    settings.PROVIDER_URL_ALLOW_HTTP = False
    settings.PROVIDER_URL_ALLOWED_HOSTS = []
    return settings


@pytest.fixture
def dns(monkeypatch):
    """Answers for REBIND_HOST that a test can change between save and request; other names resolve normally."""
    answers = {REBIND_HOST: PUBLIC_ADDRESS}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answers[host], port or 0))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


def _post_credential(api, base_url: str):
    return api.post(
        reverse("api-credential-list"),
        {"provider": "openai_compatible", "secret": "sk-local-0123", "baseUrl": base_url},
        format="json",
    )


# --- save time: the API, the portal and the admin ---------------------------------------------


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_the_api_refuses_an_internal_base_url_naming_the_field(strict, tenant, api_client_for, url):
    response = _post_credential(api_client_for(tenant), url)

    assert response.status_code == 400, response.content
    assert "baseUrl" in response.json()
    assert not ProviderCredential.objects.filter(tenant=tenant).exists()


def test_the_refusal_says_why_and_how_an_operator_allows_it(strict, tenant, api_client_for):
    response = _post_credential(api_client_for(tenant), "https://169.254.169.254/v1")

    (message,) = response.json()["baseUrl"]
    assert "169.254.169.254" in message
    assert "private, local or reserved" in message
    assert "PROVIDER_URL_ALLOWED_HOSTS" in message


def test_plain_http_is_refused_unless_the_operator_allows_it(strict, tenant, api_client_for, dns):
    dns["models.example.test"] = PUBLIC_ADDRESS
    api = api_client_for(tenant)

    refused = _post_credential(api, "http://models.example.test/v1")
    assert refused.status_code == 400
    assert "https://" in refused.json()["baseUrl"][0]

    strict.PROVIDER_URL_ALLOW_HTTP = True
    assert _post_credential(api, "http://models.example.test/v1").status_code == 201


def test_a_public_address_is_accepted(strict, tenant, api_client_for):
    response = _post_credential(api_client_for(tenant), f"https://{PUBLIC_ADDRESS}/v1")

    assert response.status_code == 201, response.content


def test_a_name_resolving_to_an_internal_address_is_refused_at_save(strict, tenant, api_client_for, dns):
    dns[REBIND_HOST] = "10.0.0.7"

    response = _post_credential(api_client_for(tenant), f"https://{REBIND_HOST}/v1")

    assert response.status_code == 400
    assert "10.0.0.7" in response.json()["baseUrl"][0]


@pytest.mark.parametrize(
    ("allowed", "url"),
    [
        (["10.0.0.0/8"], "https://10.1.2.3/v1"),
        (["llm.corp.internal"], "https://llm.corp.internal:8443/v1"),
        (["127.0.0.1"], "https://127.0.0.1:11434/v1"),
        (["::1"], "https://[::1]/v1"),
    ],
)
def test_the_operator_allow_list_lets_a_self_hosted_server_through(strict, tenant, api_client_for, dns, allowed, url):
    dns["llm.corp.internal"] = "10.20.30.40"
    strict.PROVIDER_URL_ALLOWED_HOSTS = allowed

    response = _post_credential(api_client_for(tenant), url)

    assert response.status_code == 201, response.content


def test_the_portal_form_shows_the_refusal_on_the_field(strict, tenant, owner, client_for):
    response = client_for(owner).post(
        reverse("tenancy-credential-list"),
        {"provider": "openai_compatible", "secret": "sk-local-0123", "base_url": "https://169.254.169.254/v1"},
    )

    assert response.status_code == 400
    assert "private, local or reserved" in response.text
    assert "base_url" in response.context["form"].errors
    assert not ProviderCredential.objects.filter(tenant=tenant).exists()


def test_the_admin_form_shows_the_refusal_on_the_field(strict, tenant):
    client = Client()
    client.force_login(UserFactory(username="root@ops.test", is_staff=True, is_superuser=True))

    response = client.post(
        reverse("admin:voiceplatform_providercredential_add"),
        {"tenant": tenant.pk, "provider": "openai_compatible", "base_url": "https://[::1]/v1", "secret": "sk-x-0123"},
    )

    assert response.status_code == 200  # the form again, with its error
    assert "base_url" in response.context["adminform"].form.errors
    assert "private, local or reserved" in response.text
    assert not ProviderCredential.objects.filter(tenant=tenant).exists()


# --- the rule itself and its setting ------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("::ffff:8.8.8.8", True),
        ("::ffff:10.0.0.1", False),
        ("2002:a00:1::", False),  # 6to4 of 10.0.0.1
        ("198.18.0.1", False),  # benchmarking range
        ("255.255.255.255", False),
        ("ff02::1", False),
        ("::", False),
    ],
)
def test_address_rule(address, allowed):
    import ipaddress

    assert outbound_url.address_allowed(ipaddress.ip_address(address), outbound_url.parse_allow_list([])) is allowed


def test_a_malformed_allow_list_entry_stops_start_up_naming_it():
    with pytest.raises(ConfigError, match=r"PROVIDER_URL_ALLOWED_HOSTS.*'not a host!'"):
        Settings({"PROVIDER_URL_ALLOWED_HOSTS": "10.0.0.0/8, not a host!"}).host_list("PROVIDER_URL_ALLOWED_HOSTS")
    assert Settings({"PROVIDER_URL_ALLOWED_HOSTS": "10.0.0.0/8,llm.corp,::1"}).host_list(
        "PROVIDER_URL_ALLOWED_HOSTS"
    ) == ["10.0.0.0/8", "llm.corp", "::1"]


# --- request time: every connection is checked -----------------------------------------------


class _Hits(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def internal_server():
    """A server on 127.0.0.1, standing for anything internal (a metadata service, an admin port)."""
    _Hits.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hits)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1], _Hits.hits
    server.shutdown()
    server.server_close()


def _get(url: str) -> httpx.Response:
    async def fetch() -> httpx.Response:
        timeout = httpx.Timeout(5.0)
        async with outbound_url.guarded_http_client(timeout=timeout, limits=httpx.Limits()) as client:
            return await client.get(url)

    return asyncio.run(fetch())


def test_the_guarded_client_refuses_an_internal_address(strict, internal_server):
    port, hits = internal_server
    strict.PROVIDER_URL_ALLOW_HTTP = True  # only the address is in question here

    with pytest.raises(httpx.ConnectError) as refused:
        _get(f"http://127.0.0.1:{port}/secret")

    assert outbound_url.is_refusal(refused.value)
    assert hits == []  # the request never reached the server


def test_the_guarded_client_reaches_an_allow_listed_address(strict, internal_server):
    port, hits = internal_server
    strict.PROVIDER_URL_ALLOW_HTTP = True
    strict.PROVIDER_URL_ALLOWED_HOSTS = ["127.0.0.1"]

    assert _get(f"http://127.0.0.1:{port}/models").status_code == 200
    assert hits == ["/models"]


def test_the_guarded_client_refuses_plain_http_by_default(strict, internal_server):
    port, hits = internal_server
    strict.PROVIDER_URL_ALLOWED_HOSTS = ["127.0.0.1"]

    with pytest.raises(httpx.ConnectError):
        _get(f"http://127.0.0.1:{port}/models")
    assert hits == []


def test_dns_rebinding_is_refused_at_request_time(strict, dns, internal_server):
    """Public when checked at save, 127.0.0.1 when requested: the request-time check refuses it."""
    port, hits = internal_server
    strict.PROVIDER_URL_ALLOW_HTTP = True
    url = f"http://{REBIND_HOST}:{port}/v1"
    outbound_url.validate_tenant_url(url, field="base_url")  # passes: the name is public now

    dns[REBIND_HOST] = "127.0.0.1"
    with pytest.raises(httpx.ConnectError) as refused:
        _get(url)

    assert outbound_url.is_refusal(refused.value)
    assert hits == []


def test_a_rebound_chat_provider_is_never_called_and_its_error_is_fixed_text(strict, dns, tenant, api_client_for):
    """End to end: a tenant's saved base URL rebinds to the fake provider on 127.0.0.1."""
    strict.PROVIDER_URL_ALLOW_HTTP = True
    with FakeOpenAI() as fake:
        port = int(fake.base_url.rsplit(":", 1)[1].split("/")[0])
        credential_set(
            tenant=tenant, provider="openai_compatible", secret="sk-x-0123", base_url=f"http://{REBIND_HOST}:{port}/v1"
        )
        agent = _agent(tenant)
        dns[REBIND_HOST] = "127.0.0.1"
        api = api_client_for(tenant)
        url = reverse("api-agent-chat", kwargs={"id": agent.code})
        chat_id = api.post(url, {"action": "start"}, format="json").json()["chatId"]

        response = api.post(url, {"action": "send", "chatId": chat_id, "message": "Hi"}, format="json")

        assert response.status_code == 200, response.content
        assert response.json()["error"] == "its address is not allowed (a private, local or reserved network)"
        assert fake.requests == []
