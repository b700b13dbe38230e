from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from voiceplatform.models import ApiKey, Tenant
from voiceplatform.services import api_key_create


class Command(BaseCommand):
    help = "Create an API key for a tenant and print it once (it is stored hashed)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--name", required=True, help="what the key is for")

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"].strip()
        max_length = ApiKey._meta.get_field("name").max_length
        if not name or len(name) > max_length:
            raise CommandError(f"--name must be 1 to {max_length} characters")
        tenant = Tenant.objects.filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant with slug {options['tenant']!r}")
        api_key, raw_key = api_key_create(tenant=tenant, name=name)
        self.stderr.write(f"Created key {api_key.display} '{api_key.name}' for {tenant.slug}. It is shown only once:")
        self.stdout.write(raw_key)
