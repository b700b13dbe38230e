"""Login throttling: wrong passwords lock an account and an address out (portal and admin); failed
API-key authentications from one address end in 429."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.conftest import PASSWORD
from tests.factories import UserFactory
from voiceplatform.services import api_key_create

LOCKED = "Too many failed log-in attempts"
LOGIN_URLS = {"portal": "/accounts/login/", "admin": "/admin/login/"}


def _fail(client: Client, url: str, username: str, times: int) -> list[int]:
    return [client.post(url, {"username": username, "password": "wrong guess"}).status_code for _ in range(times)]


@pytest.fixture
def operator(db):
    return UserFactory(username="ops@acme.test", is_staff=True, is_superuser=True)


@pytest.mark.parametrize("site", ["portal", "admin"])
def test_wrong_passwords_lock_the_account_and_the_right_one_is_refused_too(operator, site):
    url = LOGIN_URLS[site]
    client = Client()
    limit = settings.AXES_FAILURE_LIMIT

    statuses = _fail(client, url, operator.username, limit)
    response = client.post(url, {"username": operator.username, "password": PASSWORD})

    assert statuses[: limit - 1] == [200] * (limit - 1)  # the form's "wrong password" error before the limit
    assert statuses[-1] == 429  # the attempt that reaches the limit is refused already
    assert response.status_code == 429
    assert int(response["Retry-After"]) == settings.LOGIN_LOCKOUT_MINUTES * 60
    assert LOCKED in response.text
    assert f"for {settings.LOGIN_LOCKOUT_MINUTES} minutes" in response.text
    assert "_auth_user_id" not in client.session


def test_the_account_stays_locked_from_another_address(owner):
    _fail(Client(REMOTE_ADDR="203.0.113.5"), LOGIN_URLS["portal"], owner.username, settings.AXES_FAILURE_LIMIT)

    response = Client(REMOTE_ADDR="198.51.100.7").post(
        LOGIN_URLS["portal"], {"username": owner.username, "password": PASSWORD}
    )

    assert response.status_code == 429


def test_one_address_guessing_many_accounts_is_locked(owner, teammate):
    attacker = Client(REMOTE_ADDR="203.0.113.9")
    for number in range(settings.AXES_FAILURE_LIMIT):
        attacker.post(LOGIN_URLS["portal"], {"username": f"guess{number}@acme.test", "password": "x"})

    from_attacker = attacker.post(LOGIN_URLS["portal"], {"username": teammate.username, "password": PASSWORD})
    from_elsewhere = Client(REMOTE_ADDR="198.51.100.8").post(
        LOGIN_URLS["portal"], {"username": teammate.username, "password": PASSWORD}
    )

    assert from_attacker.status_code == 429
    assert from_elsewhere.status_code == 302  # the teammate's own account was never guessed at


def test_a_few_typos_then_the_right_password_logs_in(owner):
    client = Client()
    _fail(client, LOGIN_URLS["portal"], owner.username, settings.AXES_FAILURE_LIMIT - 1)

    response = client.post(LOGIN_URLS["portal"], {"username": owner.username, "password": PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("portal-dashboard")


def test_an_operator_lifts_a_lockout_with_the_reset_command(owner):
    client = Client()
    _fail(client, LOGIN_URLS["portal"], owner.username, settings.AXES_FAILURE_LIMIT)
    assert AccessAttempt.objects.filter(username=owner.username).exists()  # listed in the admin under Axes

    call_command("axes_reset_username", owner.username)

    response = client.post(LOGIN_URLS["portal"], {"username": owner.username, "password": PASSWORD})
    assert response.status_code == 302


# API keys ------------------------------------------------------------------------------------


def _bad_key_client(address: str) -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION="Bearer vp_AAAAAAAA_" + "B" * 32)
    return client


def test_failed_api_key_authentications_from_one_address_end_in_429(tenant):
    client = _bad_key_client("203.0.113.20")
    limit = settings.API_KEY_FAILURE_LIMIT

    statuses = {client.get("/api/v1/").status_code for _ in range(limit)}
    response = client.get("/api/v1/")

    assert statuses == {401}
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    body = response.json()
    assert "Too many failed API-key authentications" in body["detail"]
    assert body["problems"] == [body["detail"]]
    assert _bad_key_client("198.51.100.20").get("/api/v1/").status_code == 401  # other addresses unaffected


def test_successful_api_requests_are_not_throttled(tenant):
    _key, raw_key = api_key_create(tenant=tenant, name="busy")
    client = APIClient(REMOTE_ADDR="203.0.113.21")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    statuses = {client.get("/api/v1/").status_code for _ in range(settings.API_KEY_FAILURE_LIMIT + 5)}

    assert statuses == {200}
