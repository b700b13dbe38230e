"""/health reports the database and the cache; settings refuse malformed variables in one clear line."""

import copy
import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.cache import caches
from django.db.backends.postgresql.base import DatabaseWrapper

from voiceplatform import views

HEALTHY = {"status": "ok", "database": "ok", "cache": "ok"}


@pytest.fixture
def cache_down(settings):
    """Point the default cache at a closed port; pytest-django restores CACHES afterwards."""
    caches_setting = copy.deepcopy(settings.CACHES)
    caches_setting["default"]["LOCATION"] = "redis://127.0.0.1:1/0"
    caches_setting["default"]["OPTIONS"] = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}
    settings.CACHES = caches_setting
    caches.close_all()
    yield
    caches.close_all()


@pytest.fixture
def database_down(monkeypatch):
    """Give the health view a fresh connection to a closed port; the test database stays untouched."""
    settings_dict = copy.deepcopy(views.connection.settings_dict)
    settings_dict.update({"HOST": "127.0.0.1", "PORT": "1", "CONN_MAX_AGE": 0})
    settings_dict.setdefault("OPTIONS", {})["connect_timeout"] = 2
    broken = DatabaseWrapper(settings_dict, alias="health-test-broken")
    monkeypatch.setattr(views, "connection", broken)
    yield
    broken.close()


def test_health_is_ok_without_authentication(db, client):
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == HEALTHY
    assert "no-cache" in response["Cache-Control"]


def test_health_answers_over_plain_http_when_https_is_enforced(db, client, settings):
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/health").status_code == 200
    assert client.get("/accounts/login/").status_code == 301


def test_health_is_503_when_the_cache_is_down(db, client, cache_down):
    response = client.get("/health")

    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "ok", "cache": "error"}


def test_health_is_503_when_the_database_is_down(db, client, database_down):
    response = client.get("/health")

    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "error", "cache": "ok"}


def test_health_body_has_no_secrets_even_when_failing(db, client, cache_down, database_down):
    response = client.get("/health")

    assert response.json() == {"status": "error", "database": "error", "cache": "error"}
    body = response.content.decode()
    for secret in (django_settings.SECRET_KEY, *django_settings.FIELD_ENCRYPTION_KEYS, "127.0.0.1", "redis://"):
        assert secret not in body


def test_health_refuses_post(db, client):
    assert client.post("/health").status_code == 405


# Settings ----------------------------------------------------------------------------------

# Every variable voiceplatform reads (see .env.example), removed so a test controls all of them.
APP_VARIABLES = [
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "PUBLIC_BASE_URL",
    "DATABASE_URL",
    "REDIS_URL",
    "FIELD_ENCRYPTION_KEYS",
    "LIVEKIT_URL",
    "LIVEKIT_API_KEY",
    "LIVEKIT_API_SECRET",
    "CONFIG_CACHE_TTL",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "SECURE_SSL_REDIRECT",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "TRUST_X_FORWARDED_PROTO",
    "WEB_BIND",
    "WEB_WORKERS",
    "WEB_TIMEOUT",
    "WEB_REQUEST_BUDGET_SECONDS",
    "CHAT_IDLE_TIMEOUT",
    "PROVIDER_URL_ALLOW_HTTP",
    "PROVIDER_URL_ALLOWED_HOSTS",
    "WEBHOOK_URL_ALLOW_HTTP",
    "WEBHOOK_URL_ALLOWED_HOSTS",
    "WEBHOOK_TIMEOUT_SECONDS",
    "WEBHOOK_DISABLE_AFTER_FAILURES",
    "WEBHOOK_DELIVERY_RETENTION_DAYS",
    "MEDIA_ROOT",
    "CAMPAIGN_MAX_CALLS_PER_SECOND",
    "CAMPAIGN_MAX_CONCURRENT_CALLS",
    "CONTACT_IMPORT_MAX_BYTES",
    "DATABASE_DISABLE_SERVER_SIDE_CURSORS",
    "PYTHONWARNINGS",
]


