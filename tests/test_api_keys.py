"""API key lifecycle: create (service and command), use over HTTP, revoke; every kind of 401."""

import hashlib
import io
import re

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from voiceplatform.models import ApiKey
from voiceplatform.services import api_key_create, api_key_revoke

API_ROOT = "/api/v1/"
KEY_SHAPE = re.compile(r"^vp_([A-Za-z0-9]{8})_[A-Za-z0-9]{32}$")


def _client(authorization: str | None = None) -> APIClient:
    client = APIClient()
    if authorization is not None:
        client.credentials(HTTP_AUTHORIZATION=authorization)
    return client


def _assert_401(response, detail_fragment: str) -> None:
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert detail_fragment in response.json()["detail"]
    assert response["WWW-Authenticate"] == 'Bearer realm="voiceplatform"'


def test_service_returns_plaintext_once_and_stores_only_its_hash(tenant):
    api_key, raw_key = api_key_create(tenant=tenant, name="  CRM sync  ")

    match = KEY_SHAPE.match(raw_key)
    assert match is not None
    row = ApiKey.objects.get(pk=api_key.pk)
    assert row.name == "CRM sync"
    assert row.tenant == tenant
    assert row.prefix == match.group(1)
    assert row.hashed_key == hashlib.sha256(raw_key.encode()).hexdigest()
    stored = [str(value) for value in ApiKey.objects.filter(pk=api_key.pk).values_list().get()]
    assert not any(raw_key in value or raw_key.split("_")[2] in value for value in stored)
    assert row.display == f"vp_{match.group(1)}_…"


def test_service_does_not_log_the_plaintext_key(tenant, caplog):
    caplog.set_level("DEBUG")

    api_key, raw_key = api_key_create(tenant=tenant, name="CRM sync")

    assert any(api_key.display in record.getMessage() for record in caplog.records)
    assert raw_key not in caplog.text


def test_command_prints_the_key_once_on_stdout(tenant):
    stdout, stderr = io.StringIO(), io.StringIO()

    call_command("create_api_key", "--tenant", "acme", "--name", "Zapier", stdout=stdout, stderr=stderr)

    raw_key = stdout.getvalue().strip()
    match = KEY_SHAPE.match(raw_key)
    assert match is not None, stdout.getvalue()
    assert stdout.getvalue().count(raw_key) == 1
    assert raw_key not in stderr.getvalue()
    assert f"vp_{match.group(1)}_…" in stderr.getvalue()
    row = ApiKey.objects.for_tenant(tenant).get()
    assert row.name == "Zapier"
    assert row.prefix == match.group(1)
    assert row.hashed_key == hashlib.sha256(raw_key.encode()).hexdigest()


def test_command_key_authenticates_as_its_tenant(tenant, other_tenant):
    stdout = io.StringIO()
    call_command("create_api_key", tenant="globex", name="Zapier", stdout=stdout, stderr=io.StringIO())

    response = _client(f"Bearer {stdout.getvalue().strip()}").get(API_ROOT)

    assert response.status_code == 200
    assert response.json()["tenant"]["slug"] == "globex"


def test_command_refuses_unknown_tenant(tenant):
    with pytest.raises(CommandError, match="no tenant with slug 'nope'"):
        call_command("create_api_key", tenant="nope", name="Zapier", stdout=io.StringIO(), stderr=io.StringIO())

    assert not ApiKey.objects.exists()


@pytest.mark.parametrize("name", ["x" * 101, "   "])
def test_command_refuses_a_name_that_is_too_long_or_blank(tenant, name):
    with pytest.raises(CommandError, match="--name must be 1 to 100 characters"):
        call_command("create_api_key", tenant="acme", name=name, stdout=io.StringIO(), stderr=io.StringIO())

    assert not ApiKey.objects.exists()


def test_api_root_returns_the_key_tenant_and_records_use(tenant, other_tenant):
    api_key, raw_key = api_key_create(tenant=tenant, name="CRM sync")
    assert api_key.last_used_at is None

    response = _client(f"Bearer {raw_key}").get(API_ROOT)

    assert response.status_code == 200
    assert response.json() == {
        "tenant": {"id": str(tenant.code), "name": "Acme", "slug": "acme", "timezone": "Europe/Paris"},
        "apiKey": {"name": "CRM sync", "prefix": api_key.display},
    }
    assert raw_key not in response.content.decode()
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_scheme_is_case_insensitive(tenant):
    _api_key, raw_key = api_key_create(tenant=tenant, name="CRM sync")

    assert _client(f"bearer {raw_key}").get(API_ROOT).status_code == 200


def test_revoked_key_is_refused(tenant):
    api_key, raw_key = api_key_create(tenant=tenant, name="CRM sync")
    client = _client(f"Bearer {raw_key}")
    assert client.get(API_ROOT).status_code == 200

    api_key_revoke(tenant=tenant, api_key=api_key)

    _assert_401(client.get(API_ROOT), "Unknown or revoked API key.")
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is not None


def test_revoking_through_another_tenant_does_nothing(tenant, other_tenant):
    api_key, raw_key = api_key_create(tenant=tenant, name="CRM sync")

    api_key_revoke(tenant=other_tenant, api_key=api_key)

    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None
    assert _client(f"Bearer {raw_key}").get(API_ROOT).status_code == 200


def test_missing_header_is_401_with_json_body(tenant):
    _assert_401(_client().get(API_ROOT), "Authentication required")


@pytest.mark.parametrize("header", ["Token abc", "Bearer", "Bearer   ", "Basic dXNlcjpwYXNz"])
def test_malformed_header_is_401(tenant, header):
    _assert_401(_client(header).get(API_ROOT), "Malformed Authorization header")


@pytest.mark.parametrize(
    "raw_key",
    [
        "not-a-key",
        "vp_short_" + "a" * 32,  # prefix too short
        "vp_AbCdEfGh_" + "a" * 31,  # secret too short
        "vp_AbCdEfGh_" + "a" * 31 + "!",  # character outside the alphabet
        "sk-proj-0123456789abcdef0123456789",
    ],
)
def test_malformed_key_is_401(tenant, raw_key):
    _assert_401(_client(f"Bearer {raw_key}").get(API_ROOT), "Malformed API key")


def test_unknown_well_formed_key_is_401(tenant):
    api_key_create(tenant=tenant, name="CRM sync")

    _assert_401(_client("Bearer vp_AbCdEfGh_" + "a" * 32).get(API_ROOT), "Unknown or revoked API key.")


def test_key_with_a_changed_secret_part_is_401(tenant):
    _api_key, raw_key = api_key_create(tenant=tenant, name="CRM sync")
    last = raw_key[-1]
    tampered = raw_key[:-1] + ("b" if last == "a" else "a")

    _assert_401(_client(f"Bearer {tampered}").get(API_ROOT), "Unknown or revoked API key.")


def test_portal_session_does_not_authenticate_the_api(owner, client_for):
    response = client_for(owner).get(API_ROOT)

    assert response.status_code == 401
