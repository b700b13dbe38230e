"""manage.py agent_config_metrics, agent_config_cache, bench_runtime_config, and seed_demo's agents."""

from __future__ import annotations

import datetime
import json
import re
import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from agents_app.models import Agent, BusinessHours
from agents_app.runtime_config import METRICS_KEY, AgentConfigLoader, fresh_key, loader, stale_key
from voiceplatform.models import Tenant

BENCH_LINE = re.compile(
    r"^bench_runtime_config warm_p50_ms=[0-9.]+ warm_p99_ms=[0-9.]+ cold_p50_ms=[0-9.]+ "
    r"http_p50_ms=[0-9.]+ speedup_vs_http=[0-9.]+ propagation_ms=[0-9.]+$"
)


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _cached_keys(redis_conn, tenant: Tenant, agent: Agent) -> int:
    return redis_conn.exists(fresh_key(tenant.code, agent.code), stale_key(tenant.code, agent.code))


# --- agent_config_metrics ----------------------------------------------------------------------


def test_agent_config_metrics_prints_the_platform_counters_as_json(tenant, make_agent):
    agent = make_agent(tenant)
    loader.reset_metrics()
    worker = AgentConfigLoader()  # another process's loader, as far as the counters are concerned
    worker.get(tenant_code=tenant.code, agent_code=agent.code)
    worker.get(tenant_code=tenant.code, agent_code=agent.code)
    worker.flush_metrics()

    metrics = json.loads(_run("agent_config_metrics"))

    assert metrics == {
        "total_requests": 2,
        "cache_hits": 1,
        "cache_misses": 1,
        "cache_hit_rate": 0.5,
        "db_successes": 1,
        "db_failures": 0,
        "fallback_to_stale": 0,
        "fallback_to_default": 0,
    }


def test_agent_config_metrics_reset_starts_the_counters_again(tenant, make_agent, redis_conn):
    agent = make_agent(tenant)
    loader.reset_metrics()
    worker = AgentConfigLoader()
    worker.get(tenant_code=tenant.code, agent_code=agent.code)
    worker.flush_metrics()

    before = json.loads(_run("agent_config_metrics", "--reset"))
    after = json.loads(_run("agent_config_metrics"))

    assert before["total_requests"] == 1
    assert after["total_requests"] == 0 and after["cache_hit_rate"] == 0.0
    assert not redis_conn.exists(METRICS_KEY)


# --- agent_config_cache ------------------------------------------------------------------------


@pytest.fixture
def two_cached_agents(tenant, other_tenant, make_agent) -> tuple[Agent, Agent]:
    ours, theirs = make_agent(tenant), make_agent(other_tenant, name="Globex agent")
    reader = AgentConfigLoader()
    for agent in (ours, theirs):
        reader.get(tenant_code=agent.tenant.code, agent_code=agent.code)
    return ours, theirs


def test_agent_config_cache_clear_agent_clears_only_that_agents_entries(two_cached_agents, redis_conn):
    ours, theirs = two_cached_agents

    output = _run("agent_config_cache", "--clear", "--agent", str(ours.code))

    assert output.strip() == f"cleared the cached config of agent {ours.code} (Sales Agent)"
    assert _cached_keys(redis_conn, ours.tenant, ours) == 0
    assert _cached_keys(redis_conn, theirs.tenant, theirs) == 2
    reread = AgentConfigLoader().get(tenant_code=ours.tenant.code, agent_code=ours.code)
    assert reread.source == "database"  # the next read fetches it again


def test_agent_config_cache_clear_clears_every_agent_and_keeps_the_counters(two_cached_agents, redis_conn):
    ours, theirs = two_cached_agents
    loader.reset_metrics()
    worker = AgentConfigLoader()
    worker.get(tenant_code=ours.tenant.code, agent_code=ours.code)
    worker.flush_metrics()

    output = _run("agent_config_cache", "--clear")

    assert output.strip() == "cleared 4 cached config entries"
    assert _cached_keys(redis_conn, ours.tenant, ours) == 0
    assert _cached_keys(redis_conn, theirs.tenant, theirs) == 0
    assert json.loads(_run("agent_config_metrics"))["total_requests"] == 1


