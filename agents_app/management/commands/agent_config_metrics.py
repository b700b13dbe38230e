import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from redis import RedisError

from agents_app.runtime_config import loader


class Command(BaseCommand):
    help = "Print the runtime-config loader's counters, summed over every process (from Redis)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reset", action="store_true", help="set the counters back to zero afterwards")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            metrics = loader.metrics()
            if options["reset"]:
                loader.reset_metrics()
        except RedisError as exc:
            raise CommandError(f"Redis is unreachable: {exc}") from None
        self.stdout.write(json.dumps(metrics, indent=2))
