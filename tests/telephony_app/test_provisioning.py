"""LiveKit SIP provisioning of a phone number against the fake LiveKit Twirp server (issue 17, item 3)."""

from __future__ import annotations

import json

import pytest

from telephony_app import livekit_client
from telephony_app.models import PhoneNumber
from telephony_app.provisioning import provision, provision_plan
from telephony_app.services import phone_number_create
from tests.conftest import AGENT_NAME

NUMBER = "+12125550100"
PASSWORD = "carrier-pass-8f2k"  # noqa: S105  (a test's)


@pytest.fixture
def sip_number(tenant, make_agent) -> PhoneNumber:
    return phone_number_create(tenant=tenant, number=NUMBER, provider="sip", agent=make_agent(tenant))


@pytest.fixture
def outbound_number(tenant) -> PhoneNumber:
    return phone_number_create(
        tenant=tenant,
        number="+12125550199",
        provider="twilio",
        outbound_address="acme.pstn.twilio.com",
        outbound_transport="tls",
        outbound_auth_username="acme",
        outbound_auth_password=PASSWORD,
    )


def test_first_run_creates_the_inbound_trunk_and_its_dispatch_rule(livekit, sip_number):
    report = provision(phone_number=sip_number)

    assert [(p.part, p.action) for p in report.parts] == [
        ("inbound_trunk", "create"), ("dispatch_rule", "create"), ("outbound_trunk", "skip"),
    ]  # fmt: skip
    [trunk] = livekit.inbound_trunks.values()
    assert list(trunk.numbers) == [NUMBER]
    [rule] = livekit.dispatch_rules.values()
    assert list(rule.trunk_ids) == [trunk.sip_trunk_id]
    assert rule.rule.dispatch_rule_individual.room_prefix == "sip-"
    assert [(a.agent_name, json.loads(a.metadata)) for a in rule.room_config.agents] == [(AGENT_NAME, {"route": "sip"})]
    stored = PhoneNumber.objects.get(pk=sip_number.pk)
    assert (stored.sip_trunk_id, stored.dispatch_rule_id) == (trunk.sip_trunk_id, rule.sip_dispatch_rule_id)


def test_a_second_run_writes_nothing_and_says_so(livekit, sip_number, outbound_number):
    provision(phone_number=sip_number)
    provision(phone_number=outbound_number)
    livekit.received.clear()

    again = provision(phone_number=PhoneNumber.objects.get(pk=sip_number.pk))
    again_out = provision(phone_number=PhoneNumber.objects.get(pk=outbound_number.pk))

    assert livekit.sip_writes() == []
    assert {p.action for p in again.parts} == {"unchanged", "skip"}
    assert "nothing to change" in again.summary and "nothing to change" in again_out.summary
