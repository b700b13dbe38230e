"""/api/v1/provider-credentials: CRUD, write-only secrets, validation and tenant isolation."""

import pytest

from tests.factories import ProviderCredentialFactory
from voiceplatform.models import ProviderCredential

LIST_URL = "/api/v1/provider-credentials"
SECRET = "sk-live-0123456789abcdefWXYZ"
OTHER_SECRET = "sk-globex-9876543210zyxwvuQRST"


def _detail_url(credential: ProviderCredential) -> str:
    return f"{LIST_URL}/{credential.code}"


def _row(credential: ProviderCredential) -> tuple:
    return ProviderCredential.objects.filter(pk=credential.pk).values_list(
        "tenant_id", "provider", "base_url", "account_id", "encrypted_secret", "secret_last4", "updated_at"
    )[0]


@pytest.fixture
def their_credential(other_tenant):
    return ProviderCredentialFactory(tenant=other_tenant, provider="openai", secret=OTHER_SECRET)


def test_create_returns_the_credential_without_its_secret(api, tenant):
    response = api.post(LIST_URL, {"provider": "openai", "secret": SECRET}, format="json")

    assert response.status_code == 201
    assert SECRET.encode() not in response.content
    body = response.json()
    credential = ProviderCredential.objects.for_tenant(tenant).get()
    assert body["id"] == str(credential.code)
    assert body["provider"] == "openai"
    assert body["baseUrl"] == ""
    assert body["accountId"] == ""
    assert body["secretHint"] == "…WXYZ"
    assert "secret" not in body
    assert credential.get_secret() == SECRET


def test_secret_never_appears_in_list_or_detail(api, tenant):
    credential = ProviderCredentialFactory(tenant=tenant, provider="openai", secret=SECRET)

    listing = api.get(LIST_URL)
    detail = api.get(_detail_url(credential))

    assert listing.status_code == 200
    assert detail.status_code == 200
    for response in (listing, detail):
        assert SECRET.encode() not in response.content
        assert credential.encrypted_secret.encode() not in response.content
    assert detail.json()["secretHint"] == "…WXYZ"
    assert "secret" not in detail.json()


def test_secret_is_trimmed_before_storing(api, tenant):
    response = api.post(LIST_URL, {"provider": "deepgram", "secret": f"  {SECRET}\n"}, format="json")

    assert response.status_code == 201
    assert ProviderCredential.objects.for_tenant(tenant).get().get_secret() == SECRET


def test_list_shows_only_own_tenant_rows(api, tenant, their_credential):
    ProviderCredentialFactory(tenant=tenant, provider="openai", secret=SECRET)
    ProviderCredentialFactory(tenant=tenant, provider="deepgram", secret="dg-0123456789abcdef")

    response = api.get(LIST_URL)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [item["provider"] for item in body["results"]] == ["deepgram", "openai"]
    assert str(their_credential.code) not in response.content.decode()
    assert OTHER_SECRET.encode() not in response.content


