"""LiveKit SIP provisioning of a phone number, against the fake LiveKit Twirp server (issue 17, item 3):
what it makes, that a second run writes nothing, that drift is repaired, and how LiveKit's failures end."""

from __future__ import annotations

import json

import pytest
from livekit import api

from telephony_app import livekit_client
from telephony_app.models import PhoneNumber
from telephony_app.provisioning import ProvisionBusy, _lock, provision, provision_plan
from telephony_app.services import phone_number_create, phone_number_update
from tests.conftest import AGENT_NAME
from worker.context import parse_call_context

NUMBER = "+12125550100"
OUT_NUMBER = "+12125550199"
PASSWORD = "carrier-pass-8f2k"


@pytest.fixture
def sip_number(tenant, make_agent) -> PhoneNumber:
    return phone_number_create(tenant=tenant, number=NUMBER, provider="sip", agent=make_agent(tenant))


@pytest.fixture
def outbound_number(tenant) -> PhoneNumber:
    return phone_number_create(
        tenant=tenant,
        number=OUT_NUMBER,
        provider="twilio",
        outbound_address="acme.pstn.twilio.com",
        outbound_transport="tls",
        outbound_auth_username="acme",
        outbound_auth_password=PASSWORD,
    )


def _fresh(phone_number: PhoneNumber) -> PhoneNumber:
    return PhoneNumber.objects.get(pk=phone_number.pk)


def _actions(report) -> list[tuple[str, str]]:
    return [(part.part, part.action) for part in report.parts]


def test_first_run_creates_the_inbound_trunk_and_its_dispatch_rule(livekit, sip_number):
    report = provision(phone_number=sip_number)

    assert _actions(report) == [
        ("inbound_trunk", "create"), ("dispatch_rule", "create"), ("outbound_trunk", "skip"),
    ]  # fmt: skip
    [trunk] = livekit.inbound_trunks.values()
    assert list(trunk.numbers) == [NUMBER]
    [rule] = livekit.dispatch_rules.values()
    assert list(rule.trunk_ids) == [trunk.sip_trunk_id]
    assert rule.rule.WhichOneof("rule") == "dispatch_rule_individual"
    assert rule.rule.dispatch_rule_individual.room_prefix == "sip-"
    assert not rule.hide_phone_number
    # The worker is dispatched by its name, with the metadata worker/sip_route.py routes by.
    assert [(a.agent_name, json.loads(a.metadata)) for a in rule.room_config.agents] == [(AGENT_NAME, {"route": "sip"})]
    assert parse_call_context(rule.room_config.agents[0].metadata, None).is_sip_route  # what the worker reads
    stored = _fresh(sip_number)
    assert (stored.sip_trunk_id, stored.dispatch_rule_id) == (trunk.sip_trunk_id, rule.sip_dispatch_rule_id)
    assert report.parts[0].livekit_id == trunk.sip_trunk_id
    assert "inbound trunk created" in report.summary and "dispatch rule created" in report.summary


def test_a_number_that_places_calls_gets_its_outbound_trunk_with_its_credentials(livekit, outbound_number):
    report = provision(phone_number=outbound_number)

    assert _actions(report) == [
        ("inbound_trunk", "skip"), ("dispatch_rule", "skip"), ("outbound_trunk", "create"),
    ]  # fmt: skip
    [trunk] = livekit.outbound_trunks.values()
    assert (trunk.address, trunk.transport, list(trunk.numbers)) == (
        "acme.pstn.twilio.com", api.SIPTransport.SIP_TRANSPORT_TLS, [OUT_NUMBER],
    )  # fmt: skip
    assert (trunk.auth_username, trunk.auth_password) == ("acme", PASSWORD)
    assert _fresh(outbound_number).outbound_trunk_id == trunk.sip_trunk_id
    assert _fresh(outbound_number).can_call_out  # the dialer can now present it as caller ID
    # The report never carries the password.
    assert PASSWORD not in repr(report)
    [password] = [f for f in report.parts[2].fields if f.name == "auth_password"]
    assert PASSWORD not in (password.current + password.wanted)


def test_a_second_run_writes_nothing_and_says_so(livekit, sip_number, outbound_number):
    provision(phone_number=sip_number)
    provision(phone_number=outbound_number)
    livekit.received.clear()

    again = provision(phone_number=_fresh(sip_number))
    again_out = provision(phone_number=_fresh(outbound_number))

    assert livekit.sip_writes() == []
    assert {part.action for part in again.parts} == {"unchanged", "skip"}
    assert again.summary == f"{NUMBER}: nothing to change, LiveKit already matches."
    assert again_out.summary == f"{OUT_NUMBER}: nothing to change, LiveKit already matches."
    assert len(livekit.inbound_trunks) == len(livekit.dispatch_rules) == len(livekit.outbound_trunks) == 1


