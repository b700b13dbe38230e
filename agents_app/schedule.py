"""Business hours at call time: is this agent open now, in its own timezone?"""

from __future__ import annotations

import logging
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ValidationError

from agents_app.runtime_config import InboundSettings, RuntimeConfig
from agents_app.validation import is_within_hours, parse_business_hours, parse_holidays

logger = logging.getLogger(__name__)


def agent_timezone(config: RuntimeConfig) -> tzinfo:
    """The agent's timezone (inbound.timezone, else the tenant's, else UTC)."""
    return _zone(config.inbound.timezone or config.tenant_timezone or "UTC", config.agent_id)


def _zone(name: str, agent_id: str = "") -> tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("unknown timezone %r in agent config %s; using UTC", name, agent_id or None)
        return ZoneInfo("UTC")


def is_open(inbound: InboundSettings, now: datetime) -> bool:
    """Whether the agent takes calls at `now` (aware): always when hours are off, never on a holiday.

    Ranges include their start and exclude their end (open 09:00-17:00 means 17:00 is closed); an
    overnight range (Friday 22:00-06:00) is open into the next morning, and a holiday closes its
    whole local date, the small hours of an overnight range included.
    """
    if now.tzinfo is None:
        raise ValueError("is_open needs an aware datetime")
    if not inbound.business_hours_enabled:
        return True
    local = now.astimezone(_zone(inbound.timezone or "UTC"))
    try:
        ranges = parse_business_hours(inbound.business_hours_document())
        holidays = {day for day, _name in parse_holidays(inbound.holidays_document())}
    except ValidationError as exc:
        # The config is validated when saved, so this is a bug; a caller should not be locked out by it.
        logger.error("malformed business hours in an agent config (%s); treating the agent as open", exc.messages)
        return True
    if local.date() in holidays:
        return False
    return is_within_hours(ranges, local)
