"""Encryption of tenant secrets: MultiFernet over per-tenant keys derived from FIELD_ENCRYPTION_KEYS.

Each master key in FIELD_ENCRYPTION_KEYS is stretched with HKDF into one Fernet key per tenant,
so a ciphertext copied onto another tenant's row cannot be decrypted there. The first master
key encrypts; all of them decrypt, which is how keys are rotated.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

_SALT = b"voiceplatform/provider-credential/v1"


class SecretDecryptionError(Exception):
    """The ciphertext does not belong to this tenant or no configured key opens it."""


@functools.lru_cache(maxsize=4096)
def _tenant_fernet(master_key: str, tenant_id: int) -> Fernet:
    """Derived once per process and tenant: HKDF costs more than the decryption it serves."""
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=f"tenant:{tenant_id}".encode())
    derived = hkdf.derive(base64.urlsafe_b64decode(master_key.encode()))
    return Fernet(base64.urlsafe_b64encode(derived))


def _multi_fernet(tenant_id: int, master_keys: Sequence[str] | None = None) -> MultiFernet:
    if tenant_id is None:
        raise ValueError("a tenant is required to encrypt or decrypt a secret")
    keys = settings.FIELD_ENCRYPTION_KEYS if master_keys is None else master_keys
    return MultiFernet([_tenant_fernet(key, tenant_id) for key in keys])


@functools.lru_cache(maxsize=1024)
def _decrypt(tenant_id: int, token: str, master_keys: tuple[str, ...]) -> str:
    """Remembered per process: the inbound webhooks decrypt the same Twilio token on every call
    (AES and HMAC over the token, ~4 % of a webhook's CPU). A token decrypts to the same text for
    as long as the keys that open it are configured, and the keys are part of what is remembered, so
    a key taken out of FIELD_ENCRYPTION_KEYS stops opening its tokens here too. A failure (InvalidToken)
    is never remembered. The plaintext is held only in this process's memory, as it is while in use."""
    return _multi_fernet(tenant_id, master_keys).decrypt(token.encode()).decode()


def encrypt_for_tenant(*, tenant_id: int, plaintext: str) -> str:
    return _multi_fernet(tenant_id).encrypt(plaintext.encode()).decode()


def decrypt_for_tenant(*, tenant_id: int, token: str) -> str:
    try:
        return _decrypt(tenant_id, token, tuple(settings.FIELD_ENCRYPTION_KEYS))
    except InvalidToken:
        raise SecretDecryptionError(
            "stored secret cannot be decrypted for this tenant "
            "(wrong tenant, or its key was removed from FIELD_ENCRYPTION_KEYS)"
        ) from None


def reencrypt_for_tenant(*, tenant_id: int, token: str) -> str:
    """Return the token re-encrypted under the first (current) key."""
    try:
        return _multi_fernet(tenant_id).rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretDecryptionError("stored secret cannot be decrypted with any configured key") from None
