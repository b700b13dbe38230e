import datetime
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from telephony_app.analytics.services import analytics_rebuild
from voiceplatform.models import Tenant


class Command(BaseCommand):
    help = (
        "Rebuild the call rollups the analytics read, from the calls: every tenant or one (--tenant), "
        "every day or the days from --since (UTC). Safe while calls are ending."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", metavar="CODE", help="the tenant's id (UUID) or slug; omit for every tenant")
        parser.add_argument("--since", metavar="DATE", help="first day to rebuild, YYYY-MM-DD (UTC); omit for all")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = _tenant(options["tenant"]) if options["tenant"] else None
        since = None
        if options["since"]:
            try:
                since = datetime.date.fromisoformat(options["since"])
            except ValueError:
                raise CommandError(f"--since {options['since']!r} is not a date (YYYY-MM-DD)") from None
        result = analytics_rebuild(tenant=tenant, since=since)
        scope = f"tenant {tenant.slug}" if tenant is not None else "every tenant"
        self.stdout.write(
            f"analytics rebuilt for {scope} since {since or 'the first call'}: "
            f"{result.rows} rollup rows from {result.calls} finished calls"
        )


def _tenant(value: str) -> Tenant:
    try:
        found = Tenant.objects.filter(code=uuid.UUID(value)).first()
    except ValueError:
        found = Tenant.objects.filter(slug=value).first()
    if found is None:
        raise CommandError(f"no tenant with id or slug {value!r}")
    return found
