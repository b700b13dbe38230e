"""An agent's max_concurrent_calls, enforced for inbound calls: the call over the limit gets the
agent's fallback (its transfer or fallback number, else its out-of-hours message) and is in the
call log with the limit as its reason. Twilio's voice webhook over real HTTP with real signatures
(the helpers of test_twilio_webhooks), the generic handle-call hook, and a real race on PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.db import connection, transaction

from telephony_app.inbound import BUSY_LINE
from telephony_app.models import ACTIVE_STATUSES, PHONE_DIRECTIONS, Call, CallDirection, CallStatus
from telephony_app.services import call_finish, phone_number_create
from tests.telephony_app.test_twilio_webhooks import (
    ACCOUNT_SID,
    CALLER,
    NUMBER,
    TOKEN,
    VOICE,
    Twilio,
    call_sid,
    calls,
    twiml,
    verbs,
    voice_params,
)
from voiceplatform.services import credential_set

pytestmark = pytest.mark.usefixtures("transactional_db")

TRANSFER = "+14155550142"
FALLBACK = "+14155550199"


@pytest.fixture
def twilio(live_server, settings) -> Twilio:
    settings.PUBLIC_BASE_URL = live_server.url
    return Twilio(live_server.url)


@pytest.fixture
def line(tenant, make_agent):
    """A number answered by an agent that takes one call at a time, with the agent's knobs as given."""

    def make(**fields: object):
        credential_set(tenant=tenant, provider="twilio", secret=TOKEN, account_id=ACCOUNT_SID)
        agent = make_agent(tenant, max_concurrent_calls=1, **fields)
        phone_number_create(tenant=tenant, number=NUMBER, agent=agent)
        return agent

    return make


def _connected(root) -> bool:
    return [verb for verb, _ in verbs(root)] == ["Dial"] and root.find("Dial/Sip") is not None


def test_the_call_over_the_limit_is_forwarded_to_the_transfer_number(twilio, livekit, tenant, line):
    line(transfer_number=TRANSFER, fallback_number=FALLBACK)
    first = twiml(twilio.post(VOICE, voice_params(call_sid())))

    second = twiml(twilio.post(VOICE, voice_params(call_sid())))

    assert _connected(first)
    assert verbs(second) == [("Dial", TRANSFER)]
    ringing, busy = calls(tenant)
    assert ringing.status == CallStatus.RINGING
    assert (busy.status, busy.room_name, busy.from_number) == (CallStatus.TRANSFERRED, "", CALLER)
    assert busy.end_reason == f"over the agent's limit of 1 concurrent call: forwarded to {TRANSFER}"
    assert len(livekit.messages("RoomService/CreateRoom")) == 1  # no room, no agent for the second


def test_without_a_transfer_number_the_fallback_number_takes_the_call(twilio, livekit, tenant, line):
    line(fallback_number=FALLBACK)
    twilio.post(VOICE, voice_params(call_sid()))

    second = twiml(twilio.post(VOICE, voice_params(call_sid())))

    assert verbs(second) == [("Dial", FALLBACK)]


def test_with_no_number_the_caller_hears_the_out_of_hours_message(twilio, livekit, tenant, line):
    line(out_of_hours_message="All our assistants are talking to other callers. Please call back soon.")
    twilio.post(VOICE, voice_params(call_sid()))

    second = twiml(twilio.post(VOICE, voice_params(call_sid())))

    assert verbs(second) == [
        ("Say", "All our assistants are talking to other callers. Please call back soon."),
        ("Hangup", ""),
    ]
    busy = calls(tenant)[-1]
    assert busy.status == CallStatus.COMPLETED
    assert busy.end_reason.startswith("over the agent's limit of 1 concurrent call: message played")


def test_with_no_number_and_no_message_the_caller_hears_that_the_lines_are_busy(twilio, livekit, tenant, line):
    line()
    twilio.post(VOICE, voice_params(call_sid()))

    assert verbs(twiml(twilio.post(VOICE, voice_params(call_sid())))) == [("Say", BUSY_LINE), ("Hangup", "")]


