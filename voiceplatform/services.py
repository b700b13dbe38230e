"""Writes for tenancy: tenants, members, API keys and provider credentials."""

from __future__ import annotations

import logging
import secrets
import smtplib
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from voiceplatform import change_hooks
from voiceplatform.crypto import SecretDecryptionError, reencrypt_for_tenant
from voiceplatform.models import (
    API_KEY_PREFIX_LENGTH,
    ApiKey,
    Invitation,
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


TENANT_EDITABLE_FIELDS = frozenset({"name", "slug", "timezone"})


@transaction.atomic
def tenant_update(*, tenant: Tenant, fields: Mapping[str, Any]) -> Tenant:
    """Change a tenant's name, slug or time zone; what higher apps keep about it is refreshed on commit."""
    unknown = set(fields) - TENANT_EDITABLE_FIELDS
    if unknown:
        raise ValueError(f"not tenant fields: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        setattr(tenant, name, value)
    tenant.full_clean()
    tenant.save()
    change_hooks.tenant_changed(tenant=tenant)
    return tenant


# Set in the transaction that deletes a tenant: append-only tables allow their rows' removal then only.
TENANT_PURGE_SQL = "SET LOCAL voiceplatform.tenant_purge = 'on'"


@transaction.atomic
def tenant_delete(*, tenant: Tenant) -> None:
    """Delete a tenant with everything it owns; the caches of its agents and numbers go on commit."""
    change_hooks.tenant_changed(tenant=tenant)  # before the delete: the hooks read what it owns
    # Append-only tables (the do-not-call and consent ledgers) refuse DELETE in the database unless
    # this transaction says it removes a whole tenant.
    with connection.cursor() as cursor:
        cursor.execute(TENANT_PURGE_SQL)
    tenant.delete()
    logger.info("tenant %s deleted", tenant.slug)


INVITATION_SALT = "voiceplatform.invitation"


class InvitationUnusable(Exception):
    """The link cannot be used; `reason` is 'invalid', 'expired', 'revoked' or 'accepted'."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"invitation link {reason}")


def membership_change_check(
    *, tenant: Tenant, actor: Membership | None, current: Membership | None, new_role: str | None
) -> None:
    """The one rule for giving, changing or taking away a role in a tenant (portal, API and admin).

    `current` is the membership being changed (None when someone is added), `new_role` the role it
    gets (None when it is removed). Raises ValidationError naming what is not allowed.
    """
    if actor is None or actor.tenant_id != tenant.pk or not actor.can_manage:
        raise ValidationError("Only owners and admins of this tenant can manage its members.")
    if new_role is not None and new_role not in Role.values:
        raise ValidationError({"role": f"Unknown role {new_role!r}; choose one of {', '.join(Role.values)}."})
    current_role = current.role if current is not None else None
    if Role.OWNER in (current_role, new_role) and current_role != new_role and actor.role != Role.OWNER:
        if new_role == Role.OWNER:
            raise ValidationError({"role": "Only an owner can make someone an owner."})
        if new_role is None:
            raise ValidationError({"role": "Only an owner can remove an owner."})
        raise ValidationError({"role": "Only an owner can change the role of an owner."})
    if current is not None and current_role == Role.OWNER and new_role != Role.OWNER:
        if _owners_left_after(tenant=tenant, excluding=current) == 0:
            if new_role is None:
                raise ValidationError("The last owner cannot be removed.")
            raise ValidationError({"role": "A tenant needs at least one owner; make someone else owner first."})


@dataclass(frozen=True)
class InvitationCreated:
    invitation: Invitation
    is_email_sent: bool  # False: saved, but the mail server refused or did not answer


def invitation_create(*, tenant: Tenant, email: str, role: str, actor: Membership) -> InvitationCreated:
    """Invite an address to the tenant and email it the link; the inviter never sees the link.

    The result is the same whether or not the address has an account: nobody is added until the
    invitee opens the link and accepts. The email goes out after the row is committed.
    """
    invitation = _invitation_record(tenant=tenant, email=email, role=role, actor=actor)
    try:
        _invitation_send(invitation=invitation, inviter=actor.user)
    except (OSError, smtplib.SMTPException):
        logger.exception("invitation %s to tenant %s: the email could not be sent", invitation.code, tenant.slug)
        return InvitationCreated(invitation=invitation, is_email_sent=False)
    return InvitationCreated(invitation=invitation, is_email_sent=True)


@transaction.atomic
def _invitation_record(*, tenant: Tenant, email: str, role: str, actor: Membership) -> Invitation:
    membership_change_check(tenant=tenant, actor=actor, current=None, new_role=role)
    email = get_user_model().objects.normalize_email(email).strip().lower()
    if Membership.objects.for_tenant(tenant).filter(user__email__iexact=email).exists():
        raise ValidationError({"email": f"{email} is already a member of {tenant.name}."})
    now = timezone.now()
    # One working link per address: a new invitation replaces a pending one.
    Invitation.objects.for_tenant(tenant).filter(email=email, accepted_at=None, revoked_at=None).update(revoked_at=now)
    invitation = Invitation(
        tenant=tenant,
        email=email,
        role=role,
        invited_by=actor.user,
        expires_at=now + timedelta(days=settings.INVITATION_MAX_AGE_DAYS),
    )
    invitation.full_clean()
    invitation.save()
    # The link is a credential: it goes to the invitee's mailbox, never to the log.
    logger.info("invitation %s to tenant %s as %s created", invitation.code, tenant.slug, role)
    return invitation


def invitation_url(invitation: Invitation) -> str:
    token = signing.TimestampSigner(salt=INVITATION_SALT).sign(str(invitation.code))
    return settings.PUBLIC_BASE_URL + reverse("tenancy-invitation-accept", kwargs={"token": token})


def _invitation_send(*, invitation: Invitation, inviter: AbstractBaseUser) -> None:
    who = inviter.get_full_name() or inviter.email or inviter.get_username()
    days = settings.INVITATION_MAX_AGE_DAYS
    body = (
        f"{who} invited you to join {invitation.tenant.name} on voiceplatform as "
        f"{invitation.get_role_display()}.\n\n"
        f"Open this link to accept (valid for {days} days, usable once):\n{invitation_url(invitation)}\n\n"
        "If you did not expect this, ignore this email: nothing happens unless you accept."
    )
    send_mail(f"Invitation to {invitation.tenant.name} on voiceplatform", body, None, [invitation.email])


def invitation_revoke(*, tenant: Tenant, invitation: Invitation) -> None:
    """Make a pending invitation's link stop working at once."""
    Invitation.objects.for_tenant(tenant).filter(pk=invitation.pk, accepted_at=None, revoked_at=None).update(
        revoked_at=timezone.now()
    )
    logger.info("invitation %s to tenant %s revoked", invitation.code, tenant.slug)


def invitation_from_token(*, token: str) -> Invitation:
    """The pending invitation a link names; InvitationUnusable says why it cannot be used."""
    signer = signing.TimestampSigner(salt=INVITATION_SALT)
    try:
        code = signer.unsign(token, max_age=timedelta(days=settings.INVITATION_MAX_AGE_DAYS))
    except signing.SignatureExpired:
        raise InvitationUnusable("expired") from None
    except signing.BadSignature:
        raise InvitationUnusable("invalid") from None
    invitation = Invitation.objects.by_signed_link(code).first()
    if invitation is None:
        raise InvitationUnusable("invalid")
    state = invitation.state(timezone.now())
    if state != "pending":
        raise InvitationUnusable(state)
    return invitation


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: AbstractBaseUser) -> Membership:
    """Give `user` the invited role; only the account with the invited address may accept."""
    invitation = Invitation.objects.for_tenant(invitation.tenant).select_for_update().get(pk=invitation.pk)
    state = invitation.state(timezone.now())
    if state != "pending":
        raise InvitationUnusable(state)
    if (user.email or "").strip().lower() != invitation.email:
        raise ValidationError(f"This invitation is for {invitation.email}; log in with that address to accept it.")
    membership = Membership.objects.for_tenant(invitation.tenant).filter(user=user).first()
    if membership is None:
        membership = Membership.objects.create(tenant=invitation.tenant, user=user, role=invitation.role)
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    logger.info("invitation %s to tenant %s accepted", invitation.code, invitation.tenant.slug)
    return membership


@transaction.atomic
def invitation_accept_new_user(*, invitation: Invitation, password: str) -> AbstractBaseUser:
    """Create the invitee's account with `password`, then accept; refused if the address has one."""
    user_model = get_user_model()
    if user_account_exists(email=invitation.email):
        raise ValidationError("An account with this address exists already: log in to accept the invitation.")
    user = user_model.objects.create_user(username=invitation.email, email=invitation.email, password=password)
    invitation_accept(invitation=invitation, user=user)
    return user


def user_account_exists(*, email: str) -> bool:
    """Whether an account uses this address as its email or login (shown only to the link's holder)."""
    users = get_user_model().objects
    return users.filter(email__iexact=email).exists() or users.filter(username__iexact=email).exists()


def _owners_left_after(*, tenant: Tenant, excluding: Membership) -> int:
    return Membership.objects.for_tenant(tenant).filter(role=Role.OWNER).exclude(pk=excluding.pk).count()


@transaction.atomic
def membership_change_role(*, tenant: Tenant, membership: Membership, role: str, actor: Membership) -> Membership:
    membership = Membership.objects.for_tenant(tenant).select_for_update().get(pk=membership.pk)
    membership_change_check(tenant=tenant, actor=actor, current=membership, new_role=role)
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, tenant: Tenant, membership: Membership, actor: Membership) -> None:
    membership = Membership.objects.for_tenant(tenant).select_for_update().get(pk=membership.pk)
    membership_change_check(tenant=tenant, actor=actor, current=membership, new_role=None)
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
    ApiKey.objects.for_tenant(api_key.tenant).filter(pk=api_key.pk).update(last_used_at=now)
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
    change_hooks.credential_changed(tenant=tenant, provider=provider)
    logger.info("provider credential %s saved for tenant %s (%s)", provider, tenant.slug, credential.masked_secret)
    return credential


