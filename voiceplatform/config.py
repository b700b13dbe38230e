"""Typed readers for environment variables that fail loudly, naming the variable."""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured


class ConfigError(ImproperlyConfigured):
    """A setting is missing or malformed; the message names the variable."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class Settings:
    """Reads variables from a mapping (normally os.environ) with one clear error per bad value."""

    def __init__(self, environ_map: Mapping[str, str]) -> None:
        self._env = environ_map

    def _raw(self, name: str) -> str | None:
        value = self._env.get(name)
        return None if value is None else value.strip()

    def str(self, name: str, default: str | None = None) -> str:
        value = self._raw(name)
        if value is None or value == "":
            if default is None:
                raise ConfigError(f"{name} is not set; see .env.example")
            return default
        return value

    def bool(self, name: str, default: bool) -> bool:
        value = self._raw(name)
        if value is None or value == "":
            return default
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigError(f"{name} must be true or false, got {value!r}")

    def int(self, name: str, default: int, *, minimum: int = 0) -> int:
        value = self._raw(name)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {value!r}") from None
        if number < minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {number}")
        return number

    def list(self, name: str, default: list[str] | None = None) -> list[str]:
        value = self._raw(name)
        if value is None or value == "":
            if default is None:
                raise ConfigError(f"{name} is not set; see .env.example")
            return list(default)
        return [item.strip() for item in value.split(",") if item.strip()]

    def host_list(self, name: str) -> list[str]:
        """Host names, IP addresses and CIDRs, comma-separated (an allow-list); a malformed entry is named."""
        from voiceplatform.outbound_url import parse_allow_list

        entries = self.list(name, [])
        try:
            parse_allow_list(entries)
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
        return entries

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.str(name, default).lower()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        return value

    def url(self, name: str, default: str | None = None, *, schemes: tuple[str, ...]) -> str:
        value = self.str(name, default)
        parts = urlsplit(value)
        if parts.scheme not in schemes or not (parts.netloc or parts.path):
            raise ConfigError(
                f"{name} must be a URL starting with {' or '.join(s + '://' for s in schemes)}, got {value!r}"
            )
        return value.rstrip("/")

    def optional_url(self, name: str, *, schemes: tuple[str, ...]) -> str:
        if not self._raw(name):
            return ""
        return self.url(name, schemes=schemes)

    def database(self, name: str) -> dict[str, object]:
        value = self.str(name)
        scheme = urlsplit(value).scheme
        if scheme not in ("postgres", "postgresql", "pgsql"):
            raise ConfigError(f"{name} must be a postgres:// URL (SQLite is not supported), got scheme {scheme!r}")
        try:
            config = environ.Env.db_url_config(value)
        except Exception as exc:  # django-environ raises several types for malformed URLs
            raise ConfigError(f"{name} is not a valid database URL: {exc}") from None
        # Django's PostgreSQL backend with a health check that costs no round trip (voiceplatform/pgbackend).
        config["ENGINE"] = "voiceplatform.pgbackend"
        config["CONN_MAX_AGE"] = 60
        config["CONN_HEALTH_CHECKS"] = True
        return config

    def fernet_keys(self, name: str) -> list[str]:
        keys = self.list(name)
        for position, key in enumerate(keys, start=1):
            try:
                raw = base64.urlsafe_b64decode(key.encode())
            except (binascii.Error, ValueError):
                raw = b""
            if len(raw) != 32:
                raise ConfigError(
                    f"{name} key #{position} is not a Fernet key (32 url-safe base64 bytes); "
                    "make one with: python -c "
                    "'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"
                )
        return keys


def default_web_workers() -> int:
    """The production web server's sync workers when WEB_WORKERS is unset: one per CPU this process
    may run on, plus one that runs while the others wait on PostgreSQL, Redis, LiveKit or the client
    (voiceplatform/gunicorn_conf.py says what this was measured against)."""
    return len(os.sched_getaffinity(0)) + 1 if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1) + 1


def check_request_budget(*, budget_seconds: int, worker_timeout_seconds: int) -> None:
    """A web request's provider budget must end before the web worker is killed (WEB_TIMEOUT)."""
    if budget_seconds >= worker_timeout_seconds:
        raise ConfigError(
            f"WEB_REQUEST_BUDGET_SECONDS ({budget_seconds}) must be smaller than WEB_TIMEOUT "
            f"({worker_timeout_seconds}), the web worker's timeout: a request that waits on a provider "
            "must answer before its worker is killed"
        )
