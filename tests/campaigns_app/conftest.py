"""Fixtures for campaigns: an outbound agent, a caller ID and campaigns made through the services."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from agents_app.models import Agent
from agents_app.services import agent_create
from campaigns_app.models import Campaign, Contact
from campaigns_app.services import campaign_create
from telephony_app.models import PhoneNumber
from telephony_app.services import phone_number_create
from voiceplatform.actor import SYSTEM
from voiceplatform.models import Tenant

_numbers = itertools.count(100)


@pytest.fixture
def make_outbound_agent() -> Callable[..., Agent]:
    def make(tenant: Tenant, name: str = "Reminder caller", **fields: Any) -> Agent:
        fields.setdefault("system_prompt", "Remind {{first_name}} of the appointment.")
        return agent_create(tenant=tenant, actor=SYSTEM, fields={"name": name, "direction": "outbound", **fields})

    return make


@pytest.fixture
def make_caller_id() -> Callable[..., PhoneNumber]:
    def make(tenant: Tenant, **fields: Any) -> PhoneNumber:
        fields.setdefault("number", f"+1415555{next(_numbers):04d}")
        # A caller ID places calls through a LiveKit outbound trunk (a campaign without one cannot start).
        fields.setdefault("outbound_trunk_id", "ST_outboundTest1")
        return phone_number_create(tenant=tenant, **fields)

    return make


@pytest.fixture
def make_campaign(make_outbound_agent, make_caller_id) -> Callable[..., Campaign]:
    """make_campaign(tenant, **fields): a draft campaign from campaign_create (agent, caller ID made if absent)."""

    def make(tenant: Tenant, **fields: Any) -> Campaign:
        fields.setdefault("name", "November reminders")
        if "agent" not in fields:
            fields["agent"] = make_outbound_agent(tenant)
        if "caller_id" not in fields:
            fields["caller_id"] = make_caller_id(tenant)
        return campaign_create(tenant=tenant, fields=fields)

    return make


@pytest.fixture
def campaign(tenant, make_campaign) -> Campaign:
    return make_campaign(tenant)


@pytest.fixture
def other_campaign(other_tenant, make_campaign) -> Campaign:
    return make_campaign(other_tenant, name="Other tenant's campaign")


def wait_until_classified(campaign: Campaign, timeout: float = 60) -> None:
    """The classifier task an import queues has run in the module's worker. A test that leaves it
    queued would have the worker write contacts while pytest-django truncates the tables after the
    test, which can deadlock the truncation."""
    import time

    unclassified = Contact.objects.filter(campaign=campaign, dial_zone__isnull=True)
    deadline = time.monotonic() + timeout
    while unclassified.exists() or Campaign.objects.filter(pk=campaign.pk, zones_pending=True).exists():
        if time.monotonic() > deadline:
            pytest.fail("the contacts were not classified after the import")
        time.sleep(0.1)  # polling another process: there is nothing to wait on but the rows


def _live_database_url() -> str:
    """DATABASE_URL of the database this test session uses (pytest-django's test database, on the
    server given by DATABASE_URL or the embedded one), for processes the tests start."""
    from urllib.parse import quote, urlencode

    from django.db import connection

    db = connection.settings_dict
    user, password, host, port, name = (str(db.get(key) or "") for key in ("USER", "PASSWORD", "HOST", "PORT", "NAME"))
    credentials = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
    # The embedded server is reached by its socket directory, which DATABASE_URL's ?host= put in OPTIONS.
    options = {key: value for key, value in (db.get("OPTIONS") or {}).items() if isinstance(value, str | int)}
    if host.startswith("/"):
        options["host"], host = host, ""
    location = f"{host}:{port}" if host and port else host
    query = f"?{urlencode(options)}" if options else ""
    return f"postgresql://{credentials}@{location}/{quote(name)}{query}"


@pytest.fixture(scope="module")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real `celery -A voiceplatform worker` (solo pool, one task at a time) on the test database,
    the suite's Redis and MEDIA_ROOT; stopped at the end of the module (a worker left running would
    take other modules' tasks from the shared broker). Tests that use it need
    `django_db(transaction=True)`, so the worker sees their rows (and enqueue after commit)."""
    import os
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    from django.conf import settings

    env = {
        **os.environ,  # settings_test.py put the test SECRET_KEY and FIELD_ENCRYPTION_KEYS here
        "DJANGO_SETTINGS_MODULE": "voiceplatform.settings",
        "DATABASE_URL": _live_database_url(),
        "REDIS_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
    }
    command = [sys.executable, "-m", "celery", "-A", "voiceplatform", "worker", "--pool", "solo"]
    command += ["--concurrency", "1", "--loglevel", "warning", "--without-gossip", "--without-mingle"]
    # The worker's log goes to a file (a pipe nobody reads would fill and stall it); process.log reads it.
    log = tempfile.NamedTemporaryFile(mode="w+", prefix="celery-worker-", suffix=".log")
    process = subprocess.Popen(
        command, cwd=Path(settings.BASE_DIR), env=env, stdout=log, stderr=subprocess.STDOUT, text=True
    )
    process.log = lambda: Path(log.name).read_text()  # type: ignore[attr-defined]
    yield process
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    log.close()
