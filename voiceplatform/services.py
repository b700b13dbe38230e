"""Writes for tenancy: tenants, members, API keys and provider credentials."""

from __future__ import annotations

import logging
import secrets
import string
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from voiceplatform.crypto import SecretDecryptionError, reencrypt_for_tenant
from voiceplatform.models import (
    API_KEY_PREFIX_LENGTH,
    ApiKey,
    Membership,
    Provider,
    ProviderCredential,
    Role,
    Tenant,
    hash_api_key,
)

logger = logging.getLogger(__name__)
_ALPHABET = string.ascii_letters + string.digits


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


@transaction.atomic
def tenant_create(*, name: str, slug: str, timezone_name: str = "UTC", owner: AbstractBaseUser | None = None) -> Tenant:
    tenant = Tenant(name=name, slug=slug, timezone=timezone_name)
    tenant.full_clean()
    tenant.save()
    if owner is not None:
        Membership.objects.create(tenant=tenant, user=owner, role=Role.OWNER)
    return tenant


@dataclass(frozen=True)
class Invitation:
    membership: Membership
    set_password_url: str | None  # only for a user created by this invitation


def set_password_url(user: AbstractBaseUser) -> str:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    return settings.PUBLIC_BASE_URL + reverse("password_reset_confirm", kwargs={"uidb64": uid, "token": token})


def _check_role_change_allowed(*, actor: Membership, target_role: str) -> None:
    if target_role == Role.OWNER and actor.role != Role.OWNER:
        raise ValidationError({"role": "Only an owner can make someone an owner."})


@transaction.atomic
def membership_invite(*, tenant: Tenant, email: str, role: str, actor: Membership) -> Invitation:
    """Add a person by email; a new user gets a set-password link (logged and returned)."""
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; choose one of {', '.join(Role.values)}."})
    _check_role_change_allowed(actor=actor, target_role=role)
    email = get_user_model().objects.normalize_email(email).strip()
    user_model = get_user_model()
    user = user_model.objects.filter(email__iexact=email).first()
    created = user is None
    if created:
        username = email.lower()
        if user_model.objects.filter(username=username).exists():
            raise ValidationError({"email": "A user with that login already exists."})
        user = user_model.objects.create_user(username=username, email=email)
        user.set_unusable_password()
        user.save(update_fields=["password"])
    if Membership.objects.for_tenant(tenant).filter(user=user).exists():
        raise ValidationError({"email": f"{email} is already a member of {tenant.name}."})
    membership = Membership.objects.create(tenant=tenant, user=user, role=role)
    link = set_password_url(user) if created else None
    if link:
        # The link is the invitee's way in; it is shown to the inviter and logged for the operator.
        logger.info("invitation for %s to tenant %s: set a password at %s", email, tenant.slug, link)
    else:
        logger.info("existing user %s added to tenant %s as %s", email, tenant.slug, role)
    return Invitation(membership=membership, set_password_url=link)


def _owners_left_after(*, tenant: Tenant, excluding: Membership) -> int:
    return Membership.objects.for_tenant(tenant).filter(role=Role.OWNER).exclude(pk=excluding.pk).count()


@transaction.atomic
def membership_change_role(*, tenant: Tenant, membership: Membership, role: str, actor: Membership) -> Membership:
    if role not in Role.values:
        raise ValidationError({"role": f"Unknown role {role!r}; choose one of {', '.join(Role.values)}."})
    membership = Membership.objects.for_tenant(tenant).select_for_update().get(pk=membership.pk)
    if membership.role == Role.OWNER or role == Role.OWNER:
        _check_role_change_allowed(actor=actor, target_role=Role.OWNER)
    if (
        membership.role == Role.OWNER
        and role != Role.OWNER
        and _owners_left_after(tenant=tenant, excluding=membership) == 0
    ):
        raise ValidationError({"role": "A tenant needs at least one owner; make someone else owner first."})
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, tenant: Tenant, membership: Membership, actor: Membership) -> None:
    membership = Membership.objects.for_tenant(tenant).select_for_update().get(pk=membership.pk)
    if membership.role == Role.OWNER:
        _check_role_change_allowed(actor=actor, target_role=Role.OWNER)
        if _owners_left_after(tenant=tenant, excluding=membership) == 0:
            raise ValidationError("The last owner cannot be removed.")
    membership.delete()


