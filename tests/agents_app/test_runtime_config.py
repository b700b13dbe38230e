"""The runtime config and its Redis cache: the document, write-through on commit, the fallback chain, counters."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pytest
from django.conf import settings
from django.db import OperationalError

from agents_app import runtime_config
from agents_app.runtime_config import DEFAULT_APOLOGY, AgentConfigLoader, fresh_key, stale_key
from agents_app.services import agent_delete, agent_set_active, agent_update
from tests.agents_app.conftest import BRITISH_LADY
from voiceplatform.actor import SYSTEM
from voiceplatform.models import ProviderCredential, Tenant
from voiceplatform.services import api_key_create, credential_set, tenant_update

REFERENCE_FIELDS = {
    "agent_id",
    "name",
    "system_prompt",
    "personality",
    "llm_provider",
    "llm_model",
    "temperature",
    "voice_id",
    "tts_provider",
    "tts_voice_id",
    "stt_provider",
    "stt_language",
    "max_concurrent_calls",
}
ZERO = {
    "total_requests": 0,
    "cache_hits": 0,
    "cache_misses": 0,
    "db_successes": 0,
    "db_failures": 0,
    "fallback_to_stale": 0,
    "fallback_to_default": 0,
    "cache_hit_rate": 0.0,
}


def _counters(**moved: float) -> dict[str, float]:
    return {**ZERO, **moved}


@pytest.fixture
def fresh_loader() -> AgentConfigLoader:
    """A loader of its own (own counters and in-process copies) on the real Redis."""
    return AgentConfigLoader()


def _raise_operational_error(**kwargs):
    raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')


@pytest.fixture
def database_down(monkeypatch):
    """The loader's database boundary fails as it does when PostgreSQL is unreachable
    (the transaction=True tests below take the real connection down instead)."""
    monkeypatch.setattr(runtime_config, "_load_from_database", _raise_operational_error)


# --- the document ------------------------------------------------------------------------------


def test_the_document_has_the_reference_fields_with_the_agents_values(tenant, make_agent, fresh_loader):
    agent = make_agent(tenant, temperature=0.7, stt_language="en")

    loaded = fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code)

    config = loaded.config
    assert REFERENCE_FIELDS <= set(config.to_document())
    assert {name: config.to_document()[name] for name in REFERENCE_FIELDS} == {
        "agent_id": str(agent.code),
        "name": "Sales Agent",
        "system_prompt": "You are a friendly sales agent. Help customers find the right product.",
        "personality": "Enthusiastic and helpful",
        "llm_provider": "openai",
        "llm_model": "gpt-4o-mini",
        "temperature": 0.7,
        "voice_id": BRITISH_LADY,
        "tts_provider": "cartesia",
        "tts_voice_id": BRITISH_LADY,
        "stt_provider": "assemblyai",
        "stt_language": "en",
        "max_concurrent_calls": 3,
    }
    assert config.tenant_id == str(tenant.code)
    assert config.tenant_timezone == "Europe/Paris"
    assert config.is_active is True and config.is_default is False
    assert config.stt_model == "universal-streaming-english"  # the vendor's id for the reference's name
    assert config.inbound.transfer_number == "+18005551234"


def test_the_document_carries_business_hours_and_holidays(tenant, make_agent, fresh_loader):
    agent = make_agent(
        tenant,
        business_hours={"monday": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]},
        holidays=[{"date": "2026-12-25", "name": "Christmas"}],
        timezone="America/New_York",
    )

    inbound = fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code).config.to_document()["inbound"]

    assert inbound["business_hours_enabled"] is True
    assert inbound["timezone"] == "America/New_York"
    assert inbound["business_hours"]["monday"] == [
        {"start": "09:00", "end": "12:00"},
        {"start": "13:00", "end": "17:00"},
    ]
    assert inbound["business_hours"]["tuesday"] == []
    assert inbound["holidays"] == [{"date": "2026-12-25", "name": "Christmas"}]


def test_the_runtime_config_holds_no_secrets(tenant, make_agent, api_client_for):
    openai_secret = "sk-proj-SECRET-openai-4f9a8b7c6d5e"
    cartesia_secret = "sk_car_SECRET_cartesia_1a2b3c4d5e"
    credential_set(tenant=tenant, provider="openai", secret=openai_secret)
    credential_set(tenant=tenant, provider="cartesia", secret=cartesia_secret)
    _key, raw_key = api_key_create(tenant=tenant, name="worker")
    agent = make_agent(tenant)
    api = api_client_for(tenant)

    response = api.get(f"/api/v1/agents/{agent.code}/runtime-config")
    cached = AgentConfigLoader().get(tenant_code=tenant.code, agent_code=agent.code)

    ciphertexts = list(ProviderCredential.objects.for_tenant(tenant).values_list("encrypted_secret", flat=True))
    assert response.status_code == 200
    for text in (response.content.decode(), json.dumps(cached.config.to_document())):
        for secret in (openai_secret, cartesia_secret, raw_key, "SECRET", settings.SECRET_KEY, *ciphertexts):
            assert secret not in text


# --- the API endpoint --------------------------------------------------------------------------


def test_runtime_config_endpoint_returns_success_config_cached_until_and_timestamp(tenant, make_agent, api_client_for):
    agent = make_agent(tenant)

    response = api_client_for(tenant).get(f"/api/v1/agents/{agent.code}/runtime-config")

    assert response.status_code == 200
    body = response.json()
    assert {"success", "config", "cached_until", "timestamp"} <= set(body)
    assert body["success"] is True
    assert body["config"]["agent_id"] == str(agent.code)
    assert body["config"]["system_prompt"] == agent.system_prompt
    cached_until = datetime.fromisoformat(body["cached_until"])
    timestamp = datetime.fromisoformat(body["timestamp"])
    assert timedelta(seconds=settings.CONFIG_CACHE_TTL - 5) < cached_until - timestamp
    assert cached_until - timestamp <= timedelta(seconds=settings.CONFIG_CACHE_TTL)


def test_runtime_config_of_another_tenants_agent_is_a_404(tenant, other_tenant, make_agent, api_client_for):
    theirs = make_agent(other_tenant)

    response = api_client_for(tenant).get(f"/api/v1/agents/{theirs.code}/runtime-config")

    assert response.status_code == 404
    assert "Sales Agent" not in response.content.decode()


# --- cache, write-through on commit ------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_edit_is_visible_on_the_very_next_read(make_agent, fresh_loader):
    tenant = Tenant.objects.create(name="Acme", slug="acme", timezone="UTC")
    agent = make_agent(tenant)  # committed: agent_create has already written the config to Redis
    assert fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code).source == "cache"

    agent_update(tenant=tenant, agent=agent, actor=SYSTEM, fields={"system_prompt": "Only sell boots."})
    loaded = fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code)

    assert loaded.config.system_prompt == "Only sell boots."
    assert loaded.source == "cache"  # written through on commit, not merely invalidated
    assert fresh_loader.metrics(scope="process")["db_successes"] == 0


@pytest.mark.django_db(transaction=True)
def test_an_api_edit_is_visible_to_the_next_runtime_config_call(make_agent, api_client_for):
    tenant = Tenant.objects.create(name="Acme", slug="acme", timezone="UTC")
    agent = make_agent(tenant)
    api = api_client_for(tenant)
    url = f"/api/v1/agents/{agent.code}"
    assert api.get(f"{url}/runtime-config").json()["config"]["temperature"] == 0.7

    api.patch(url, {"temperature": 1.4, "metadata": {"transferNumber": "+1 415 555 0123"}}, format="json")
    body = api.get(f"{url}/runtime-config").json()

    assert body["config"]["temperature"] == 1.4
    assert body["config"]["inbound"]["transfer_number"] == "+14155550123"
    assert body["source"] == "cache"


def test_a_change_to_business_hours_alone_reaches_the_cache(
    tenant, make_agent, fresh_loader, django_capture_on_commit_callbacks
):
    agent = make_agent(tenant, business_hours={"monday": {"start": "09:00", "end": "17:00"}})
    fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code)

    with django_capture_on_commit_callbacks(execute=True):
        agent_update(
            tenant=tenant,
            agent=agent,
            actor=SYSTEM,
            fields={},
            business_hours={"friday": {"start": "10:00", "end": "14:00"}},
        )
    loaded = fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code)

    assert loaded.source == "cache"
    assert loaded.config.inbound.business_hours_document()["monday"] == []
    assert loaded.config.inbound.business_hours_document()["friday"] == [{"start": "10:00", "end": "14:00"}]


def test_a_tenant_time_zone_change_reaches_its_agents_configs(
    tenant, make_agent, fresh_loader, django_capture_on_commit_callbacks
):
    agent = make_agent(tenant)
    fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code)

    with django_capture_on_commit_callbacks(execute=True):
        tenant_update(tenant=tenant, fields={"timezone": "Asia/Tokyo"})

    assert fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code).config.tenant_timezone == "Asia/Tokyo"


def test_the_second_read_is_a_cache_hit(tenant, make_agent, fresh_loader):
    agent = make_agent(tenant)  # not committed, so nothing is cached yet

    first = fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code)
    second = fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code)

    assert (first.source, second.source) == ("database", "cache")
    assert second.config == first.config
    assert fresh_loader.metrics(scope="process") == _counters(
        total_requests=2, cache_hits=1, cache_misses=1, db_successes=1, cache_hit_rate=0.5
    )


def test_cache_keys_hold_the_tenant_and_the_fresh_key_expires(tenant, make_agent, fresh_loader, redis_conn):
    agent = make_agent(tenant)

    fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code)

    keys = sorted(k.decode() for k in redis_conn.scan_iter(match=f"*{agent.code}*"))
    assert keys == sorted([fresh_key(tenant.code, agent.code), stale_key(tenant.code, agent.code)])
    assert all(str(tenant.code) in key for key in keys)
    assert 0 < redis_conn.ttl(fresh_key(tenant.code, agent.code)) <= settings.CONFIG_CACHE_TTL
    assert redis_conn.ttl(stale_key(tenant.code, agent.code)) == -1  # the stale copy is kept without TTL


def test_another_tenants_code_with_this_agents_code_finds_nothing(
    tenant, other_tenant, make_agent, fresh_loader, redis_conn
):
    agent = make_agent(tenant)
    fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code)  # cached for its own tenant

    loaded = fresh_loader.get(tenant_code=other_tenant.code, agent_code=agent.code)

    assert loaded.config is None
    assert loaded.source == "missing"
    assert not redis_conn.exists(fresh_key(other_tenant.code, agent.code))


# --- inactive and deleted agents ---------------------------------------------------------------


def test_an_inactive_agents_config_says_inactive_even_from_the_stale_copy(
    tenant, make_agent, fresh_loader, redis_conn, django_capture_on_commit_callbacks, monkeypatch
):
    agent = make_agent(tenant)
    assert fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code).config.is_active is True

    with django_capture_on_commit_callbacks(execute=True):
        agent_set_active(tenant=tenant, agent=agent, is_active=False)
    assert fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code).config.is_active is False

    redis_conn.delete(fresh_key(tenant.code, agent.code))  # the fresh copy expired ...
    monkeypatch.setattr(runtime_config, "_load_from_database", _raise_operational_error)  # ... and the DB is down
    stale = fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code)

    assert stale.source == "stale"
    assert stale.config.is_active is False


def test_a_deleted_agent_is_missing_and_a_later_outage_does_not_bring_it_back(
    tenant, make_agent, fresh_loader, redis_conn, django_capture_on_commit_callbacks, monkeypatch, api_client_for
):
    agent = make_agent(tenant)
    fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code)
    assert redis_conn.exists(stale_key(tenant.code, agent.code))

    with django_capture_on_commit_callbacks(execute=True):
        agent_delete(tenant=tenant, agent=agent)
    gone = fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code)

    assert (gone.config, gone.source) == (None, "missing")
    assert not redis_conn.exists(fresh_key(tenant.code, agent.code), stale_key(tenant.code, agent.code))
    assert api_client_for(tenant).get(f"/api/v1/agents/{agent.code}/runtime-config").status_code == 404

    monkeypatch.setattr(runtime_config, "_load_from_database", _raise_operational_error)
    during_outage = fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code)

    assert during_outage.source == "default"
    assert during_outage.config.name != "Sales Agent"
    assert during_outage.config.is_default is True


# --- the fallback chain ------------------------------------------------------------------------


def test_with_redis_down_the_loader_serves_from_the_database(tenant, make_agent, dead_redis):
    agent = make_agent(tenant)
    loader = AgentConfigLoader(client=dead_redis)

    first = loader.get(tenant_code=tenant.code, agent_code=agent.code)
    second = loader.get(tenant_code=tenant.code, agent_code=agent.code)

    assert (first.source, second.source) == ("database", "database")
    assert second.config.name == "Sales Agent" and second.config.is_default is False
    assert loader.metrics(scope="process") == _counters(total_requests=2, cache_misses=2, db_successes=2)


def test_with_redis_stopped_the_platforms_loader_still_answers_at_once(tenant, make_agent, settings, monkeypatch):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    monkeypatch.setattr(runtime_config, "_redis_client", None)  # the process-wide client is built from it
    agent = make_agent(tenant)
    loader = AgentConfigLoader()

    started = time.monotonic()
    loaded = loader.get(tenant_code=tenant.code, agent_code=agent.code)
    elapsed = time.monotonic() - started

    assert loaded.source == "database"
    assert loaded.config.name == "Sales Agent"
    assert elapsed < 1.0, f"a read with Redis down took {elapsed:.1f}s"


@pytest.mark.django_db(transaction=True)
def test_a_real_database_outage_falls_back_to_the_stale_copy(
    make_agent, fresh_loader, redis_conn, database_unreachable
):
    tenant = Tenant.objects.create(name="Acme", slug="acme", timezone="UTC")
    agent = make_agent(tenant)  # committed and written through to Redis
    redis_conn.delete(fresh_key(tenant.code, agent.code))

    with database_unreachable():
        loaded = fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code)

    assert loaded.source == "stale"
    assert loaded.config.system_prompt == agent.system_prompt
    assert fresh_loader.metrics(scope="process") == _counters(
        total_requests=1, cache_misses=1, db_failures=1, fallback_to_stale=1
    )


@pytest.mark.django_db(transaction=True)
def test_with_redis_and_the_database_down_the_loader_serves_the_default_config(
    make_agent, dead_redis, database_unreachable
):
    tenant = Tenant.objects.create(name="Acme", slug="acme", timezone="UTC")
    agent = make_agent(tenant)
    loader = AgentConfigLoader(client=dead_redis)

    with database_unreachable():
        loaded = loader.get(tenant_code=tenant.code, agent_code=agent.code)

    assert loaded.source == "default"
    assert loaded.config.is_default is True
    assert loaded.config.greeting_message == DEFAULT_APOLOGY
    assert "Sorry, we are having technical difficulties" in loaded.config.greeting_message
    assert loaded.config.agent_id == str(agent.code)
    assert loaded.cached_until is None
    assert loader.metrics(scope="process") == _counters(
        total_requests=1, cache_misses=1, db_failures=1, fallback_to_default=1
    )


def test_with_both_down_a_loader_that_read_the_agent_before_serves_its_own_copy(
    tenant, make_agent, dead_redis, monkeypatch
):
    agent = make_agent(tenant)
    loader = AgentConfigLoader(client=dead_redis)
    loader.get(tenant_code=tenant.code, agent_code=agent.code)  # from the database, kept in process

    monkeypatch.setattr(runtime_config, "_load_from_database", _raise_operational_error)
    loaded = loader.get(tenant_code=tenant.code, agent_code=agent.code)

    assert loaded.source == "stale"
    assert loaded.config.name == "Sales Agent"
    assert loader.metrics(scope="process") == _counters(
        total_requests=2, cache_misses=2, db_successes=1, db_failures=1, fallback_to_stale=1
    )


def test_with_the_database_down_and_no_copy_anywhere_the_default_config_is_served(
    tenant, make_agent, fresh_loader, database_down
):
    agent = make_agent(tenant)

    loaded = fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code)

    assert loaded.source == "default"
    assert loaded.config.is_default is True
    assert loaded.config.greeting_message == DEFAULT_APOLOGY


# --- counters ----------------------------------------------------------------------------------


def test_counters_follow_every_step_of_the_chain(tenant, make_agent, fresh_loader, redis_conn, monkeypatch):
    agent = make_agent(tenant)
    other = make_agent(tenant, name="Never cached")
    fresh_loader.reset_metrics()
    read = lambda a: fresh_loader.get(tenant_code=tenant.code, agent_code=a.code)  # noqa: E731

    read(agent)  # miss, database
    read(agent)  # hit
    read(agent)  # hit
    redis_conn.delete(fresh_key(tenant.code, agent.code))
    monkeypatch.setattr(runtime_config, "_load_from_database", _raise_operational_error)
    read(agent)  # miss, database fails, stale
    read(other)  # miss, database fails, default

    expected = _counters(
        total_requests=5,
        cache_hits=2,
        cache_misses=3,
        db_successes=1,
        db_failures=2,
        fallback_to_stale=1,
        fallback_to_default=1,
        cache_hit_rate=0.4,
    )
    assert fresh_loader.metrics(scope="process") == expected
    assert fresh_loader.metrics(scope="platform") == expected


def test_platform_counters_add_up_every_loader_and_process_counters_do_not(tenant, make_agent, redis_conn):
    agent = make_agent(tenant)
    worker_a, worker_b = AgentConfigLoader(), AgentConfigLoader()
    worker_a.reset_metrics()

    worker_a.get(tenant_code=tenant.code, agent_code=agent.code)
    worker_b.get(tenant_code=tenant.code, agent_code=agent.code)
    worker_b.get(tenant_code=tenant.code, agent_code=agent.code)
    worker_b.flush_metrics()

    assert worker_a.metrics(scope="process") == _counters(
        total_requests=1, cache_misses=1, db_successes=1, cache_hit_rate=0.0
    )
    assert worker_b.metrics(scope="process") == _counters(total_requests=2, cache_hits=2, cache_hit_rate=1.0)
    assert worker_a.metrics(scope="platform") == _counters(
        total_requests=3, cache_hits=2, cache_misses=1, db_successes=1, cache_hit_rate=0.6667
    )
    assert {k: int(v) for k, v in redis_conn.hgetall(runtime_config.METRICS_KEY).items()}[b"total_requests"] == 3


def test_counters_survive_a_redis_outage_and_reach_redis_later(tenant, make_agent, dead_redis, redis_conn):
    agent = make_agent(tenant)
    loader = AgentConfigLoader(client=dead_redis)
    loader.get(tenant_code=tenant.code, agent_code=agent.code)
    loader.flush_metrics()  # fails quietly and keeps the counts

    loader._client = redis_conn  # Redis is back
    redis_conn.delete(runtime_config.METRICS_KEY)

    assert loader.metrics(scope="platform") == _counters(total_requests=1, cache_misses=1, db_successes=1)


def test_a_preview_read_does_not_move_the_counters(db, tenant):
    from agents_app.runtime_config import AgentConfigLoader
    from agents_app.services import agent_create
    from voiceplatform.actor import SYSTEM

    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Preview"})
    loader = AgentConfigLoader()

    assert loader.get(tenant_code=tenant.code, agent_code=agent.code, count=False).config.name == "Preview"
    assert loader.metrics(scope="process")["total_requests"] == 0
    loader.get(tenant_code=tenant.code, agent_code=agent.code)
    assert loader.metrics(scope="process")["total_requests"] == 1


@pytest.mark.django_db(transaction=True)
def test_a_warm_read_of_unchanged_bytes_reuses_the_parsed_config(make_agent, fresh_loader):
    """The cache's copy is parsed once per process while its bytes stay the same; an edit is read anew."""
    tenant = Tenant.objects.create(name="Acme", slug="acme", timezone="UTC")
    agent = make_agent(tenant, system_prompt="Sell boots.")
    fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code)  # database, then cached

    first = fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code)
    second = fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code)
    assert first.source == second.source == "cache" and second is first

    agent_update(tenant=tenant, agent=agent, actor=SYSTEM, fields={"system_prompt": "Sell hats."})
    third = fresh_loader.get(tenant_code=tenant.code, agent_code=agent.code)
    assert third is not first and third.config.system_prompt == "Sell hats."
