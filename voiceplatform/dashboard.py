"""The dashboard's figures, each from the app that owns it.

The foundation may not import the apps above it, so each app registers a provider in its
AppConfig.ready() (agents_app: agents, telephony_app: calls); the dashboard asks the registry and
adds the foundation's own figures (members, API keys, provider keys) after them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voiceplatform.models import Tenant


@dataclass(frozen=True)
class DashboardStat:
    """One tile: the figure, what it counts ("agents (2 active)") and the URL name of the page listing them."""

    value: int
    label: str
    url_name: str


CountsProvider = Callable[["Tenant"], list[DashboardStat]]

_PROVIDERS: dict[str, tuple[int, CountsProvider]] = {}


def register_counts(name: str, provider: CountsProvider, *, order: int) -> None:
    """Add (or replace, so a second ready() call is harmless) the provider called `name`; lower order first."""
    _PROVIDERS[name] = (order, provider)


def registered_counts(*, tenant: Tenant) -> list[DashboardStat]:
    """Every registered app's tiles for this tenant, by order (then name, so the page is stable)."""
    ordered = sorted(_PROVIDERS.items(), key=lambda item: (item[1][0], item[0]))
    return [stat for _name, (_order, provider) in ordered for stat in provider(tenant)]
