"""Call admin: read-only for everyone, and staff see only their tenants' calls."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from telephony_app.models import Call, CallStatus
from telephony_app.services import call_finish
from tests.factories import MembershipFactory, UserFactory
from tests.telephony_app.conftest import TRANSCRIPT
from voiceplatform.models import Role

CHANGELIST = "/admin/telephony_app/call/"


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def calls(tenant, other_tenant, make_call):
    mine = make_call(tenant, from_number="+14155550001")
    call_finish(tenant=tenant, call=mine, status=CallStatus.COMPLETED, transcript=TRANSCRIPT)
    return mine, make_call(other_tenant, from_number="+33100000002")


@pytest.fixture
def superuser(db):
    return UserFactory(username="root@ops.test", is_staff=True, is_superuser=True)


@pytest.fixture
def staff(tenant):
    """A staff user of tenant A holding every permission on calls (add, change and delete included)."""
    user = UserFactory(username="staff@acme.test", is_staff=True)
    MembershipFactory(tenant=tenant, user=user, role=Role.ADMIN)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="telephony_app"))
    return user


def test_a_superuser_sees_every_call_read_only(calls, superuser):
    mine, _theirs = calls
    client = _client(superuser)

    listing = client.get(CHANGELIST)
    page = client.get(f"{CHANGELIST}{mine.pk}/change/")

    assert listing.status_code == 200
    assert "+14155550001" in listing.text and "+33100000002" in listing.text
    assert page.status_code == 200
    assert "What are your opening hours?" in page.text
    assert 'name="_save"' not in page.text
    assert 'name="status"' not in page.text  # shown, not editable


def test_staff_see_only_their_tenants_calls_and_tenant_names(calls, staff, other_tenant):
    mine, theirs = calls
    client = _client(staff)

    listing = client.get(CHANGELIST)

    assert listing.status_code == 200
    assert "+14155550001" in listing.text
    assert "+33100000002" not in listing.text
    assert other_tenant.name not in listing.text  # the tenant filter offers only their own tenants
    assert client.get(f"{CHANGELIST}{mine.pk}/change/").status_code == 200
    assert client.get(f"{CHANGELIST}{theirs.pk}/change/").status_code in (302, 404)


@pytest.mark.parametrize("who", ["superuser", "staff"])
def test_nobody_adds_changes_or_deletes_calls_in_the_admin(calls, request, who):
    client = _client(request.getfixturevalue(who))
    mine, _theirs = calls
    before = Call.objects.filter(pk=mine.pk).values().get()

    add = client.get(f"{CHANGELIST}add/")
    change = client.post(f"{CHANGELIST}{mine.pk}/change/", {"status": "failed", "from_number": "+1999"})
    delete = client.post(f"{CHANGELIST}{mine.pk}/delete/", {"post": "yes"})
    bulk = client.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [mine.pk], "post": "yes"})

    assert add.status_code == 403
    assert change.status_code == 403
    assert delete.status_code == 403
    assert bulk.status_code in (200, 302)
    assert Call.objects.filter(pk=mine.pk).values().get() == before
