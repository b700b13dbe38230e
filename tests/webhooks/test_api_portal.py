"""Endpoints and the delivery log through the API and the portal: the secret shown once, pages by cursor."""

from __future__ import annotations

import json

from django.urls import reverse

from voiceplatform.webhooks.models import WebhookDelivery, WebhookEndpoint
from voiceplatform.webhooks.services import delivery_attempt, delivery_send_test, endpoint_create

URL = "https://93.184.216.34/hooks"  # a public address literal: no DNS lookup, never requested here


def test_the_api_shows_the_secret_once_on_create_and_on_rotate(tenant, api):
    created = api.post(
        "/api/v1/webhook-endpoints", {"url": URL, "eventTypes": ["call.ended", "call.analyzed"]}, format="json"
    )

    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["secret"].startswith("whsec_") and created["Cache-Control"] == "no-store"
    assert body["eventTypes"] == ["call.ended", "call.analyzed"] and body["isEnabled"] is True
    endpoint_url = f"/api/v1/webhook-endpoints/{body['id']}"
    for response in (
        api.get(endpoint_url),
        api.get("/api/v1/webhook-endpoints"),
        api.patch(endpoint_url, {"description": "CRM"}, format="json"),
    ):
        assert response.status_code == 200
        assert "secret" not in response.text and body["secret"] not in response.text

    rotated = api.post(f"{endpoint_url}/rotate-secret")

    assert rotated.status_code == 200
    assert rotated.json()["secret"].startswith("whsec_") and rotated.json()["secret"] != body["secret"]
    assert rotated.json()["secret"] not in api.get(endpoint_url).text


def test_the_api_refuses_bad_endpoints_with_field_messages(tenant, api):
    cases = [
        ({"url": URL, "eventTypes": []}, "eventTypes"),
        ({"url": URL, "eventTypes": ["call.exploded"]}, "eventTypes"),
        ({"url": URL, "eventTypes": ["webhook.test"]}, "eventTypes"),  # sent on request only
        ({"url": "ftp://93.184.216.34/x", "eventTypes": ["call.ended"]}, "url"),
        ({"url": "https://169.254.169.254/latest", "eventTypes": ["call.ended"]}, "url"),
        ({"url": "https://93.184.216.34/" + "a" * 3000, "eventTypes": ["call.ended"]}, "url"),
    ]
    for data, field in cases:
        response = api.post("/api/v1/webhook-endpoints", data, format="json")
        assert response.status_code == 400, (data, response.content)
        assert field in response.json(), (data, response.json())
    assert not WebhookEndpoint.objects.for_tenant(tenant).exists()


def test_the_delivery_log_pages_by_cursor_and_shows_attempts(
    tenant, other_tenant, api, django_capture_on_commit_callbacks
):
    endpoint, _ = endpoint_create(tenant=tenant, url=URL, event_types=["call.ended"])
    with django_capture_on_commit_callbacks(execute=False):
        deliveries = [delivery_send_test(tenant=tenant, endpoint=endpoint) for _ in range(55)]  # pages of 50
    theirs, _ = endpoint_create(tenant=other_tenant, url=URL, event_types=["call.ended"])
    with django_capture_on_commit_callbacks(execute=False):
        delivery_send_test(tenant=other_tenant, endpoint=theirs)

    seen, pages, url = [], 0, f"/api/v1/webhook-deliveries?endpoint={endpoint.code}"
    while url:
        page = api.get(url).json()
        seen += [row["id"] for row in page["results"]]
        url, pages = page["next"], pages + 1
    detail = api.get(f"/api/v1/webhook-deliveries/{deliveries[0].code}").json()
    everything = api.get("/api/v1/webhook-deliveries").json()

    assert seen == [str(d.code) for d in reversed(deliveries)] and pages == 2
    assert [row["id"] for row in everything["results"]] == seen[:50]  # never the other tenant's
    assert "count" not in everything
    assert detail["payload"]["type"] == "webhook.test" and detail["attemptLog"] == []
    assert api.get(f"/api/v1/webhook-deliveries?endpoint={theirs.code}").status_code == 400
    assert api.get("/api/v1/webhook-deliveries?cursor=garbage").status_code == 400


def test_the_api_sends_a_test_event_and_redelivers(
    tenant, api, receiver, make_endpoint, django_capture_on_commit_callbacks
):
    endpoint, _ = make_endpoint(tenant, receiver.url)
    with django_capture_on_commit_callbacks(execute=False):
        queued = api.post(f"/api/v1/webhook-endpoints/{endpoint.code}/test")
    assert queued.status_code == 202 and queued.json()["status"] == "pending"
    delivery = WebhookDelivery.objects.for_tenant(tenant).get(code=queued.json()["id"])
    delivery_attempt(delivery_id=delivery.pk)
    with django_capture_on_commit_callbacks(execute=False):
        again = api.post(f"/api/v1/webhook-deliveries/{delivery.code}/redeliver")

    assert again.status_code == 202 and again.json()["messageId"] == delivery.message_id
    log = api.get(f"/api/v1/webhook-deliveries/{delivery.code}").json()
    assert log["status"] == "delivered"
    (attempt,) = log["attemptLog"]
    assert attempt["number"] == 1 and attempt["succeeded"] and attempt["responseCode"] == 200
    assert attempt["latencyMs"] >= 0 and attempt["errorClass"] == ""


