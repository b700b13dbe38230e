"""Tenancy: tenants, their members, API keys and provider credentials."""

from __future__ import annotations

import datetime
import hashlib
import os
import time
import uuid
import zoneinfo
from typing import Self

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinLengthValidator
from django.db import models

# Models that are deliberately not tenant-owned. tests/test_tenancy.py fails for any model that
# is neither listed here nor a TenantOwned subclass, so a new table must pick a side.
GLOBAL_MODELS = frozenset(
    {
        "voiceplatform.Tenant",  # the tenant itself
        "auth.User",  # a person may belong to several tenants (Membership links them)
        "auth.Group",
        "auth.Permission",
        "contenttypes.ContentType",
        "sessions.Session",
        "admin.LogEntry",  # operator audit trail, visible to superusers only
        # django-axes' login attempts and lockouts: per account and address, not per tenant.
        "axes.AccessAttempt",
        "axes.AccessAttemptExpiration",
        "axes.AccessFailureLog",
        "axes.AccessLog",
        "voiceplatform.SeedMarker",  # one-time setup steps of the whole database (seed_demo)
    }
)


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(f"{value!r} is not a known IANA time zone (e.g. Europe/Paris).")


class Tenant(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=50, unique=True)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    max_concurrent_calls = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Phone calls at once across the tenant's agents; empty = TENANT_MAX_CONCURRENT_CALLS.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SeedMarker(models.Model):
    """A one-time setup step this database has done (e.g. "demo-seeded"); never removed by the app."""

    key = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.key


class TenantQuerySet(models.QuerySet):
    def for_tenant(self, tenant: Tenant | None) -> Self:
        """Rows of this tenant only; refuses a missing tenant instead of returning everything."""
        if not isinstance(tenant, Tenant) or tenant.pk is None:
            raise ValueError(f"for_tenant() needs a saved Tenant, got {tenant!r}")
        return self.filter(tenant=tenant)

    def across_tenants(self, reason: str) -> Self:
        """Rows of every tenant, on purpose: a webhook, the worker, a periodic task or an operator
        command that learns the tenant from the row itself. `reason` says why that is safe; it is
        required so each deliberate cross-tenant read can be found with grep and is listed by
        tests/test_across_tenants.py."""
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("across_tenants() needs a reason: say why reading every tenant's rows is safe here")
        return self.all()


# A time-ordered UUID (version 7: 48 bits of Unix milliseconds, then 74 random bits) for the codes of
# rows inserted by the thousand in one statement (contact imports, the dialer's attempts): they land on
# the right edge of the unique code index instead of a thousand random pages of it, and stay as hard to
# guess in a URL. PostgreSQL 18's uuidv7(), written out for the versions before it.
UUID7_SQL = (
    "encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) PLACING "
    "substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3) FROM 1 FOR 6), "
    "52, 1), 53, 1), 'hex')::uuid"
)


def uuid7_texts(count: int) -> list[str]:
    """`count` version-7 UUIDs as text, laid out as UUID7_SQL's (one millisecond for the lot): for rows
    COPY'd in batches, where no SQL expression can give each row its own."""
    millis = f"{time.time_ns() // 1_000_000:012x}"
    head = f"{millis[:8]}-{millis[8:]}-7"
    randomness = os.urandom(10 * count).hex()
    return [
        f"{head}{randomness[at : at + 3]}-{_VARIANT[randomness[at + 3]]}{randomness[at + 4 : at + 7]}-"
        f"{randomness[at + 7 : at + 19]}"
        for at in range(0, 20 * count, 20)
    ]


_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}  # RFC 9562's variant bits, 10


