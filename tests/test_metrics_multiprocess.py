"""/metrics under the production web server (gunicorn, voiceplatform/gunicorn_conf.py): every worker
counts in PROMETHEUS_MULTIPROC_DIR and a scrape answered by any one of them sums them all, including
workers that have since exited (a counter never goes back when gunicorn replaces a worker)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from django.conf import settings
from django.db import connection
from prometheus_client.parser import text_string_to_metric_families

BASE_DIR = Path(__file__).resolve().parent.parent
TOKEN = "metrics-token-0123456789abcdef"

pytestmark = pytest.mark.django_db


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _database_url() -> str:
    db = connection.settings_dict
    host = db["HOST"] or db["OPTIONS"].get("host", "")
    if host.startswith("/"):
        return f"postgresql://{db['USER']}@/{db['NAME']}?host={host}"
    return f"postgresql://{db['USER']}@{host or 'localhost'}{':' + str(db['PORT']) if db['PORT'] else ''}/{db['NAME']}"


def _health_count(client: httpx.Client) -> float:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name == "http_requests_total" and sample.labels == {
                "route": "health",
                "method": "GET",
                "status": "200",
            }:
                return sample.value
    return 0.0


def _workers(master: subprocess.Popen[bytes]) -> set[int]:
    return {child.pid for child in psutil.Process(master.pid).children()}


def test_a_scrape_sums_every_gunicorn_worker_alive_or_replaced(tmp_path):
    port = _free_port()
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "voiceplatform.settings",
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "WEB_BIND": f"127.0.0.1:{port}",
        "WEB_WORKERS": "2",
        "METRICS_TOKEN": TOKEN,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "python:voiceplatform.gunicorn_conf"]
    master = subprocess.Popen(
        [*command, "voiceplatform.wsgi:application", "--log-level", "warning"],
        cwd=BASE_DIR,
        env=env,
        start_new_session=True,
    )
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", trust_env=False, timeout=10) as client:
            deadline = time.monotonic() + 60
            while len(_workers(master)) < 2 or not _answers(client):
                assert master.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
            start = _health_count(client)
            for _ in range(20):
                assert client.get("/health").status_code == 200
            first_workers = _workers(master)
            assert _health_count(client) - start == 20

            # Replace both workers (as max_requests or a crash would): their counts stay in the sums.
            for pid in first_workers:
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 60
            while (len(_workers(master) - first_workers) < 2 or not _answers(client)) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(_workers(master) - first_workers) == 2, "gunicorn did not replace its workers"
            for _ in range(5):
                assert client.get("/health").status_code == 200
            scrapes = {_health_count(client) - start for _ in range(6)}  # whichever worker answers
            new_workers = _workers(master) - first_workers
    finally:
        os.killpg(master.pid, signal.SIGTERM)
        master.wait(timeout=30)

    assert scrapes == {25}
    writers = {int(path.stem.rsplit("_", 1)[-1]) for path in directory.glob("counter_*.db")}
    assert writers & first_workers and writers & new_workers  # the replaced workers' files and the new ones'


def _answers(client: httpx.Client) -> bool:
    try:
        return client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    except httpx.TransportError:
        return False
