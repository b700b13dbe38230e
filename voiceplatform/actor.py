"""Who made a change: a portal user or an API key (recorded on prompt versions and audit lines)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest

from voiceplatform.models import ApiKey


@dataclass(frozen=True)
class Actor:
    user: AbstractBaseUser | None = None
    api_key: ApiKey | None = None

    @property
    def label(self) -> str:
        if self.api_key is not None:
            return f"API key {self.api_key.name} ({self.api_key.display})"
        if self.user is not None:
            return self.user.get_username()
        return "system"

    @classmethod
    def from_request(cls, request: HttpRequest) -> Actor:
        auth = getattr(request, "auth", None)
        if isinstance(auth, ApiKey):
            return cls(api_key=auth)
        user = getattr(request, "user", None)
        return cls(user=user if user is not None and user.is_authenticated else None)


SYSTEM = Actor()
