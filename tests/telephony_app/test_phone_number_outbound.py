"""A phone number's outbound settings (LiveKit outbound trunk, calls per second) in the services, the
API (outboundTrunkId, outboundCps), the portal form and the admin: one rule everywhere."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from telephony_app.models import PhoneNumber
from telephony_app.services import phone_number_create, phone_number_update

NUMBER = "+14155550123"


def test_a_number_keeps_its_outbound_trunk_and_pace(tenant):
    number = phone_number_create(
        tenant=tenant, number=NUMBER, outbound_trunk_id="ST_a1b2c3", outbound_cps=Decimal("2.5")
    )

    number.refresh_from_db()
    assert (number.outbound_trunk_id, number.outbound_cps) == ("ST_a1b2c3", Decimal("2.50"))
    assert number.can_call_out


def test_a_new_number_has_no_outbound_trunk_and_one_call_per_second(tenant):
    number = phone_number_create(tenant=tenant, number=NUMBER)

    assert number.outbound_trunk_id == "" and number.outbound_cps == 1
    assert not number.can_call_out


@pytest.mark.parametrize("trunk", ["ST-abc", "SK_abc", "ST_", "ST_abc def", "st_abc"])
def test_a_malformed_trunk_id_is_refused(tenant, trunk):
    with pytest.raises(ValidationError) as error:
        phone_number_create(tenant=tenant, number=NUMBER, outbound_trunk_id=trunk)

    assert "ST_" in error.value.message_dict["outbound_trunk_id"][0]
    assert not PhoneNumber.objects.for_tenant(tenant).exists()


@pytest.mark.parametrize("cps", ["0", "-1", "21"])
def test_a_pace_out_of_range_is_refused(tenant, settings, cps):
    settings.CAMPAIGN_MAX_CALLS_PER_SECOND = 20
    number = phone_number_create(tenant=tenant, number=NUMBER)

    with pytest.raises(ValidationError) as error:
        phone_number_update(tenant=tenant, phone_number=number, outbound_cps=Decimal(cps))

    assert list(error.value.message_dict) == ["outbound_cps"]
    number.refresh_from_db()
    assert number.outbound_cps == 1


def test_the_platforms_maximum_pace_is_allowed(tenant, settings):
    settings.CAMPAIGN_MAX_CALLS_PER_SECOND = 20
    number = phone_number_create(tenant=tenant, number=NUMBER, outbound_cps=Decimal(20))
    assert number.outbound_cps == 20


# API -----------------------------------------------------------------------------------------


def test_api_sets_and_reads_the_outbound_fields(api, tenant):
    created = api.post(
        reverse("api-phone-number-list"),
        {"number": NUMBER, "outboundTrunkId": "ST_x9Y8z7", "outboundCps": 3},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["outboundTrunkId"] == "ST_x9Y8z7" and created.json()["outboundCps"] == 3.0

    url = reverse("api-phone-number-detail", kwargs={"id": created.json()["id"]})
    patched = api.patch(url, {"outboundTrunkId": ""}, format="json")
    assert patched.status_code == 200 and patched.json()["outboundTrunkId"] == ""
    assert patched.json()["outboundCps"] == 3.0


def test_api_refuses_bad_outbound_fields_naming_them(api, tenant, settings):
    settings.CAMPAIGN_MAX_CALLS_PER_SECOND = 20
    response = api.post(
        reverse("api-phone-number-list"),
        {"number": NUMBER, "outboundTrunkId": "trunk-1", "outboundCps": 50},
        format="json",
    )

    assert response.status_code == 400
    assert set(response.json()) >= {"outboundTrunkId", "outboundCps"}, response.json()
    assert "20" in response.json()["outboundCps"][0]
    assert not PhoneNumber.objects.for_tenant(tenant).exists()


# Portal --------------------------------------------------------------------------------------


def test_portal_sets_the_outbound_trunk_and_pace(tenant, owner, client_for):
    client = client_for(owner)
    url = reverse("numbers-number-create")
    assert 'name="outbound_trunk_id"' in client.get(url).text

    response = client.post(
        url, {"number": NUMBER, "provider": "sip", "outbound_trunk_id": "ST_portal1", "outbound_cps": "2"}
    )

    assert response.status_code == 302
    number = PhoneNumber.objects.for_tenant(tenant).get()
    assert (number.outbound_trunk_id, number.outbound_cps) == ("ST_portal1", 2)
    edit = client.get(reverse("numbers-number-edit", kwargs={"code": number.code})).text
    assert 'value="ST_portal1"' in edit
    listed = client.get(reverse("numbers-number-list")).text
    assert "ST_portal1" in listed and "2 calls/s" in listed


def test_portal_shows_a_bad_trunk_id_on_its_field(tenant, owner, client_for):
    response = client_for(owner).post(
        reverse("numbers-number-create"), {"number": NUMBER, "provider": "sip", "outbound_trunk_id": "trunk"}
    )

    assert response.status_code == 200
    assert "e.g. ST_a1b2c3d4e5f6" in response.text
    assert not PhoneNumber.objects.for_tenant(tenant).exists()


# Admin ---------------------------------------------------------------------------------------


def test_admin_edits_the_outbound_fields_with_the_same_rule(tenant, admin_client):
    number = phone_number_create(tenant=tenant, number=NUMBER)
    url = reverse("admin:telephony_app_phonenumber_change", args=[number.pk])
    form = {
        "tenant": tenant.pk,
        "number": NUMBER,
        "label": "",
        "provider": "twilio",
        "agent": "",
        "is_active": "on",
        "sip_trunk_id": "",
        "outbound_cps": "1",
    }

    refused = admin_client.post(url, {**form, "outbound_trunk_id": "nope"})
    assert refused.status_code == 200 and "e.g. ST_a1b2c3d4e5f6" in refused.text

    saved = admin_client.post(url, {**form, "outbound_trunk_id": "ST_admin1"})
    assert saved.status_code == 302
    number.refresh_from_db()
    assert number.outbound_trunk_id == "ST_admin1"
