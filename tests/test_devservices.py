"""The embedded servers that `make run` and `make test` start on a machine without PostgreSQL/Redis."""

import os
import subprocess
import sys

import psycopg
import redis
from django.conf import settings

from voiceplatform.config import Settings
from voiceplatform.devservices import start_postgres, start_redis, write_dotenv_if_missing


def test_embedded_redis_starts_answers_and_stops(tmp_path):
    process, url = start_redis(tmp_path / "redis", persist=False)
    try:
        client = redis.Redis.from_url(url)
        assert client.ping() is True
        client.set("k", "v")
        assert client.get("k") == b"v"
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert process.returncode is not None


def test_embedded_postgres_serves_a_database(tmp_path):
    server, url = start_postgres(tmp_path / "pg")
    try:
        config = Settings({"DATABASE_URL": url}).database("DATABASE_URL")
        with psycopg.connect(host=config["OPTIONS"]["host"], user="postgres", dbname=config["NAME"]) as conn:
            assert conn.execute("SELECT current_database()").fetchone() == ("voiceplatform",)
    finally:
        server.cleanup()


def test_first_start_writes_a_dotenv_with_valid_secrets_once(tmp_path):
    path = tmp_path / ".env"

    assert write_dotenv_if_missing(path) is True
    content = path.read_text()
    assert write_dotenv_if_missing(path) is False
    assert path.read_text() == content

    values = dict(line.split("=", 1) for line in content.splitlines() if line and not line.startswith("#"))
    assert values["DEBUG"] == "true"
    assert len(values["SECRET_KEY"]) >= 50
    assert Settings(values).fernet_keys("FIELD_ENCRYPTION_KEYS")  # a real Fernet key
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_exec_runs_a_command_with_live_services_and_passes_its_exit_code():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    script = (
        "import os, sys, redis; "
        "assert os.environ['DATABASE_URL'].startswith('postgresql://'); "
        "assert redis.Redis.from_url(os.environ['REDIS_URL']).ping(); sys.exit(7)"
    )

    result = subprocess.run(
        [sys.executable, "-m", "voiceplatform.devservices", "exec", "--", sys.executable, "-c", script],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 7, result.stderr
