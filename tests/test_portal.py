"""The portal as a person uses it: log in, switch tenants, manage members, API keys and provider keys."""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.conftest import PASSWORD
from tests.factories import MembershipFactory, ProviderCredentialFactory, TenantFactory, UserFactory
from voiceplatform.models import ApiKey, Membership, ProviderCredential, Role, hash_api_key
from voiceplatform.services import api_key_create, api_key_revoke

User = get_user_model()

NOT_ALLOWED = "An owner or admin can change it."  # from templates/403.html
NOT_FOUND = "There is nothing here, or it belongs to a tenant you are not signed in to."  # templates/404.html
SETTINGS_PAGES = ["tenancy-member-list", "tenancy-apikey-list", "tenancy-credential-list"]


@pytest.fixture
def admin_member(tenant):
    return MembershipFactory(tenant=tenant, user=UserFactory(username="admin@acme.test"), role=Role.ADMIN).user


def _membership(user, tenant) -> Membership:
    return Membership.objects.for_tenant(tenant).get(user=user)


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


# Log in and out ------------------------------------------------------------------------------


def test_login_page_renders(db):
    response = Client().get(reverse("login"))

    assert response.status_code == 200
    assert "<h1>Log in</h1>" in response.text
    assert 'name="username"' in response.text
    assert 'name="password"' in response.text


def test_wrong_password_shows_a_form_error(owner):
    response = Client().post(reverse("login"), {"username": owner.username, "password": "not the password"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.text
    assert "_auth_user_id" not in response.client.session


def test_login_then_logout(owner):
    client = Client()

    response = client.post(reverse("login"), {"username": owner.username, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal-dashboard")
    assert client.get(reverse("portal-dashboard")).status_code == 200

    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert client.get(reverse("portal-dashboard")).status_code == 302


@pytest.mark.parametrize("url_name", ["portal-dashboard", *SETTINGS_PAGES])
def test_portal_pages_redirect_anonymous_visitors_to_login(db, url_name):
    url = reverse(url_name)

    response = Client().get(url)

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next={url}"


def test_a_user_without_membership_gets_the_no_tenant_page(db):
    loner = UserFactory(username="loner@nowhere.test")
    client = Client()
    client.force_login(loner)

    response = client.get(reverse("portal-dashboard"))

    assert response.status_code == 403
    assert "You are not in any tenant yet" in response.text
    assert "loner@nowhere.test" in response.text


# Dashboard and tenant switcher ---------------------------------------------------------------


def test_dashboard_shows_counts_of_the_current_tenant(tenant, other_tenant, owner, teammate, viewer, client_for):
    api_key_create(tenant=tenant, name="active")
    api_key_revoke(tenant=tenant, api_key=api_key_create(tenant=tenant, name="revoked")[0])
    ProviderCredentialFactory(tenant=tenant, provider="openai")
    MembershipFactory(tenant=other_tenant)
    api_key_create(tenant=other_tenant, name="theirs")
    ProviderCredentialFactory(tenant=other_tenant, provider="openai")
    ProviderCredentialFactory(tenant=other_tenant, provider="deepgram")

    response = client_for(owner).get(reverse("portal-dashboard"))

    assert response.status_code == 200
    assert "<h1>Acme</h1>" in response.text
    assert '<span class="stat-value">3</span><span class="stat-label">members</span>' in response.text
    assert '<span class="stat-value">1</span><span class="stat-label">active API key</span>' in response.text
    assert '<span class="stat-value">1</span><span class="stat-label">provider key</span>' in response.text


def test_a_member_of_two_tenants_switches_between_them(tenant, other_tenant, owner, outsider, client_for):
    MembershipFactory(tenant=other_tenant, user=owner, role=Role.VIEWER)
    client = client_for(owner)
    assert "<h1>Acme</h1>" in client.get(reverse("portal-dashboard")).text

    response = client.post(reverse("tenancy-tenant-switch"), {"tenant": str(other_tenant.code)}, follow=True)

    assert response.redirect_chain == [(reverse("portal-dashboard"), 302)]
    assert "<h1>Globex</h1>" in response.text
    assert "Switched to Globex." in _messages(response)
    members_page = client.get(reverse("tenancy-member-list")).text
    assert outsider.email in members_page
    assert owner.email in members_page


def test_switching_to_a_tenant_one_does_not_belong_to_is_refused(tenant, other_tenant, owner, client_for):
    MembershipFactory(tenant=other_tenant, user=owner, role=Role.VIEWER)
    strangers = TenantFactory(name="Initech", slug="initech")
    client = client_for(owner)

    response = client.post(reverse("tenancy-tenant-switch"), {"tenant": str(strangers.code)}, follow=True)

    assert response.status_code == 200
    assert "You are not a member of that tenant." in _messages(response)
    assert "<h1>Acme</h1>" in response.text
    assert "Initech" not in client.get(reverse("portal-dashboard")).text


# Members -------------------------------------------------------------------------------------


# Invitations (sent by email, accepted by the invitee): tests/test_invitations.py.


def test_inviting_a_member_twice_is_a_form_error(tenant, owner, teammate, client_for):
    response = client_for(owner).post(reverse("tenancy-member-list"), {"email": teammate.email, "role": "viewer"})

    assert response.status_code == 400
    assert f"{teammate.email} is already a member of Acme." in response.text
    assert _membership(teammate, tenant).role == Role.EDITOR


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"email": "not-an-email", "role": "editor"}, "Enter a valid email address."),
        ({"email": "fine@acme.test", "role": "superboss"}, "Select a valid choice."),
        ({"email": "", "role": "editor"}, "This field is required."),
    ],
    ids=["invalid-email", "unknown-role", "missing-email"],
)
def test_an_invalid_invitation_is_a_form_error_and_writes_nothing(tenant, owner, client_for, data, error):
    users_before = User.objects.count()

    response = client_for(owner).post(reverse("tenancy-member-list"), data)

    assert response.status_code == 400
    assert error in response.text
    assert User.objects.count() == users_before
    assert Membership.objects.for_tenant(tenant).count() == 1


