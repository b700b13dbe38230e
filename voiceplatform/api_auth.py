"""API authentication: Bearer API keys. Kept free of DRF views so settings can import it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rest_framework import exceptions, permissions, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

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


class TooManyAuthenticationFailures(exceptions.Throttled):
    """429 with Retry-After and the API's `{detail, problems}` body."""

    def __init__(self, wait: float | None) -> None:
        seconds = max(1, int(wait or 60))
        message = f"Too many failed API-key authentications from this address; retry in {seconds} seconds."
        super().__init__(wait=seconds)
        self.detail = {"detail": message, "problems": [message]}  # type: ignore[assignment]
        self.status_code = status.HTTP_429_TOO_MANY_REQUESTS


class ApiKeyFailureThrottle(SimpleRateThrottle):
    """Counts failed API-key authentications per client address (rate: `api_key_failures`).

    Only failures are recorded, so a client with a valid key is never slowed by this; once an
    address reaches the limit, every request from it that carries an Authorization header is
    refused with 429 until the oldest failure leaves the window.
    """

    scope = "api_key_failures"

    def get_cache_key(self, request: Request, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def is_blocked(self, request: Request) -> bool:
        self.key = self.get_cache_key(request, None)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()
        return len(self.history) >= self.num_requests

    def record_failure(self, request: Request) -> None:
        self.is_blocked(request)  # loads and trims the history
        self.history.insert(0, self.now)
        self.cache.set(self.key, self.history, self.duration)


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer vp_<prefix>_<secret>`; anything else is a clear 401.

    Failures are counted per address; past API_KEY_FAILURE_LIMIT a minute the answer is 429.
    """

    def authenticate(self, request: Request) -> tuple[ApiPrincipal, ApiKey] | None:
        header = get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        throttle = ApiKeyFailureThrottle()
        if throttle.is_blocked(request):
            raise TooManyAuthenticationFailures(throttle.wait())
        try:
            return self._authenticate_key(header)
        except exceptions.AuthenticationFailed:
            throttle.record_failure(request)
            raise

    def _authenticate_key(self, header: str) -> tuple[ApiPrincipal, ApiKey]:
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
