"""Benchmark of the runtime-config read paths; the last line is machine-readable."""

from __future__ import annotations

import http.client
import random
import secrets
import socket
import statistics
import threading
import time
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application
from django.db import transaction

from agents_app.runtime_config import _load_from_database, loader
from agents_app.services import agent_create, agent_update
from voiceplatform.actor import SYSTEM
from voiceplatform.models import Tenant
from voiceplatform.services import api_key_create, tenant_create, tenant_delete


class _QuietHandler(WSGIRequestHandler):
    def setup(self) -> None:
        super().setup()
        # Without TCP_NODELAY, Nagle + delayed ACK add ~40 ms per keep-alive request and would
        # flatter the comparison; production servers set it too.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _mark(marks: list[int]) -> None:
    marks.append(time.perf_counter_ns())


def _timed(fn: Any, count: int) -> list[float]:
    samples = []
    for _ in range(count):
        start = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - start) / 1e6)
    return samples


class Command(BaseCommand):
    help = "Time agent runtime-config reads: warm Redis loader, cold ORM path, HTTP API; and edit propagation."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--agents", type=int, default=50, help="agents to create (default 50)")
        parser.add_argument("--reads", type=int, default=5000, help="warm reads (default 5000)")
        parser.add_argument(
            "--base-url", default="", help="time HTTP against this running server instead of an in-process one"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        agents_count, reads = options["agents"], options["reads"]
        if agents_count < 1 or reads < 10:
            raise CommandError("--agents must be at least 1 and --reads at least 10")
        tenant = tenant_create(name="Benchmark", slug=f"bench-{secrets.token_hex(4)}", timezone_name="UTC")
        try:
            report = self._run(tenant, agents_count, reads, options["base_url"])
        finally:
            tenant_delete(tenant=tenant)  # drops the bench agents' cache entries on commit
        # After the clean-up, whose log line would otherwise follow it: the summary line is the last.
        for line in report:
            self.stdout.write(line)

    def _run(self, tenant: Tenant, agents_count: int, reads: int, base_url: str) -> list[str]:
        """The report's lines, the summary line last."""
        agents = [
            agent_create(
                tenant=tenant,
                actor=SYSTEM,
                fields={"name": f"Bench agent {i}", "system_prompt": "You are a helpful agent. " * 40},
                business_hours={"monday": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]},
            )
            for i in range(agents_count)
        ]
        codes = [(tenant.code, agent.code) for agent in agents]
        pick = lambda: random.choice(codes)  # noqa: E731

        for tenant_code, agent_code in codes:  # warm the cache
            loader.get(tenant_code=tenant_code, agent_code=agent_code)
        warm = _timed(lambda: loader.get(tenant_code=(c := pick())[0], agent_code=c[1]), reads)
        cold = _timed(lambda: _load_from_database(tenant_code=(c := pick())[0], agent_code=c[1]), min(reads, 1000))
        http_samples = self._http(tenant, codes, min(reads, 1000), base_url)
        propagation = self._propagation(tenant, agents[0])

        warm_p50, warm_p99 = _percentile(warm, 0.50), _percentile(warm, 0.99)
        cold_p50, http_p50 = _percentile(cold, 0.50), _percentile(http_samples, 0.50)
        return [
            f"agents={agents_count} warm_reads={reads} cold_reads={len(cold)} http_reads={len(http_samples)}",
            f"warm  p50={warm_p50:.3f}ms p99={warm_p99:.3f}ms max={max(warm):.3f}ms",
            f"cold  p50={cold_p50:.3f}ms p99={_percentile(cold, 0.99):.3f}ms",
            f"http  p50={http_p50:.3f}ms p99={_percentile(http_samples, 0.99):.3f}ms",
            f"propagation median={statistics.median(propagation):.3f}ms max={max(propagation):.3f}ms",
            f"bench_runtime_config warm_p50_ms={warm_p50:.3f} warm_p99_ms={warm_p99:.3f} cold_p50_ms={cold_p50:.3f} "
            f"http_p50_ms={http_p50:.3f} speedup_vs_http={http_p50 / warm_p50:.1f} "
            f"propagation_ms={statistics.median(propagation):.3f}",
        ]

    def _http(self, tenant: Tenant, codes: list[tuple[Any, Any]], count: int, base_url: str) -> list[float]:
        _key, raw_key = api_key_create(tenant=tenant, name="benchmark")
        server = None
        if not base_url:
            server = ThreadedWSGIServer(("127.0.0.1", 0), _QuietHandler)
            server.set_app(get_wsgi_application())
            threading.Thread(target=server.serve_forever, daemon=True).start()
            base_url = f"http://127.0.0.1:{server.server_address[1]}"
        parts = urlsplit(base_url)
        connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_class(parts.hostname, parts.port, timeout=10)
        headers = {"Authorization": f"Bearer {raw_key}", "Host": "localhost"}

        def get() -> None:
            _tenant_code, agent_code = random.choice(codes)
            connection.request("GET", f"/api/v1/agents/{agent_code}/runtime-config", headers=headers)
            response = connection.getresponse()
            body = response.read()
            if response.status != 200:
                raise CommandError(f"HTTP {response.status} from {base_url}: {body[:200]!r}")

        try:
            get()  # first request opens the connection
            return _timed(get, count)
        finally:
            connection.close()
            if server is not None:
                server.shutdown()

    def _propagation(self, tenant: Tenant, agent: Any, trials: int = 20) -> list[float]:
        samples = []
        for trial in range(trials):
            marker = f"Edit {trial} {secrets.token_hex(4)}"
            committed_at: list[int] = []
            with transaction.atomic():
                transaction.on_commit(partial(_mark, committed_at))
                agent_update(tenant=tenant, agent=agent, actor=SYSTEM, fields={"personality": marker})
            while True:
                loaded = loader.get(tenant_code=tenant.code, agent_code=agent.code)
                if loaded.config and loaded.config.personality == marker:
                    break
            samples.append((time.perf_counter_ns() - committed_at[0]) / 1e6)
        return samples
