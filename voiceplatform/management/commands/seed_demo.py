import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from agents_app.demo import demo_agents_ensure
from voiceplatform.actor import Actor
from voiceplatform.models import ApiKey, Membership, Role, Tenant
from voiceplatform.services import api_key_create, tenant_create

DEMO_SLUG = "demo"
DEMO_EMAIL = "owner@demo.example"


class Command(BaseCommand):
    help = "Create the demo tenant, its owner and an API key (idempotent); prints what was created."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset-password", action="store_true", help="give the demo owner a new password and print it"
        )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        user_model = get_user_model()
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
        owner = user_model.objects.filter(username=DEMO_EMAIL).first()
        password = None
        if owner is None:
            password = secrets.token_urlsafe(12)
            owner = user_model.objects.create_user(
                username=DEMO_EMAIL, email=DEMO_EMAIL, password=password, is_staff=True, is_superuser=True
            )
        elif options["reset_password"]:
            password = secrets.token_urlsafe(12)
            owner.set_password(password)
            owner.save(update_fields=["password"])
        if tenant is None:
            tenant = tenant_create(name="Demo Company", slug=DEMO_SLUG, timezone_name="America/New_York", owner=owner)
        Membership.objects.get_or_create(tenant=tenant, user=owner, defaults={"role": Role.OWNER})
        raw_key = None
        if not ApiKey.objects.for_tenant(tenant).exists():
            _api_key, raw_key = api_key_create(tenant=tenant, name="Demo key", created_by=owner)
        agents = demo_agents_ensure(tenant=tenant, actor=Actor(user=owner))

        self.stdout.write(f"Demo tenant:   {tenant.name} ({tenant.slug})")
        if agents:
            self.stdout.write(f"Demo agents:   {', '.join(agent.name for agent in agents)}")
        if password:
            self.stdout.write(f"Login:         {DEMO_EMAIL} / {password}")
        else:
            self.stdout.write(
                f"Login:         {DEMO_EMAIL} (password shown at first start; new one: make reset-demo-password)"
            )
        if raw_key:
            self.stdout.write(f"API key:       {raw_key}   (shown once; keep it)")
        else:
            self.stdout.write(
                "API key:       created at first start; make another in the portal or with manage.py create_api_key"
            )