@transaction.atomic
def credential_delete(*, tenant: Tenant, credential: ProviderCredential) -> None:
    ProviderCredential.objects.for_tenant(tenant).filter(pk=credential.pk).delete()
    change_hooks.credential_changed(tenant=tenant, provider=credential.provider)
    logger.info("provider credential %s deleted for tenant %s", credential.provider, tenant.slug)


# Encrypted columns of higher apps (telephony_app: a number's carrier password), registered in their
# AppConfig.ready: manage.py reencrypt_credentials re-encrypts them with the provider credentials, so
# the old key can be dropped after a rotation. name -> (what they are, plural; the re-encrypter).
_secret_reencrypters: dict[str, tuple[str, Callable[[], int]]] = {}


def register_secret_reencrypter(name: str, *, label: str, reencrypt: Callable[[], int]) -> None:
    """`reencrypt()` re-encrypts every stored secret of one kind under the current key and returns the count."""
    _secret_reencrypters[name] = (label, reencrypt)


def registered_secrets_reencrypt() -> list[tuple[str, int]]:
    """Runs every registered re-encrypter: (label, count) each, in registration order."""
    return [(label, reencrypt()) for label, reencrypt in _secret_reencrypters.values()]


def credentials_reencrypt_all() -> int:
    """Re-encrypt every stored secret under the first key of FIELD_ENCRYPTION_KEYS."""
    count = 0
    credentials = ProviderCredential.objects.across_tenants(reason="re-encryption: each row under its own tenant's key")
    for credential in credentials.exclude(encrypted_secret="").iterator():
        with transaction.atomic():
            try:
                token = reencrypt_for_tenant(tenant_id=credential.tenant_id, token=credential.encrypted_secret)
            except SecretDecryptionError as exc:
                raise SecretDecryptionError(f"credential {credential.code} ({credential.provider}): {exc}") from None
            credentials.filter(pk=credential.pk).update(encrypted_secret=token)
        count += 1
    return count
