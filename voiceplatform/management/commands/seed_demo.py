import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from agents_app.demo import demo_agents_ensure
from campaigns_app.demo import DEMO_CONTACTS, demo_campaign_ensure
from voiceplatform.actor import Actor
from voiceplatform.models import ApiKey, Membership, Role, SeedMarker, Tenant
from voiceplatform.services import api_key_create, tenant_create

DEMO_SLUG = "demo"
DEMO_EMAIL = "owner@demo.example"
# The SeedMarker written with the demo: once it exists, the demo is the user's to change or delete.
DEMO_SEEDED = "demo-seeded"


class Command(BaseCommand):
    help = (
        "Create the demo tenant, its owner, an API key, demo agents and a draft demo campaign, once per database; "
        "later runs leave them as the user changed (or deleted) them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset-password", action="store_true", help="give the demo owner a new password and print it"
        )

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        # get_or_create first: a concurrent first run waits on the marker's unique key and then
        # finds it, so the demo is created by exactly one run (and not at all if that run fails).
        _marker, first_run = SeedMarker.objects.get_or_create(key=DEMO_SEEDED)
        if first_run:
            self._seed(reset_password=options["reset_password"])
        else:
            self._report_seeded(reset_password=options["reset_password"])

    def _seed(self, *, reset_password: bool) -> None:
        """The first run on this database: create what is missing of the demo and print its secrets."""
        user_model = get_user_model()
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
        owner = user_model.objects.filter(username=DEMO_EMAIL).first()
        password = None
        if owner is None:
            password = secrets.token_urlsafe(12)
            owner = user_model.objects.create_user(
                username=DEMO_EMAIL, email=DEMO_EMAIL, password=password, is_staff=True, is_superuser=True
            )
        elif reset_password:
            password = _new_password(owner)
        if tenant is None:
            tenant = tenant_create(name="Demo Company", slug=DEMO_SLUG, timezone_name="America/New_York", owner=owner)
        Membership.objects.get_or_create(tenant=tenant, user=owner, defaults={"role": Role.OWNER})
        raw_key = None
        if not ApiKey.objects.for_tenant(tenant).exists():
            _api_key, raw_key = api_key_create(tenant=tenant, name="Demo key", created_by=owner)
        agents = demo_agents_ensure(tenant=tenant, actor=Actor(user=owner))
        campaign = demo_campaign_ensure(tenant=tenant, actor=Actor(user=owner))

        self.stdout.write(f"Demo tenant:   {tenant.name} ({tenant.slug})")
        if agents:
            self.stdout.write(f"Demo agents:   {', '.join(agent.name for agent in agents)}")
        if campaign:
            self.stdout.write(
                f"Demo campaign: {campaign.name} (draft; {len(DEMO_CONTACTS)} contacts, one on the do-not-call list)"
            )
        self._login_line(password)
        if raw_key:
            self.stdout.write(f"API key:       {raw_key}   (shown once; keep it)")
        else:
            self._no_key_line()

    def _report_seeded(self, *, reset_password: bool) -> None:
        """A later run: the demo is the user's now; only a password reset is still done on request."""
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
        if tenant is not None:
            self.stdout.write(f"Demo tenant:   {tenant.name} ({tenant.slug})")
        else:
            self.stdout.write("Demo tenant:   deleted (the demo is created once per database, not again)")
        password = None
        if reset_password:
            owner = get_user_model().objects.filter(username=DEMO_EMAIL).first()
            if owner is None:
                raise CommandError(
                    f"the demo owner {DEMO_EMAIL} was deleted; create a login with manage.py createsuperuser"
                )
            password = _new_password(owner)
        self._login_line(password)
        self._no_key_line()

    def _no_key_line(self) -> None:
        self.stdout.write(
            "API key:       created at first start; make another in the portal or with manage.py create_api_key"
        )

    def _login_line(self, password: str | None) -> None:
        if password:
            self.stdout.write(f"Login:         {DEMO_EMAIL} / {password}")
        else:
            self.stdout.write(
                f"Login:         {DEMO_EMAIL} (password shown at first start; new one: make reset-demo-password)"
            )


def _new_password(owner: AbstractBaseUser) -> str:
    password = secrets.token_urlsafe(12)
    owner.set_password(password)
    owner.save(update_fields=["password"])
    return password
