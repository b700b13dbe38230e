"""Twilio's voice webhook and status callback, over real HTTP against a live server, with requests
signed by the real twilio SDK (RequestValidator.compute_signature) and LiveKit's API faked on loopback."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from twilio.request_validator import RequestValidator

from agents_app.models import Agent
from telephony_app.inbound import CLOSED_LINE, UNAVAILABLE_LINE
from telephony_app.models import Call, CallDirection, CallStatus, PhoneNumber
from telephony_app.services import call_finish, phone_number_create
from telephony_app.twilio import APOLOGY_LINE
from tests.telephony_app.conftest import SIP_HOST
from voiceplatform.models import Tenant
from voiceplatform.services import credential_set

VOICE = "/api/v1/telephony/twilio/voice"
STATUS = "/api/v1/telephony/twilio/status"
REFER = "/api/v1/telephony/twilio/refer"
NUMBER = "+14155550123"
OTHER_NUMBER = "+14155550177"
CALLER = "+12125550100"
TOKEN = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
OTHER_TOKEN = "99887766554433221100ffeeddccbbaa"
ACCOUNT_SID = "AC" + "1" * 32
OTHER_ACCOUNT_SID = "AC" + "2" * 32

pytestmark = pytest.mark.usefixtures("transactional_db")


def call_sid() -> str:
    return "CA" + uuid.uuid4().hex


def voice_params(sid: str, *, to: str = NUMBER, account_sid: str = ACCOUNT_SID, **extra: str) -> dict[str, str]:
    """What Twilio posts when a call to one of our numbers starts (a real request's fields)."""
    return {
        "AccountSid": account_sid,
        "ApiVersion": "2010-04-01",
        "CallSid": sid,
        "CallStatus": "ringing",
        "CallToken": "%7B%22parentCallInfoToken%22%3A%22eyJhbGciOiJFUzI1NiJ9%22%7D",
        "Called": to,
        "CalledCity": "SAN FRANCISCO",
        "CalledCountry": "US",
        "CalledState": "CA",
        "CalledZip": "94105",
        "Caller": CALLER,
        "CallerCity": "NEW YORK",
        "CallerCountry": "US",
        "CallerState": "NY",
        "CallerZip": "10001",
        "Direction": "inbound",
        "From": CALLER,
        "FromCity": "NEW YORK",
        "FromCountry": "US",
        "FromState": "NY",
        "FromZip": "10001",
        "StirVerstat": "TN-Validation-Passed-A",
        "To": to,
        "ToCity": "SAN FRANCISCO",
        "ToCountry": "US",
        "ToState": "CA",
        "ToZip": "94105",
        **extra,
    }


def status_params(sid: str, status: str, *, duration: str | None = None, **extra: str) -> dict[str, str]:
    params = {**voice_params(sid), "CallStatus": status, "CallbackSource": "call-progress-events"}
    params.pop("StirVerstat")
    if duration is not None:
        params["CallDuration"] = duration
        params["Duration"] = str(max(1, int(duration) // 60))
    return {**params, **extra}


class Twilio:
    """Posts like Twilio: form body, X-Twilio-Signature over the URL Twilio used and the parameters."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    def post(
        self,
        path: str,
        params: dict[str, str],
        *,
        token: str = TOKEN,
        signed_url: str | None = None,
        sent_params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        sign: bool = True,
    ) -> httpx.Response:
        signature = RequestValidator(token).compute_signature(signed_url or self.base_url + path, params)
        all_headers = {"X-Twilio-Signature": signature} if sign else {}
        all_headers.update(headers or {})
        return httpx.post(self.base_url + path, data=sent_params or params, headers=all_headers, timeout=10)


def twiml(response: httpx.Response) -> ET.Element:
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/xml")
    root = ET.fromstring(response.content)  # noqa: S314  (our own server's answer, in a test)
    assert root.tag == "Response"
    return root


def verbs(root: ET.Element) -> list[tuple[str, str]]:
    return [(child.tag, (child.text or "").strip()) for child in root]


@pytest.fixture
def twilio(live_server, settings) -> Twilio:
    settings.PUBLIC_BASE_URL = live_server.url
    return Twilio(live_server.url)


@pytest.fixture
def agent(tenant: Tenant, make_agent) -> Agent:
    credential_set(tenant=tenant, provider="twilio", secret=TOKEN, account_id=ACCOUNT_SID)
    return make_agent(tenant, name="Front desk")


@pytest.fixture
def number(tenant: Tenant, agent: Agent) -> PhoneNumber:
    return phone_number_create(tenant=tenant, number=NUMBER, agent=agent, label="Main line")


@pytest.fixture
def other_number(other_tenant: Tenant, make_agent) -> PhoneNumber:
    credential_set(tenant=other_tenant, provider="twilio", secret=OTHER_TOKEN, account_id=OTHER_ACCOUNT_SID)
    return phone_number_create(tenant=other_tenant, number=OTHER_NUMBER, agent=make_agent(other_tenant))


def calls(tenant: Tenant) -> list[Call]:
    return list(Call.objects.for_tenant(tenant).order_by("created_at"))


# The voice webhook ---------------------------------------------------------------------------------


def test_a_signed_call_is_bridged_into_the_agents_room_over_sip(twilio, livekit, tenant, agent, number):
    sid = call_sid()

    response = twilio.post(VOICE, voice_params(sid))
    root = twiml(response)

    # TwiML is Twilio's, never a browser's page: no Content-Security-Policy is built for it.
    assert "Content-Security-Policy" not in response.headers
    [call] = calls(tenant)
    assert (call.direction, call.status, call.agent, call.from_number, call.to_number, call.provider_call_id) == (
        CallDirection.INBOUND,
        CallStatus.RINGING,
        agent,
        CALLER,
        NUMBER,
        sid,
    )
    assert call.context["twilio"]["FromCountry"] == "US"
    [dial] = list(root)
    assert dial.tag == "Dial"
    [sip] = list(dial)
    assert sip.tag == "Sip"
    assert sip.text == f"sip:{call.room_name}@{SIP_HOST}?X-VP-Call-Id={call.code}"
    # an agent's transfer (LiveKit's SIP REFER) asks Twilio's referUrl where the caller goes
    assert (dial.get("referUrl"), dial.get("referMethod")) == (twilio.base_url + REFER, "POST")
    [room] = livekit.messages("RoomService/CreateRoom")
    assert room.name == call.room_name
    [dispatch] = room.agents
    assert dispatch.agent_name == "voiceplatform-test"
    metadata = json.loads(room.metadata)
    assert (metadata["call_id"], metadata["agent_id"], metadata["call_type"]) == (
        str(call.code),
        str(call.agent.code),
        "inbound",
    )


def test_a_retried_webhook_gets_the_same_twiml_and_makes_no_second_call(twilio, livekit, tenant, number):
    params = voice_params(call_sid())

    first = twilio.post(VOICE, params)
    second = twilio.post(VOICE, params)

    assert verbs(twiml(first)) == verbs(twiml(second))
    assert ET.tostring(twiml(first)) == ET.tostring(twiml(second))
    assert len(calls(tenant)) == 1
    assert len(livekit.messages("RoomService/CreateRoom")) == 1


def test_a_retried_out_of_hours_webhook_replays_the_message_and_forward(twilio, tenant, make_agent, settings):
    credential_set(tenant=tenant, provider="twilio", secret=TOKEN, account_id=ACCOUNT_SID)
    closed = make_agent(
        tenant, business_hours_enabled=True, out_of_hours_message="Closed for lunch.", fallback_number="+14155550999"
    )
    phone_number_create(tenant=tenant, number=NUMBER, agent=closed)
    params = voice_params(call_sid())

    first, second = twilio.post(VOICE, params), twilio.post(VOICE, params)

    assert verbs(twiml(first)) == verbs(twiml(second)) == [("Say", "Closed for lunch."), ("Dial", "+14155550999")]
    assert len(calls(tenant)) == 1


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda p: {**p, "From": "+19005550000"}, id="tampered-from"),
        pytest.param(lambda p: {**p, "To": NUMBER, "CallSid": call_sid()}, id="tampered-callsid"),
        pytest.param(lambda p: {**p, "Extra": "1"}, id="added-parameter"),
        pytest.param(lambda p: {k: v for k, v in p.items() if k != "CallerCity"}, id="removed-parameter"),
    ],
)
def test_a_tampered_parameter_is_403_and_writes_nothing(twilio, livekit, tenant, number, tamper):
    params = voice_params(call_sid())

    response = twilio.post(VOICE, params, sent_params=tamper(params))

    assert response.status_code == 403
    assert calls(tenant) == []
    assert livekit.received == []


def test_a_signature_for_another_url_is_403(twilio, livekit, tenant, number):
    response = twilio.post(VOICE, voice_params(call_sid()), signed_url=twilio.base_url + STATUS)

    assert response.status_code == 403
    assert calls(tenant) == []


def test_a_missing_signature_is_403(twilio, livekit, tenant, number):
    response = twilio.post(VOICE, voice_params(call_sid()), sign=False)

    assert response.status_code == 403
    assert calls(tenant) == []


def test_another_tenants_token_cannot_sign_for_this_number(twilio, livekit, tenant, number, other_number):
    # Even with this tenant's AccountSid in the body, only this tenant's token verifies.
    response = twilio.post(VOICE, voice_params(call_sid()), token=OTHER_TOKEN)

    assert response.status_code == 403
    assert calls(tenant) == []
    assert Call.objects.for_tenant(other_number.tenant).count() == 0


def test_an_account_sid_that_is_not_the_tenants_is_403(twilio, livekit, tenant, number):
    response = twilio.post(VOICE, voice_params(call_sid(), account_sid=OTHER_ACCOUNT_SID))

    assert response.status_code == 403
    assert calls(tenant) == []


def test_an_unknown_number_is_403_because_nothing_can_verify_it(twilio, livekit, tenant, number):
    response = twilio.post(VOICE, voice_params(call_sid(), to="+14155550188"))

    assert response.status_code == 403
    assert Call.objects.count() == 0


def test_get_is_not_allowed(twilio, number):
    assert httpx.get(twilio.base_url + VOICE).status_code == 405


def test_behind_a_tls_proxy_the_public_url_is_what_was_signed(live_server, settings, livekit, tenant, number):
    # Twilio requested https://voice.example.com/...; the proxy forwarded it as plain HTTP to us.
    settings.PUBLIC_BASE_URL = "https://voice.example.com"
    twilio = Twilio(live_server.url)
    params = voice_params(call_sid())

    ok = twilio.post(
        VOICE, params, signed_url="https://voice.example.com" + VOICE, headers={"X-Forwarded-Proto": "https"}
    )
    as_seen_locally = twilio.post(VOICE, voice_params(call_sid()), headers={"X-Forwarded-Proto": "https"})

    assert [verb for verb, _ in verbs(twiml(ok))] == ["Dial"]
    assert as_seen_locally.status_code == 403
    assert len(calls(tenant)) == 1


def test_twilio_signing_the_url_with_or_without_its_default_port_both_verify(
    live_server, settings, livekit, tenant, number
):
    # Twilio's own signatures are inconsistent about ":443"; the library accepts both forms, and so do we.
    settings.PUBLIC_BASE_URL = "https://voice.example.com"
    twilio = Twilio(live_server.url)
    forwarded = {"X-Forwarded-Proto": "https"}

    plain = twilio.post(
        VOICE, voice_params(call_sid()), signed_url="https://voice.example.com" + VOICE, headers=forwarded
    )
    with_port = twilio.post(
        VOICE, voice_params(call_sid()), signed_url="https://voice.example.com:443" + VOICE, headers=forwarded
    )

    assert [verb for verb, _ in verbs(twiml(plain))] == ["Dial"]
    assert [verb for verb, _ in verbs(twiml(with_port))] == ["Dial"]
    assert len(calls(tenant)) == 2


def test_a_shared_key_signature_with_hmac_sha256_verifies(twilio, livekit, tenant, number):
    params = voice_params(call_sid())
    signature = RequestValidator(TOKEN).compute_signature(twilio.base_url + VOICE, params, "HMAC_SHA256")
    settings_header = "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
    headers = {"X-Twilio-Signature": signature, "X-Twilio-Webhooks-Signature-Settings": settings_header}

    ok = httpx.post(twilio.base_url + VOICE, data=params, headers=headers, timeout=10)
    unknown = httpx.post(
        twilio.base_url + VOICE,
        data=voice_params(call_sid()),
        headers={**headers, "X-Twilio-Webhooks-Signature-Settings": "algorithm=HMAC_MD5"},
        timeout=10,
    )

    assert [verb for verb, _ in verbs(twiml(ok))] == ["Dial"]
    assert unknown.status_code == 403
    assert len(calls(tenant)) == 1


def test_a_signature_header_that_is_not_ascii_is_403_not_500(twilio, livekit, tenant, number):
    params = urlencode(voice_params(call_sid())).encode()
    headers = [
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("X-Twilio-Signature", "sig\u00e9=".encode("latin-1")),
    ]

    response = httpx.post(twilio.base_url + VOICE, content=params, headers=headers, timeout=10)

    assert response.status_code == 403
    assert calls(tenant) == []


def test_the_query_string_is_part_of_the_signed_url(twilio, livekit, tenant, number):
    params = voice_params(call_sid())

    signed = twilio.post(VOICE + "?region=us1", params)
    unsigned_query = twilio.post(VOICE + "?region=us1", voice_params(call_sid()), signed_url=twilio.base_url + VOICE)

    assert twiml(signed).find("Dial") is not None
    assert unsigned_query.status_code == 403


def test_the_environment_token_signs_for_a_tenant_without_its_own(twilio, livekit, tenant, make_agent, monkeypatch):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "env-token-0123456789abcdef0123456")
    phone_number_create(tenant=tenant, number=NUMBER, agent=make_agent(tenant))

    ok = twilio.post(VOICE, voice_params(call_sid()), token="env-token-0123456789abcdef0123456")
    wrong = twilio.post(VOICE, voice_params(call_sid()), token=TOKEN)

    assert twiml(ok).find("Dial") is not None
    assert wrong.status_code == 403


def test_out_of_hours_says_the_message_and_forwards_to_the_fallback_number(twilio, livekit, tenant, make_agent):
    credential_set(tenant=tenant, provider="twilio", secret=TOKEN, account_id=ACCOUNT_SID)
    agent = make_agent(
        tenant,
        business_hours_enabled=True,  # and no ranges: closed all week
        out_of_hours_message="We are closed. Forwarding you now.",
        fallback_number="+14155550999",
    )
    phone_number_create(tenant=tenant, number=NUMBER, agent=agent)

    root = twiml(twilio.post(VOICE, voice_params(call_sid())))

    assert verbs(root) == [("Say", "We are closed. Forwarding you now."), ("Dial", "+14155550999")]
    [call] = calls(tenant)
    assert (call.status, call.room_name) == (CallStatus.TRANSFERRED, "")
    assert "forwarded to +14155550999" in call.end_reason
    assert livekit.received == []


def test_a_forwarded_out_of_hours_call_takes_its_duration_from_twilios_final_report_once(
    twilio, livekit, tenant, make_agent
):
    credential_set(tenant=tenant, provider="twilio", secret=TOKEN, account_id=ACCOUNT_SID)
    agent = make_agent(tenant, business_hours_enabled=True, fallback_number="+14155550999")
    phone_number_create(tenant=tenant, number=NUMBER, agent=agent)
    sid = call_sid()
    twilio.post(VOICE, voice_params(sid))
    routed = the_call(tenant, sid)
    assert routed.status == CallStatus.TRANSFERRED
    assert routed.duration_seconds < 1  # the routing cannot know how long the forwarded call will last

    for params in (
        status_params(sid, "in-progress"),
        status_params(sid, "completed", duration="187"),  # the message and the forwarded conversation
        status_params(sid, "completed", duration="187"),  # Twilio's retry
        status_params(sid, "completed", duration="999"),  # a contradicting late report
    ):
        assert twilio.post(STATUS, params).status_code == 204

    call = the_call(tenant, sid)
    assert (call.status, call.duration_seconds) == (CallStatus.TRANSFERRED, 187.0)
    assert "forwarded to +14155550999" in call.end_reason
    assert call.ended_at >= routed.ended_at
    assert Call.objects.for_tenant(tenant).count() == 1


def test_out_of_hours_without_a_fallback_number_hangs_up_after_the_default_message(twilio, tenant, make_agent):
    credential_set(tenant=tenant, provider="twilio", secret=TOKEN, account_id=ACCOUNT_SID)
    phone_number_create(tenant=tenant, number=NUMBER, agent=make_agent(tenant, business_hours_enabled=True))

    root = twiml(twilio.post(VOICE, voice_params(call_sid())))

    assert verbs(root) == [("Say", CLOSED_LINE), ("Hangup", "")]
    assert calls(tenant)[0].status == CallStatus.COMPLETED


@pytest.mark.parametrize("what", ["inactive-number", "no-agent", "inactive-agent"])
def test_a_number_that_reaches_no_agent_apologises_and_hangs_up(twilio, livekit, tenant, make_agent, what):
    credential_set(tenant=tenant, provider="twilio", secret=TOKEN, account_id=ACCOUNT_SID)
    agent = make_agent(tenant, is_active=what != "inactive-agent")
    phone_number_create(
        tenant=tenant, number=NUMBER, agent=None if what == "no-agent" else agent, is_active=what != "inactive-number"
    )

    root = twiml(twilio.post(VOICE, voice_params(call_sid())))

    assert verbs(root) == [("Say", UNAVAILABLE_LINE), ("Hangup", "")]
    [call] = calls(tenant)
    assert call.status == CallStatus.FAILED
    assert call.error  # the reason, for the tenant's call log
    assert livekit.received == []


def test_livekit_failing_is_an_apology_not_a_500_and_the_call_failed(twilio, livekit, tenant, number):
    livekit.fail("RoomService/CreateRoom", status=503, code="unavailable", msg="no capacity")

    root = twiml(twilio.post(VOICE, voice_params(call_sid())))

    assert verbs(root) == [("Say", APOLOGY_LINE), ("Hangup", "")]
    [call] = calls(tenant)
    assert call.status == CallStatus.FAILED
    assert "no capacity" in call.error


@pytest.mark.parametrize("missing", ["livekit", "sip-host"])
def test_unconfigured_livekit_is_an_apology_and_a_failed_call(twilio, livekit, tenant, number, settings, missing):
    if missing == "livekit":
        settings.LIVEKIT_URL = ""
    else:
        settings.LIVEKIT_SIP_HOST = ""

    root = twiml(twilio.post(VOICE, voice_params(call_sid())))

    assert verbs(root) == [("Say", APOLOGY_LINE), ("Hangup", "")]
    [call] = calls(tenant)
    assert call.status == CallStatus.FAILED
    assert ("LIVEKIT_URL" if missing == "livekit" else "LIVEKIT_SIP_HOST") in call.error
    assert livekit.received == []


# Status callbacks ----------------------------------------------------------------------------------


@pytest.fixture
def ringing(twilio, livekit, tenant, number) -> str:
    """The CallSid of a call that the voice webhook connected."""
    sid = call_sid()
    twiml(twilio.post(VOICE, voice_params(sid)))
    return sid


def the_call(tenant: Tenant, sid: str) -> Call:
    return Call.objects.for_tenant(tenant).get(provider_call_id=sid)


def test_a_signed_status_callback_moves_the_call_forward_and_sets_the_duration(twilio, tenant, ringing):
    answered = twilio.post(STATUS, status_params(ringing, "in-progress"))
    completed = twilio.post(STATUS, status_params(ringing, "completed", duration="42"))

    assert (answered.status_code, completed.status_code) == (204, 204)
    call = the_call(tenant, ringing)
    assert (call.status, call.duration_seconds, call.end_reason) == (CallStatus.COMPLETED, 42.0, "twilio: completed")
    assert call.answered_at is not None and call.ended_at is not None


def test_duplicated_and_late_callbacks_leave_one_terminal_state_and_one_duration(twilio, tenant, ringing):
    for params in (
        status_params(ringing, "completed", duration="42"),
        status_params(ringing, "completed", duration="42"),  # Twilio's retry
        status_params(ringing, "in-progress"),  # late
        status_params(ringing, "ringing"),  # later still
        status_params(ringing, "failed"),  # a contradicting late report
        status_params(ringing, "completed", duration="99"),
    ):
        assert twilio.post(STATUS, params).status_code == 204

    call = the_call(tenant, ringing)
    assert (call.status, call.duration_seconds) == (CallStatus.COMPLETED, 42.0)
    assert Call.objects.for_tenant(tenant).count() == 1


def test_reordered_callbacks_end_where_the_call_ended(twilio, tenant, ringing):
    completed = status_params(ringing, "completed", duration="17", Timestamp="Fri, 20 Nov 2026 14:00:30 +0000")
    answered = status_params(ringing, "in-progress", Timestamp="Fri, 20 Nov 2026 14:00:13 +0000")

    twilio.post(STATUS, completed)
    twilio.post(STATUS, answered)

    call = the_call(tenant, ringing)
    assert (call.status, call.duration_seconds) == (CallStatus.COMPLETED, 17.0)
    assert call.ended_at.isoformat() == "2026-11-20T14:00:30+00:00"


def test_the_workers_report_wins_over_a_later_twilio_duration(twilio, tenant, ringing):
    call = the_call(tenant, ringing)
    finished = call_finish(tenant=tenant, call=call, status=CallStatus.COMPLETED, end_reason="caller hung up")

    twilio.post(STATUS, status_params(ringing, "completed", duration="999"))

    call.refresh_from_db()
    assert (call.status, call.duration_seconds, call.end_reason) == (
        CallStatus.COMPLETED,
        finished.duration_seconds,
        "caller hung up",
    )


@pytest.mark.parametrize(
    ("twilio_status", "ours"),
    [("busy", CallStatus.BUSY), ("no-answer", CallStatus.NO_ANSWER), ("canceled", CallStatus.NO_ANSWER),
     ("failed", CallStatus.FAILED)],
)  # fmt: skip
def test_twilio_statuses_map_onto_ours(twilio, tenant, ringing, twilio_status, ours):
    twilio.post(STATUS, status_params(ringing, twilio_status, duration="0"))

    assert the_call(tenant, ringing).status == ours


def test_a_callback_for_a_call_we_never_saw_is_upserted_by_callsid(twilio, tenant, number):
    sid = call_sid()

    twilio.post(STATUS, status_params(sid, "ringing"))
    twilio.post(STATUS, status_params(sid, "completed", duration="5"))

    [call] = calls(tenant)
    assert (call.provider_call_id, call.status, call.duration_seconds, call.agent) == (
        sid,
        CallStatus.COMPLETED,
        5.0,
        number.agent,
    )


def test_an_outbound_callback_is_matched_by_our_from_number(twilio, tenant, number):
    sid = call_sid()
    params = status_params(sid, "completed", duration="8", Direction="outbound-api", From=NUMBER, To=CALLER)

    assert twilio.post(STATUS, params).status_code == 204

    [call] = calls(tenant)
    assert (call.direction, call.from_number, call.to_number) == (CallDirection.OUTBOUND, NUMBER, CALLER)


def test_an_unsigned_or_misdirected_status_callback_is_403_and_changes_nothing(twilio, tenant, other_number, ringing):
    before = the_call(tenant, ringing)
    unsigned = twilio.post(STATUS, status_params(ringing, "completed", duration="3"), sign=False)
    wrong_token = twilio.post(STATUS, status_params(ringing, "completed", duration="3"), token=OTHER_TOKEN)
    tampered = status_params(ringing, "completed", duration="3")
    forged = twilio.post(STATUS, tampered, sent_params={**tampered, "CallDuration": "3000"})

    assert (unsigned.status_code, wrong_token.status_code, forged.status_code) == (403, 403, 403)
    after = the_call(tenant, ringing)
    assert (after.status, after.duration_seconds, after.updated_at) == (
        before.status,
        before.duration_seconds,
        before.updated_at,
    )


def _status_for_unknown_number(sid: str, **extra: Any) -> dict[str, str]:
    return status_params(sid, "completed", duration="4", To="+14155550166", Called="+14155550166", **extra)


def test_a_callback_whose_number_went_away_is_matched_by_the_existing_callsid(twilio, tenant, ringing, number):
    number.delete()

    assert twilio.post(STATUS, _status_for_unknown_number(ringing)).status_code == 204
    assert twilio.post(STATUS, _status_for_unknown_number(call_sid())).status_code == 403

    assert the_call(tenant, ringing).status == CallStatus.COMPLETED


# The agent's transfer on a Twilio number: Twilio asks the Dial's referUrl -------------------------


def _connected_call(twilio: Twilio, tenant: Tenant) -> tuple[str, Call]:
    sid = call_sid()
    twiml(twilio.post(VOICE, voice_params(sid)))
    [call] = calls(tenant)
    return sid, call


@pytest.mark.parametrize(
    "target", ["<tel:+12125550142>", "<sip:+12125550142@pstn.twilio.com;transport=tcp>", "+12125550142"]
)
def test_the_agents_transfer_dials_the_named_number_from_the_tenants_number(twilio, livekit, tenant, number, target):
    sid, call = _connected_call(twilio, tenant)

    root = twiml(twilio.post(REFER, voice_params(sid, ReferTransferTarget=target)))

    [dial] = list(root)
    assert (dial.tag, (dial.text or "").strip(), dial.get("callerId")) == ("Dial", "+12125550142", NUMBER)
    call.refresh_from_db()
    assert call.status == CallStatus.TRANSFERRED and call.end_reason == "transferred to +12125550142"


def test_a_transfer_to_anything_but_a_phone_number_is_refused(twilio, livekit, tenant, number):
    sid, call = _connected_call(twilio, tenant)

    root = twiml(twilio.post(REFER, voice_params(sid, ReferTransferTarget="<sip:admin@evil.example.com>")))

    assert verbs(root) == [("Say", APOLOGY_LINE), ("Hangup", "")]
    call.refresh_from_db()
    assert call.status == CallStatus.RINGING


def test_an_unsigned_transfer_request_is_403_and_changes_nothing(twilio, livekit, tenant, number):
    sid, call = _connected_call(twilio, tenant)

    response = twilio.post(REFER, voice_params(sid, ReferTransferTarget="<tel:+12125550142>"), sign=False)

    assert response.status_code == 403
    call.refresh_from_db()
    assert call.status == CallStatus.RINGING
