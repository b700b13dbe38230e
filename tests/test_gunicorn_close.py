"""The shipped gunicorn settings close a finished exchange's connection at once
(voiceplatform/gunicorn_conf.py, post_request): a client that keeps its connection open after the
answer does not hold the sync worker, and a request whose body was not read still gets gunicorn's
graceful close (its answer arrives whole)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from tests.campaigns_app.conftest import _live_database_url

BASE_DIR = Path(settings.BASE_DIR)

pytestmark = pytest.mark.django_db  # the server's /health reads the test database


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def one_worker(tmp_path) -> Iterator[tuple[str, int]]:
    """The production server with one sync worker, so a held worker shows."""
    port = _free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "voiceplatform.settings",
        "DATABASE_URL": _live_database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "SECRET_KEY": settings.SECRET_KEY,
        "FIELD_ENCRYPTION_KEYS": ",".join(settings.FIELD_ENCRYPTION_KEYS),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "WEB_BIND": f"127.0.0.1:{port}",
        "WEB_WORKERS": "1",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "gunicorn", "-c", "python:voiceplatform.gunicorn_conf"]
    master = subprocess.Popen(
        [*command, "voiceplatform.wsgi:application"], cwd=BASE_DIR, env=env, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert master.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2, trust_env=False).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield "127.0.0.1", port
    finally:
        os.killpg(master.pid, signal.SIGTERM)
        master.wait(timeout=30)


def _answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes its end."""
    sock.settimeout(10)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_a_client_that_keeps_its_connection_open_does_not_hold_the_worker(one_worker):
    host, port = one_worker
    lingering = socket.create_connection((host, port))
    try:
        lingering.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert _answer(lingering).startswith(b"HTTP/1.1 200")  # answered, and the server closed its end
        # The client does not close. The worker must be free for the next client at once (gunicorn's
        # graceful close alone would wait up to 2 s for this client's FIN).
        started = time.monotonic()
        response = httpx.get(f"http://{host}:{port}/health", timeout=10, trust_env=False)
        waited = time.monotonic() - started
    finally:
        lingering.close()

    assert response.status_code == 200
    assert waited < 1.0, f"the next client waited {waited:.2f} s for the worker"


def test_a_request_whose_body_was_not_read_still_gets_its_whole_answer(one_worker):
    host, port = one_worker
    body = b"x" * 200_000  # more than the kernel takes at once; /health never reads it
    with socket.create_connection((host, port)) as client:
        head = f"POST /health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        client.sendall(head + body[:50_000])
        answer = _answer(client)

    status = answer.split(b"\r\n", 1)[0]
    assert status.startswith(b"HTTP/1.1 ") and b"\r\n\r\n" in answer  # a whole answer, not a reset
