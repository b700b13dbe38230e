from typing import Any

from django.core.management.base import BaseCommand, CommandError

from voiceplatform.crypto import SecretDecryptionError
from voiceplatform.services import credentials_reencrypt_all, registered_secrets_reencrypt
from voiceplatform.webhooks.services import endpoint_secrets_reencrypt_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every provider secret, webhook signing secret and the other stored secrets (such as numbers' "
        "carrier passwords) with the first key of FIELD_ENCRYPTION_KEYS (after rotating keys)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = credentials_reencrypt_all()
            endpoints = endpoint_secrets_reencrypt_all()
            others = registered_secrets_reencrypt()
        except SecretDecryptionError as exc:
            raise CommandError(f"{exc}; rows before it were re-encrypted, fix the keys and run again") from None
        self.stdout.write(f"re-encrypted {count} provider credential(s) with the current key")
        self.stdout.write(f"re-encrypted the signing secrets of {endpoints} webhook endpoint(s) with the current key")
        for label, other_count in others:
            self.stdout.write(f"re-encrypted {other_count} {label} with the current key")
