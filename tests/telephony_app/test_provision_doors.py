"""The three doors to LiveKit SIP provisioning (issue 17, item 3): POST/GET
/api/v1/phone-numbers/{id}/provision, the portal's button on the number's page, and
manage.py livekit_provision; and the carrier credentials, write-only everywhere."""

from __future__ import annotations

import io
import subprocess
import sys
import time

import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from django.urls import reverse

from telephony_app.models import PhoneNumber
from telephony_app.services import phone_number_create
from tests.campaigns_app.conftest import _live_database_url
from tests.conftest import AGENT_NAME
from tests.test_health_and_settings import _valid_env
from voiceplatform.devtools.fake_livekit import KEY, SECRET

NUMBER = "+12125550100"
PASSWORD = "carrier-pass-8f2k"


@pytest.fixture
def number(tenant, make_agent) -> PhoneNumber:
    return phone_number_create(
        tenant=tenant,
        number=NUMBER,
        provider="sip",
        agent=make_agent(tenant),
        outbound_address="sip.carrier.example:5061",
        outbound_transport="tls",
        outbound_auth_username="acme",
        outbound_auth_password=PASSWORD,
    )


def _url(phone_number: PhoneNumber) -> str:
    return reverse("api-phone-number-provision", kwargs={"id": phone_number.code})


def _fresh(phone_number: PhoneNumber) -> PhoneNumber:
    return PhoneNumber.objects.get(pk=phone_number.pk)


# API -----------------------------------------------------------------------------------------


def test_api_post_provisions_and_a_second_post_writes_nothing(livekit, api, number):
    response = api.post(_url(number))

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["applied"] and body["changes"] and not body["refused"]
    assert [(p["part"], p["action"]) for p in body["parts"]] == [
        ("inbound_trunk", "create"), ("dispatch_rule", "create"), ("outbound_trunk", "create"),
    ]  # fmt: skip
    stored = _fresh(number)
    assert [p["livekitId"] for p in body["parts"]] == [
        stored.sip_trunk_id, stored.dispatch_rule_id, stored.outbound_trunk_id,
    ]  # fmt: skip
    assert PASSWORD not in response.content.decode()
    detail = api.get(reverse("api-phone-number-detail", kwargs={"id": number.code})).json()
    assert (detail["sipTrunkId"], detail["dispatchRuleId"]) == (stored.sip_trunk_id, stored.dispatch_rule_id)

    livekit.received.clear()
    again = api.post(_url(number))

    assert again.status_code == 200
    assert not again.json()["changes"]
    assert again.json()["detail"] == f"{NUMBER}: nothing to change, LiveKit already matches."
    assert livekit.sip_writes() == []


def test_api_get_shows_the_differences_and_writes_nothing(livekit, api, number):
    api.post(_url(number))
    trunk = livekit.outbound_trunks[_fresh(number).outbound_trunk_id]
    trunk.address = "sip.other.example"
    livekit.received.clear()

    response = api.get(_url(number))

    assert response.status_code == 200
    body = response.json()
    assert not body["applied"] and body["changes"]
    outbound = body["parts"][2]
    assert outbound["action"] == "update"
    address = next(f for f in outbound["fields"] if f["name"] == "address")
    assert address == {"name": "address", "current": "sip.other.example", "wanted": "sip.carrier.example:5061",
                       "differs": True}  # fmt: skip
    assert livekit.sip_writes() == []
    assert PASSWORD not in response.content.decode()


def test_api_answers_502_with_livekits_error(livekit, api, number):
    livekit.fail("SIP/CreateSIPInboundTrunk", status=403, code="permission_denied", msg="SIP is not enabled")

    response = api.post(_url(number))

    assert response.status_code == 502
    assert response.json() == {
        "detail": "LiveKit refused the request (permission_denied): SIP is not enabled",
    }


def test_api_answers_502_when_livekit_is_down(livekit, api, number):
    livekit.stop()

    response = api.post(_url(number))

    assert response.status_code == 502
    assert "did not answer" in response.json()["detail"]


def test_a_slow_livekit_ends_within_the_request_budget(livekit, api, number, settings):
    settings.WEB_REQUEST_BUDGET_SECONDS = 3  # LiveKit calls get 2 s of it in all
    livekit.delay_seconds = 0.8  # each call answers, but provisioning needs several of them

    began = time.monotonic()
    response = api.post(_url(number))

    assert time.monotonic() - began < 3
    assert response.status_code == 502
    assert "did not" in response.json()["detail"]


def test_api_answers_503_when_livekit_is_not_configured(unconfigured, api, number):
    response = api.post(_url(number))

    assert response.status_code == 503
    assert "LIVEKIT_URL" in response.json()["detail"]