def test_agent_config_cache_with_an_unknown_agent_is_a_readable_error(two_cached_agents, redis_conn):
    unknown = uuid.uuid4()

    with pytest.raises(CommandError, match=f"^no agent with id {unknown}$"):
        _run("agent_config_cache", "--clear", "--agent", str(unknown))

    assert all(_cached_keys(redis_conn, a.tenant, a) == 2 for a in two_cached_agents)


@pytest.mark.parametrize("bad_id", ["cm123abc", "42", "79a125e8-cd45-4c13-8a67"])
def test_agent_config_cache_with_a_malformed_id_is_a_readable_error(db, bad_id):
    with pytest.raises(CommandError) as excinfo:
        _run("agent_config_cache", "--clear", "--agent", bad_id)

    assert str(excinfo.value) == f"{bad_id!r} is not an agent id (a UUID)"


def test_agent_config_cache_without_clear_refuses(db):
    with pytest.raises(CommandError, match="--clear"):
        _run("agent_config_cache")


# --- bench_runtime_config ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_bench_runtime_config_prints_its_summary_line_last_and_cleans_up(redis_conn):
    output = _run("bench_runtime_config", "--agents", "3", "--reads", "50")

    lines = output.strip().splitlines()
    assert BENCH_LINE.match(lines[-1]), lines[-1]
    assert lines[0] == "agents=3 warm_reads=50 cold_reads=50 http_reads=50"
    assert not Tenant.objects.filter(name="Benchmark").exists()
    assert not Agent.objects.exists()
    leftover = [k for k in redis_conn.scan_iter(match="vp:agentcfg*") if k != METRICS_KEY.encode()]
    assert leftover == []


def test_bench_runtime_config_refuses_too_few_reads(db):
    with pytest.raises(CommandError, match="--reads at least 10"):
        _run("bench_runtime_config", "--agents", "1", "--reads", "5")

    assert not Tenant.objects.filter(name="Benchmark").exists()


# --- seed_demo ---------------------------------------------------------------------------------


def test_seed_demo_creates_the_three_demo_agents_once(db):
    _run("seed_demo")
    _run("seed_demo")

    tenant = Tenant.objects.get(slug="demo")
    agents = {a.name: a for a in Agent.objects.for_tenant(tenant)}
    assert set(agents) == {"Sales", "Support", "Greeting"}
    assert Agent.objects.count() == 3
    assert {name: a.direction for name, a in agents.items()} == {
        "Sales": "outbound",
        "Support": "inbound",
        "Greeting": "both",
    }
    support = agents["Support"]
    assert support.transfer_number == "+12125550142"
    assert support.business_hours_enabled is True
    hours = BusinessHours.objects.for_tenant(tenant).filter(agent=support)
    assert sorted(h.weekday for h in hours) == [0, 1, 2, 3, 4]
    assert {(h.start, h.end) for h in hours} == {(datetime.time(9), datetime.time(17, 30))}
    for agent in agents.values():
        agent.full_clean()  # the demo data passes the same validation as user input
        assert agent.prompt_versions.count() == 1


def test_seed_demo_agents_are_served_by_the_runtime_config_api(db):
    output = _run("seed_demo")
    raw_key = re.search(r"vp_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}", output).group(0)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    agents = api.get("/api/v1/agents").json()["results"]
    configs = [api.get(f"/api/v1/agents/{a['id']}/runtime-config").json()["config"] for a in agents]

    assert [c["name"] for c in configs] == ["Greeting", "Sales", "Support"]
    assert all(c["is_active"] and not c["is_default"] for c in configs)
