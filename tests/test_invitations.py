"""Invitations: a signed, expiring link by email; nobody joins a tenant until they accept it."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.conftest import PASSWORD
from tests.factories import MembershipFactory, UserFactory
from voiceplatform.models import Invitation, Membership, Role

User = get_user_model()
LINK = re.compile(r"https?://\S+/invitations/\S+/")
NEW_PASSWORD = "a-long-fresh-passphrase-41"


@pytest.fixture
def invite(tenant, owner, client_for):
    """invite(email, role, by=user or client=client) -> (the members page POST's response, the emailed link)."""

    def send(email: str, role: str = "editor", by=None, client=None):
        mail.outbox.clear()
        client = client or client_for(by or owner)
        response = client.post(reverse("tenancy-member-list"), {"email": email, "role": role})
        links = [LINK.search(message.body).group(0) for message in mail.outbox]
        return response, (urlsplit(links[0]).path if links else None)

    return send


def _member(user, tenant) -> Membership | None:
    return Membership.objects.for_tenant(tenant).filter(user=user).first()


def test_inviting_an_existing_account_adds_nobody_and_emails_a_link(tenant, outsider, invite):
    response, link = invite(outsider.email, "viewer")

    assert response.status_code == 302
    assert _member(outsider, tenant) is None  # nothing until the invitee accepts
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [outsider.email]
    assert "Acme" in mail.outbox[0].subject
    assert link is not None


def test_the_inviter_sees_the_same_thing_whether_or_not_the_address_has_an_account(
    tenant, owner, outsider, invite, client_for
):
    client = client_for(owner)
    answers = []
    for email in (outsider.email, "nobody-yet@example.test"):
        response, link_path = invite(email, client=client)
        page = client.get(response["Location"])
        answers.append(
            (
                response.status_code,
                response["Location"],
                response.content,
                [str(m).replace(email, "EMAIL") for m in page.context["messages"]],
                link_path is not None,
            )
        )

    assert answers[0] == answers[1]
    assert answers[0][3] == ["Invitation sent to EMAIL. The link works for 7 days."]
    assert not User.objects.filter(email="nobody-yet@example.test").exists()  # no account on the inviter's word
    assert not LINK.search(page.text) and f'"{link_path}"' not in page.text  # the link is never shown


def test_the_link_is_not_logged(tenant, outsider, invite, caplog):
    with caplog.at_level(logging.DEBUG):
        _response, link = invite(outsider.email)

    assert link is not None
    assert link not in caplog.text
    assert link.rstrip("/").rsplit("/", 1)[-1] not in caplog.text


def test_a_new_person_sets_a_password_and_joins(tenant, invite):
    _response, link = invite("new@acme.test", "editor")
    client = Client()

    page = client.get(link)
    assert page.status_code == 200
    assert "Join Acme" in page.text
    assert 'name="new_password1"' in page.text
    response = client.post(link, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})

    assert response.status_code == 302
    assert response["Location"] == reverse("portal-dashboard")
    invitee = User.objects.get(email="new@acme.test")
    assert _member(invitee, tenant).role == Role.EDITOR
    assert "<h1>Acme</h1>" in client.get(reverse("portal-dashboard")).text  # logged in, in the tenant
    assert Client().post(reverse("login"), {"username": "new@acme.test", "password": NEW_PASSWORD}).status_code == 302
    assert "already accepted" in Client().get(link).text


def test_a_weak_password_is_a_form_error_and_nobody_joins(tenant, invite):
    _response, link = invite("new@acme.test")

    response = Client().post(link, {"new_password1": "12345", "new_password2": "12345"})

    assert response.status_code == 400
    assert "This password is too short." in response.text
    assert not User.objects.filter(email="new@acme.test").exists()


def test_an_existing_account_logs_in_and_accepts(tenant, outsider, invite):
    _response, link = invite(outsider.email, "viewer")
    anonymous = Client().get(link)
    assert "Log in to accept" in anonymous.text
    assert 'name="new_password1"' not in anonymous.text
    client = Client()
    login = client.post(f"{reverse('login')}?next={link}", {"username": outsider.username, "password": PASSWORD})
    assert login["Location"] == link

    assert "Accept and join Acme" in client.get(link).text
    response = client.post(link)

    assert response.status_code == 302
    assert _member(outsider, tenant).role == Role.VIEWER
    outsider.refresh_from_db()
    assert outsider.check_password(PASSWORD)


