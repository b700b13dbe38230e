"""API authentication: Bearer API keys. Kept free of DRF views so settings can import it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rest_framework import exceptions, permissions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from voiceplatform.logging import tenant_var
from voiceplatform.models import ApiKey, Tenant
from voiceplatform.selectors import api_key_authenticate
from voiceplatform.services import api_key_touch

_API_KEY_SHAPE = re.compile(r"^vp_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}$")


@dataclass(frozen=True)
class ApiPrincipal:
    """Who is calling when a request carries an API key: the key, acting for its tenant."""

    api_key: ApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False

    @property
    def tenant(self) -> Tenant:
        return self.api_key.tenant

    def __str__(self) -> str:
        return f"API key {self.api_key.display}"


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer vp_<prefix>_<secret>`; anything else is a clear 401."""

    def authenticate(self, request: Request) -> tuple[ApiPrincipal, ApiKey] | None:
        header = get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw_key = header.partition(" ")
        raw_key = raw_key.strip()
        if scheme.lower() != "bearer" or not raw_key:
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Bearer <API key>'.")
        if not _API_KEY_SHAPE.match(raw_key):
            raise exceptions.AuthenticationFailed("Malformed API key: keys look like vp_XXXXXXXX_<32 characters>.")
        api_key = api_key_authenticate(raw_key=raw_key)
        if api_key is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        api_key_touch(api_key=api_key)
        tenant_var.set(api_key.tenant.slug)
        return ApiPrincipal(api_key=api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="voiceplatform"'


class HasTenantApiKey(permissions.BasePermission):
    message = "Authentication required: send 'Authorization: Bearer <API key>'."

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.auth is None:
            # DRF's permission_denied() drops `message` for unauthenticated requests, so raise it here.
            raise exceptions.NotAuthenticated(self.message)
        return isinstance(request.auth, ApiKey)
