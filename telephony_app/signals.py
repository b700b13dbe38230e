"""Cache invalidation on commit (STYLE.md: the one signal we want): the inbound number cache
(telephony_app/number_cache.py) forgets a number whenever what it holds about it changes."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from agents_app.models import Agent
from telephony_app.models import PhoneNumber
from telephony_app.number_cache import inbound_numbers_forget_on_commit, tenant_numbers
from voiceplatform.models import Provider, ProviderCredential, Tenant


@receiver(pre_save, sender=PhoneNumber)
def phone_number_saving(sender: type, instance: PhoneNumber, **kwargs: Any) -> None:
    """Remembers the number as stored, so a renumbered PhoneNumber also drops its old entry."""
    if instance.pk is not None:
        instance._stored_number = (  # type: ignore[attr-defined]
            PhoneNumber.objects.filter(pk=instance.pk).values_list("number", flat=True).first()
        )


@receiver(post_save, sender=PhoneNumber)
@receiver(post_delete, sender=PhoneNumber)
def phone_number_changed(sender: type, instance: PhoneNumber, **kwargs: Any) -> None:
    inbound_numbers_forget_on_commit([instance.number, getattr(instance, "_stored_number", None) or ""])


@receiver(post_save, sender=Agent)
@receiver(post_delete, sender=Agent)
def agent_changed(sender: type, instance: Agent, **kwargs: Any) -> None:
    """An agent's name, activity, inbound rules or existence is part of its numbers' entries (a
    deleted agent leaves its numbers without one). agents_app comes before telephony_app in
    INSTALLED_APPS, so its own on-commit refresh of the agent's config runs before this forget,
    and an entry filled right after reads the new config."""
    inbound_numbers_forget_on_commit(tenant_numbers(instance.tenant_id))


@receiver(post_save, sender=Tenant)
def tenant_changed(sender: type, instance: Tenant, created: bool, **kwargs: Any) -> None:
    if not created:
        inbound_numbers_forget_on_commit(tenant_numbers(instance.pk))


@receiver(post_save, sender=ProviderCredential)
@receiver(post_delete, sender=ProviderCredential)
def credential_changed(sender: type, instance: ProviderCredential, **kwargs: Any) -> None:
    """A new, rotated or removed Twilio auth token must sign the very next webhook."""
    if instance.provider == Provider.TWILIO:
        inbound_numbers_forget_on_commit(tenant_numbers(instance.tenant_id))