def test_the_plan_shows_what_livekit_has_and_what_differs_and_writes_nothing(livekit, sip_number):
    provision(phone_number=sip_number)
    trunk_id = _fresh(sip_number).sip_trunk_id
    livekit.inbound_trunks[trunk_id].numbers[:] = ["+12125550111"]  # an operator edits the trunk by hand
    livekit.received.clear()

    plan = provision_plan(phone_number=_fresh(sip_number))

    assert livekit.sip_writes() == []
    assert _actions(plan)[:2] == [("inbound_trunk", "update"), ("dispatch_rule", "unchanged")]
    numbers = {f.name: f for f in plan.parts[0].fields}["numbers"]
    assert (numbers.current, numbers.wanted, numbers.differs) == ("+12125550111", NUMBER, True)
    assert not plan.applied and "inbound trunk to update" in plan.summary
    assert list(livekit.inbound_trunks[trunk_id].numbers) == ["+12125550111"]


def test_drift_is_repaired_and_what_an_operator_added_is_kept(livekit, sip_number, settings):
    provision(phone_number=sip_number)
    number = _fresh(sip_number)
    trunk = livekit.inbound_trunks[number.sip_trunk_id]
    trunk.numbers[:] = []
    trunk.allowed_addresses.append("203.0.113.0/24")  # not a field the platform manages
    rule = livekit.dispatch_rules[number.dispatch_rule_id]
    rule.room_config.agents[0].agent_name = "someone-else"
    rule.hide_phone_number = True
    livekit.received.clear()

    report = provision(phone_number=number)

    assert _actions(report)[:2] == [("inbound_trunk", "update"), ("dispatch_rule", "update")]
    assert livekit.sip_writes() == ["SIP/UpdateSIPInboundTrunk", "SIP/UpdateSIPDispatchRule"]
    trunk = livekit.inbound_trunks[number.sip_trunk_id]
    assert list(trunk.numbers) == [NUMBER]
    assert list(trunk.allowed_addresses) == ["203.0.113.0/24"]
    rule = livekit.dispatch_rules[number.dispatch_rule_id]
    assert rule.room_config.agents[0].agent_name == AGENT_NAME and not rule.hide_phone_number
    livekit.received.clear()
    assert {p.action for p in provision(phone_number=_fresh(sip_number)).parts} == {"unchanged", "skip"}
    assert livekit.sip_writes() == []


def test_a_renamed_worker_moves_the_dispatch_rule_to_the_new_name(livekit, sip_number, settings):
    provision(phone_number=sip_number)
    settings.LIVEKIT_AGENT_NAME = "voiceplatform-eu"

    report = provision(phone_number=_fresh(sip_number))

    assert _actions(report)[:2] == [("inbound_trunk", "unchanged"), ("dispatch_rule", "update")]
    [rule] = livekit.dispatch_rules.values()
    assert rule.room_config.agents[0].agent_name == "voiceplatform-eu"


def test_a_trunk_deleted_in_livekit_is_made_again_and_its_rule_follows(livekit, sip_number):
    provision(phone_number=sip_number)
    old_id = _fresh(sip_number).sip_trunk_id
    del livekit.inbound_trunks[old_id]

    report = provision(phone_number=_fresh(sip_number))

    assert _actions(report)[:2] == [("inbound_trunk", "create"), ("dispatch_rule", "update")]
    [trunk] = livekit.inbound_trunks.values()
    assert trunk.sip_trunk_id != old_id
    [rule] = livekit.dispatch_rules.values()
    assert list(rule.trunk_ids) == [trunk.sip_trunk_id]
    assert _fresh(sip_number).sip_trunk_id == trunk.sip_trunk_id


def test_objects_whose_ids_were_lost_are_found_again_not_duplicated(livekit, sip_number, outbound_number):
    provision(phone_number=sip_number)
    provision(phone_number=outbound_number)
    PhoneNumber.objects.filter(pk__in=[sip_number.pk, outbound_number.pk]).update(
        sip_trunk_id="", dispatch_rule_id="", outbound_trunk_id=""
    )
    livekit.received.clear()

    report = provision(phone_number=_fresh(sip_number))
    report_out = provision(phone_number=_fresh(outbound_number))

    assert livekit.sip_writes() == []
    assert {p.action for p in report.parts + report_out.parts} == {"unchanged", "skip"}
    assert _fresh(sip_number).sip_trunk_id in livekit.inbound_trunks
    assert _fresh(sip_number).dispatch_rule_id in livekit.dispatch_rules
    assert _fresh(outbound_number).outbound_trunk_id in livekit.outbound_trunks


