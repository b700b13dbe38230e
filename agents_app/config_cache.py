"""Keeping the caches built from an agent's config right, after every write: one explicit service.

Every write that changes what an agent's runtime config holds (the agent, its business hours,
holidays and IVR menu, its tenant's name or time zone) calls agents_changed() in its transaction:
the services in agents_app/services.py and agents_app/references.py, the admin's save and delete
paths, and (through voiceplatform.change_hooks) the tenant's own writes. Once the transaction
commits, in this order: each agent's config is rebuilt and written through to Redis (or removed
if the agent is gone: agents_app.runtime_config.refresh_agent_config), THEN what higher apps
built from those configs is dropped (telephony_app's inbound number cache, whose entries carry
the agent and its inbound rules), so an entry filled right after reads the new config.

The dependents are registered by the higher apps in their AppConfig.ready (agents_app never
imports them). No signal handler is involved: nothing depends on the order of INSTALLED_APPS.
A write that bypasses these services (a queryset update, a raw save) leaves the caches to their
TTLs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

from django.db import transaction

from agents_app.models import Agent
from agents_app.runtime_config import refresh_agent_config
from voiceplatform.change_hooks import CommitAction, register_tenant_hook
from voiceplatform.models import Tenant

# prepare(tenant) -> drop: called inside the writing transaction (before a delete, so it can read
# what the tenant has), its result run after the configs were refreshed.
Dependent = Callable[[Tenant], CommitAction]

_dependents: dict[str, Dependent] = {}


def register_dependent(name: str, prepare: Dependent) -> None:
    """A higher app's cache built from the tenant's agents' configs, dropped after they are refreshed."""
    _dependents[name] = prepare


def agents_changed(*, tenant: Tenant, agent_codes: Iterable[uuid.UUID]) -> None:
    """On commit: these agents' configs refreshed in Redis, then the dependent caches dropped.

    Call inside the transaction of the write (before a delete)."""
    transaction.on_commit(_prepare(tenant, agent_codes))


def agent_changed(*, tenant: Tenant, agent: Agent) -> None:
    """agents_changed for one agent (created, changed or being deleted)."""
    agents_changed(tenant=tenant, agent_codes=[agent.code])


def tenant_agents_changed(tenant: Tenant) -> CommitAction:
    """The tenant hook (voiceplatform.change_hooks): its documents carry the tenant's time zone, so
    every agent of the tenant is refreshed."""
    return _prepare(tenant, Agent.objects.for_tenant(tenant).values_list("code", flat=True))


def _prepare(tenant: Tenant, agent_codes: Iterable[uuid.UUID]) -> CommitAction:
    tenant_code = tenant.code
    codes = list(dict.fromkeys(agent_codes))
    drops = [prepare(tenant) for prepare in _dependents.values()]

    def refresh_then_drop() -> None:
        for agent_code in codes:
            refresh_agent_config(tenant_code=tenant_code, agent_code=agent_code)
        for drop in drops:
            drop()

    return refresh_then_drop


def register() -> None:
    """Called from AgentsAppConfig.ready."""
    register_tenant_hook("agents_app.config_cache", tenant_agents_changed)
