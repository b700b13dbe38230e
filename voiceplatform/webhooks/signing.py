"""Standard Webhooks secrets and signatures (https://www.standardwebhooks.com), through the
`standardwebhooks` reference library: `webhook-signature` is "v1,<base64 HMAC-SHA256 of
'<webhook-id>.<webhook-timestamp>.<body>'>" keyed with the secret's base64-decoded bytes."""

from __future__ import annotations

import base64
import datetime
import secrets

from standardwebhooks.webhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105  (the format's prefix, not a secret)
SECRET_BYTES = 32  # the convention asks for 24 to 64 random bytes


def secret_generate() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def signed_headers(*, message_id: str, body: str, secrets_in_use: list[str], at: datetime.datetime) -> dict[str, str]:
    """The three Standard Webhooks headers; one signature per secret in use (the new one first)."""
    timestamp = at.astimezone(datetime.UTC)
    signatures = [Webhook(secret).sign(msg_id=message_id, timestamp=timestamp, data=body) for secret in secrets_in_use]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