def test_put_without_secret_keeps_the_stored_secret(api, tenant):
    credential = ProviderCredentialFactory(tenant=tenant, provider="openai", secret=SECRET)

    response = api.put(
        _detail_url(credential), {"provider": "openai", "baseUrl": "https://proxy.example.com/v1"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["baseUrl"] == "https://proxy.example.com/v1"
    assert response.json()["secretHint"] == "…WXYZ"
    credential.refresh_from_db()
    assert credential.base_url == "https://proxy.example.com/v1"
    assert credential.get_secret() == SECRET


def test_put_with_a_new_secret_replaces_it(api, tenant):
    credential = ProviderCredentialFactory(tenant=tenant, provider="openai", secret=SECRET)

    response = api.put(
        _detail_url(credential), {"provider": "openai", "secret": "sk-rotated-0000000011112222"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["secretHint"] == "…2222"
    assert b"sk-rotated-0000000011112222" not in response.content
    credential.refresh_from_db()
    assert credential.get_secret() == "sk-rotated-0000000011112222"


def test_put_clears_fields_it_omits(api, tenant):
    credential = ProviderCredentialFactory(tenant=tenant, provider="openai", base_url="https://proxy.example.com")

    response = api.put(_detail_url(credential), {"provider": "openai"}, format="json")

    assert response.status_code == 200
    credential.refresh_from_db()
    assert credential.base_url == ""


def test_patch_changes_only_the_given_fields(api, tenant):
    credential = ProviderCredentialFactory(tenant=tenant, provider="twilio", account_id="AC111", secret=SECRET)

    response = api.patch(_detail_url(credential), {"accountId": "AC222"}, format="json")

    assert response.status_code == 200
    assert response.json()["accountId"] == "AC222"
    assert response.json()["provider"] == "twilio"
    credential.refresh_from_db()
    assert credential.account_id == "AC222"
    assert credential.get_secret() == SECRET


def test_patch_can_replace_the_secret(api, tenant):
    credential = ProviderCredentialFactory(tenant=tenant, provider="openai", secret=SECRET)

    response = api.patch(_detail_url(credential), {"secret": "sk-patched-000000000000ABCD"}, format="json")

    assert response.status_code == 200
    assert response.json()["secretHint"] == "…ABCD"
    assert b"sk-patched-000000000000ABCD" not in response.content
    credential.refresh_from_db()
    assert credential.get_secret() == "sk-patched-000000000000ABCD"


def test_provider_cannot_change(api, tenant):
    credential = ProviderCredentialFactory(tenant=tenant, provider="openai", secret=SECRET)

    response = api.patch(_detail_url(credential), {"provider": "groq"}, format="json")

    assert response.status_code == 400
    assert "cannot change" in response.json()["provider"][0]
    assert ProviderCredential.objects.get(pk=credential.pk).provider == "openai"


def test_delete_removes_the_row(api, tenant):
    credential = ProviderCredentialFactory(tenant=tenant, provider="openai", secret=SECRET)

    response = api.delete(_detail_url(credential))

    assert response.status_code == 204
    assert not ProviderCredential.objects.filter(pk=credential.pk).exists()


def test_duplicate_provider_is_400_on_provider(api, tenant):
    credential = ProviderCredentialFactory(tenant=tenant, provider="openai", secret=SECRET)
    before = _row(credential)

    response = api.post(LIST_URL, {"provider": "openai", "secret": "sk-second-0000000000000000"}, format="json")

    assert response.status_code == 400
    assert "already has a credential" in response.json()["provider"][0]
    assert ProviderCredential.objects.for_tenant(tenant).count() == 1
    assert _row(credential) == before


def test_same_provider_in_another_tenant_is_allowed(api, tenant, their_credential):
    response = api.post(LIST_URL, {"provider": "openai", "secret": SECRET}, format="json")

    assert response.status_code == 201
    assert ProviderCredential.objects.filter(provider="openai").count() == 2


def test_unknown_provider_is_400(api, tenant):
    response = api.post(LIST_URL, {"provider": "skynet", "secret": SECRET}, format="json")

    assert response.status_code == 400
    assert '"skynet" is not a valid choice.' in response.json()["provider"][0]
    assert not ProviderCredential.objects.exists()


def test_missing_secret_on_create_is_400_on_secret(api, tenant):
    response = api.post(LIST_URL, {"provider": "openai", "secret": "   "}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["secret"]
    assert not ProviderCredential.objects.exists()


def test_openai_compatible_needs_base_url(api, tenant):
    response = api.post(LIST_URL, {"provider": "openai_compatible", "secret": SECRET}, format="json")

    assert response.status_code == 400
    assert "base URL" in response.json()["baseUrl"][0]
    assert not ProviderCredential.objects.exists()


def test_openai_compatible_without_secret_is_allowed(api, tenant):
    response = api.post(
        LIST_URL, {"provider": "openai_compatible", "baseUrl": "http://llm.internal:8000/v1"}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["secretHint"] == "(no secret)"
    assert ProviderCredential.objects.for_tenant(tenant).get().get_secret() == ""


def test_base_url_is_refused_for_providers_that_take_none(api, tenant):
    response = api.post(
        LIST_URL, {"provider": "deepgram", "secret": SECRET, "baseUrl": "https://example.com"}, format="json"
    )

    assert response.status_code == 400
    assert "baseUrl" in response.json()
    assert not ProviderCredential.objects.exists()


def test_twilio_needs_account_id(api, tenant):
    response = api.post(LIST_URL, {"provider": "twilio", "secret": SECRET}, format="json")

    assert response.status_code == 400
    assert "Account SID" in response.json()["accountId"][0]
    assert not ProviderCredential.objects.exists()


def test_patch_that_breaks_a_rule_is_400_and_changes_nothing(api, tenant):
    credential = ProviderCredentialFactory(tenant=tenant, provider="twilio", account_id="AC111", secret=SECRET)
    before = _row(credential)

    response = api.patch(_detail_url(credential), {"accountId": "", "secret": "new-token-000000000000"}, format="json")

    assert response.status_code == 400
    assert "accountId" in response.json()
    assert _row(credential) == before


@pytest.mark.parametrize(
    "body",
    [
        {"provider": ["openai"], "secret": SECRET},
        {"provider": {"name": "openai"}, "secret": SECRET},
        {"provider": None, "secret": SECRET},
        {"provider": "openai", "secret": ["a", "b"]},
        {"provider": "openai", "secret": {"key": SECRET}},
        {"provider": "openai", "secret": True},
        {"provider": "openai", "secret": SECRET, "baseUrl": 12},
        {"provider": "openai", "secret": SECRET, "baseUrl": "x" * 300},
        {"provider": "openai", "secret": SECRET, "baseUrl": "https://example.com/" + "a" * 300},
        {"provider": "twilio", "secret": SECRET, "accountId": ["AC1"]},
        {"provider": "twilio", "secret": SECRET, "accountId": "AC" + "1" * 70},
        ["provider", "openai"],
        "openai",
        None,
    ],
)
def test_wrong_json_types_are_400(api, tenant, body):
    response = api.post(LIST_URL, body, format="json")

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/json"
    assert not ProviderCredential.objects.exists()


def test_invalid_json_is_400(api, tenant):
    response = api.post(LIST_URL, '{"provider": "openai",', content_type="application/json")

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


@pytest.mark.parametrize("body", [[1, 2], "text", {"baseUrl": {"a": 1}}, {"secret": 5.5, "accountId": False}])
def test_wrong_json_types_on_update_are_400(api, tenant, body):
    credential = ProviderCredentialFactory(tenant=tenant, provider="openai", secret=SECRET)
    before = _row(credential)

    for method in (api.put, api.patch):
        response = method(_detail_url(credential), body, format="json")
        assert response.status_code == 400, (method, response.content)

    assert _row(credential) == before


@pytest.mark.parametrize(
    ("method", "body"),
    [
        ("get", None),
        ("put", {"provider": "openai", "secret": "sk-stolen-0000000000000000"}),
        ("patch", {"baseUrl": "https://evil.example.com"}),
        ("delete", None),
    ],
)
def test_other_tenants_credential_is_404_and_unchanged(api, their_credential, method, body):
    before = _row(their_credential)

    response = getattr(api, method)(_detail_url(their_credential), body, format="json")

    assert response.status_code == 404
    assert OTHER_SECRET.encode() not in response.content
    assert _row(their_credential) == before
    assert ProviderCredential.objects.get(pk=their_credential.pk).get_secret() == OTHER_SECRET


def test_unknown_id_is_404(api, tenant):
    response = api.get(f"{LIST_URL}/00000000-0000-0000-0000-000000000000")

    assert response.status_code == 404


def test_credentials_need_an_api_key(tenant, client):
    credential = ProviderCredentialFactory(tenant=tenant, provider="openai", secret=SECRET)

    assert client.get(LIST_URL).status_code == 401
    assert client.get(_detail_url(credential)).status_code == 401
    assert (
        client.post(LIST_URL, {"provider": "groq", "secret": SECRET}, content_type="application/json").status_code
        == 401
    )
    assert ProviderCredential.objects.count() == 1
