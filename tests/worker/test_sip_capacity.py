"""max_concurrent_calls on the LiveKit SIP route: the SIP caller over the agent's limit hears the
agent's busy answer (forwarded to its transfer number, else its out-of-hours message) and never
reaches the model; the call log has it ended, with the limit as the reason. Same job harness as
test_sip_route (real run_call/finish_call, real PostgreSQL and Redis, LLM/TTS on loopback)."""

from __future__ import annotations

import pytest

from telephony_app.models import Call, CallDirection, CallStatus
from telephony_app.services import call_create, phone_number_create
from tests.worker import test_entrypoint as base
from tests.worker.test_entrypoint import TRANSFER_NUMBER, roles
from tests.worker.test_sip_route import CALLER, NUMBER, make_room, run, run_sip_job, sip_participant
from voiceplatform.devtools.fake_openai import text, tool_call

provider = base.provider
_scripted_provider = base._scripted_provider
make_voice_agent = base.make_voice_agent

pytestmark = pytest.mark.django_db(transaction=True)

BUSY_MESSAGE = "Everyone is on another call right now. Please try again in a few minutes."


def _one_call_already_open(tenant, agent) -> Call:
    return call_create(
        tenant=tenant,
        agent=agent,
        direction=CallDirection.INBOUND,
        from_number="+14155550100",
        to_number=NUMBER,
        status=CallStatus.IN_PROGRESS,
    )


def test_a_sip_caller_over_the_limit_is_forwarded_to_the_transfer_number(tenant, make_voice_agent, provider):
    agent = make_voice_agent(tenant, max_concurrent_calls=1)
    phone_number_create(tenant=tenant, number=NUMBER, provider="sip", agent=agent)
    open_call = _one_call_already_open(tenant, agent)
    caller = sip_participant(NUMBER)

    result = run(run_sip_job(make_room(caller)))

    busy = Call.objects.for_tenant(tenant).exclude(pk=open_call.pk).get()
    assert result.transfers == [(caller.identity, f"tel:{TRANSFER_NUMBER}")]
    assert [role for role, _ in roles(busy)].count("assistant") == 0  # no greeting, no conversation
    assert provider.requests_to("/chat/completions") == []
    assert (busy.status, busy.from_number, busy.agent) == (CallStatus.TRANSFERRED, CALLER, agent)
    assert busy.end_reason == f"over the agent's limit of 1 concurrent call: forwarded to {TRANSFER_NUMBER}"


def test_a_sip_caller_over_the_limit_with_no_number_hears_the_out_of_hours_message(tenant, make_voice_agent, provider):
    agent = make_voice_agent(tenant, max_concurrent_calls=1, transfer_number="", out_of_hours_message=BUSY_MESSAGE)
    phone_number_create(tenant=tenant, number=NUMBER, provider="sip", agent=agent)
    open_call = _one_call_already_open(tenant, agent)

    result = run(run_sip_job(make_room(sip_participant(NUMBER))))

    busy = Call.objects.for_tenant(tenant).exclude(pk=open_call.pk).get()
    assert result.transfers == []
    assert [text for role, text in roles(busy) if role == "assistant"] == [BUSY_MESSAGE]
    assert busy.status == CallStatus.COMPLETED
    assert busy.end_reason.startswith("over the agent's limit of 1 concurrent call: message played")


def test_a_sip_caller_under_the_limit_still_reaches_the_agent(tenant, make_voice_agent, provider):
    agent = make_voice_agent(tenant, max_concurrent_calls=2)
    phone_number_create(tenant=tenant, number=NUMBER, provider="sip", agent=agent)
    _one_call_already_open(tenant, agent)
    provider.add(tool_call("end_call"), text("Goodbye."))

    result = run(run_sip_job(make_room(sip_participant(NUMBER)), during=base.says("That's all.")))

    assert result.session_started and result.transfers == []
    call = Call.objects.for_tenant(tenant).get(pk=result.state.call.pk)
    assert call.status == CallStatus.COMPLETED and "limit" not in call.end_reason
    assert roles(call)[0] == ("assistant", base.GREETING)
