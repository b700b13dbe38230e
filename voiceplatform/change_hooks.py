"""What higher apps keep about a tenant, told when the tenant or one of its credentials changes.

A higher app that caches something derived from a tenant (agents_app: its agents' runtime
configs, and after them the inbound number cache) or from its provider credentials
(telephony_app: the Twilio token in the inbound number cache) registers a hook here in its
AppConfig.ready; the foundation never imports it. The writes call tenant_changed() or
credential_changed() explicitly: the services in voiceplatform/services.py, the admin's save and
delete paths. A hook is called inside the writing transaction, before a delete (so it can still
read what the tenant has), and returns what to run once that transaction commits. Hooks do not
depend on each other's order: an app whose cache must be refreshed after another app's does
that itself (agents_app refreshes the configs, then drops the numbers: agents_app/config_cache.py).
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import transaction

from voiceplatform.models import Tenant

CommitAction = Callable[[], None]
TenantHook = Callable[[Tenant], CommitAction]
CredentialHook = Callable[[Tenant, str], CommitAction]

_tenant_hooks: dict[str, TenantHook] = {}
_credential_hooks: dict[str, CredentialHook] = {}


def register_tenant_hook(name: str, hook: TenantHook) -> None:
    """hook(tenant), when a tenant's own fields change or it is deleted (not when it is created)."""
    _tenant_hooks[name] = hook


def register_credential_hook(name: str, hook: CredentialHook) -> None:
    """hook(tenant, provider), when a tenant's credential for that provider is saved or deleted."""
    _credential_hooks[name] = hook


def tenant_changed(*, tenant: Tenant) -> None:
    """Call inside the transaction that changes or deletes the tenant (before a delete)."""
    _on_commit([hook(tenant) for hook in _tenant_hooks.values()])


def credential_changed(*, tenant: Tenant, provider: str) -> None:
    """Call inside the transaction that saves or deletes the tenant's credential for `provider`."""
    _on_commit([hook(tenant, provider) for hook in _credential_hooks.values()])


def _on_commit(actions: list[CommitAction]) -> None:
    def run() -> None:
        for action in actions:
            action()

    if actions:
        transaction.on_commit(run)