def _valid_env() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in APP_VARIABLES}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "voiceplatform.settings",
            "SECRET_KEY": django_settings.SECRET_KEY,
            "FIELD_ENCRYPTION_KEYS": ",".join(django_settings.FIELD_ENCRYPTION_KEYS),
            # The test settings may have started an embedded server with a unix-socket URL.
            "DATABASE_URL": os.environ["DATABASE_URL"],
            "REDIS_URL": django_settings.REDIS_URL,
        }
    )
    return env


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return _run(sys.executable, "manage.py", *args, env=env)


def _run(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


_DOTENV_SETS_SECRET_KEY = (django_settings.BASE_DIR / ".env").is_file() and any(
    line.strip().startswith("SECRET_KEY=") for line in (django_settings.BASE_DIR / ".env").read_text().splitlines()
)


def test_check_passes_with_valid_settings():
    result = _manage("check", env=_valid_env())

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CONFIG_CACHE_TTL", "abc"),
        ("CONFIG_CACHE_TTL", "0"),
        ("CAMPAIGN_MAX_CALLS_PER_SECOND", "0"),
        ("CONTACT_IMPORT_MAX_BYTES", "50MB"),
        ("WEBHOOK_URL_ALLOWED_HOSTS", "10.0.0.0/8, not a host!"),
        ("WEBHOOK_DISABLE_AFTER_FAILURES", "0"),
        ("WEBHOOK_TIMEOUT_SECONDS", "ten"),
        ("DEBUG", "maybe"),
        ("DATABASE_URL", "sqlite:///x"),
        ("DATABASE_DISABLE_SERVER_SIDE_CURSORS", "maybe"),
        ("FIELD_ENCRYPTION_KEYS", "notakey"),
        ("FIELD_ENCRYPTION_KEYS", ""),
        ("LOG_FORMAT", "xml"),
        ("REDIS_URL", "localhost:6379"),
        ("PUBLIC_BASE_URL", "ftp://example.com"),
        ("SECRET_KEY", ""),
        pytest.param(
            "SECRET_KEY",
            None,
            marks=pytest.mark.skipif(_DOTENV_SETS_SECRET_KEY, reason=".env fills in SECRET_KEY when it is unset"),
        ),
    ],
)
def test_malformed_variable_stops_start_up_with_one_line_naming_it(variable, value):
    env = _valid_env()
    if value is None:
        del env[variable]
    else:
        env[variable] = value

    result = _manage("check", env=env)

    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert lines[0].startswith("configuration error: ")
    assert "Traceback" not in result.stderr + result.stdout


@pytest.mark.parametrize(("variable", "value"), [("WEB_WORKERS", "many"), ("WEB_WORKERS", "0")])
def test_the_production_server_refuses_a_malformed_setting_with_one_line(variable, value):
    env = {**_valid_env(), variable: value}

    result = _run(
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "python:voiceplatform.gunicorn_conf",
        "voiceplatform.wsgi:application",
        env=env,
    )

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith(f"configuration error: {variable} must be")


@pytest.mark.parametrize(("given", "expected"), [(None, len(os.sched_getaffinity(0)) + 1), ("5", 5)])
def test_the_production_server_runs_one_worker_per_cpu_plus_one_unless_told(given, expected, tmp_path):
    """What gunicorn reads from its config module: WEB_WORKERS, else one sync worker per CPU this
    process may use plus one, which runs while the others wait on the database or LiveKit."""
    env = {**_valid_env(), "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    if given is not None:
        env["WEB_WORKERS"] = given

    result = _run(sys.executable, "-c", "import voiceplatform.gunicorn_conf as c; print(c.workers)", env=env)

    assert result.returncode == 0, result.stderr
    assert int(result.stdout) == expected


def test_malformed_fernet_key_is_not_echoed():
    env = _valid_env()
    env["FIELD_ENCRYPTION_KEYS"] = f"{django_settings.FIELD_ENCRYPTION_KEYS[0]},not-a-key-but-maybe-a-secret"

    result = _manage("check", env=env)

    assert result.returncode == 2
    assert "key #2" in result.stderr
    assert "not-a-key-but-maybe-a-secret" not in result.stderr


def test_deploy_check_is_clean_in_production_mode():
    env = _valid_env()
    env.update({"DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(50)})

    result = _manage("check", "--deploy", env=env)

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr
