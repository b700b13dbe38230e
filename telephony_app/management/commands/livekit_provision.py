"""manage.py livekit_provision: LiveKit SIP provisioning of one number, a tenant's numbers, or all."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import QuerySet

from telephony_app import livekit_client
from telephony_app.models import PhoneNumber
from telephony_app.provisioning import ProvisionBusy, ProvisionReport, provision
from voiceplatform.models import Tenant


class Command(BaseCommand):
    help = (
        "Create or repair in LiveKit the SIP inbound trunk, dispatch rule and outbound trunk of phone numbers "
        "(one by its id, --tenant SLUG, or --all); --dry-run shows what LiveKit has and what differs. "
        "Exit status 1 when a number could not be provisioned."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("number_id", nargs="?", help="the phone number's id (its UUID, as in the portal's URL)")
        parser.add_argument("--tenant", help="every number of this tenant (its slug)")
        parser.add_argument("--all", action="store_true", help="every number of every tenant")
        parser.add_argument("--dry-run", action="store_true", help="write nothing; show the differences")

    def handle(self, *args: Any, **options: Any) -> None:
        numbers = _numbers(options["number_id"], options["tenant"], options["all"])
        if not livekit_client.is_configured():
            raise CommandError(livekit_client.NOT_CONFIGURED_MESSAGE)
        dry_run = options["dry_run"]
        failed = 0
        total = 0
        for phone_number in numbers.iterator():
            total += 1
            try:
                report = provision(phone_number=phone_number, dry_run=dry_run)
            except (livekit_client.LiveKitError, ProvisionBusy) as exc:
                if options["number_id"]:
                    raise CommandError(f"{phone_number.number}: {exc}") from None
                self.stderr.write(f"{phone_number.number}: {exc}")
                failed += 1
                continue
            self._show(report, dry_run=dry_run)
            if report.refused:
                if options["number_id"]:
                    raise CommandError(report.summary)
                failed += 1
        if failed:
            raise CommandError(f"{failed} of {total} numbers were not provisioned (see above)")
        if not total:
            self.stdout.write("no phone numbers to provision")

    def _show(self, report: ProvisionReport, *, dry_run: bool) -> None:
        self.stdout.write(("[dry run] " if dry_run else "") + report.summary)
        for part in report.parts:
            if part.action in ("create", "update") or (dry_run and part.action == "unchanged"):
                ident = f" {part.livekit_id}" if part.livekit_id else ""
                self.stdout.write(f"  {part.label}{ident}: {part.action}")
                for field in part.fields:
                    if field.differs:
                        current = field.current or "(none)"
                        self.stdout.write(f"    {field.name}: {current} -> {field.wanted}")
            elif part.note and part.action != "skip":
                self.stdout.write(f"  {part.label}: {part.note}")


def _numbers(number_id: str | None, tenant_slug: str | None, every: bool) -> QuerySet[PhoneNumber]:
    """The numbers asked for: exactly one of a number id, --tenant or --all."""
    if sum((bool(number_id), bool(tenant_slug), every)) != 1:
        raise CommandError("name what to provision: a phone number id, --tenant SLUG, or --all (exactly one)")
    # An operator command: the tenant comes from each row, and each number is provisioned as its own.
    numbers = PhoneNumber.objects.across_tenants(reason="operator command: each number provisioned as its own tenant's")
    numbers = numbers.select_related("tenant").order_by("tenant_id", "number")
    if every:
        return numbers
    if tenant_slug:
        tenant = Tenant.objects.filter(slug=tenant_slug).first()
        if tenant is None:
            raise CommandError(f"no tenant with the slug {tenant_slug!r}")
        return PhoneNumber.objects.for_tenant(tenant).select_related("tenant").order_by("number")
    try:
        code = uuid.UUID(str(number_id))
    except ValueError:
        raise CommandError(f"{number_id!r} is not a phone number id (a UUID, as in the portal's URL)") from None
    found = numbers.filter(code=code)
    if not found.exists():
        raise CommandError(f"no phone number with the id {code}")
    return found