def test_api_answers_409_with_the_report_when_a_hand_made_trunk_is_in_the_way(livekit, api, tenant, number):
    api.post(_url(number))
    livekit.inbound_trunks[_fresh(number).sip_trunk_id].metadata = ""  # now it looks made by hand

    response = api.post(_url(number))

    assert response.status_code == 409
    assert response.json()["refused"]
    assert "not made by the platform" in response.json()["detail"]


def test_another_tenants_number_is_404_and_nothing_is_written(livekit, api_client_for, other_tenant, number):
    response = api_client_for(other_tenant).post(_url(number))
    plan = api_client_for(other_tenant).get(_url(number))

    assert (response.status_code, plan.status_code) == (404, 404)
    assert livekit.received == []


def test_the_carrier_password_is_write_only_and_encrypted(api, tenant):
    response = api.post(
        reverse("api-phone-number-list"),
        {"number": "+14155550123", "outboundAddress": "sip.telnyx.com", "outboundAuthUsername": "acme",
         "outboundAuthPassword": PASSWORD},
        format="json",
    )  # fmt: skip

    assert response.status_code == 201, response.json()
    assert "outboundAuthPassword" not in response.json()
    assert response.json()["outboundAuthPasswordSet"] is True
    stored = PhoneNumber.objects.for_tenant(tenant).get(number="+14155550123")
    assert PASSWORD not in stored.outbound_auth_password_encrypted
    assert stored.get_outbound_auth_password() == PASSWORD
    url = reverse("api-phone-number-detail", kwargs={"id": stored.code})
    assert api.patch(url, {"label": "Main"}, format="json").json()["outboundAuthPasswordSet"] is True  # kept
    cleared = api.patch(url, {"outboundAuthUsername": ""}, format="json").json()
    assert cleared["outboundAuthPasswordSet"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"outboundAddress": "sip:carrier.example"}, "outboundAddress"),
        ({"outboundAddress": "carrier.example:99999"}, "outboundAddress"),
        ({"outboundTransport": "carrier-pigeon"}, "outboundTransport"),
        ({"outboundAuthPassword": "only-a-password"}, "outboundAuthUsername"),
        ({"outboundAuthUsername": "ac\x00me"}, "outboundAuthUsername"),
        ({"outboundAddress": "a" * 300}, "outboundAddress"),
    ],
)
def test_bad_carrier_settings_are_a_400_naming_the_field(api, body, field):
    response = api.post(reverse("api-phone-number-list"), {"number": "+14155550123", **body}, format="json")

    assert response.status_code == 400
    assert field in str(response.json())
    assert not PhoneNumber.objects.filter(number="+14155550123").exists()


# Portal --------------------------------------------------------------------------------------


def test_the_numbers_page_has_the_button_and_it_provisions(livekit, client_for, teammate, number):
    page = client_for(teammate).get(reverse("numbers-number-edit", kwargs={"code": number.code}))
    provision_url = reverse("numbers-number-provision", kwargs={"code": number.code})
    assert f'action="{provision_url}"' in page.text
    assert "Provision in LiveKit" in page.text
    assert PASSWORD not in page.text and "A carrier password is stored." in page.text

    response = client_for(teammate).post(provision_url, follow=True)

    assert response.status_code == 200
    stored = _fresh(number)
    assert stored.sip_trunk_id and stored.dispatch_rule_id and stored.outbound_trunk_id
    assert "inbound trunk created" in response.text  # the message
    assert stored.sip_trunk_id in response.text and "unchanged" in response.text  # the page after: LiveKit matches
    assert AGENT_NAME in response.text
    assert PASSWORD not in response.text


def test_the_portal_shows_livekits_error_as_a_message(livekit, client_for, owner, number):
    livekit.fail("SIP/ListSIPInboundTrunk", status=503, code="unavailable", msg="SIP service is restarting")

    response = client_for(owner).post(reverse("numbers-number-provision", kwargs={"code": number.code}))

    assert response.status_code == 502
    assert "LiveKit could not be provisioned: LiveKit refused the request (unavailable): SIP service is restarting" in (
        response.text
    )
    assert _fresh(number).sip_trunk_id == ""


def test_a_viewer_may_not_provision(livekit, client_for, viewer, number):
    url = reverse("numbers-number-provision", kwargs={"code": number.code})

    assert client_for(viewer).post(url).status_code == 403
    assert client_for(viewer).get(url).status_code == 403  # like the number's own page
    assert livekit.received == []


def test_another_tenants_number_page_is_404(livekit, client_for, outsider, number):
    response = client_for(outsider).post(reverse("numbers-number-provision", kwargs={"code": number.code}))

    assert response.status_code == 404
    assert livekit.received == []