def test_a_retried_busy_webhook_replays_the_same_answer_and_writes_no_second_row(twilio, livekit, tenant, line):
    line(transfer_number=TRANSFER)
    twilio.post(VOICE, voice_params(call_sid()))
    params = voice_params(call_sid())

    first, retry = twiml(twilio.post(VOICE, params)), twiml(twilio.post(VOICE, params))

    assert verbs(first) == verbs(retry) == [("Dial", TRANSFER)]
    assert len(calls(tenant)) == 2


def test_a_slot_freed_by_a_finished_call_takes_the_next_call(twilio, livekit, tenant, line):
    line(transfer_number=TRANSFER)
    twilio.post(VOICE, voice_params(call_sid()))
    [first] = calls(tenant)
    call_finish(tenant=tenant, call=first, status=CallStatus.COMPLETED, end_reason="caller hung up")

    assert _connected(twiml(twilio.post(VOICE, voice_params(call_sid()))))


def test_test_sessions_and_other_agents_calls_take_no_slot(twilio, livekit, tenant, line, make_agent, make_call):
    agent = line(transfer_number=TRANSFER)
    make_call(tenant, agent=agent, direction="test", status=CallStatus.IN_PROGRESS)
    make_call(tenant, agent=make_agent(tenant, name="Other"), status=CallStatus.IN_PROGRESS)

    assert _connected(twiml(twilio.post(VOICE, voice_params(call_sid()))))


def test_an_outbound_call_in_progress_holds_a_slot(twilio, livekit, tenant, line, make_call):
    agent = line(transfer_number=TRANSFER)
    make_call(tenant, agent=agent, direction="outbound", status=CallStatus.IN_PROGRESS)

    assert verbs(twiml(twilio.post(VOICE, voice_params(call_sid())))) == [("Dial", TRANSFER)]


def test_calls_racing_for_the_last_slot_get_it_once(twilio, livekit, tenant, line):
    agent = line(transfer_number=TRANSFER)
    agent.max_concurrent_calls = 2
    agent.save(update_fields=["max_concurrent_calls"])
    twilio.post(VOICE, voice_params(call_sid()))  # one slot taken, one left
    racers = 10

    def race() -> list:
        start = threading.Barrier(racers)

        def ring(sid: str) -> httpx.Response:
            start.wait()  # every request leaves at the same moment
            return twilio.post(VOICE, voice_params(sid))

        with ThreadPoolExecutor(racers) as pool:
            return [twiml(r) for r in pool.map(ring, [call_sid() for _ in range(racers)])]

    for _round in range(3):  # a race without the lock is lost most times, not every time
        answers = race()

        assert sum(_connected(root) for root in answers) == 1
        assert sum(verbs(root) == [("Dial", TRANSFER)] for root in answers) == racers - 1
        ringing = [call for call in calls(tenant) if call.status == CallStatus.RINGING]
        assert len(ringing) == 2
        # the winner hangs up: one slot is free again for the next round
        call_finish(tenant=tenant, call=ringing[-1], status=CallStatus.COMPLETED, end_reason="caller hung up")

    statuses = [call.status for call in calls(tenant)]
    assert statuses.count(CallStatus.TRANSFERRED) == 3 * (racers - 1)
    assert len(livekit.messages("RoomService/CreateRoom")) == 1 + 3


# The generic handle-call hook ---------------------------------------------------------------------


def test_handle_call_over_the_limit_answers_busy_with_the_number(livekit, tenant, make_agent, api_client_for):
    agent = make_agent(tenant, max_concurrent_calls=1, transfer_number=TRANSFER)
    phone_number_create(tenant=tenant, number=NUMBER, agent=agent)
    client = api_client_for(tenant)
    first = client.post("/api/v1/phone-numbers/handle-call", {"from": CALLER, "to": NUMBER}, format="json")

    second = client.post("/api/v1/phone-numbers/handle-call", {"from": CALLER, "to": NUMBER}, format="json")

    assert first.status_code == 201
    assert second.status_code == 200, second.content
    body = second.json()
    assert (body["action"], body["message"], body["fallbackNumber"]) == ("busy", "", TRANSFER)
    busy = Call.objects.for_tenant(tenant).get(code=body["callId"])
    assert busy.status == CallStatus.TRANSFERRED and "limit of 1 concurrent call" in busy.end_reason


