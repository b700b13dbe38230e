"""Buttons on an agent's detail page that lead to pages of apps above agents_app.

telephony_app's text chat and browser test call are pages about one agent, but they live with
the calls they write. That app registers a provider in its AppConfig.ready(); the detail page
asks the registry, so agents_app links to them without importing telephony_app.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from agents_app.models import Agent


@dataclass(frozen=True)
class AgentLink:
    """One button: its text and where it goes."""

    label: str
    url: str


AgentLinkProvider = Callable[["Agent"], list[AgentLink]]

_PROVIDERS: dict[str, AgentLinkProvider] = {}


def register_agent_links(name: str, provider: AgentLinkProvider) -> None:
    """Add (or replace, so a second ready() call is harmless) the provider called `name`."""
    _PROVIDERS[name] = provider


def agent_links(agent: Agent) -> list[AgentLink]:
    """Every registered app's buttons for this agent, in registration order."""
    return [link for provider in _PROVIDERS.values() for link in provider(agent)]
