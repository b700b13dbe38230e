"""Provider secrets at rest: ciphertext only, bound to the tenant, rotatable; and how secrets are resolved."""

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection

from tests.factories import ProviderCredentialFactory
from voiceplatform.crypto import SecretDecryptionError
from voiceplatform.models import ProviderCredential
from voiceplatform.selectors import credential_resolve
from voiceplatform.services import credential_set

SECRET = "sk-proj-tenant-owned-0123456789ABCD"
ENV_SECRET = "sk-from-environment-9876543210"


def _stored_token(credential: ProviderCredential) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT encrypted_secret FROM {ProviderCredential._meta.db_table} WHERE id = %s",  # noqa: S608
            [credential.pk],
        )
        return cursor.fetchone()[0]


def _fresh(credential: ProviderCredential) -> ProviderCredential:
    return ProviderCredential.objects.get(pk=credential.pk)


@pytest.fixture
def key_a() -> str:
    return Fernet.generate_key().decode()


@pytest.fixture
def key_b() -> str:
    return Fernet.generate_key().decode()


def test_database_column_holds_no_plaintext(tenant):
    credential = credential_set(tenant=tenant, provider="openai", secret=SECRET)

    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM {ProviderCredential._meta.db_table} WHERE id = %s",  # noqa: S608
            [credential.pk],
        )
        row = cursor.fetchone()
    token = _stored_token(credential)
    assert token.startswith("gAAAAA")
    assert SECRET not in token
    assert not any(SECRET in str(value) for value in row)
    assert _fresh(credential).get_secret() == SECRET


def test_same_secret_encrypts_differently_per_tenant(tenant, other_tenant):
    mine = credential_set(tenant=tenant, provider="openai", secret=SECRET)
    theirs = credential_set(tenant=other_tenant, provider="openai", secret=SECRET)

    assert _stored_token(mine) != _stored_token(theirs)


def test_ciphertext_copied_to_another_tenant_does_not_decrypt(tenant, other_tenant):
    mine = credential_set(tenant=tenant, provider="openai", secret=SECRET)
    theirs = ProviderCredentialFactory(tenant=other_tenant, provider="openai", secret="sk-globex-000000000000")
    ProviderCredential.objects.filter(pk=theirs.pk).update(encrypted_secret=_stored_token(mine))

    with pytest.raises(SecretDecryptionError):
        _fresh(theirs).get_secret()
    with pytest.raises(SecretDecryptionError):
        credential_resolve(tenant=other_tenant, provider="openai")
    assert _fresh(mine).get_secret() == SECRET


def test_rotation_keeps_secrets_readable_and_reencrypt_moves_them_to_the_new_key(tenant, settings, key_a, key_b):
    settings.FIELD_ENCRYPTION_KEYS = [key_a]
    credential = credential_set(tenant=tenant, provider="openai", secret=SECRET)
    token_under_a = _stored_token(credential)

    settings.FIELD_ENCRYPTION_KEYS = [key_b]
    with pytest.raises(SecretDecryptionError):
        _fresh(credential).get_secret()

    settings.FIELD_ENCRYPTION_KEYS = [key_b, key_a]
    assert _fresh(credential).get_secret() == SECRET

    stdout = io.StringIO()
    call_command("reencrypt_credentials", stdout=stdout)
    assert "re-encrypted 1 provider credential(s)" in stdout.getvalue()
    assert _stored_token(credential) != token_under_a

    settings.FIELD_ENCRYPTION_KEYS = [key_b]
    assert _fresh(credential).get_secret() == SECRET
    settings.FIELD_ENCRYPTION_KEYS = [key_a]
    with pytest.raises(SecretDecryptionError):
        _fresh(credential).get_secret()


