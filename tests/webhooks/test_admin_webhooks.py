"""The operator admin: endpoints scoped like every tenant-owned model, secrets never shown, deliveries read-only."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from tests.factories import MembershipFactory, UserFactory
from voiceplatform.models import Role
from voiceplatform.webhooks.models import WebhookEndpoint
from voiceplatform.webhooks.services import delivery_send_test, endpoint_create

URL = "https://93.184.216.34/hooks"


@pytest.fixture
def staff(tenant):
    user = UserFactory(username="staff@acme.test", is_staff=True)
    MembershipFactory(tenant=tenant, user=user, role=Role.ADMIN)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="voiceplatform"))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def both(tenant, other_tenant, django_capture_on_commit_callbacks):
    made = {}
    for t in (tenant, other_tenant):
        endpoint, secret = endpoint_create(tenant=t, url=f"{URL}/{t.slug}", event_types=["call.ended"])
        with django_capture_on_commit_callbacks(execute=False):
            delivery = delivery_send_test(tenant=t, endpoint=endpoint)
        made[t.slug] = (endpoint, secret, delivery)
    return made


def test_staff_see_their_tenants_endpoints_without_secrets_and_not_others(staff, both):
    mine, secret, delivery = both["acme"]
    theirs, _, their_delivery = both["globex"]

    listing = staff.get(reverse("admin:voiceplatform_webhookendpoint_changelist"))
    change = staff.get(reverse("admin:voiceplatform_webhookendpoint_change", args=[mine.pk]))
    deliveries = staff.get(reverse("admin:voiceplatform_webhookdelivery_changelist"))

    assert f"{URL}/acme" in listing.text and f"{URL}/globex" not in listing.text
    assert change.status_code == 200 and secret not in change.text and mine.encrypted_secret not in change.text
    assert staff.get(reverse("admin:voiceplatform_webhookendpoint_change", args=[theirs.pk])).status_code == 302
    assert delivery.message_id in deliveries.text and their_delivery.message_id not in deliveries.text


def test_deliveries_are_read_only_and_endpoints_are_added_in_the_portal(staff, both):
    _, _, delivery = both["acme"]
    url = reverse("admin:voiceplatform_webhookdelivery_change", args=[delivery.pk])

    assert 'name="_save"' not in staff.get(url).text
    assert staff.post(url, {"status": "delivered"}).status_code == 403
    assert staff.get(reverse("admin:voiceplatform_webhookdelivery_delete", args=[delivery.pk])).status_code == 403
    assert staff.get(reverse("admin:voiceplatform_webhookendpoint_add")).status_code == 403


def test_the_admin_refuses_an_internal_url_on_the_field(staff, both, tenant):
    mine, _, _ = both["acme"]
    url = reverse("admin:voiceplatform_webhookendpoint_change", args=[mine.pk])

    response = staff.post(url, {"url": "https://10.0.0.5/hooks", "description": "", "event_types": ["call.ended"]})

    assert response.status_code == 200 and "WEBHOOK_URL_ALLOWED_HOSTS" in response.text
    assert WebhookEndpoint.objects.for_tenant(tenant).get(pk=mine.pk).url == f"{URL}/acme"
    saved = staff.post(url, {"url": f"{URL}/new", "description": "CRM", "event_types": ["call.started"]})
    assert saved.status_code == 302
    endpoint = WebhookEndpoint.objects.for_tenant(tenant).get(pk=mine.pk)
    assert endpoint.url == f"{URL}/new" and endpoint.event_types == ["call.started"] and not endpoint.is_enabled
