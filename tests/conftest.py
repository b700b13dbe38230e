"""Two tenants; an owner, a teammate (editor), a viewer and an outsider (owner of the other tenant)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.db.backends.postgresql.operations import DatabaseOperations
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import MembershipFactory, TenantFactory, UserFactory
from voiceplatform.devtools.fake_livekit import KEY, SECRET, FakeLiveKit
from voiceplatform.models import Role, Tenant
from voiceplatform.services import TENANT_PURGE_SQL, api_key_create

PASSWORD = "correct horse battery staple"

_truncate_flush = DatabaseOperations.sql_flush


def _delete_flush(
    self: DatabaseOperations,
    style: Any,
    tables: list[str],
    *,
    reset_sequences: bool = False,
    allow_cascade: bool = False,
) -> list[str]:
    """The flush after each transactional test (live server, worker processes) as DELETEs.

    Django empties every table with one TRUNCATE, which replaces each table's files (~100 ms per
    test here, for tables holding a few rows); DELETEs in the flush's transaction take a few ms.
    Django's foreign keys are DEFERRABLE INITIALLY DEFERRED, so their order does not matter."""
    if reset_sequences or not tables:
        return _truncate_flush(self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade)
    # The flush empties whole tenants, so the append-only ledgers' trigger lets it (see tenant_delete).
    deletes = [f"DELETE FROM {self.quote_name(table)};" for table in tables]  # noqa: S608  (model tables, quoted)
    return [f"{TENANT_PURGE_SQL};", *deletes]


DatabaseOperations.sql_flush = _delete_flush  # type: ignore[method-assign]


@pytest.fixture(autouse=True)
def _clear_cache() -> None:
    cache.clear()


@pytest.fixture
def tenant(db: None) -> Tenant:
    return TenantFactory(name="Acme", slug="acme")


@pytest.fixture
def other_tenant(db: None) -> Tenant:
    return TenantFactory(name="Globex", slug="globex")


@pytest.fixture
def owner(tenant: Tenant):
    return MembershipFactory(tenant=tenant, user=UserFactory(username="owner@acme.test"), role=Role.OWNER).user


@pytest.fixture
def teammate(tenant: Tenant):
    return MembershipFactory(tenant=tenant, user=UserFactory(username="editor@acme.test"), role=Role.EDITOR).user


@pytest.fixture
def viewer(tenant: Tenant):
    return MembershipFactory(tenant=tenant, user=UserFactory(username="viewer@acme.test"), role=Role.VIEWER).user


@pytest.fixture
def outsider(other_tenant: Tenant):
    return MembershipFactory(tenant=other_tenant, user=UserFactory(username="owner@globex.test"), role=Role.OWNER).user


@pytest.fixture
def client_for() -> Callable[..., Client]:
    """A logged-in portal client for a user."""

    def make(user) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def api_client_for() -> Callable[[Tenant], APIClient]:
    """An API client carrying a fresh Bearer key of the given tenant."""

    def make(tenant: Tenant) -> APIClient:
        _key, raw_key = api_key_create(tenant=tenant, name="tests")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        return client

    return make


@pytest.fixture
def api(tenant: Tenant, api_client_for: Callable[[Tenant], APIClient]) -> APIClient:
    """An API client of `tenant` (Acme, or a module's own `tenant`)."""
    return api_client_for(tenant)


# What the `livekit` fixture configures: the worker's dispatch name and LiveKit's SIP host.
AGENT_NAME = "voiceplatform-test"
SIP_HOST = "vp-test.sip.livekit.cloud"


@pytest.fixture
def livekit(settings: Any) -> Iterator[FakeLiveKit]:
    """LiveKit configured, its server API answered by a local fake of the Twirp API."""
    with FakeLiveKit() as fake:
        settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = fake.url, KEY, SECRET
        settings.LIVEKIT_AGENT_NAME = AGENT_NAME
        settings.LIVEKIT_SIP_HOST = SIP_HOST
        settings.LIVEKIT_PUBLIC_URL = ""
        yield fake


@pytest.fixture
def unconfigured(settings: Any) -> None:
    """No LiveKit settings at all."""
    settings.LIVEKIT_URL = ""
    settings.LIVEKIT_API_KEY = ""
    settings.LIVEKIT_API_SECRET = ""
