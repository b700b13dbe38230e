"""What refers to a phone number, from apps above telephony_app, without telephony_app importing them.

campaigns_app registers a provider in its AppConfig.ready() (an open campaign presents the number
as its caller ID); phone_number_delete and switching a number off ask the registry first and
refuse, naming the referrer, while any reference exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.core.exceptions import ValidationError

if TYPE_CHECKING:
    from telephony_app.models import PhoneNumber
    from voiceplatform.models import Tenant


@dataclass(frozen=True)
class NumberReference:
    """One row that holds a phone number: what it is, its public id, and what to do to free the number."""

    kind: str  # "campaign"
    id: str  # the referring row's code
    label: str  # what it is to the number: "the caller ID of campaign Spring renewals (draft)"
    remedy: str  # a sentence: how to free the number ("Finish or cancel the campaign, or ...")

    def as_text(self) -> str:
        return f"{self.label}: {self.remedy}"


class NumberReferenceProvider(Protocol):
    def __call__(self, *, tenant: Tenant, phone_number: PhoneNumber) -> list[NumberReference]: ...


_PROVIDERS: dict[str, NumberReferenceProvider] = {}


def register_number_references(name: str, provider: NumberReferenceProvider) -> None:
    """Add (or replace, so a second ready() call is harmless) the provider called `name`."""
    _PROVIDERS[name] = provider


def number_references(*, tenant: Tenant, phone_number: PhoneNumber) -> list[NumberReference]:
    """Every reference to the number, from every registered provider, in registration order."""
    if phone_number.pk is None:
        return []
    return [ref for provider in _PROVIDERS.values() for ref in provider(tenant=tenant, phone_number=phone_number)]


def refuse_if_referenced(
    *, tenant: Tenant, phone_number: PhoneNumber, deleting: bool, field: str | None = None
) -> None:
    """ValidationError naming what holds the number when anything does: a reference (an open
    campaign's caller ID) refuses both deleting the number and switching it off. `field` is the form
    field to blame."""
    found = number_references(tenant=tenant, phone_number=phone_number)
    if not found:
        return
    remedies = list(dict.fromkeys(ref.remedy for ref in found))
    message = (
        f"{phone_number.number} cannot be {'deleted' if deleting else 'switched off'} while it is "
        f"{'; '.join(ref.label for ref in found)}. {' '.join(remedies)}"
    )
    raise ValidationError({field: message} if field else message)
