"""Operator admin: superusers see every tenant, staff only their own tenants' rows."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD
from tests.factories import MembershipFactory, ProviderCredentialFactory, UserFactory
from voiceplatform.models import ApiKey, Membership, ProviderCredential, Role, Tenant
from voiceplatform.services import api_key_create

User = get_user_model()
MODELS = ["tenant", "membership", "apikey", "providercredential"]


@pytest.fixture
def rows(tenant, other_tenant, owner, outsider):
    """One row of each admin model per tenant: {"tenant": (A's, B's), "membership": (...), ...}."""

    def make(t: Tenant, user) -> dict:
        return {
            "tenant": t,
            "membership": Membership.objects.for_tenant(t).get(user=user),
            "apikey": api_key_create(tenant=t, name=f"{t.slug} key")[0],
            "providercredential": ProviderCredentialFactory(
                tenant=t, provider="openai", secret=f"sk-{t.slug}-plaintext-secret-{t.slug[-4:]}"
            ),
        }

    mine, theirs = make(tenant, owner), make(other_tenant, outsider)
    return {name: (mine[name], theirs[name]) for name in MODELS}


@pytest.fixture
def superuser(db):
    return UserFactory(username="root@ops.test", is_staff=True, is_superuser=True)


@pytest.fixture
def staff(tenant):
    """A staff user in tenant A only, with every permission on the tenancy models and on users."""
    user = UserFactory(username="staff@acme.test", is_staff=True)
    MembershipFactory(tenant=tenant, user=user, role=Role.ADMIN)
    user.user_permissions.set(
        Permission.objects.filter(
            Q(content_type__app_label="voiceplatform")
            | Q(content_type__app_label="auth", codename__in=["view_user", "change_user", "delete_user"])
        )
    )
    return user


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _change_url(obj) -> str:
    return reverse(f"admin:voiceplatform_{obj._meta.model_name}_change", args=[obj.pk])


def _row(obj) -> dict | None:
    return type(obj).objects.filter(pk=obj.pk).values().first()


# Changelists ---------------------------------------------------------------------------------


@pytest.mark.parametrize("model_name", MODELS)
def test_a_superuser_sees_every_tenants_rows(rows, superuser, model_name):
    mine, theirs = rows[model_name]

    response = _client(superuser).get(reverse(f"admin:voiceplatform_{model_name}_changelist"))

    assert response.status_code == 200
    assert _change_url(mine) in response.text
    assert _change_url(theirs) in response.text


@pytest.mark.parametrize("model_name", MODELS)
def test_staff_see_only_their_tenants_rows(rows, staff, model_name):
    mine, theirs = rows[model_name]

    response = _client(staff).get(reverse(f"admin:voiceplatform_{model_name}_changelist"))

    assert response.status_code == 200
    assert _change_url(mine) in response.text
    assert _change_url(theirs) not in response.text


@pytest.mark.parametrize("model_name", MODELS)
def test_staff_cannot_open_another_tenants_object(rows, staff, model_name):
    mine, theirs = rows[model_name]
    client = _client(staff)

    assert f'id="{model_name}_form"' in client.get(_change_url(mine)).text
    response = client.get(_change_url(theirs))

    assert response.status_code in (302, 404)
    assert f'id="{model_name}_form"' not in response.text


def _change_data(model_name: str, rows: dict) -> dict:
    """A complete, valid change-form POST for the other tenant's object of this model."""
    theirs = rows[model_name][1]
    if model_name == "tenant":
        return {"name": "Hacked", "slug": "hacked", "timezone": "UTC"}
    if model_name == "membership":
        return {"tenant": theirs.tenant_id, "user": theirs.user_id, "role": "viewer"}
    if model_name == "apikey":
        return {"name": "hacked", "revoked_at_0": "2024-01-01", "revoked_at_1": "00:00:00"}
    return {"tenant": theirs.tenant_id, "provider": "openai", "secret": "sk-attacker-00000000"}


@pytest.mark.parametrize("model_name", MODELS)
def test_staff_cannot_change_or_delete_another_tenants_object(rows, staff, model_name):
    theirs = rows[model_name][1]
    before = _row(theirs)
    client = _client(staff)

    client.post(_change_url(theirs), _change_data(model_name, rows))
    client.post(reverse(f"admin:voiceplatform_{model_name}_delete", args=[theirs.pk]), {"post": "yes"})

    assert _row(theirs) == before


