"""Settings for the test suite: test-only secrets, then embedded services when no URLs are given.

pytest.ini points DJANGO_SETTINGS_MODULE here, so the embedded PostgreSQL/Redis start before
Django reads DATABASE_URL/REDIS_URL, and stop when the test process exits.
"""

import atexit
import os

from voiceplatform.devservices import ensure_services

# Test-only values; setdefault keeps anything the caller (CI) passes in.
for _key, _value in {
    "SECRET_KEY": "test-secret-key-not-for-production-0123456789abcdefghijklmnopqrstuvwxyz",
    "FIELD_ENCRYPTION_KEYS": "VGVzdEtleU9uZS1ub3QtZm9yLXByb2R1Y3Rpb24tMDE=",
    "DEBUG": "false",
    "SECURE_SSL_REDIRECT": "false",
    "ALLOWED_HOSTS": "testserver,127.0.0.1,localhost",
    "LOG_LEVEL": "warning",
    # The suite's fake providers listen on http://127.0.0.1: allowed here on purpose, and only here;
    # tests/test_outbound_url.py overrides both to prove the guard refuses them by default.
    "PROVIDER_URL_ALLOW_HTTP": "true",
    "PROVIDER_URL_ALLOWED_HOSTS": "127.0.0.1",
}.items():
    os.environ.setdefault(_key, _value)

atexit.register(ensure_services(purpose="test").stop)

# pytest-xdist runs the suite in several processes (make test: -n 2). They share the database server
# (pytest-django gives each its own test database) and the Redis server: each process takes its own
# Redis database, so caches, the Celery broker queues of the worker processes tests start, and the
# dialer's limiters never cross between them.
if _xdist_worker := os.environ.get("PYTEST_XDIST_WORKER", ""):
    from urllib.parse import urlsplit, urlunsplit

    _url = urlsplit(os.environ["REDIS_URL"])
    _base = int(_url.path.strip("/") or 0)
    _database = (_base + int(_xdist_worker.removeprefix("gw"))) % 16
    os.environ["REDIS_URL"] = urlunsplit(_url._replace(path=f"/{_database}"))

from voiceplatform.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast hashing in tests only
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405  (whitenoise warns when it is missing)
