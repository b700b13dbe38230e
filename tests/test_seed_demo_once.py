"""seed_demo creates the demo once per database: what the user changed or deleted stays that way."""

from __future__ import annotations

import importlib
import re
from io import StringIO

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.http import HttpRequest
from django.test import Client

from agents_app.models import Agent
from voiceplatform.models import ApiKey, SeedMarker, Tenant
from voiceplatform.services import tenant_create, tenant_delete

LOGIN_LINE = re.compile(r"^Login:\s+owner@demo\.example / (\S+)$", re.MULTILINE)


def _seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def _demo_agents() -> set[str]:
    return set(Agent.objects.for_tenant(Tenant.objects.get(slug="demo")).values_list("name", flat=True))


def test_a_fresh_database_gets_the_demo(db):
    output = _seed()

    assert _demo_agents() == {"Sales", "Support", "Greeting"}
    assert "Demo agents:   Sales, Support, Greeting" in output
    assert SeedMarker.objects.filter(key="demo-seeded").exists()


def test_a_deleted_demo_agent_stays_deleted(db):
    _seed()
    Agent.objects.for_tenant(Tenant.objects.get(slug="demo")).filter(name="Support").delete()

    output = _seed()

    assert _demo_agents() == {"Sales", "Greeting"}
    assert "Demo agents" not in output


def test_a_renamed_demo_agent_is_not_created_again_under_its_old_name(db):
    _seed()
    tenant = Tenant.objects.get(slug="demo")
    Agent.objects.for_tenant(tenant).filter(name="Support").update(name="Customer care")

    _seed()

    assert _demo_agents() == {"Sales", "Customer care", "Greeting"}


def test_a_deleted_demo_tenant_and_key_stay_deleted(db):
    _seed()
    ApiKey.objects.for_tenant(Tenant.objects.get(slug="demo")).delete()
    tenant_delete(tenant=Tenant.objects.get(slug="demo"))  # the ledgers of its demo campaign go only this way

    output = _seed()

    assert not Tenant.objects.exists()
    assert not ApiKey.objects.exists()
    assert "Demo tenant:   deleted" in output


def test_reset_password_still_works_after_the_first_run(db):
    _seed()
    Agent.objects.filter(name="Support").delete()

    output = _seed("--reset-password")

    password = LOGIN_LINE.search(output).group(1)
    assert Client().login(request=HttpRequest(), username="owner@demo.example", password=password)
    assert "Support" not in _demo_agents()  # a password reset seeds nothing either


def test_reset_password_for_a_deleted_owner_says_so(db):
    _seed()
    get_user_model().objects.filter(username="owner@demo.example").delete()

    with pytest.raises(CommandError, match=r"demo owner owner@demo\.example was deleted"):
        _seed("--reset-password")


def test_a_database_seeded_before_the_marker_existed_is_marked_by_the_migration(db):
    migration = importlib.import_module("voiceplatform.migrations.0002_demo_seeded_once_marker")
    tenant_create(name="Demo Company", slug="demo")  # what an earlier seed_demo left, without a marker

    migration.mark_existing_demo(apps, None)
    output = _seed()

    assert SeedMarker.objects.filter(key="demo-seeded").exists()
    assert "Demo agents" not in output
    assert not Agent.objects.exists()


def test_the_migration_leaves_a_database_without_the_demo_unmarked(db):
    migration = importlib.import_module("voiceplatform.migrations.0002_demo_seeded_once_marker")

    migration.mark_existing_demo(apps, None)

    assert not SeedMarker.objects.exists()
