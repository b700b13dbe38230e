from typing import Any

from django.core.management.base import BaseCommand

from voiceplatform.services import credentials_reencrypt_all


class Command(BaseCommand):
    help = "Re-encrypt every provider secret with the first key of FIELD_ENCRYPTION_KEYS (after rotating keys)."

    def handle(self, *args: Any, **options: Any) -> None:
        count = credentials_reencrypt_all()
        self.stdout.write(f"re-encrypted {count} provider credential(s) with the current key")
