"""What refers to an agent, from any app, without agents_app importing those apps.

Apps above agents_app (telephony_app's phone numbers, later campaigns_app's campaigns) register a
provider in their AppConfig.ready(); agents_app asks the registry before deleting an agent (name
the references, refuse or detach them in the same transaction) and before making an agent
outbound-only (a number must not be left with an agent that cannot answer it). IVR options of
other agents are agents_app's own references, provided here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from agents_app.models import Agent
    from voiceplatform.models import Tenant


@dataclass(frozen=True)
class AgentReference:
    """One row that points at an agent: what it is, how to find it, and what detaching it does."""

    kind: str  # "ivr_option", "phone_number", "campaign"
    id: str  # the referring row's public id (an agent's or a number's code)
    label: str  # what a person recognises: "+14155550123 (Support line)", "Front desk, key 2"
    on_detach: str  # one line: what happens to it when the agent is deleted with detach
    answers_inbound: bool = False  # it routes inbound calls to the agent (a phone number)
    # It cannot be detached (an open campaign calls with the agent): the agent is not deleted,
    # even with detach, until the referrer lets go of it.
    blocks_delete: bool = False
    places_calls: bool = False  # it calls out with the agent now (an open campaign): it must stay outbound and on

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "label": self.label,
            "onDetach": self.on_detach,
            "blocksDelete": self.blocks_delete,
        }

    def as_text(self) -> str:
        return f"{self.label}: {self.on_detach}"


class ReferenceProvider(Protocol):
    """What an app registers: list the references to an agent, and remove them."""

    def references(self, *, tenant: Tenant, agent: Agent) -> list[AgentReference]: ...

    def detach(self, *, tenant: Tenant, agent: Agent) -> None: ...


_PROVIDERS: dict[str, ReferenceProvider] = {}


def register_agent_references(name: str, provider: ReferenceProvider) -> None:
    """Add (or replace, so a second ready() call is harmless) the provider called `name`."""
    _PROVIDERS[name] = provider


def agent_references(*, tenant: Tenant, agent: Agent) -> list[AgentReference]:
    """Every reference to the agent, from every registered provider, in registration order."""
    if agent.pk is None:
        return []
    return [ref for provider in _PROVIDERS.values() for ref in provider.references(tenant=tenant, agent=agent)]


def agent_references_detach(*, tenant: Tenant, agent: Agent) -> None:
    """Remove every reference to the agent; the caller holds the transaction that deletes it."""
    for provider in _PROVIDERS.values():
        provider.detach(tenant=tenant, agent=agent)


def blocking_references(references: Iterable[AgentReference]) -> list[AgentReference]:
    """The references that no detach removes (open campaigns): while any exists the agent stays."""
    return [ref for ref in references if ref.blocks_delete]


def references_fingerprint(references: Iterable[AgentReference]) -> str:
    """A stable text for 'the list someone confirmed', so a list that changed since is asked again."""
    return ",".join(sorted(f"{ref.kind}:{ref.id}:{ref.label}" for ref in references))


def references_json(references: Iterable[AgentReference]) -> list[dict[str, Any]]:
    return [ref.as_json() for ref in references]


# agents_app's own references: IVR options of other agents that hand the call to this agent ----


def ivr_agent_ids(menu: Any) -> list[str]:
    """The agentId of every 'agent' option of an IVR menu (any shape tolerated)."""
    options = menu.get("options") if isinstance(menu, dict) else None
    if not isinstance(options, list):
        return []
    return [
        str(option.get("agentId", ""))
        for option in options
        if isinstance(option, dict) and option.get("action") == "agent"
    ]


def _referring_agents(*, tenant: Tenant, agent: Agent) -> list[Agent]:
    from agents_app.models import Agent

    target = [{"action": "agent", "agentId": str(agent.code)}]
    return list(
        Agent.objects.for_tenant(tenant)
        .exclude(pk=agent.pk)
        .filter(ivr_menu__options__contains=target)
        .order_by("name")
    )


class IvrOptionReferences:
    """Other agents' IVR options that send the caller to this agent; detaching removes the option."""

    def references(self, *, tenant: Tenant, agent: Agent) -> list[AgentReference]:
        found = []
        for other in _referring_agents(tenant=tenant, agent=agent):
            for option in other.ivr_menu.get("options", []):
                if option.get("action") == "agent" and option.get("agentId") == str(agent.code):
                    key = option.get("digit", "?")
                    found.append(
                        AgentReference(
                            kind="ivr_option",
                            id=str(other.code),
                            label=f"IVR menu of {other.name}, key {key}",
                            on_detach=f"key {key} is removed from {other.name}'s menu; check what its menu prompt says",
                        )
                    )
        return found

    def detach(self, *, tenant: Tenant, agent: Agent) -> None:
        from agents_app import config_cache

        for other in _referring_agents(tenant=tenant, agent=agent):
            menu = dict(other.ivr_menu)
            menu["options"] = [
                option
                for option in menu.get("options", [])
                if not (option.get("action") == "agent" and option.get("agentId") == str(agent.code))
            ]
            other.ivr_menu = menu if menu["options"] or menu.get("prompt") else {}
            other.save(update_fields=["ivr_menu", "updated_at"])
            config_cache.agent_changed(tenant=tenant, agent=other)


def dangling_ivr_targets(*, tenant: Tenant, menu: Any, own_code: uuid.UUID | str | None = None) -> list[str]:
    """The agentIds of a menu that name no other agent of the tenant (deleted, or never valid)."""
    from agents_app.models import Agent

    wanted = ivr_agent_ids(menu)
    if not wanted:
        return []
    codes = []
    for value in wanted:
        try:
            codes.append(uuid.UUID(value))
        except ValueError:
            continue
    existing = {
        str(code) for code in Agent.objects.for_tenant(tenant).filter(code__in=codes).values_list("code", flat=True)
    }
    if own_code is not None:
        existing.discard(str(own_code))
    return [value for value in wanted if value not in existing]


# Registered on import: agents_app.models imports this module, so the IVR provider is always first.
register_agent_references("agents_app.ivr", IvrOptionReferences())


def dangling_ivr_problems(*, tenant: Tenant, agent: Agent) -> list[str]:
    """One line per IVR option of this agent that names no existing agent (for readiness panels)."""
    dangling = set(dangling_ivr_targets(tenant=tenant, menu=agent.ivr_menu, own_code=agent.code))
    options = agent.ivr_menu.get("options", []) if isinstance(agent.ivr_menu, dict) else []
    return [
        f"IVR menu key {option.get('digit', '?')} hands the call to agent {option.get('agentId')}, which does not "
        "exist (deleted?): calls are not offered that key. Edit the IVR menu to remove it or choose another agent."
        for option in options
        if isinstance(option, dict) and option.get("action") == "agent" and str(option.get("agentId")) in dangling
    ]