def test_an_owner_changes_a_members_role(tenant, owner, teammate, client_for):
    membership = _membership(teammate, tenant)

    response = client_for(owner).post(
        reverse("tenancy-member-role", args=[membership.code]), {"role": "viewer"}, follow=True
    )

    assert response.redirect_chain == [(reverse("tenancy-member-list"), 302)]
    assert "editor@acme.test is now Viewer." in _messages(response)
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER


def test_changing_a_role_with_htmx_returns_the_updated_row(tenant, owner, teammate, client_for):
    membership = _membership(teammate, tenant)

    response = client_for(owner).post(
        reverse("tenancy-member-role", args=[membership.code]), {"role": "admin"}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert response.text.lstrip().startswith(f'<tr id="member-{membership.code}">')
    assert '<option value="admin" selected>' in response.text
    assert "<html" not in response.text
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN


def test_an_owner_can_make_an_owner(tenant, owner, teammate, client_for):
    membership = _membership(teammate, tenant)

    client_for(owner).post(reverse("tenancy-member-role", args=[membership.code]), {"role": "owner"})

    membership.refresh_from_db()
    assert membership.role == Role.OWNER


@pytest.mark.parametrize("target", ["teammate", "owner"])
def test_an_admin_can_neither_make_nor_demote_an_owner(
    request, tenant, owner, teammate, admin_member, client_for, target
):
    membership = _membership(request.getfixturevalue(target), tenant)
    new_role = "viewer" if membership.role == Role.OWNER else "owner"
    role_before = membership.role

    response = client_for(admin_member).post(
        reverse("tenancy-member-role", args=[membership.code]), {"role": new_role}, headers={"HX-Request": "true"}
    )

    assert response.status_code == 400
    expected = {"owner": "change the role of an owner.", "teammate": "make someone an owner."}[target]
    assert f"Only an owner can {expected}" in response.text
    membership.refresh_from_db()
    assert membership.role == role_before


def test_an_admin_cannot_invite_an_owner(tenant, admin_member, client_for):
    response = client_for(admin_member).post(
        reverse("tenancy-member-list"), {"email": "boss@acme.test", "role": "owner"}
    )

    assert response.status_code == 400
    assert "Only an owner can make someone an owner." in response.text
    assert not User.objects.filter(email="boss@acme.test").exists()


def test_an_admin_cannot_remove_an_owner(tenant, owner, admin_member, client_for):
    membership = _membership(owner, tenant)

    response = client_for(admin_member).post(reverse("tenancy-member-remove", args=[membership.code]), follow=True)

    assert "Only an owner can remove an owner." in _messages(response)
    assert Membership.objects.filter(pk=membership.pk).exists()


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_the_last_owner_cannot_be_demoted(tenant, owner, teammate, client_for, htmx):
    membership = _membership(owner, tenant)
    url = reverse("tenancy-member-role", args=[membership.code])
    error = "A tenant needs at least one owner; make someone else owner first."

    if htmx:
        response = client_for(owner).post(url, {"role": "admin"}, headers={"HX-Request": "true"})
        assert response.status_code == 400
        assert error in response.text
    else:
        response = client_for(owner).post(url, {"role": "admin"}, follow=True)
        assert error in _messages(response)
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_an_owner_can_step_down_once_there_is_another_owner(tenant, owner, teammate, client_for):
    client = client_for(owner)
    client.post(reverse("tenancy-member-role", args=[_membership(teammate, tenant).code]), {"role": "owner"})

    client.post(reverse("tenancy-member-role", args=[_membership(owner, tenant).code]), {"role": "admin"})

    assert _membership(owner, tenant).role == Role.ADMIN


def test_the_last_owner_cannot_be_removed(tenant, owner, teammate, client_for):
    membership = _membership(owner, tenant)

    response = client_for(owner).post(reverse("tenancy-member-remove", args=[membership.code]), follow=True)

    assert response.status_code == 200
    assert "The last owner cannot be removed." in _messages(response)
    assert Membership.objects.filter(pk=membership.pk, role=Role.OWNER).exists()


def test_an_owner_removes_a_member(tenant, owner, teammate, client_for):
    membership = _membership(teammate, tenant)

    response = client_for(owner).post(reverse("tenancy-member-remove", args=[membership.code]), follow=True)

    assert response.redirect_chain == [(reverse("tenancy-member-list"), 302)]
    assert "editor@acme.test was removed." in _messages(response)
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert User.objects.filter(pk=teammate.pk).exists()
    assert f'id="member-{membership.code}"' not in response.text


# Roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["viewer", "teammate"])
@pytest.mark.parametrize("url_name", SETTINGS_PAGES)
def test_viewers_and_editors_can_look_at_settings_pages(request, tenant, owner, client_for, role, url_name):
    api_key_create(tenant=tenant, name="production")
    ProviderCredentialFactory(tenant=tenant, provider="openai", secret="sk-shown-masked-only-wxyz")

    response = client_for(request.getfixturevalue(role)).get(reverse(url_name))

    assert response.status_code == 200
    assert {"tenancy-member-list": "owner@acme.test", "tenancy-apikey-list": "production"}.get(
        url_name, "<code>…wxyz</code>"
    ) in response.text
    assert '<form method="post" novalidate' not in response.text  # no invite/create/add form for them
    for button in ("Revoke</button>", "Remove</button>", "Delete</button>", '<select name="role"'):
        assert button not in response.text


def _everything() -> list:
    return [
        list(model.objects.order_by("pk").values())
        for model in (User, Membership, ApiKey, ProviderCredential)  # tests read across tenants on purpose
    ]


_FORBIDDEN_POSTS = [
    ("tenancy-member-list", None, {"email": "sneaky@acme.test", "role": "owner"}),
    ("tenancy-member-role", "owner_membership", {"role": "viewer"}),
    ("tenancy-member-remove", "owner_membership", {}),
    ("tenancy-apikey-list", None, {"name": "sneaky key"}),
    ("tenancy-apikey-revoke", "api_key", {}),
    ("tenancy-credential-list", None, {"provider": "deepgram", "secret": "dg-sneaky-secret-1234"}),
    ("tenancy-credential-delete", "credential", {}),
]


@pytest.mark.parametrize("role", ["viewer", "teammate"])
@pytest.mark.parametrize(("url_name", "target", "data"), _FORBIDDEN_POSTS, ids=[p[0] for p in _FORBIDDEN_POSTS])
def test_viewers_and_editors_cannot_change_settings(request, tenant, owner, client_for, role, url_name, target, data):
    targets = {
        "owner_membership": _membership(owner, tenant),
        "api_key": api_key_create(tenant=tenant, name="production")[0],
        "credential": ProviderCredentialFactory(tenant=tenant, provider="openai"),
    }
    url = reverse(url_name, args=[targets[target].code]) if target else reverse(url_name)
    client = client_for(request.getfixturevalue(role))
    before = _everything()

    response = client.post(url, data)

    assert response.status_code == 403
    assert "<h1>Not allowed</h1>" in response.text
    assert NOT_ALLOWED in response.text
    assert _everything() == before


# API keys ------------------------------------------------------------------------------------


def test_creating_an_api_key_shows_the_plaintext_once(tenant, owner, client_for):
    client = client_for(owner)

    response = client.post(reverse("tenancy-apikey-list"), {"name": "CRM sync"})

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    raw_key = re.search(r'value="(vp_[A-Za-z0-9]{8}_[A-Za-z0-9]{32})"', response.text).group(1)
    api_key = ApiKey.objects.for_tenant(tenant).get(name="CRM sync")
    assert api_key.hashed_key == hash_api_key(raw_key)
    assert api_key.created_by == owner
    later = client.get(reverse("tenancy-apikey-list"))
    assert "CRM sync" in later.text
    assert raw_key not in later.text
    assert api_key.display in later.text


def test_an_api_key_name_over_100_characters_is_a_form_error(tenant, owner, client_for):
    response = client_for(owner).post(reverse("tenancy-apikey-list"), {"name": "k" * 101})

    assert response.status_code == 400
    assert "Ensure this value has at most 100 characters (it has 101)." in response.text
    assert not ApiKey.objects.for_tenant(tenant).exists()


def test_a_blank_api_key_name_is_a_form_error(tenant, owner, client_for):
    response = client_for(owner).post(reverse("tenancy-apikey-list"), {"name": "   "})

    assert response.status_code == 400
    assert not ApiKey.objects.for_tenant(tenant).exists()


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_revoked_api_key_stops_working(tenant, owner, client_for, htmx):
    api_key, raw_key = api_key_create(tenant=tenant, name="production")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    assert api.get("/api/v1/").status_code == 200
    url = reverse("tenancy-apikey-revoke", args=[api_key.code])

    if htmx:
        response = client_for(owner).post(url, headers={"HX-Request": "true"})
        assert response.status_code == 200
        assert response.text.lstrip().startswith(f'<tr id="key-{api_key.code}">')
        assert "revoked" in response.text
    else:
        response = client_for(owner).post(url, follow=True)
        assert "Key production was revoked." in _messages(response)

    api_key.refresh_from_db()
    assert api_key.revoked_at is not None
    assert api.get("/api/v1/").status_code == 401


# Provider credentials ------------------------------------------------------------------------


def test_adding_a_credential_shows_only_the_last_four_characters(tenant, owner, client_for):
    plaintext = "sk-proj-very-secret-abcd"
    client = client_for(owner)

    saved = client.post(reverse("tenancy-credential-list"), {"provider": "openai", "secret": plaintext})
    followed = client.get(saved["Location"])

    assert saved.status_code == 302
    assert plaintext not in saved.text
    assert "OpenAI credential saved (…abcd)." in _messages(followed)
    assert "<code>…abcd</code>" in followed.text
    assert plaintext not in followed.text
    assert plaintext not in client.get(reverse("tenancy-credential-list")).text
    credential = ProviderCredential.objects.for_tenant(tenant).get(provider="openai")
    assert credential.get_secret() == plaintext
    assert plaintext not in credential.encrypted_secret


def test_replacing_a_credential_with_an_empty_secret_keeps_the_old_one(tenant, owner, client_for):
    credential = ProviderCredentialFactory(tenant=tenant, provider="openai", secret="sk-old-secret-0000wxyz")

    response = client_for(owner).post(
        reverse("tenancy-credential-list"),
        {"provider": "openai", "secret": "", "base_url": "https://proxy.acme.test/v1"},
    )

    assert response.status_code == 302
    credential.refresh_from_db()
    assert credential.get_secret() == "sk-old-secret-0000wxyz"
    assert credential.base_url == "https://proxy.acme.test/v1"
    assert ProviderCredential.objects.for_tenant(tenant).count() == 1


def test_a_new_provider_without_a_secret_is_a_form_error(tenant, owner, client_for):
    response = client_for(owner).post(reverse("tenancy-credential-list"), {"provider": "deepgram", "secret": ""})

    assert response.status_code == 400
    assert "Enter the API key (or auth token) for this provider." in response.text
    assert not ProviderCredential.objects.for_tenant(tenant).exists()


def test_an_openai_compatible_provider_needs_a_base_url(tenant, owner, client_for):
    response = client_for(owner).post(
        reverse("tenancy-credential-list"), {"provider": "openai_compatible", "secret": "local-key-12345678"}
    )

    assert response.status_code == 400
    assert "A self-hosted OpenAI-compatible provider needs its base URL." in response.text
    assert not ProviderCredential.objects.for_tenant(tenant).exists()
    assert "local-key-12345678" not in response.text


def test_deleting_a_credential(tenant, owner, client_for):
    credential = ProviderCredentialFactory(tenant=tenant, provider="openai")

    response = client_for(owner).post(reverse("tenancy-credential-delete", args=[credential.code]), follow=True)

    assert response.redirect_chain == [(reverse("tenancy-credential-list"), 302)]
    assert "OpenAI credential deleted." in _messages(response)
    assert not ProviderCredential.objects.filter(pk=credential.pk).exists()


# 404 -----------------------------------------------------------------------------------------


def test_an_unknown_member_code_is_a_404_page(owner, client_for):
    response = client_for(owner).post(reverse("tenancy-member-remove", args=[uuid.uuid4()]))

    assert response.status_code == 404
    assert NOT_FOUND in response.text


@pytest.mark.parametrize("logged_in", [True, False], ids=["member", "anonymous"])
def test_a_path_that_does_not_exist_is_a_404_page(owner, client_for, logged_in):
    client = client_for(owner) if logged_in else Client()

    response = client.get("/no/such/page")

    assert response.status_code == 404
    assert NOT_FOUND in response.text