# What the portal says ------------------------------------------------------------------------------


def test_the_agent_form_says_what_the_limit_does(owner, client_for):
    page = client_for(owner).get("/agents/new")

    assert page.status_code == 200
    assert b"An inbound call over the limit goes to the transfer number" in page.content


def test_the_admission_function_counts_exactly_the_open_phone_calls_the_code_means(tenant, other_tenant, make_agent):
    """telephony_inbound_admission (migration 0011) spells out ACTIVE_STATUSES and PHONE_DIRECTIONS in
    SQL: one call in every status and direction, and another agent's and tenant's, must count as the
    Python definition counts them, and the count stops at the cap."""
    agent, other = make_agent(tenant), make_agent(other_tenant)
    for status in CallStatus:
        for direction in CallDirection:
            Call.objects.create(tenant=tenant, agent=agent, status=status, direction=direction)
            Call.objects.create(tenant=other_tenant, agent=other, status=status, direction=direction)
    meant = (
        Call.objects.for_tenant(tenant)
        .filter(agent=agent, status__in=ACTIVE_STATUSES, direction__in=PHONE_DIRECTIONS)
        .count()
    )

    def admission(agent_id: int, tenant_id: int, cap: int) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT telephony_inbound_admission(%s, %s, %s)", [agent_id, tenant_id, cap])
            return cursor.fetchone()[0]

    assert meant == len(ACTIVE_STATUSES) * len(PHONE_DIRECTIONS) > 0
    assert admission(agent.pk, tenant.pk, 1000) == meant
    assert admission(agent.pk, tenant.pk, 2) == 2  # stops at the cap
    assert admission(agent.pk, other_tenant.pk, 1000) == 0  # scoped to the tenant as well as the agent


def _admission_scans(agent_id: int, tenant_id: int) -> tuple[int, int]:
    """(sequential scans of the call table, reads of call_agent_open_phone_idx) by one admission:
    this session's not yet reported statistics (pg_stat_xact_*) before and after, in one transaction."""
    counts = (
        "SELECT (SELECT seq_scan FROM pg_stat_xact_user_tables WHERE relname = %s),"
        " pg_stat_get_xact_numscans(%s::regclass)"
    )
    names = [Call._meta.db_table, "call_agent_open_phone_idx"]
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(counts, names)
        before = cursor.fetchone()
        cursor.execute("SELECT telephony_inbound_admission(%s, %s, %s)", [agent_id, tenant_id, 1001])
        cursor.execute(counts, names)
        after = cursor.fetchone()
    return after[0] - before[0], after[1] - before[1]


def test_the_admission_reads_the_open_calls_index_however_small_the_table_was_at_first(tenant, make_agent):
    """A web worker's database session may first admit calls while the call table is empty (a fresh
    deployment, a vacuumed table). The plan it keeps for the session must not be a scan of the whole
    table, or every later admission reads every call with the agent's row locked (migration 0012)."""
    agent = make_agent(tenant, max_concurrent_calls=1000)
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(Call._meta.db_table)}")
    for _ in range(8):  # past the five custom plans after which PL/pgSQL settles on a generic one
        assert _admission_scans(agent.pk, tenant.pk) == (0, 1)
    Call.objects.bulk_create(
        Call(tenant=tenant, agent=agent, status=CallStatus.COMPLETED, direction=CallDirection.INBOUND)
        for _ in range(2000)
    )
    Call.objects.create(tenant=tenant, agent=agent, status=CallStatus.RINGING, direction=CallDirection.INBOUND)
    assert _admission_scans(agent.pk, tenant.pk) == (0, 1)