def test_another_logged_in_account_cannot_accept(tenant, outsider, invite):
    _response, link = invite("someone-else@example.test")
    client = Client()
    client.force_login(outsider)

    response = client.post(link)

    assert response.status_code == 403
    assert "this invitation is for someone-else@example.test" in response.text
    assert _member(outsider, tenant) is None


@pytest.mark.parametrize("reason", ["expired", "revoked", "tampered"])
def test_an_unusable_link_gives_a_clear_page_and_nobody_joins(tenant, owner, outsider, invite, client_for, reason):
    _response, link = invite(outsider.email)
    invitation = Invitation.objects.for_tenant(tenant).get(email=outsider.email)
    if reason == "expired":
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif reason == "revoked":
        client_for(owner).post(reverse("tenancy-invitation-revoke", args=[invitation.code]))
    else:
        link = link[:-3] + ("A" if link[-3] != "A" else "B") + link[-2:]
    client = Client()
    client.force_login(outsider)

    page = client.get(link)
    response = client.post(link)

    expected = {"expired": "has expired", "revoked": "was withdrawn", "tampered": "does not work"}[reason]
    assert page.status_code == 410
    assert expected in page.text
    assert response.status_code == 410
    assert _member(outsider, tenant) is None


def test_pending_invitations_are_listed_and_can_be_revoked(tenant, owner, invite, client_for):
    invite("first@example.test", "viewer")
    invite("second@example.test", "admin")
    client = client_for(owner)

    page = client.get(reverse("tenancy-member-list")).text
    assert "first@example.test" in page and "second@example.test" in page
    first = Invitation.objects.for_tenant(tenant).get(email="first@example.test")
    response = client.post(reverse("tenancy-invitation-revoke", args=[first.code]), follow=True)

    assert "The invitation to first@example.test was revoked; its link no longer works." in response.text
    assert 'id="invitation-' + str(first.code) not in response.text
    assert "second@example.test" in response.text
    first.refresh_from_db()
    assert first.revoked_at is not None


def test_a_new_invitation_replaces_the_pending_one(tenant, invite):
    _response, old_link = invite("new@acme.test", "viewer")
    _response, new_link = invite("new@acme.test", "editor")

    assert "was withdrawn" in Client().get(old_link).text
    assert Client().get(new_link).status_code == 200


def test_an_admin_cannot_invite_an_owner_and_no_mail_goes_out(tenant, invite):
    admin = MembershipFactory(tenant=tenant, user=UserFactory(username="admin@acme.test"), role=Role.ADMIN).user

    response, link = invite("boss@example.test", "owner", by=admin)

    assert response.status_code == 400
    assert "Only an owner can make someone an owner." in response.text
    assert link is None
    assert not Invitation.objects.for_tenant(tenant).exists()


def test_a_viewer_cannot_invite(tenant, viewer, invite):
    response, link = invite("friend@example.test", by=viewer)

    assert response.status_code == 403
    assert link is None


class RefusingMailServer(BaseEmailBackend):
    """An email backend whose server refuses the connection."""

    def send_messages(self, email_messages):
        raise ConnectionRefusedError("mail server down")


def test_a_mail_server_that_refuses_is_said_plainly_and_nothing_else_changes(tenant, owner, client_for, settings):
    settings.EMAIL_BACKEND = "tests.test_invitations.RefusingMailServer"
    client = client_for(owner)

    response = client.post(reverse("tenancy-member-list"), {"email": "new@acme.test", "role": "editor"}, follow=True)

    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == [
        "The invitation to new@acme.test is saved, but the email could not be sent (the mail server did not take it). "
        "Revoke it below and invite again later."
    ]
    assert Invitation.objects.for_tenant(tenant).filter(email="new@acme.test", revoked_at=None).exists()
