"""WEB_REQUEST_BUDGET_SECONDS stays below WEB_TIMEOUT, and pages waiting on vendors keep to it (issue 12, item 2)."""

from __future__ import annotations

import sys
import time

import pytest

from agents_app.vendor_voices import account_voices
from tests.agents_app.test_vendor_voices import CARTESIA_KEY, vendor  # noqa: F401  (the fake vendor fixture)
from tests.test_health_and_settings import _manage, _run, _valid_env
from voiceplatform.services import credential_set


def _gunicorn(env: dict[str, str]):
    argv = ("-m", "gunicorn", "-c", "python:voiceplatform.gunicorn_conf", "voiceplatform.wsgi:application")
    return _run(sys.executable, *argv, env=env)


@pytest.mark.parametrize(("budget", "timeout"), [("30", "30"), ("45", "30"), ("20", "10")])
def test_the_production_server_refuses_a_budget_not_below_its_timeout(budget, timeout):
    env = {**_valid_env(), "WEB_REQUEST_BUDGET_SECONDS": budget, "WEB_TIMEOUT": timeout}

    result = _gunicorn(env)

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.splitlines() == [result.stderr.strip()]
    line = result.stderr.strip()
    assert line.startswith("configuration error: WEB_REQUEST_BUDGET_SECONDS")
    assert f"({budget})" in line and f"WEB_TIMEOUT ({timeout})" in line


def test_django_refuses_the_same_settings_with_one_line():
    env = {**_valid_env(), "WEB_REQUEST_BUDGET_SECONDS": "25", "WEB_TIMEOUT": "25"}

    result = _manage("check", env=env)

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stderr.strip().startswith("configuration error: WEB_REQUEST_BUDGET_SECONDS (25)")
    assert "Traceback" not in result.stderr


def test_a_budget_below_the_timeout_passes():
    env = {**_valid_env(), "WEB_REQUEST_BUDGET_SECONDS": "50", "WEB_TIMEOUT": "60"}

    assert _manage("check", env=env).returncode == 0


def test_a_slow_vendor_voice_listing_ends_within_the_request_budget(vendor, tenant, settings):  # noqa: F811
    """Cartesia's listing is paged (a request per page, 5 s each): together they keep to the budget."""
    settings.WEB_REQUEST_BUDGET_SECONDS = 3  # the listing may take 1 s of it (2 s are kept for the page)
    vendor.mode = "slow"  # each page answers after 1 s: two pages would take 2 s
    credential_set(tenant=tenant, provider="cartesia", secret=CARTESIA_KEY)

    began = time.monotonic()
    result = account_voices(tenant=tenant, provider="cartesia")

    assert time.monotonic() - began < 1.6
    assert result.voices == ()
    assert "timed out" in result.notice
