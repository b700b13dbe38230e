import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from redis import RedisError

from agents_app.models import Agent
from agents_app.runtime_config import loader


class Command(BaseCommand):
    help = "Clear cached agent runtime configs: one agent (--agent ID) or all of them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clear", action="store_true", required=True, help="clear cached configs")
        parser.add_argument("--agent", metavar="ID", help="the agent's id (UUID); omit to clear every agent")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["agent"]:
                code = uuid.UUID(options["agent"])  # ValueError below: a readable error, not a traceback
                agents = Agent.objects.across_tenants(reason="operator command: an agent's cache key, by its code")
                agent = agents.select_related("tenant").filter(code=code).first()
                if agent is None:
                    raise CommandError(f"no agent with id {options['agent']}")
                loader.invalidate(tenant_code=agent.tenant.code, agent_code=agent.code)
                self.stdout.write(f"cleared the cached config of agent {agent.code} ({agent.name})")
            else:
                count = loader.clear()
                self.stdout.write(f"cleared {count} cached config entries")
        except RedisError as exc:
            raise CommandError(f"Redis is unreachable: {exc}") from None
        except ValueError:
            raise CommandError(f"{options['agent']!r} is not an agent id (a UUID)") from None
