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

from voiceplatform.settings import *  # noqa: E402, F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast hashing in tests only
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405  (whitenoise warns when it is missing)
