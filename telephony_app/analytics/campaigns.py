"""Which campaigns the analytics can be filtered by: telephony_app may not import campaigns_app, so
campaigns_app registers a source in its AppConfig.ready (campaigns_app/wiring.py) and the analytics
ask it. With no source registered there are no campaigns to choose."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voiceplatform.models import Tenant


@dataclass(frozen=True)
class CampaignChoice:
    code: uuid.UUID
    name: str


# fn(tenant) -> the tenant's campaigns, newest first
CampaignSource = Callable[["Tenant"], list[CampaignChoice]]

_sources: dict[str, CampaignSource] = {}


def register_campaign_source(name: str, source: CampaignSource) -> None:
    """Add (or replace: a second ready() call is harmless) the source called `name`."""
    _sources[name] = source


def campaign_choices(*, tenant: Tenant) -> list[CampaignChoice]:
    """Every registered source's campaigns of this tenant (only this tenant's)."""
    return [choice for _name, source in sorted(_sources.items()) for choice in source(tenant)]