def test_a_new_password_updates_the_outbound_trunk_without_showing_it(livekit, tenant, outbound_number):
    provision(phone_number=outbound_number)
    phone_number_update(tenant=tenant, phone_number=_fresh(outbound_number), outbound_auth_password="new-pass-77x1")

    plan = provision_plan(phone_number=_fresh(outbound_number))
    report = provision(phone_number=_fresh(outbound_number))

    fields = {f.name: f for f in plan.parts[2].fields}
    assert fields["auth_password"].differs
    assert "new-pass-77x1" not in repr(plan) and PASSWORD not in repr(plan)
    assert report.parts[2].action == "update"
    [trunk] = livekit.outbound_trunks.values()
    assert trunk.auth_password == "new-pass-77x1"


def test_a_trunk_made_by_hand_is_reported_and_never_taken_over(livekit, tenant, sip_number):
    hand_made = livekit_client.sip_inbound_trunk_create(
        spec=livekit_client.InboundTrunkSpec(name="carrier numbers", metadata="", numbers=(NUMBER, "+12125550101"))
    )
    livekit.received.clear()

    report = provision(phone_number=sip_number)

    assert report.refused
    assert report.parts[0].action == "refused" and hand_made.id in report.parts[0].note
    assert "nothing was written" in report.summary
    assert livekit.sip_writes() == []
    assert list(livekit.inbound_trunks[hand_made.id].numbers) == [NUMBER, "+12125550101"]
    # Entered as the number's trunk id, it is left alone too (the number keeps routing by hand).
    phone_number_update(tenant=tenant, phone_number=_fresh(sip_number), sip_trunk_id=hand_made.id)
    report = provision(phone_number=_fresh(sip_number))
    assert report.refused and "not made by the platform" in report.parts[0].note
    assert livekit.sip_writes() == []


def test_a_twirp_error_halfway_keeps_what_was_made_and_the_next_run_finishes(livekit, sip_number):
    livekit.fail("SIP/CreateSIPDispatchRule", status=400, code="invalid_argument", msg="conflicting dispatch rule")

    with pytest.raises(livekit_client.LiveKitRequestFailed) as failure:
        provision(phone_number=sip_number)

    assert str(failure.value) == "LiveKit refused the request (invalid_argument): conflicting dispatch rule"
    [trunk] = livekit.inbound_trunks.values()
    assert _fresh(sip_number).sip_trunk_id == trunk.sip_trunk_id  # stored before the failure
    livekit.failures.clear()
    livekit.received.clear()
    report = provision(phone_number=_fresh(sip_number))
    assert _actions(report)[:2] == [("inbound_trunk", "unchanged"), ("dispatch_rule", "create")]
    assert len(livekit.inbound_trunks) == 1 and len(livekit.dispatch_rules) == 1


def test_livekit_down_raises_unavailable_and_writes_nothing(livekit, sip_number):
    livekit.stop()

    with pytest.raises(livekit_client.LiveKitUnavailable, match="did not answer"):
        provision(phone_number=sip_number)

    assert _fresh(sip_number).sip_trunk_id == ""


def test_a_dry_run_reads_only(livekit, sip_number, outbound_number):
    report = provision(phone_number=sip_number, dry_run=True)
    report_out = provision(phone_number=outbound_number, dry_run=True)

    assert livekit.sip_writes() == []
    assert not report.applied and report.changes and report_out.changes
    assert _fresh(sip_number).sip_trunk_id == ""
    trunk_ids = {f.name: f for f in report.parts[1].fields}["trunk_ids"]
    assert trunk_ids.wanted == "(the new inbound trunk)"


def test_one_provisioning_of_a_number_at_a_time(livekit, sip_number):
    with _lock(sip_number), pytest.raises(ProvisionBusy, match="being provisioned"):
        provision(phone_number=sip_number)
    assert livekit.sip_writes() == []


def test_the_stored_trunk_id_reaches_the_inbound_routing_at_once(
    livekit, sip_number, django_capture_on_commit_callbacks
):
    """The number cache drops the number when provisioning stores its trunk: calls through another
    trunk are refused from the next call on (worker/sip_route.py)."""
    from telephony_app.inbound import inbound_route

    assert inbound_route(to_number=NUMBER).phone_number.sip_trunk_id == ""  # cached now
    with django_capture_on_commit_callbacks(execute=True):
        provision(phone_number=sip_number)

    assert inbound_route(to_number=NUMBER).phone_number.sip_trunk_id == _fresh(sip_number).sip_trunk_id