@pytest.mark.parametrize("model_name", MODELS)
def test_a_superuser_can_change_and_delete_any_tenants_object(rows, superuser, model_name):
    """Guards the test above: the same requests do change and delete when allowed."""
    theirs = rows[model_name][1]
    before = _row(theirs)
    client = _client(superuser)

    assert client.post(_change_url(theirs), _change_data(model_name, rows)).status_code == 302
    assert _row(theirs) != before
    client.post(reverse(f"admin:voiceplatform_{model_name}_delete", args=[theirs.pk]), {"post": "yes"})
    assert _row(theirs) is None


# Foreign-key choices -------------------------------------------------------------------------


def test_staff_choose_only_their_tenants_when_adding_a_credential(rows, tenant, other_tenant, staff):
    response = _client(staff).get(reverse("admin:voiceplatform_providercredential_add"))

    assert response.status_code == 200
    assert f'<option value="{tenant.pk}">Acme</option>' in response.text
    assert "Globex" not in response.text
    assert list(response.context["adminform"].form.fields["tenant"].queryset) == [tenant]


def test_staff_choose_only_their_tenants_when_adding_a_membership(rows, tenant, other_tenant, staff):
    client = _client(staff)
    newcomer = MembershipFactory(tenant=tenant, user=UserFactory(username="newcomer@acme.test")).user

    response = client.get(reverse("admin:voiceplatform_membership_add"))
    assert list(response.context["adminform"].form.fields["tenant"].queryset) == [tenant]

    response = client.post(
        reverse("admin:voiceplatform_membership_add"),
        {"tenant": other_tenant.pk, "user": newcomer.pk, "role": "owner"},
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.text
    assert not Membership.objects.for_tenant(other_tenant).filter(user=newcomer).exists()


def _autocomplete(client: Client, field_name: str, term: str = "") -> list[str]:
    response = client.get(
        "/admin/autocomplete/",
        {"app_label": "voiceplatform", "model_name": "membership", "field_name": field_name, "term": term},
    )
    assert response.status_code == 200
    return [result["text"] for result in response.json()["results"]]


def test_admin_autocomplete_offers_staff_only_their_tenants_and_people(rows, owner, outsider, staff, superuser):
    staff_client = _client(staff)

    assert _autocomplete(staff_client, "tenant") == ["Acme"]
    assert _autocomplete(staff_client, "tenant", "Glo") == []
    people = _autocomplete(staff_client, "user")
    assert owner.username in people
    assert outsider.username not in people
    assert _autocomplete(_client(superuser), "tenant") == ["Acme", "Globex"]


# Users ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["staff", "teammate"])
def test_staff_cannot_make_anyone_a_superuser(request, staff, teammate, target):
    user = request.getfixturevalue(target)
    url = reverse("admin:auth_user_change", args=[user.pk])
    client = _client(staff)
    assert 'name="is_superuser"' not in client.get(url).text

    response = client.post(
        url,
        {
            "username": user.username,
            "email": user.email,
            "first_name": "",
            "last_name": "Changed",
            "is_active": "on",
            "is_staff": "on",
            "is_superuser": "on",
            "date_joined_0": "2024-01-01",
            "date_joined_1": "00:00:00",
        },
    )

    assert response.status_code == 302  # the form was valid and saved...
    user.refresh_from_db()
    assert user.last_name == "Changed"
    assert not user.is_superuser  # ...without the field staff cannot edit
    assert user.is_staff == (target == "staff")


# Provider credentials ------------------------------------------------------------------------


def test_the_credential_secret_is_write_only_in_the_admin(rows, superuser):
    credential = rows["providercredential"][0]
    plaintext = credential.get_secret()
    client = _client(superuser)

    response = client.get(_change_url(credential))

    assert response.status_code == 200
    assert credential.masked_secret in response.text
    assert plaintext not in response.text
    assert credential.encrypted_secret not in response.text

    response = client.post(
        _change_url(credential),
        {"tenant": credential.tenant_id, "provider": "openai", "base_url": "https://proxy.acme.test/v1", "secret": ""},
    )
    assert response.status_code == 302
    credential.refresh_from_db()
    assert credential.get_secret() == plaintext
    assert credential.base_url == "https://proxy.acme.test/v1"
    assert plaintext not in client.get(_change_url(credential)).text


def test_a_new_secret_entered_in_the_admin_replaces_the_old_one(rows, superuser):
    credential = rows["providercredential"][0]

    response = _client(superuser).post(
        _change_url(credential),
        {"tenant": credential.tenant_id, "provider": "openai", "secret": "sk-rotated-secret-9876"},
    )

    assert response.status_code == 302
    credential.refresh_from_db()
    assert credential.get_secret() == "sk-rotated-secret-9876"
    assert credential.masked_secret == "…9876"


# API keys ------------------------------------------------------------------------------------


def test_api_keys_cannot_be_added_in_the_admin(rows, superuser):
    client = _client(superuser)

    assert client.get(reverse("admin:voiceplatform_apikey_add")).status_code == 403
    assert (
        reverse("admin:voiceplatform_apikey_add")
        not in client.get(reverse("admin:voiceplatform_apikey_changelist")).text
    )


def _revoke(client: Client, *api_keys: ApiKey):
    return client.post(
        reverse("admin:voiceplatform_apikey_changelist"),
        {"action": "revoke", "index": "0", "_selected_action": [k.pk for k in api_keys]},
    )


def test_the_revoke_action_revokes_keys(rows, superuser):
    mine, theirs = rows["apikey"]

    response = _revoke(_client(superuser), mine, theirs)

    assert response.status_code == 302
    assert ApiKey.objects.filter(pk__in=[mine.pk, theirs.pk], revoked_at__isnull=False).count() == 2


def test_staff_cannot_revoke_another_tenants_key(rows, staff):
    mine, theirs = rows["apikey"]

    _revoke(_client(staff), mine, theirs)

    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None
    assert theirs.revoked_at is None


def test_credential_admin_form_requires_a_secret_for_a_new_credential(rows, superuser, tenant):
    response = _client(superuser).post(
        reverse("admin:voiceplatform_providercredential_add"), {"tenant": tenant.pk, "provider": "deepgram"}
    )

    assert response.status_code == 200
    assert "Enter the API key (or auth token) for this provider." in response.text
    assert not ProviderCredential.objects.for_tenant(tenant).filter(provider="deepgram").exists()


@pytest.fixture
def operator_in_tenant(tenant):
    """A superuser who is also a member of tenant A (as the seeded demo owner is)."""
    user = UserFactory(username="ops@acme.test", is_staff=True, is_superuser=True)
    MembershipFactory(tenant=tenant, user=user, role=Role.OWNER)
    return user


@pytest.fixture
def member_of_both(tenant, other_tenant):
    user = UserFactory(username="both@acme.test")
    MembershipFactory(tenant=tenant, user=user, role=Role.EDITOR)
    MembershipFactory(tenant=other_tenant, user=user, role=Role.OWNER)
    return user


@pytest.mark.parametrize("target", ["operator_in_tenant", "member_of_both"])
def test_staff_cannot_take_over_an_account_that_reaches_beyond_their_tenants(request, staff, target):
    user = request.getfixturevalue(target)
    client = _client(staff)
    new_password = {"password1": "taken-over-pass-123", "password2": "taken-over-pass-123"}

    response = client.post(reverse("admin:auth_user_password_change", args=[user.pk]), new_password)
    client.post(reverse("admin:auth_user_delete", args=[user.pk]), {"post": "yes"})

    assert response.status_code == 403
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert 'name="email"' not in client.get(reverse("admin:auth_user_change", args=[user.pk])).text


def test_staff_can_set_the_password_of_someone_only_in_their_tenants(staff, teammate):
    """Guards the test above: the same request works for a person staff fully manage."""
    new_password = {"password1": "a-fresh-pass-for-you-123", "password2": "a-fresh-pass-for-you-123"}

    response = _client(staff).post(reverse("admin:auth_user_password_change", args=[teammate.pk]), new_password)

    assert response.status_code == 302
    teammate.refresh_from_db()
    assert teammate.check_password("a-fresh-pass-for-you-123")
