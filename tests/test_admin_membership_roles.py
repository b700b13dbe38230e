"""The admin applies the portal's role rule to staff (no promoting oneself, no touching owners); invitations."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import MembershipFactory, UserFactory
from voiceplatform.models import Invitation, Membership, Role


def _staff(tenant, role: str):
    user = UserFactory(username=f"staff-{role}@acme.test", is_staff=True)
    MembershipFactory(tenant=tenant, user=user, role=role)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="voiceplatform"))
    return user


@pytest.fixture
def staff_admin(tenant):
    """A staff user who is an admin (not an owner) of tenant A, with every admin permission there."""
    return _staff(tenant, Role.ADMIN)


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _membership(user, tenant) -> Membership:
    return Membership.objects.for_tenant(tenant).get(user=user)


def _change(client: Client, membership: Membership, role: str):
    """The admin change form, posted as a person would after picking a role."""
    url = reverse("admin:voiceplatform_membership_change", args=[membership.pk])
    assert client.get(url).status_code == 200
    return client.post(url, {"tenant": membership.tenant_id, "user": membership.user_id, "role": role})


def test_staff_cannot_make_themselves_owner(tenant, owner, staff_admin):
    membership = _membership(staff_admin, tenant)

    response = _change(_client(staff_admin), membership, Role.OWNER)

    assert response.status_code == 200
    assert "Only an owner can make someone an owner." in response.text
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN


def test_staff_cannot_demote_an_owner(tenant, owner, staff_admin):
    membership = _membership(owner, tenant)

    response = _change(_client(staff_admin), membership, Role.VIEWER)

    assert "Only an owner can change the role of an owner." in response.text
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_staff_can_change_what_the_portal_lets_them_change(tenant, owner, teammate, staff_admin):
    """Guards the tests above: the same form saves an allowed change."""
    membership = _membership(teammate, tenant)

    response = _change(_client(staff_admin), membership, Role.VIEWER)

    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.VIEWER


def test_staff_who_are_only_editors_cannot_change_roles(tenant, owner, teammate):
    editor_staff = _staff(tenant, Role.EDITOR)
    membership = _membership(teammate, tenant)

    response = _change(_client(editor_staff), membership, Role.ADMIN)

    assert "Only owners and admins of this tenant can manage its members." in response.text
    membership.refresh_from_db()
    assert membership.role == Role.EDITOR


def test_staff_cannot_add_an_owner(tenant, other_tenant, owner, staff_admin):
    # Staff in two tenants can pick people of either: one from B is added to A.
    MembershipFactory(tenant=other_tenant, user=staff_admin, role=Role.ADMIN)
    newcomer = MembershipFactory(tenant=other_tenant, user=UserFactory(username="newcomer@globex.test")).user

    response = _client(staff_admin).post(
        reverse("admin:voiceplatform_membership_add"), {"tenant": tenant.pk, "user": newcomer.pk, "role": "owner"}
    )

    assert "Only an owner can make someone an owner." in response.text
    assert not Membership.objects.for_tenant(tenant).filter(user=newcomer).exists()


def test_staff_cannot_delete_an_owner(tenant, owner, staff_admin):
    membership = _membership(owner, tenant)

    response = _client(staff_admin).post(
        reverse("admin:voiceplatform_membership_delete", args=[membership.pk]), {"post": "yes"}
    )

    assert response.status_code == 403
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_an_owner_on_staff_may_promote(tenant, owner, teammate):
    owner_staff = _staff(tenant, Role.OWNER)
    membership = _membership(teammate, tenant)

    response = _change(_client(owner_staff), membership, Role.OWNER)

    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.OWNER


def test_operators_see_and_revoke_invitations_of_their_tenants_only(tenant, other_tenant, staff_admin):
    expires_at = timezone.now() + timedelta(days=1)
    mine = Invitation.objects.create(tenant=tenant, email="a@example.test", expires_at=expires_at)
    theirs = Invitation.objects.create(tenant=other_tenant, email="b@example.test", expires_at=expires_at)
    client = _client(staff_admin)
    changelist = reverse("admin:voiceplatform_invitation_changelist")

    page = client.get(changelist).text
    client.post(changelist, {"action": "revoke", "index": "0", "_selected_action": [mine.pk, theirs.pk]})

    assert "a@example.test" in page and "b@example.test" not in page
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None
    assert theirs.revoked_at is None