def api_key_create(*, tenant: Tenant, name: str, created_by: AbstractBaseUser | None = None) -> tuple[ApiKey, str]:
    """Create a key and return it with its plaintext, which is never stored or shown again."""
    name = name.strip()
    for _attempt in range(5):
        prefix = _random(API_KEY_PREFIX_LENGTH)
        raw_key = f"vp_{prefix}_{_random(32)}"
        api_key = ApiKey(
            tenant=tenant, name=name, prefix=prefix, hashed_key=hash_api_key(raw_key), created_by=created_by
        )
        api_key.full_clean(validate_unique=False)
        try:
            with transaction.atomic():
                api_key.save()
        except IntegrityError:  # prefix collision: 62**8 makes this rare; try a fresh one
            continue
        logger.info("API key %s created for tenant %s", api_key.display, tenant.slug)
        return api_key, raw_key
    raise RuntimeError("could not generate a unique API key prefix")


def api_key_revoke(*, tenant: Tenant, api_key: ApiKey) -> ApiKey:
    ApiKey.objects.for_tenant(tenant).filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    api_key.refresh_from_db(fields=["revoked_at"])
    logger.info("API key %s revoked for tenant %s", api_key.display, tenant.slug)
    return api_key


def api_key_touch(*, api_key: ApiKey, min_interval_seconds: int = 60) -> None:
    """Record use of a key, writing at most once a minute per key to keep requests cheap."""
    now = timezone.now()
    if api_key.last_used_at and (now - api_key.last_used_at).total_seconds() < min_interval_seconds:
        return
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
    api_key.last_used_at = now


@transaction.atomic
def credential_set(
    *, tenant: Tenant, provider: str, secret: str = "", base_url: str = "", account_id: str = ""
) -> ProviderCredential:
    """Add or replace the tenant's credential for a provider. An empty secret keeps the stored one."""
    credential = ProviderCredential.objects.for_tenant(tenant).select_for_update().filter(provider=provider).first()
    if credential is None:
        credential = ProviderCredential(tenant=tenant, provider=provider)
    credential.base_url = base_url.strip()
    credential.account_id = account_id.strip()
    secret = secret.strip()
    if secret:
        credential.set_secret(secret)
    elif not credential.encrypted_secret and provider != Provider.OPENAI_COMPATIBLE:
        raise ValidationError({"secret": "Enter the API key (or auth token) for this provider."})
    credential.full_clean(exclude=["tenant"])
    credential.save()
    logger.info("provider credential %s saved for tenant %s (%s)", provider, tenant.slug, credential.masked_secret)
    return credential


def credential_delete(*, tenant: Tenant, credential: ProviderCredential) -> None:
    ProviderCredential.objects.for_tenant(tenant).filter(pk=credential.pk).delete()
    logger.info("provider credential %s deleted for tenant %s", credential.provider, tenant.slug)


def credentials_reencrypt_all() -> int:
    """Re-encrypt every stored secret under the first key of FIELD_ENCRYPTION_KEYS."""
    count = 0
    # Crosses tenants on purpose: each row is re-encrypted with its own tenant's derived key.
    for credential in ProviderCredential.objects.exclude(encrypted_secret="").iterator():
        with transaction.atomic():
            try:
                token = reencrypt_for_tenant(tenant_id=credential.tenant_id, token=credential.encrypted_secret)
            except SecretDecryptionError as exc:
                raise SecretDecryptionError(f"credential {credential.code} ({credential.provider}): {exc}") from None
            ProviderCredential.objects.filter(pk=credential.pk).update(encrypted_secret=token)
        count += 1
    return count
