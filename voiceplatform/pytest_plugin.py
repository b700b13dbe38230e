"""pytest plugin (loaded with -p in pytest.ini): embedded services and test settings before Django loads."""

from __future__ import annotations

import os

import pytest

from voiceplatform.devservices import EmbeddedServices, ensure_services

_services: EmbeddedServices | None = None

# Test-only values; a real deployment sets its own. setdefault keeps anything CI passes in.
TEST_ENV = {
    "SECRET_KEY": "test-secret-key-not-for-production-0123456789abcdefghijklmnopqrstuvwxyz",
    "FIELD_ENCRYPTION_KEYS": "VGVzdEtleU9uZS1ub3QtZm9yLXByb2R1Y3Rpb24tMDE=",
    "DEBUG": "false",
    "SECURE_SSL_REDIRECT": "false",
    "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
    "LOG_LEVEL": "warning",
}


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    global _services
    for key, value in TEST_ENV.items():
        os.environ.setdefault(key, value)
    _services = ensure_services(purpose="test")


def pytest_unconfigure(config: pytest.Config) -> None:
    if _services is not None:
        _services.stop()
