"""Agent admin: staff see their tenants' agents only; admin saves go through the services."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from agents_app.models import Agent, PromptVersion
from agents_app.services import agent_create
from tests.factories import MembershipFactory, UserFactory
from voiceplatform.actor import SYSTEM
from voiceplatform.models import Role


@pytest.fixture
def agents(tenant, other_tenant):
    return (
        agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Acme front desk"}),
        agent_create(tenant=other_tenant, actor=SYSTEM, fields={"name": "Globex front desk"}),
    )


@pytest.fixture
def staff_client(tenant):
    user = UserFactory(username="staff@acme.test", is_staff=True)
    MembershipFactory(tenant=tenant, user=user, role=Role.ADMIN)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label__in=["agents_app", "voiceplatform"]))
    client = Client()
    client.force_login(user)
    return client


def test_staff_see_only_their_tenants_agents(agents, staff_client):
    mine, theirs = agents

    listing = staff_client.get("/admin/agents_app/agent/")
    other = staff_client.get(f"/admin/agents_app/agent/{theirs.pk}/change/")

    assert listing.status_code == 200
    assert "Acme front desk" in listing.text
    assert "Globex front desk" not in listing.text
    assert other.status_code in (302, 404)
    assert staff_client.get(f"/admin/agents_app/agent/{mine.pk}/change/").status_code == 200


def test_admin_edit_validates_with_the_catalog_and_writes_a_prompt_version(agents, staff_client):
    mine, _theirs = agents
    page = staff_client.get(f"/admin/agents_app/agent/{mine.pk}/change/")
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None and name != "tenant"}
    data.update({"ivr_menu": "{}", "system_prompt": "Answer billing questions.", "llm_model": "gpt-4o-mini"})
    for prefix in ("business_hours", "holidays", "prompt_versions"):
        data.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
    data["prompt_versions-INITIAL_FORMS"] = str(PromptVersion.objects.filter(agent=mine).count())
    data["prompt_versions-TOTAL_FORMS"] = data["prompt_versions-INITIAL_FORMS"]
    for index, version in enumerate(PromptVersion.objects.filter(agent=mine).order_by("-version")):
        data[f"prompt_versions-{index}-id"] = str(version.pk)
        data[f"prompt_versions-{index}-agent"] = str(mine.pk)

    bad = staff_client.post(f"/admin/agents_app/agent/{mine.pk}/change/", {**data, "voice_id": "not-a-voice"})
    good = staff_client.post(f"/admin/agents_app/agent/{mine.pk}/change/", data)

    assert bad.status_code == 200 and "is not a voice id of OpenAI" in bad.text
    assert good.status_code == 302, good.context["adminform"].form.errors if good.context else good
    mine.refresh_from_db()
    assert mine.system_prompt == "Answer billing questions."
    latest = PromptVersion.objects.filter(agent=mine).order_by("-version").first()
    assert latest.version == 2 and latest.author_label == "staff@acme.test"
    assert Agent.objects.count() == 2
