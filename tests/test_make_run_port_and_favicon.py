"""`make run` serves the development server where PORT / WEB_BIND say (a bad value is one line and
exit code 2), and every page has a favicon (no 404 for /favicon.ico in the log)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.db import connection

from voiceplatform.devservices import DEFAULT_WEB_BIND, BadWebBind, web_bind

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, DEFAULT_WEB_BIND),
        ({"PORT": "8010"}, "127.0.0.1:8010"),
        ({"PORT": " 8010 "}, "127.0.0.1:8010"),
        ({"WEB_BIND": "0.0.0.0:9000"}, "0.0.0.0:9000"),
        ({"WEB_BIND": "0.0.0.0:8000", "PORT": "8010"}, "0.0.0.0:8010"),  # PORT picks the port of WEB_BIND's host
        ({"PORT": ""}, DEFAULT_WEB_BIND),
    ],
)
def test_the_dev_server_address_comes_from_port_or_web_bind(environ, expected):
    assert web_bind(environ) == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"PORT": "abc"}, "PORT must be a port number from 1 to 65535, got 'abc'"),
        ({"PORT": "70000"}, "PORT must be a port number from 1 to 65535, got '70000'"),
        ({"PORT": "0"}, "PORT must be a port number from 1 to 65535, got '0'"),
        ({"WEB_BIND": "localhost"}, "WEB_BIND must be host:port (e.g. 127.0.0.1:8010), got 'localhost'"),
        ({"WEB_BIND": "127.0.0.1:http"}, "WEB_BIND's port must be a port number from 1 to 65535, got 'http'"),
    ],
)
def test_a_bad_port_or_bind_is_refused_with_a_message_naming_it(environ, message):
    with pytest.raises(BadWebBind) as refused:
        web_bind(environ)

    assert str(refused.value) == message


def test_make_run_with_a_bad_port_prints_one_line_and_exits_2_before_starting_anything():
    env = {**os.environ, "PORT": "80a"}
    env.pop("WEB_BIND", None)

    result = subprocess.run(
        [sys.executable, "-m", "voiceplatform.devservices", "run"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert result.stderr.splitlines() == ["configuration error: PORT must be a port number from 1 to 65535, got '80a'"]
    assert "Embedded" not in result.stdout


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


@pytest.mark.django_db
def test_the_procfiles_web_process_listens_on_web_bind_under_honcho(tmp_path):
    port = _free_port()
    procfile = tmp_path / "Procfile"
    web_line = next(line for line in (BASE_DIR / "Procfile").read_text().splitlines() if line.startswith("web:"))
    procfile.write_text(web_line + "\n")
    env = {
        **os.environ,
        "WEB_BIND": f"127.0.0.1:{port}",  # what `make run PORT=...` exports (devservices.run_platform)
        "DJANGO_SETTINGS_MODULE": "voiceplatform.settings_test",
        "DATABASE_URL": _database_url(),
        # as devservices runs honcho: the Procfile's `python` is this interpreter
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    honcho = subprocess.Popen(
        [sys.executable, "-m", "honcho", "-f", str(procfile), "-d", str(BASE_DIR), "start"],
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        response = None
        deadline = time.monotonic() + 60
        while response is None and time.monotonic() < deadline and honcho.poll() is None:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/favicon.ico", timeout=2)
            except httpx.TransportError:
                time.sleep(0.2)
    finally:
        if honcho.poll() is None:
            os.killpg(honcho.pid, signal.SIGTERM)
        output, _ = honcho.communicate(timeout=30)

    assert response is not None, output
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/static/favicon.svg")


def test_favicon_ico_leads_to_the_icon(live_server):
    response = httpx.get(f"{live_server.url}/favicon.ico", follow_redirects=True, timeout=10)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("image/svg+xml")
    assert response.content.startswith(b"<svg")


def test_portal_pages_link_the_icon(client):
    page = client.get("/accounts/login/")

    assert page.status_code == 200
    assert b'<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page.content


@pytest.mark.django_db(transaction=True)  # the platform's processes write the demo to the test database
def test_make_run_in_a_fresh_clone_serves_on_port_and_stops_on_ctrl_c_without_an_error_line(tmp_path):
    """The whole `make run` (devservices run: migrate, collectstatic, seed, honcho with web, Celery
    worker and beat) in a copy of the tracked files, with PORT set and the given servers."""
    files = subprocess.run(["git", "ls-files"], cwd=BASE_DIR, capture_output=True, text=True, check=True)
    for name in files.stdout.splitlines():
        source, target = BASE_DIR / name, tmp_path / name
        if source.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    (tmp_path / "static" / "vendor").mkdir(exist_ok=True)  # git-ignored, filled by npm: not needed here
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "DJANGO_SETTINGS", "WEB_BIND"))}
    env.update({"PORT": str(port), "DATABASE_URL": _database_url(), "DEBUG": "true"})
    platform = subprocess.Popen(
        [sys.executable, "-m", "voiceplatform.devservices", "run"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own group, as a terminal's foreground job
    )
    try:
        health = favicon = None
        deadline = time.monotonic() + 120
        while health is None and time.monotonic() < deadline and platform.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                favicon = httpx.get(f"http://127.0.0.1:{port}/favicon.ico", follow_redirects=True, timeout=5)
            except httpx.TransportError:
                time.sleep(0.5)
        if platform.poll() is None:
            time.sleep(2)  # the Celery worker and beat are up too
            os.killpg(platform.pid, signal.SIGINT)  # Ctrl-C
        log, _ = platform.communicate(timeout=60)
    finally:
        if platform.poll() is None:
            os.killpg(platform.pid, signal.SIGKILL)
            platform.wait()

    assert health is not None and health.status_code == 200, log
    assert favicon.status_code == 200 and favicon.headers["Content-Type"].startswith("image/svg+xml")
    assert "ready in" in log and f"http://127.0.0.1:{port}" in log
    assert [line for line in log.splitlines() if "ERROR" in line or "Traceback" in line] == [], log
