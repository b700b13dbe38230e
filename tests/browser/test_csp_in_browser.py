"""The Content-Security-Policy in real Chromium: pages work with no inline script and nothing is
refused (confirmations, the tenant switcher, Swagger UI at /api/docs/)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from tests.factories import MembershipFactory, UserFactory
from voiceplatform.models import Invitation, Role


def _watch_csp(page: Page) -> list[str]:
    """Console errors in which Chromium reports a CSP refusal (collected from now on)."""
    refusals: list[str] = []
    page.on(
        "console",
        lambda message: refusals.append(message.text) if "Content Security Policy" in message.text else None,
    )
    return refusals


@pytest.fixture
def invitation(tenant, owner):
    expires_at = timezone.now() + timedelta(days=1)
    return Invitation.objects.create(tenant=tenant, email="later@example.test", role=Role.EDITOR, expires_at=expires_at)


@pytest.mark.parametrize("answer", ["dismiss", "accept"])
def test_revoking_an_invitation_asks_first(invitation, owner, open_page, orm, answer):
    page = open_page(owner, reverse("tenancy-member-list"))
    refusals = _watch_csp(page)
    questions: list[str] = []

    def on_dialog(dialog) -> None:
        questions.append(dialog.message)
        dialog.accept() if answer == "accept" else dialog.dismiss()

    page.on("dialog", on_dialog)
    page.locator(f"#invitation-{invitation.code} button", has_text="Revoke").click()

    if answer == "accept":
        expect(page.locator(".messages")).to_contain_text("was revoked")
    else:
        page.wait_for_timeout(300)
    assert questions == ["Revoke the invitation to later@example.test? Its link stops working at once."]
    revoked = orm(lambda: Invitation.objects.get(pk=invitation.pk).revoked_at is not None)
    assert revoked == (answer == "accept")
    assert refusals == []


def test_the_tenant_switcher_submits_on_change(tenant, other_tenant, owner, open_page):
    MembershipFactory(tenant=other_tenant, user=owner, role=Role.VIEWER)
    page = open_page(owner, reverse("portal-dashboard"))
    refusals = _watch_csp(page)

    page.select_option("#tenant-switch", label="Globex")

    expect(page.locator("h1")).to_have_text("Globex")
    assert refusals == []


def test_the_api_docs_render_under_the_policy(owner, open_page):
    page = open_page(owner, "/")
    refusals = _watch_csp(page)

    page.goto("/api/docs/")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("voiceplatform API")
    assert refusals == []


def test_the_admin_scripts_run_under_the_policy(db, open_page):
    operator = UserFactory(username="root@ops.test", is_staff=True, is_superuser=True)
    page = open_page(operator, "/admin/")
    refusals = _watch_csp(page)

    page.goto("/admin/voiceplatform/tenant/add/")
    page.locator("#id_name").press_sequentially("New Company")  # prepopulate.js listens to keyup

    expect(page.locator("#id_slug")).to_have_value("new-company")  # prepopulate.js ran
    page.goto("/admin/voiceplatform/membership/add/")
    expect(page.locator(".select2-container").first).to_be_visible()  # the autocomplete widget ran
    assert refusals == []