def test_a_secret_read_before_its_key_was_removed_no_longer_opens(tenant, settings, key_a, key_b):
    # Decryptions are remembered per process; the configured keys are part of what is remembered.
    settings.FIELD_ENCRYPTION_KEYS = [key_a]
    credential = credential_set(tenant=tenant, provider="openai", secret=SECRET)
    assert _fresh(credential).get_secret() == SECRET
    assert _fresh(credential).get_secret() == SECRET

    settings.FIELD_ENCRYPTION_KEYS = [key_b]
    with pytest.raises(SecretDecryptionError):
        _fresh(credential).get_secret()
    settings.FIELD_ENCRYPTION_KEYS = [key_b, key_a]
    assert _fresh(credential).get_secret() == SECRET


def test_reencrypt_covers_every_tenant_and_skips_rows_without_secret(tenant, other_tenant, settings, key_a, key_b):
    settings.FIELD_ENCRYPTION_KEYS = [key_a]
    mine = credential_set(tenant=tenant, provider="openai", secret=SECRET)
    theirs = credential_set(tenant=other_tenant, provider="deepgram", secret="dg-globex-0000000000")
    credential_set(tenant=tenant, provider="openai_compatible", base_url="http://llm.internal/v1")

    settings.FIELD_ENCRYPTION_KEYS = [key_b, key_a]
    stdout = io.StringIO()
    call_command("reencrypt_credentials", stdout=stdout)

    assert "re-encrypted 2 provider credential(s)" in stdout.getvalue()
    settings.FIELD_ENCRYPTION_KEYS = [key_b]
    assert _fresh(mine).get_secret() == SECRET
    assert _fresh(theirs).get_secret() == "dg-globex-0000000000"


def test_resolve_prefers_the_tenant_credential(tenant, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", ENV_SECRET)
    credential_set(tenant=tenant, provider="openai", secret=SECRET, base_url="https://proxy.example.com/v1")

    resolved = credential_resolve(tenant=tenant, provider="openai")

    assert resolved.source == "tenant"
    assert resolved.secret == SECRET
    assert resolved.base_url == "https://proxy.example.com/v1"


def test_resolve_falls_back_to_the_environment(tenant, other_tenant, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", ENV_SECRET)
    monkeypatch.setenv("OPENAI_BASE_URL", "https://gateway.example.com/v1")
    # Another tenant's credential must never be the fallback.
    credential_set(tenant=other_tenant, provider="openai", secret=SECRET)

    resolved = credential_resolve(tenant=tenant, provider="openai")

    assert resolved.source == "environment"
    assert resolved.secret == ENV_SECRET
    assert resolved.base_url == "https://gateway.example.com/v1"


def test_resolve_reads_twilio_account_sid_from_the_environment(tenant, monkeypatch):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "twilio-token-0000000000")
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC0123")

    resolved = credential_resolve(tenant=tenant, provider="twilio")

    assert (resolved.source, resolved.secret, resolved.account_id) == (
        "environment",
        "twilio-token-0000000000",
        "AC0123",
    )


def test_resolve_returns_none_without_tenant_or_environment_credential(tenant, other_tenant, monkeypatch):
    monkeypatch.delenv("DEEPGRAM_API_KEY", raising=False)
    credential_set(tenant=other_tenant, provider="deepgram", secret="dg-globex-0000000000")

    assert credential_resolve(tenant=tenant, provider="deepgram") is None


def test_resolved_credential_does_not_show_its_secret(tenant, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", ENV_SECRET)
    credential_set(tenant=tenant, provider="deepgram", secret=SECRET)

    for resolved in (
        credential_resolve(tenant=tenant, provider="deepgram"),
        credential_resolve(tenant=tenant, provider="openai"),
    ):
        assert resolved.secret in (SECRET, ENV_SECRET)
        assert resolved.secret not in repr(resolved)
        assert resolved.secret not in str(resolved)
        assert resolved.secret not in f"{resolved!r} {[resolved]}"


def test_credential_repr_and_str_show_neither_secret_nor_ciphertext(tenant):
    credential = credential_set(tenant=tenant, provider="openai", secret=SECRET)
    token = _stored_token(credential)

    for text in (repr(credential), str(credential)):
        assert SECRET not in text
        assert token not in text
        assert "…ABCD" in text