def test_the_portal_adds_an_endpoint_and_shows_its_secret_once(tenant, owner, client_for):
    client = client_for(owner)

    response = client.post(
        reverse("tenancy-webhook-create"), {"url": URL, "event_types": ["call.ended"], "is_enabled": "on"}
    )

    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    endpoint = WebhookEndpoint.objects.for_tenant(tenant).get()
    secret = response.context["secret"]
    assert secret.startswith("whsec_") and secret in response.text
    for page in (reverse("tenancy-webhook-list"), reverse("tenancy-webhook-detail", args=[endpoint.code])):
        shown = client.get(page)
        assert shown.status_code == 200 and URL in shown.text and secret not in shown.text
    rotated = client.post(reverse("tenancy-webhook-rotate", args=[endpoint.code]))
    assert rotated.context["secret"] != secret and rotated.context["secret"] in rotated.text


def test_the_portal_form_shows_a_refused_url_on_its_field(tenant, owner, client_for):
    response = client_for(owner).post(
        reverse("tenancy-webhook-create"), {"url": "https://127.0.0.1/hooks", "event_types": ["call.ended"]}
    )

    assert response.status_code == 400
    assert "WEBHOOK_URL_ALLOWED_HOSTS" in " ".join(response.context["form"].errors["url"])
    assert not WebhookEndpoint.objects.for_tenant(tenant).exists()


def test_the_portal_shows_an_automatically_disabled_endpoint(tenant, owner, client_for):
    endpoint, _ = endpoint_create(tenant=tenant, url=URL, event_types=["call.ended"])
    WebhookEndpoint.objects.for_tenant(tenant).filter(pk=endpoint.pk).update(
        is_enabled=False, disabled_at="2026-12-01T10:00:00Z", disabled_reason="Disabled automatically: 5 events."
    )

    response = client_for(owner).get(reverse("tenancy-webhook-list"))

    assert f'id="disabled-{endpoint.code}"' in response.text
    assert "Disabled automatically: 5 events." in response.text


def test_the_portal_delivery_log_pages_through_every_delivery_once(
    tenant, owner, client_for, django_capture_on_commit_callbacks
):
    from voiceplatform.webhooks import views

    endpoint, _ = endpoint_create(tenant=tenant, url=URL, event_types=["call.ended"])
    with django_capture_on_commit_callbacks(execute=False):
        made = [delivery_send_test(tenant=tenant, endpoint=endpoint) for _ in range(views.DELIVERIES_PER_PAGE + 5)]
    client, url = client_for(owner), reverse("tenancy-webhook-detail", args=[endpoint.code])

    first = client.get(url)
    second = client.get(f"{url}?before={first.context['older']}")
    back = client.get(f"{url}?after={second.context['newer']}")

    seen = [d.pk for d in first.context["deliveries"]] + [d.pk for d in second.context["deliveries"]]
    assert seen == sorted((d.pk for d in made), reverse=True)
    assert second.context["older"] is None and first.context["newer"] is None
    assert [d.pk for d in back.context["deliveries"]] == [d.pk for d in first.context["deliveries"]]
    assert client.get(f"{url}?before=garbage").status_code == 200
    detail = client.get(reverse("tenancy-webhook-delivery-detail", args=[made[0].code]))
    assert json.loads(made[0].body)["data"]["endpointId"] == str(endpoint.code)
    assert "webhook.test" in detail.text


def test_a_viewer_reads_the_webhooks_pages_but_cannot_change_them(tenant, viewer, client_for):
    endpoint, _ = endpoint_create(tenant=tenant, url=URL, event_types=["call.ended"])
    client = client_for(viewer)

    assert client.get(reverse("tenancy-webhook-detail", args=[endpoint.code])).status_code == 200
    assert client.post(reverse("tenancy-webhook-rotate", args=[endpoint.code])).status_code == 403
    assert client.post(reverse("tenancy-webhook-delete", args=[endpoint.code])).status_code == 403
    assert WebhookEndpoint.objects.for_tenant(tenant).filter(pk=endpoint.pk).exists()


def test_a_tenant_has_at_most_twenty_endpoints(tenant, other_tenant, api):
    from voiceplatform.webhooks.services import MAX_ENDPOINTS_PER_TENANT

    for n in range(MAX_ENDPOINTS_PER_TENANT):
        endpoint_create(tenant=tenant, url=f"{URL}/{n}", event_types=["call.ended"])

    refused = api.post("/api/v1/webhook-endpoints", {"url": URL, "eventTypes": ["call.ended"]}, format="json")

    assert refused.status_code == 400 and "at most 20" in refused.json()["non_field_errors"][0]
    endpoint_create(tenant=other_tenant, url=URL, event_types=["call.ended"])  # another tenant's count is its own


def test_every_portal_page_says_when_endpoints_were_disabled_automatically(tenant, owner, outsider, client_for):
    auto, _ = endpoint_create(tenant=tenant, url=URL, event_types=["call.ended"])
    by_hand, _ = endpoint_create(tenant=tenant, url=URL + "/2", event_types=["call.ended"])
    client = client_for(owner)
    assert 'id="webhooks-disabled-notice"' not in client.get(reverse("portal-dashboard")).text

    WebhookEndpoint.objects.for_tenant(tenant).filter(pk=auto.pk).update(
        is_enabled=False, disabled_at="2026-12-01T10:00:00Z", disabled_reason="Disabled automatically: 5 events."
    )
    WebhookEndpoint.objects.for_tenant(tenant).filter(pk=by_hand.pk).update(is_enabled=False)  # the tenant's choice

    for page in ("portal-dashboard", "agents-agent-list", "calls-call-list"):
        response = client.get(reverse(page))
        assert response.status_code == 200
        assert 'id="webhooks-disabled-notice"' in response.text, page
        assert "1 webhook endpoint was disabled automatically" in response.text
        assert reverse("tenancy-webhook-list") in response.text
    # The webhook pages list it themselves; another tenant has nothing to be told.
    assert 'id="webhooks-disabled-notice"' not in client.get(reverse("tenancy-webhook-list")).text
    assert 'id="webhooks-disabled-notice"' not in client_for(outsider).get(reverse("portal-dashboard")).text