class TenantOwned(models.Model):
    """Abstract base of every tenant-owned row: a tenant FK and a UUID code used in URLs."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    objects = TenantQuerySet.as_manager()

    class Meta:
        abstract = True


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    EDITOR = "editor", "Editor"
    VIEWER = "viewer", "Viewer"


class Membership(TenantOwned):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant__name", "user__email"]
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user_per_tenant")]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} ({self.role})"

    @property
    def can_write(self) -> bool:
        """Editors and up change tenant content; viewers only read."""
        return self.role != Role.VIEWER

    @property
    def can_manage(self) -> bool:
        """Owners and admins manage members, API keys and provider credentials."""
        return self.role in (Role.OWNER, Role.ADMIN)


class InvitationQuerySet(TenantQuerySet):
    def by_signed_link(self, code: str) -> Self:
        """The invitation a signed link names, whatever its tenant.

        Cross-tenant on purpose: the invitee has no membership yet, and the link's signature (made
        with SECRET_KEY) is what proves it was issued by this server for this invitation.
        """
        return (
            self.across_tenants(reason="an invitee's signed link names its invitation")
            .select_related("tenant")
            .filter(code=code)
        )


class Invitation(TenantOwned):
    """An offer of a role in a tenant, sent to an email address; a membership only once accepted."""

    email = models.EmailField(max_length=254)  # stored lower-case
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.EDITOR)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.email} to {self.tenant} ({self.role})"

    def state(self, now: datetime.datetime) -> str:
        """'accepted', 'revoked', 'expired' or 'pending' at `now`."""
        if self.accepted_at is not None:
            return "accepted"
        if self.revoked_at is not None:
            return "revoked"
        return "expired" if now >= self.expires_at else "pending"


API_KEY_PREFIX_LENGTH = 8


def hash_api_key(raw_key: str) -> str:
    # Keys carry 190+ bits of randomness, so a fast hash is safe and keeps lookups O(1).
    return hashlib.sha256(raw_key.encode()).hexdigest()


class ApiKey(TenantOwned):
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=API_KEY_PREFIX_LENGTH, unique=True, validators=[MinLengthValidator(8)])
    hashed_key = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} (vp_{self.prefix}_…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def display(self) -> str:
        return f"vp_{self.prefix}_…"


class Provider(models.TextChoices):
    OPENAI = "openai", "OpenAI"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible (self-hosted)"
    GOOGLE = "google", "Google (Gemini / Cloud Speech)"
    ANTHROPIC = "anthropic", "Anthropic"
    GROQ = "groq", "Groq"
    ELEVENLABS = "elevenlabs", "ElevenLabs"
    CARTESIA = "cartesia", "Cartesia"
    DEEPGRAM = "deepgram", "Deepgram"
    ASSEMBLYAI = "assemblyai", "AssemblyAI"
    TWILIO = "twilio", "Twilio"


# Where each provider's key is found in the process environment when a tenant has none.
PROVIDER_ENV = {
    Provider.OPENAI: {"secret": "OPENAI_API_KEY", "base_url": "OPENAI_BASE_URL"},
    Provider.OPENAI_COMPATIBLE: {"secret": "OPENAI_COMPATIBLE_API_KEY", "base_url": "OPENAI_COMPATIBLE_BASE_URL"},
    Provider.GOOGLE: {"secret": "GOOGLE_API_KEY"},
    Provider.ANTHROPIC: {"secret": "ANTHROPIC_API_KEY"},
    Provider.GROQ: {"secret": "GROQ_API_KEY"},
    Provider.ELEVENLABS: {"secret": "ELEVEN_API_KEY"},
    Provider.CARTESIA: {"secret": "CARTESIA_API_KEY"},
    Provider.DEEPGRAM: {"secret": "DEEPGRAM_API_KEY"},
    Provider.ASSEMBLYAI: {"secret": "ASSEMBLYAI_API_KEY"},
    Provider.TWILIO: {"secret": "TWILIO_AUTH_TOKEN", "account_id": "TWILIO_ACCOUNT_SID"},
}


class ProviderCredential(TenantOwned):
    """A tenant's key for one vendor; the secret is encrypted and bound to the tenant."""

    provider = models.CharField(max_length=32, choices=Provider.choices)
    base_url = models.URLField(blank=True, help_text="Only for self-hosted OpenAI-compatible endpoints.")
    account_id = models.CharField(
        max_length=64, blank=True, help_text="Public account identifier, e.g. Twilio Account SID."
    )
    encrypted_secret = models.TextField(blank=True, editable=False)
    secret_last4 = models.CharField(max_length=4, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider"]
        constraints = [models.UniqueConstraint(fields=["tenant", "provider"], name="credential_one_per_provider")]

    def __str__(self) -> str:
        return f"{self.get_provider_display()} {self.masked_secret}"

    def __repr__(self) -> str:  # never show the ciphertext in debug output either
        return f"<ProviderCredential {self.provider} tenant={self.tenant_id} {self.masked_secret}>"

    @property
    def masked_secret(self) -> str:
        if self.secret_last4:
            return f"…{self.secret_last4}"
        return "(set, too short to hint)" if self.encrypted_secret else "(no secret)"

    def set_secret(self, secret: str) -> None:
        from voiceplatform.crypto import encrypt_for_tenant

        self.encrypted_secret = encrypt_for_tenant(tenant_id=self.tenant_id, plaintext=secret) if secret else ""
        self.secret_last4 = secret[-4:] if len(secret) >= 8 else ""

    def get_secret(self) -> str:
        from voiceplatform.crypto import decrypt_for_tenant

        if not self.encrypted_secret:
            return ""
        return decrypt_for_tenant(tenant_id=self.tenant_id, token=self.encrypted_secret)

    def clean(self) -> None:
        if self.provider == Provider.OPENAI_COMPATIBLE and not self.base_url:
            raise ValidationError({"base_url": "A self-hosted OpenAI-compatible provider needs its base URL."})
        if self.provider not in (Provider.OPENAI, Provider.OPENAI_COMPATIBLE) and self.base_url:
            raise ValidationError({"base_url": "Only OpenAI and OpenAI-compatible providers take a base URL."})
        # The tenant's URL: the one outbound-URL rule (the API, portal and admin all save through
        # this clean). The OPENAI_*_BASE_URL environment fallbacks are the operator's, not checked.
        from voiceplatform.outbound_url import validate_tenant_url

        validate_tenant_url(self.base_url, field="base_url")
        if self.provider == Provider.TWILIO and not self.account_id:
            raise ValidationError({"account_id": "Twilio needs the Account SID (starts with AC)."})


# Webhooks (voiceplatform.webhooks): endpoints, the outbox of deliveries and their attempts.
from voiceplatform.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint  # noqa: E402, F401
