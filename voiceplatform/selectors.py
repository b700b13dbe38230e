"""Reads for tenancy; every tenant-owned lookup takes the tenant explicitly."""

from __future__ import annotations

import datetime
import os
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404
from django.template.defaultfilters import pluralize

from voiceplatform.dashboard import DashboardStat, registered_counts
from voiceplatform.models import (
    PROVIDER_ENV,
    ApiKey,
    Invitation,
    Membership,
    ProviderCredential,
    Tenant,
    hash_api_key,
)

M = TypeVar("M", bound=Model)


def get_or_404(queryset: QuerySet[M], code: uuid.UUID | str) -> M:
    """The row of a tenant-scoped queryset with that code; the same 404 for 'not yours', 'does not
    exist' and a malformed code, so an id from another tenant tells nothing."""
    try:
        return queryset.get(code=code)
    except (queryset.model.DoesNotExist, ValidationError, ValueError, TypeError):
        raise Http404 from None


def memberships_for_user(*, user: AbstractBaseUser) -> QuerySet[Membership]:
    if not user.is_authenticated:
        return Membership.objects.none()
    memberships = Membership.objects.across_tenants(reason="a user's own memberships, in every tenant")
    return memberships.filter(user=user).select_related("tenant").order_by("tenant__name")


def membership_list(*, tenant: Tenant) -> QuerySet[Membership]:
    return Membership.objects.for_tenant(tenant).select_related("user").order_by("user__email")


def membership_get(*, tenant: Tenant, code: uuid.UUID | str) -> Membership:
    return get_or_404(Membership.objects.for_tenant(tenant).select_related("user"), code)


def invitation_list_pending(*, tenant: Tenant, now: datetime.datetime) -> QuerySet[Invitation]:
    """Invitations whose link still works, newest first."""
    queryset = Invitation.objects.for_tenant(tenant).filter(accepted_at=None, revoked_at=None, expires_at__gt=now)
    return queryset.select_related("invited_by").order_by("-created_at")


def invitation_get(*, tenant: Tenant, code: uuid.UUID | str) -> Invitation:
    return get_or_404(Invitation.objects.for_tenant(tenant), code)


def api_key_list(*, tenant: Tenant) -> QuerySet[ApiKey]:
    return ApiKey.objects.for_tenant(tenant).select_related("created_by")


def api_key_get(*, tenant: Tenant, code: uuid.UUID | str) -> ApiKey:
    return get_or_404(ApiKey.objects.for_tenant(tenant), code)


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The active key matching this plaintext, with its tenant; None when unknown or revoked."""
    return (
        ApiKey.objects.across_tenants(reason="API-key authentication: the key itself tells us the tenant")
        .select_related("tenant")
        .filter(hashed_key=hash_api_key(raw_key), revoked_at__isnull=True)
        .first()
    )


def credential_list(*, tenant: Tenant) -> QuerySet[ProviderCredential]:
    return ProviderCredential.objects.for_tenant(tenant)


def credential_get(*, tenant: Tenant, code: uuid.UUID | str) -> ProviderCredential:
    return get_or_404(ProviderCredential.objects.for_tenant(tenant), code)


@dataclass(frozen=True)
class ResolvedCredential:
    provider: str
    secret: str
    base_url: str
    account_id: str
    source: str  # "tenant" or "environment"

    def __repr__(self) -> str:
        return f"ResolvedCredential(provider={self.provider!r}, source={self.source!r}, secret=…)"


def credential_resolve(*, tenant: Tenant, provider: str) -> ResolvedCredential | None:
    """The tenant's own credential for a provider, else the process environment's, else None."""
    return credentials_resolve(tenant=tenant, providers=[provider]).get(provider)


def credentials_resolve(*, tenant: Tenant, providers: Iterable[str]) -> dict[str, ResolvedCredential | None]:
    """credential_resolve for several providers in one query (a call's start needs three at once)."""
    wanted = {provider for provider in providers if provider}
    if not wanted:
        return {}
    stored = {
        credential.provider: credential
        for credential in ProviderCredential.objects.for_tenant(tenant).filter(provider__in=wanted)
    }
    return {provider: credential_from_stored(provider=provider, stored=stored.get(provider)) for provider in wanted}


def credential_from_stored(*, provider: str, stored: ProviderCredential | None) -> ResolvedCredential | None:
    """credential_resolve for a row already read (the tenant's credential of this provider, or None)."""
    if stored is None:
        return _environment_credential(provider)
    return ResolvedCredential(
        provider=provider,
        secret=stored.get_secret(),
        base_url=stored.base_url,
        account_id=stored.account_id,
        source="tenant",
    )


def _environment_credential(provider: str) -> ResolvedCredential | None:
    names = PROVIDER_ENV.get(provider, {})
    secret = os.environ.get(names.get("secret", ""), "")
    base_url = os.environ.get(names.get("base_url", ""), "")
    if not secret and not base_url:
        return None
    return ResolvedCredential(
        provider=provider,
        secret=secret,
        base_url=base_url,
        account_id=os.environ.get(names.get("account_id", ""), ""),
        source="environment",
    )


def dashboard_counts(*, tenant: Tenant) -> list[DashboardStat]:
    """The dashboard's tiles: each app's (voiceplatform.dashboard registry), then the tenant's own."""
    return [
        *registered_counts(tenant=tenant),
        _stat(Membership.objects.for_tenant(tenant).count(), "member", "tenancy-member-list"),
        _stat(
            ApiKey.objects.for_tenant(tenant).filter(revoked_at__isnull=True).count(),
            "active API key",
            "tenancy-apikey-list",
        ),
        _stat(ProviderCredential.objects.for_tenant(tenant).count(), "provider key", "tenancy-credential-list"),
    ]


def _stat(value: int, noun: str, url_name: str) -> DashboardStat:
    return DashboardStat(value=value, label=f"{noun}{pluralize(value)}", url_name=url_name)