def test_the_form_saves_the_carrier_and_keeps_a_blank_password(client_for, owner, tenant, number):
    url = reverse("numbers-number-edit", kwargs={"code": number.code})
    form = {"number": NUMBER, "provider": "sip", "is_active": "on", "outbound_cps": "1",
            "outbound_address": "sip.telnyx.com", "outbound_transport": "udp",
            "outbound_auth_username": "acme", "outbound_auth_password": ""}  # fmt: skip

    response = client_for(owner).post(url, form)

    assert response.status_code == 302
    stored = _fresh(number)
    assert (stored.outbound_address, stored.outbound_transport) == ("sip.telnyx.com", "udp")
    assert stored.get_outbound_auth_password() == PASSWORD


# Command -------------------------------------------------------------------------------------


def _command(*args: str) -> str:
    out = io.StringIO()
    call_command("livekit_provision", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_the_command_provisions_one_number_then_finds_nothing_to_change(livekit, number):
    first = _command(str(number.code))
    livekit.received.clear()
    second = _command(str(number.code))

    assert f"{NUMBER}: inbound trunk created" in first
    assert second.strip() == f"{NUMBER}: nothing to change, LiveKit already matches."
    assert livekit.sip_writes() == []


def test_the_commands_dry_run_shows_the_diff_and_writes_nothing(livekit, number):
    _command(str(number.code))
    livekit.outbound_trunks[_fresh(number).outbound_trunk_id].address = "sip.other.example"
    livekit.received.clear()

    out = _command("--all", "--dry-run")

    assert "[dry run]" in out and "outbound trunk to update" in out
    assert "address: sip.other.example -> sip.carrier.example:5061" in out
    assert livekit.sip_writes() == []


def test_the_command_by_tenant_covers_only_that_tenant(livekit, number, other_tenant):
    phone_number_create(tenant=other_tenant, number="+12125550177", provider="sip")

    out = _command("--tenant", "acme")

    assert NUMBER in out and "+12125550177" not in out
    assert len(livekit.inbound_trunks) == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "name what to provision"),
        (("--all", "--tenant", "acme"), "exactly one"),
        (("not-a-uuid",), "is not a phone number id"),
        (("00000000-0000-4000-8000-000000000000",), "no phone number with the id"),
        (("--tenant", "nobody"), "no tenant with the slug 'nobody'"),
    ],
)
def test_the_command_refuses_bad_arguments_in_one_line(livekit, number, args, message):
    with pytest.raises(CommandError, match=message) as error:
        _command(*args)
    assert "\n" not in str(error.value)


def test_the_command_fails_in_one_line_when_livekit_refuses(livekit, number):
    livekit.fail("SIP/CreateSIPInboundTrunk", status=400, code="invalid_argument", msg="bad number")

    with pytest.raises(CommandError) as error:
        _command(str(number.code))

    assert str(error.value) == f"{NUMBER}: LiveKit refused the request (invalid_argument): bad number"


@pytest.mark.django_db(transaction=True)  # the command runs in another process: it must see the rows
def test_the_commands_exit_status(livekit, tenant, make_agent):
    phone_number_create(tenant=tenant, number=NUMBER, provider="sip", agent=make_agent(tenant))
    env = {
        **_valid_env(),
        # The test database on whichever server this run uses (the embedded one in CI).
        "DATABASE_URL": _live_database_url(),
        "LIVEKIT_URL": livekit.url,
        "LIVEKIT_API_KEY": KEY,
        "LIVEKIT_API_SECRET": SECRET,
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "manage.py", "livekit_provision", *args]
        return subprocess.run(argv, cwd=django_settings.BASE_DIR, env=env, capture_output=True, text=True, timeout=60)

    ok = run("--all")
    livekit.stop()
    down = run("--tenant", "acme")

    assert ok.returncode == 0, ok.stderr
    assert f"{NUMBER}: inbound trunk created" in ok.stdout
    assert down.returncode == 1
    assert down.stderr.strip().splitlines()[-1] == "CommandError: 1 of 1 numbers were not provisioned (see above)"
    assert "did not answer" in down.stderr and "Traceback" not in down.stderr


def test_key_rotation_reencrypts_the_carrier_password(number, settings):
    from cryptography.fernet import Fernet

    from voiceplatform.crypto import SecretDecryptionError

    old_key, new_key = settings.FIELD_ENCRYPTION_KEYS[0], Fernet.generate_key().decode()
    token_before = _fresh(number).outbound_auth_password_encrypted
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    out = io.StringIO()

    call_command("reencrypt_credentials", stdout=out)

    assert "re-encrypted 1 phone number carrier password(s) with the current key" in out.getvalue()
    assert _fresh(number).outbound_auth_password_encrypted != token_before
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key dropped: the password still opens
    assert _fresh(number).get_outbound_auth_password() == PASSWORD
    settings.FIELD_ENCRYPTION_KEYS = [old_key]
    with pytest.raises(SecretDecryptionError):
        _fresh(number).get_outbound_auth_password()
