"""Cache invalidation on commit: the one signal we want (STYLE.md).

Business hours and holidays are written only by agents_app.services (and the admin inlines),
always in the same transaction as a save() of their agent, so the agent's signal covers them
without one refresh per child row.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from agents_app.models import Agent
from agents_app.runtime_config import refresh_agent_config
from voiceplatform.models import Tenant


def _refresh_on_commit(*, tenant_code: object, agent_code: object) -> None:
    transaction.on_commit(partial(refresh_agent_config, tenant_code=tenant_code, agent_code=agent_code))


@receiver(post_save, sender=Agent)
@receiver(post_delete, sender=Agent)
def agent_changed(sender: type, instance: Agent, **kwargs: Any) -> None:
    _refresh_on_commit(tenant_code=instance.tenant.code, agent_code=instance.code)


@receiver(post_save, sender=Tenant)
def tenant_changed(sender: type, instance: Tenant, created: bool, **kwargs: Any) -> None:
    """The document carries the tenant's time zone, so every agent of the tenant is refreshed."""
    if created:
        return
    for agent_code in Agent.objects.for_tenant(instance).values_list("code", flat=True):
        _refresh_on_commit(tenant_code=instance.code, agent_code=agent_code)
