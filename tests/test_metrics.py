"""/metrics (voiceplatform/metrics.py): the bearer token, the HTTP metric by route name, calls started,
ended and open, the config cache's counters, Celery task outcomes, and the dialer tick."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

import pytest
from celery import shared_task
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from agents_app.runtime_config import loader
from telephony_app.models import CallStatus
from telephony_app.services import call_create, call_transition
from voiceplatform import metrics

TOKEN = "metrics-token-0123456789abcdef"


@pytest.fixture
def token(settings) -> str:
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client: Client, token: str = TOKEN) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics as {(name, sorted labels): value}."""
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=")
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# --- The token ----------------------------------------------------------------------------------


def test_the_page_is_off_while_no_token_is_set(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong-token-0123456789abcdef", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN],
)
def test_without_the_right_bearer_token_the_answer_is_401_and_no_figures(client, token, authorization):
    headers = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    response = client.get("/metrics", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'
    assert b"http_requests_total" not in response.content


def test_only_get_is_served(client, token):
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 405


def test_a_short_token_stops_start_up_with_one_line():
    env = {"METRICS_TOKEN": "short", "DJANGO_SETTINGS_MODULE": "voiceplatform.settings"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "METRICS_TOKEN must be at least 16 characters" in result.stderr


# --- HTTP requests by route -----------------------------------------------------------------------


@pytest.mark.django_db
def test_requests_are_counted_by_url_pattern_name_and_status_never_by_path(client, token, api, tenant):
    before = scrape(client)
    client.get("/health")
    client.get("/health")
    codes = [uuid.uuid4(), uuid.uuid4()]
    for code in codes:
        assert api.get(f"/api/v1/calls/{code}").status_code == 404  # no such call: two paths, one route
    client.get("/no/such/page/")
    after = scrape(client)

    health = {"route": "health", "method": "GET", "status": "200"}
    assert value(after, "http_requests_total", **health) - value(before, "http_requests_total", **health) == 2
    detail = {"route": "api-call-detail", "method": "GET", "status": "404"}
    assert value(after, "http_requests_total", **detail) - value(before, "http_requests_total", **detail) == 2
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert value(after, "http_requests_total", **unmatched) - value(before, "http_requests_total", **unmatched) == 1
    # latency histogram of the same route
    count = value(after, "http_request_duration_seconds_count", route="health", method="GET")
    assert count - value(before, "http_request_duration_seconds_count", route="health", method="GET") == 2
    assert value(after, "http_request_duration_seconds_bucket", route="health", method="GET", le="+Inf") == count
    assert not any(str(code) in str(key) for key in after for code in codes)


def test_an_unknown_method_is_one_label(client, token):
    before = scrape(client)
    client.generic("BREW", "/health")
    after = scrape(client)
    labels = {"route": "health", "method": "other", "status": "405"}
    assert value(after, "http_requests_total", **labels) - value(before, "http_requests_total", **labels) == 1


# --- Calls --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_calls_started_ended_and_open_are_counted(client, token, tenant, django_capture_on_commit_callbacks):
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        inbound = call_create(tenant=tenant, direction="inbound", room_name="room-a")
        call_create(tenant=tenant, direction="outbound", status=CallStatus.RINGING)
    during = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        call_transition(tenant=tenant, call=inbound, status=CallStatus.IN_PROGRESS)
        call_transition(tenant=tenant, call=inbound, status=CallStatus.COMPLETED, reason="the caller hung up")
        call_transition(tenant=tenant, call=inbound, status=CallStatus.FAILED)  # a second end: ignored
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("calls_started_total", direction="inbound") == 1
    assert delta("calls_started_total", direction="outbound") == 1
    assert delta("calls_ended_total", direction="inbound", outcome="completed") == 1
    assert delta("calls_ended_total", direction="inbound", outcome="failed") == 0
    assert value(during, "calls_active", direction="inbound", status="queued") == 1
    assert value(during, "calls_active", direction="outbound", status="ringing") == 1
    assert value(after, "calls_active", direction="inbound", status="queued") == 0
    assert value(after, "calls_active", direction="inbound", status="in_progress") == 0
    assert value(after, "calls_active", direction="outbound", status="ringing") == 1


@pytest.mark.django_db
def test_a_call_created_ended_is_started_and_ended_once(client, token, tenant, django_capture_on_commit_callbacks):
    before = scrape(client)
    with django_capture_on_commit_callbacks(execute=True):
        call_create(tenant=tenant, direction="inbound", status=CallStatus.COMPLETED)
    after = scrape(client)
    assert (
        value(after, "calls_started_total", direction="inbound")
        - value(before, "calls_started_total", direction="inbound")
        == 1
    )
    labels = {"direction": "inbound", "outcome": "completed"}
    assert value(after, "calls_ended_total", **labels) - value(before, "calls_ended_total", **labels) == 1


# --- The config cache ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_config_cache_counters_are_the_loaders(client, token, tenant):
    loader.reset_metrics()
    missing = uuid.uuid4()
    loader.get(tenant_code=tenant.code, agent_code=missing)  # a miss, then the database: no such agent
    samples = scrape(client)
    counts = loader.metrics()
    assert counts["total_requests"] == 1
    assert value(samples, "agent_config_requests_total") == 1
    assert value(samples, "agent_config_lookups_total", result="cache_miss") == counts["cache_misses"] == 1
    assert value(samples, "agent_config_lookups_total", result="db_success") == counts["db_successes"] == 1
    assert value(samples, "agent_config_lookups_total", result="cache_hit") == 0
    assert value(samples, "agent_config_lookups_total", result="fallback_default") == 0


def test_a_failing_collector_leaves_out_only_its_own_figures(client, token, caplog):
    def broken():
        raise RuntimeError("database down")

    metrics.scrape_collector_register("tests.broken", broken)
    try:
        samples = scrape(client)
    finally:
        metrics._scrape_collectors.pop("tests.broken")
    assert any(name == "http_requests_total" for name, _ in samples)
    assert "the tests.broken collector failed" in caplog.text


# --- Webhooks, Celery, the dialer ---------------------------------------------------------------------


def test_webhook_deliveries_are_counted_by_result(client, token):
    before = scrape(client)
    metrics.webhook_delivery_counted(result="delivered")
    metrics.webhook_delivery_counted(result="retrying")
    metrics.webhook_delivery_counted(result="retrying")
    after = scrape(client)
    for result, expected in (("delivered", 1), ("retrying", 2), ("failed", 0)):
        delta = value(after, "webhook_deliveries_total", result=result) - value(
            before, "webhook_deliveries_total", result=result
        )
        assert delta == expected, result
    with pytest.raises(ValueError, match="must be one of"):
        metrics.webhook_delivery_counted(result="https://tenant.example/hook")  # never an unbounded label


@shared_task(bind=True, name="tests.metrics_probe", max_retries=1)
def metrics_probe(self, outcome: str) -> str:
    if outcome == "failure":
        raise ValueError("the probe failed")
    if outcome == "retry" and self.request.retries == 0:
        raise self.retry(countdown=0)
    return outcome


def test_celery_task_outcomes_are_counted_by_task_name(client, token):
    before = scrape(client)
    metrics_probe.apply(args=["success"])
    metrics_probe.apply(args=["success"])
    metrics_probe.apply(args=["failure"])
    metrics_probe.apply(args=["retry"])  # retried once (eagerly), then succeeds
    after = scrape(client)

    def delta(outcome: str) -> float:
        labels = {"task": "tests.metrics_probe", "outcome": outcome}
        return value(after, "celery_tasks_total", **labels) - value(before, "celery_tasks_total", **labels)

    assert delta("success") == 3
    assert delta("failure") == 1
    assert delta("retry") == 1


@pytest.mark.django_db
def test_the_dialer_tick_is_observed_once_per_tick(client, token):
    from campaigns_app.dialer.tick import dialer_tick

    before = scrape(client)
    dialer_tick(enqueue=False)
    dialer_tick(enqueue=False)
    after = scrape(client)
    assert value(after, "dialer_tick_duration_seconds_count") - value(before, "dialer_tick_duration_seconds_count") == 2
    assert value(after, "dialer_claims_total") == value(before, "dialer_claims_total")  # no campaign: no claim


def test_make_run_gives_its_processes_one_emptied_metrics_directory(tmp_path, monkeypatch):
    from voiceplatform import devservices

    monkeypatch.setattr(devservices, "LOCAL_DIR", tmp_path)
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "placeholder")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_123.db").write_bytes(b"left by the last run")

    devservices._metrics_directory()

    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str(tmp_path / "metrics")
    assert list((tmp_path / "metrics").iterdir()) == []
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "/srv/shared-metrics")
    devservices._metrics_directory()  # one the operator gave is kept
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == "/srv/shared-metrics"
