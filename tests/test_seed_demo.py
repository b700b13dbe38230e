"""seed_demo: one demo tenant, owner and key however often it runs; secrets printed only once."""

from __future__ import annotations

import re
from io import StringIO

from django.core.management import call_command
from django.http import HttpRequest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from voiceplatform.models import ApiKey, Membership, Role, Tenant

LOGIN_LINE = re.compile(r"^Login:\s+owner@demo\.example / (\S+)$", re.MULTILINE)
KEY_SHAPE = re.compile(r"vp_[A-Za-z0-9]{8}_[A-Za-z0-9]{32}")


def _seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def test_running_seed_demo_twice_creates_one_tenant_owner_and_key(db):
    _seed()
    _seed()

    tenant = Tenant.objects.get(slug="demo")
    assert Tenant.objects.count() == 1
    memberships = Membership.objects.for_tenant(tenant)
    assert memberships.count() == 1
    assert memberships.get().role == Role.OWNER
    assert memberships.get().user.username == "owner@demo.example"
    assert ApiKey.objects.for_tenant(tenant).count() == 1


def test_the_first_run_prints_a_working_password_and_api_key(db):
    output = _seed()

    password = LOGIN_LINE.search(output).group(1)
    raw_key = KEY_SHAPE.search(output).group(0)
    response = Client().post(reverse("login"), {"username": "owner@demo.example", "password": password})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal-dashboard")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    response = api.get("/api/v1/")
    assert response.status_code == 200
    assert response.json()["tenant"]["slug"] == "demo"


def test_the_second_run_prints_no_secret(db):
    first = _seed()
    password = LOGIN_LINE.search(first).group(1)
    raw_key = KEY_SHAPE.search(first).group(0)

    second = _seed()

    assert "Demo tenant:   Demo Company (demo)" in second
    assert password not in second
    assert raw_key not in second
    assert not LOGIN_LINE.search(second)
    assert not KEY_SHAPE.search(second)
    # The request is for django-axes, which refuses to check a password without one.
    assert Client().login(request=HttpRequest(), username="owner@demo.example", password=password)
