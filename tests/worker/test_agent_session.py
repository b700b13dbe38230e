"""The agent in the call, driven through a real AgentSession in text mode by a scripted LLM.

No LiveKit server and no vendor: telephony goes through DryRunCallControl, which records what
would happen to the line. Each test runs its own event loop (asyncio.run), with a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
from collections.abc import Callable, Coroutine
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from livekit import rtc
from livekit.agents import AgentSession, APIError
from livekit.agents.testing import fake_job_context

from agents_app.runtime_config import DEFAULT_APOLOGY, IvrOption, RuntimeConfig, default_config
from voiceplatform.devtools.scripted_llm import ScriptedLLM, provider_error, reply, tool_call
from worker.agent import (
    ERROR_APOLOGY,
    INVALID_CHOICE_LINE,
    NO_HUMAN_RESULT,
    TRANSFER_LINE,
    UNAVAILABLE_LINE,
    CallControlError,
    CallServices,
    DryRunCallControl,
    LiveKitCallControl,
    VoiceAgent,
    forward_dtmf,
)
from worker.context import CallContext, InvalidCallContext, parse_call_context
from worker.instructions import build_instructions, greeting_text, match_menu_option, turn_handling_options

# Fixed (not uuid4()): they appear in parametrized test ids, which every pytest-xdist process must
# collect identically.
AGENT_ID = "7d159a3c-ad7d-4f06-9b5c-8d4581176a21"
BILLING_ID = "5a0f3c1e-9d2b-4c7a-8e6f-1b2c3d4e5f60"
TENANT_ID = "0c9e8d7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f"
CALL_ID = "3e4f5a6b-7c8d-4e9f-8a1b-2c3d4e5f6a7b"
TUESDAY_10AM_NEW_YORK = datetime(2026, 3, 3, 15, 0, tzinfo=UTC)
SUNDAY_NEW_YORK = datetime(2026, 3, 8, 15, 0, tzinfo=UTC)
TRANSFER_NUMBER = "+12125550142"
FALLBACK_NUMBER = "+12125550199"
SALES_NUMBER = "+12125550111"
MENU_PROMPT = "For sales press 1, for our address press 2, for billing press 3."


def async_test(fn: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(fn(*args, **kwargs), timeout=20))

    return run


def make_config(agent_id: str = AGENT_ID, **inbound: Any) -> RuntimeConfig:
    """A runtime config, read from a document shaped like build_runtime_config's."""
    return RuntimeConfig.from_document(
        {
            "agent_id": agent_id,
            "tenant_id": TENANT_ID,
            "tenant_timezone": "UTC",
            "tenant_name": "Acme",
            "name": "Maya",
            "is_active": True,
            "is_default": False,
            "system_prompt": "You are {{agent_name}}, the assistant of {{company_name}}. Help {{first_name}}.",
            "personality": "Warm and concise.",
            "greeting_message": "Hi {{first_name}}, this is {{agent_name}} from {{company_name}}.",
            "turn_taking": {
                "allow_interruptions": True,
                "min_endpointing_delay": 0.4,
                "max_endpointing_delay": 2.5,
                "preemptive_generation": False,
            },
            "inbound": {
                "timezone": "America/New_York",
                "business_hours_enabled": False,
                "business_hours": {},
                "holidays": [],
                "transfer_number": TRANSFER_NUMBER,
                "fallback_number": FALLBACK_NUMBER,
                "out_of_hours_message": "We are closed. Our hours are 9 to 5, Monday to Friday.",
                "ivr_menu": None,
                **inbound,
            },
        }
    )


def make_call(**overrides: Any) -> CallContext:
    fields: dict[str, Any] = {
        "agent_id": AGENT_ID,
        "tenant_id": TENANT_ID,
        "call_id": CALL_ID,
        "call_type": "inbound",
        "caller_number": "+14155550100",
        "callee_number": "+12125550100",
        "variables": {"first_name": "Ann", "last_name": "Lee", "plan": "gold"},
    }
    return CallContext(**{**fields, **overrides})


MENU = {
    "prompt": MENU_PROMPT,
    "options": [
        {"digit": "1", "label": "Sales", "action": "transfer", "number": SALES_NUMBER},
        {"digit": "2", "label": "Address", "action": "message", "message": "We are at 1 Main Street."},
        {"digit": "3", "label": "Billing", "action": "agent", "agentId": BILLING_ID},
    ],
}
MENU_OPTIONS = [IvrOption.from_document(option) for option in MENU["options"]]
BILLING = replace(
    make_config(BILLING_ID),
    name="Bill",
    system_prompt="You are the billing desk. Never discuss sales.",
    greeting_message="Billing here. Hello {{first_name}}, how can I help?",
)


async def load_billing(agent_id: str) -> RuntimeConfig | None:
    return BILLING if agent_id == BILLING_ID else None


async def start(
    config: RuntimeConfig, llm: ScriptedLLM, call: CallContext | None = None, **services: Any
) -> tuple[AgentSession, VoiceAgent, DryRunCallControl, Any]:
    control = services.pop("control", None) or DryRunCallControl()
    services.setdefault("clock", lambda: TUESDAY_10AM_NEW_YORK)
    agent = VoiceAgent(config, call or make_call(), CallServices(control=control, **services))
    session = AgentSession(llm=llm)
    greeting = await session.start(agent, capture_run=True)
    return session, agent, control, greeting


def assistant_lines(session: AgentSession) -> list[str]:
    return [
        item.text_content or "" for item in session.history.items if item.type == "message" and item.role == "assistant"
    ]


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


# --- greeting and instructions ------------------------------------------------------------------


@async_test
async def test_the_greeting_is_spoken_first_with_placeholders_filled():
    llm = ScriptedLLM()
    session, _agent, _control, greeting = await start(make_config(), llm)

    greeting.expect.next_event().is_agent_handoff(new_agent_type=VoiceAgent)
    message = greeting.expect.next_event().is_message(role="assistant").event().item
    assert message.text_content == "Hi Ann, this is Maya from Acme."
    greeting.expect.no_more_events()
    assert llm.requests == []  # spoken verbatim, not generated
    await session.aclose()


def test_instructions_hold_prompt_personality_caller_contact_and_local_date():
    late_evening_utc = datetime(2026, 3, 3, 23, 30, tzinfo=UTC)  # already Wednesday 08:30 in Tokyo
    config = make_config(timezone="Asia/Tokyo")

    instructions = build_instructions(config, make_call(), late_evening_utc)

    assert "You are Maya, the assistant of Acme. Help Ann." in instructions
    assert "Warm and concise." in instructions
    assert "+14155550100" in instructions
    assert "plan: gold" in instructions
    assert "Wednesday, March 4, 2026 (2026-03-04), 08:30" in instructions
    assert "Asia/Tokyo" in instructions
    assert "2026-03-03" not in instructions
    assert "{{" not in instructions


def test_missing_placeholder_values_are_left_out_not_spoken_as_braces():
    config = replace(make_config(), greeting_message="Hello {{first_name}} {{contact.nickname}}!")

    assert greeting_text(config, make_call(variables={}), TUESDAY_10AM_NEW_YORK) == "Hello  !"


@async_test
async def test_the_model_receives_the_composed_instructions():
    llm = ScriptedLLM([reply("Happy to help, Ann.")])
    session, _agent, _control, _ = await start(make_config(), llm)

    result = await session.run(user_input="Hi, I have a question.")

    result.expect.next_event().is_message(role="assistant")
    system = llm.requests[0].items[0]
    assert system.role == "system"
    assert "Help Ann." in system.text_content
    assert "Warm and concise." in system.text_content
    assert "Caller number: +14155550100" in system.text_content
    await session.aclose()


def test_turn_handling_comes_from_the_config():
    config = make_config()
    config = replace(config, turn_taking=replace(config.turn_taking, allow_interruptions=False))

    options = turn_handling_options(config)
    agent = VoiceAgent(config, make_call(), CallServices(control=DryRunCallControl()))

    assert options == {
        "endpointing": {"min_delay": 0.4, "max_delay": 2.5},
        "interruption": {"enabled": False},
        "preemptive_generation": {"enabled": False},
    }
    assert agent.min_endpointing_delay == 0.4
    assert agent.max_endpointing_delay == 2.5
    assert agent.allow_interruptions is False
    default = default_config(agent_code=AGENT_ID, tenant_code=TENANT_ID)
    assert turn_handling_options(default) == {}  # the default config leaves the session's


# --- transfer and end of call --------------------------------------------------------------------


@async_test
async def test_transfer_to_human_transfers_the_caller_to_the_transfer_number():
    llm = ScriptedLLM([tool_call("transfer_to_human", text="Of course.")])
    session, _agent, control, _ = await start(make_config(), llm)

    result = await session.run(user_input="Can I talk to a person?")

    result.expect.next_event().is_message(role="assistant")
    result.expect.next_event().is_function_call(name="transfer_to_human")
    said = result.expect.next_event().is_message(role="assistant").event().item
    assert said.text_content == TRANSFER_LINE
    result.expect.next_event().is_function_call_output(output=f"would transfer to {TRANSFER_NUMBER}")
    result.expect.no_more_events()  # the call is handed over: no reply after the transfer
    assert control.actions == [("transfer", TRANSFER_NUMBER)]
    assert len(llm.requests) == 1
    await session.aclose()


@async_test
async def test_without_a_transfer_number_the_agent_says_nobody_is_available_and_continues():
    llm = ScriptedLLM(
        [
            tool_call("transfer_to_human"),
            reply("I'm sorry, nobody is available right now. I can keep helping you."),
            reply("Your order ships tomorrow."),
        ]
    )
    session, _agent, control, _ = await start(make_config(transfer_number=None), llm)

    result = await session.run(user_input="Get me a human.")

    result.expect.next_event().is_function_call(name="transfer_to_human")
    result.expect.next_event().is_function_call_output(output=NO_HUMAN_RESULT)
    result.expect.next_event().is_message(role="assistant")
    result.expect.no_more_events()
    assert control.actions == []
    later = await session.run(user_input="OK, when does my order ship?")
    later.expect.next_event().is_message(role="assistant")
    await session.aclose()


@async_test
async def test_an_invalid_transfer_number_at_call_time_is_not_dialled():
    llm = ScriptedLLM([tool_call("transfer_to_human"), reply("Sorry, nobody can take the call right now.")])
    session, _agent, control, _ = await start(make_config(transfer_number="0800 CALL ME"), llm)

    result = await session.run(user_input="A person, please.")

    result.expect.next_event().is_function_call(name="transfer_to_human")
    result.expect.next_event().is_function_call_output(output=NO_HUMAN_RESULT)
    assert control.actions == []
    assert any("not an E.164 number" in note for note in control.notes)
    await session.aclose()


class FailingTransfer(DryRunCallControl):
    async def transfer(self, number: str) -> str:
        raise CallControlError("SIP 486 busy")


@async_test
async def test_a_failed_transfer_is_reported_to_the_model_and_the_call_goes_on():
    llm = ScriptedLLM([tool_call("transfer_to_human"), reply("Sorry, that did not work. How else can I help?")])
    session, _agent, control, _ = await start(make_config(), llm, control=FailingTransfer())

    result = await session.run(user_input="A person, please.")

    result.expect.next_event().is_function_call(name="transfer_to_human")
    result.expect.next_event().is_message(role="assistant")  # the transfer line
    output = result.expect.next_event().is_function_call_output().event().item
    assert "transfer failed" in output.output
    result.expect.next_event().is_message(role="assistant")
    assert f"transfer to {TRANSFER_NUMBER} failed" in control.notes
    await session.aclose()


@async_test
async def test_end_call_says_goodbye_then_hangs_up():
    llm = ScriptedLLM([tool_call("end_call"), reply("Thanks for calling, Ann. Goodbye!")])
    session, _agent, control, _ = await start(make_config(), llm)

    result = await session.run(user_input="That's all, bye.")

    result.expect.next_event().is_function_call(name="end_call")
    result.expect.next_event().is_function_call_output()
    goodbye = result.expect.next_event().is_message(role="assistant").event().item
    assert goodbye.text_content == "Thanks for calling, Ann. Goodbye!"
    await asyncio.wait_for(control.ended.wait(), timeout=3)
    assert control.actions == [("hang_up", "")]
    await session.aclose()


# --- business hours and the default config -------------------------------------------------------

WEEKDAYS_9_TO_5 = {day: [{"start": "09:00", "end": "17:00"}] for day in ("monday", "tuesday", "wednesday")}


@async_test
async def test_out_of_hours_the_caller_hears_the_message_and_goes_to_the_fallback_number():
    llm = ScriptedLLM()  # no turns: any LLM call would be an error
    config = make_config(business_hours_enabled=True, business_hours=WEEKDAYS_9_TO_5)
    session, _agent, control, greeting = await start(config, llm, clock=lambda: SUNDAY_NEW_YORK)

    greeting.expect.next_event().is_agent_handoff()
    message = greeting.expect.next_event().is_message(role="assistant").event().item
    assert message.text_content == "We are closed. Our hours are 9 to 5, Monday to Friday."
    greeting.expect.no_more_events()
    assert control.actions == [("transfer", FALLBACK_NUMBER)]
    assert llm.requests == []
    await session.aclose()


@async_test
async def test_out_of_hours_without_a_fallback_number_hangs_up():
    config = make_config(business_hours_enabled=True, business_hours=WEEKDAYS_9_TO_5, fallback_number=None)
    session, _agent, control, _ = await start(config, ScriptedLLM(), clock=lambda: SUNDAY_NEW_YORK)

    assert control.actions == [("hang_up", "")]
    await session.aclose()


@async_test
async def test_business_hours_apply_to_inbound_calls_only():
    config = make_config(business_hours_enabled=True, business_hours=WEEKDAYS_9_TO_5)
    call = make_call(call_type="outbound")
    session, _agent, control, _ = await start(config, ScriptedLLM(), call, clock=lambda: SUNDAY_NEW_YORK)

    assert assistant_lines(session) == ["Hi Ann, this is Maya from Acme."]
    assert control.actions == []
    await session.aclose()


@async_test
async def test_inside_business_hours_the_call_is_greeted_normally():
    config = make_config(business_hours_enabled=True, business_hours=WEEKDAYS_9_TO_5)
    session, _agent, control, _ = await start(config, ScriptedLLM())

    assert assistant_lines(session) == ["Hi Ann, this is Maya from Acme."]
    assert control.actions == []
    await session.aclose()


@async_test
async def test_the_default_config_apologises_and_transfers_to_the_fallback_number():
    config = default_config(agent_code=AGENT_ID, tenant_code=TENANT_ID)
    config = replace(config, inbound=replace(config.inbound, fallback_number=FALLBACK_NUMBER))
    llm = ScriptedLLM()
    session, _agent, control, _ = await start(config, llm)

    assert assistant_lines(session) == [DEFAULT_APOLOGY]
    assert control.actions == [("transfer", FALLBACK_NUMBER)]
    assert llm.requests == []
    await session.aclose()


@async_test
async def test_the_default_config_without_any_number_apologises_and_hangs_up():
    config = default_config(agent_code=AGENT_ID, tenant_code=TENANT_ID)
    session, _agent, control, _ = await start(config, ScriptedLLM())

    assert assistant_lines(session) == [DEFAULT_APOLOGY]
    assert control.actions == [("hang_up", "")]
    await session.aclose()


# --- IVR menu ------------------------------------------------------------------------------------


@async_test
async def test_the_menu_is_played_after_the_greeting():
    session, _agent, control, greeting = await start(make_config(ivr_menu=MENU), ScriptedLLM())

    greeting.expect.next_event().is_agent_handoff()
    assert greeting.expect.next_event().is_message().event().item.text_content == "Hi Ann, this is Maya from Acme."
    assert greeting.expect.next_event().is_message().event().item.text_content == MENU_PROMPT
    assert control.actions == []
    await session.aclose()


@async_test
async def test_a_keypad_digit_for_a_transfer_option_transfers_to_its_number():
    session, agent, control, _ = await start(make_config(ivr_menu=MENU), ScriptedLLM())

    await agent.handle_digit("1")

    assert control.actions == [("transfer", SALES_NUMBER)]
    assert assistant_lines(session)[-1] == TRANSFER_LINE
    await session.aclose()


@async_test
async def test_a_keypad_digit_for_a_message_option_speaks_the_message():
    session, agent, control, _ = await start(make_config(ivr_menu=MENU), ScriptedLLM())

    await agent.handle_digit("2")

    assert assistant_lines(session)[-1] == "We are at 1 Main Street."
    assert control.actions == []
    await session.aclose()


@async_test
async def test_a_keypad_digit_for_an_agent_option_hands_the_call_to_that_agent():
    llm = ScriptedLLM([reply("Your last invoice was paid.")])
    session, agent, control, _ = await start(make_config(ivr_menu=MENU), llm, load_agent_config=load_billing)

    await agent.handle_digit("3")
    await until(lambda: "Billing here. Hello Ann, how can I help?" in assistant_lines(session))

    billing = session.current_agent
    assert isinstance(billing, VoiceAgent) and billing is not agent
    assert billing.call.agent_id == BILLING_ID
    assert billing.call.call_id == CALL_ID
    result = await session.run(user_input="Was my invoice paid?")
    result.expect.next_event().is_message(role="assistant")
    instructions = llm.requests[-1].items[0].text_content
    assert "You are the billing desk." in instructions  # the new agent's instructions are in effect
    assert "You are Maya" not in instructions
    assert control.actions == []
    await session.aclose()


@async_test
async def test_an_invalid_digit_replays_the_menu_twice_then_transfers_to_the_transfer_number():
    session, agent, control, _ = await start(make_config(ivr_menu=MENU), ScriptedLLM())

    replay = f"{INVALID_CHOICE_LINE} {MENU_PROMPT}"

    await agent.handle_digit("9")
    await until(lambda: assistant_lines(session).count(replay) == 1)
    await agent.handle_digit("#")
    await until(lambda: assistant_lines(session).count(replay) == 2)
    assert control.actions == []
    await agent.handle_digit("7")

    assert assistant_lines(session).count(replay) == 2
    assert assistant_lines(session)[-1] == TRANSFER_LINE
    assert control.actions == [("transfer", TRANSFER_NUMBER)]
    await session.aclose()


@async_test
async def test_no_choice_at_all_replays_the_menu_twice_then_hangs_up_without_a_transfer_number():
    config = make_config(ivr_menu=MENU, transfer_number=None)
    session, _agent, control, _ = await start(config, ScriptedLLM(), menu_timeout=0.05)

    await asyncio.wait_for(control.ended.wait(), timeout=3)

    assert sum(MENU_PROMPT in line for line in assistant_lines(session)) == 3
    assert control.actions == [("hang_up", "")]
    assert sum("no menu choice" in note for note in control.notes) == 3
    await session.aclose()


@async_test
async def test_an_agent_option_whose_agent_is_gone_says_so_and_replays_the_menu():
    session, agent, control, _ = await start(make_config(ivr_menu=MENU), ScriptedLLM(), load_agent_config=None)

    await agent.handle_digit("3")
    await until(lambda: assistant_lines(session)[-1] == f"{UNAVAILABLE_LINE} {MENU_PROMPT}")

    assert session.current_agent is agent
    assert control.actions == []
    await session.aclose()


@async_test
async def test_a_spoken_choice_runs_the_option_through_the_menu_tool():
    llm = ScriptedLLM([tool_call("choose_menu_option", {"digit_or_label": "sales"})])
    session, _agent, control, _ = await start(make_config(ivr_menu=MENU), llm)

    result = await session.run(user_input="Sales, please.")

    result.expect.next_event().is_function_call(name="choose_menu_option", arguments={"digit_or_label": "sales"})
    result.expect.next_event().is_message(role="assistant")
    result.expect.next_event().is_function_call_output(output=f"would transfer to {SALES_NUMBER}")
    assert control.actions == [("transfer", SALES_NUMBER)]
    await session.aclose()


@async_test
async def test_a_spoken_choice_of_an_agent_option_is_a_handoff():
    llm = ScriptedLLM([tool_call("choose_menu_option", {"digit_or_label": "three"})])
    session, _agent, _control, _ = await start(make_config(ivr_menu=MENU), llm, load_agent_config=load_billing)

    result = await session.run(user_input="Billing.")

    result.expect.contains_function_call(name="choose_menu_option")
    result.expect.contains_agent_handoff(new_agent_type=VoiceAgent)
    assert isinstance(session.current_agent, VoiceAgent)
    assert session.current_agent.call.agent_id == BILLING_ID
    await session.aclose()


def test_outbound_calls_do_not_play_the_menu():
    agent = VoiceAgent(
        make_config(ivr_menu=MENU), make_call(call_type="outbound"), CallServices(control=DryRunCallControl())
    )

    assert agent.menu == []
    assert "choose_menu_option" not in {tool.id for tool in agent.tools}


@pytest.mark.parametrize(
    ("answer", "digit"),
    [("1", "1"), (" two ", "2"), ("option 3", "3"), ("press 1", "1"), ("Sales", "1"), ("billing team", "3")],
)
def test_menu_answers_match_by_digit_word_or_label(answer, digit):
    assert match_menu_option(MENU_OPTIONS, answer).digit == digit


@pytest.mark.parametrize("answer", ["9", "", "something else", "star"])
def test_menu_answers_that_name_no_option_match_nothing(answer):
    assert match_menu_option(MENU_OPTIONS, answer) is None


@async_test
async def test_keypad_presses_in_the_room_reach_the_current_agent():
    session, _agent, control, _ = await start(make_config(ivr_menu=MENU), ScriptedLLM())
    room = rtc.Room()
    unsubscribe = forward_dtmf(room, session)

    room.emit("sip_dtmf_received", rtc.SipDTMF(code=1, digit="1"))
    await until(lambda: control.actions == [("transfer", SALES_NUMBER)])

    unsubscribe()
    await session.aclose()


# --- provider errors -----------------------------------------------------------------------------


@async_test
async def test_a_provider_error_is_observable_apologised_for_and_the_session_goes_on():
    llm = ScriptedLLM([provider_error("upstream returned 503"), reply("Sure, I can help with that.")])
    session, _agent, control, _ = await start(make_config(), llm)
    errors = []
    session.on("error", errors.append)

    with contextlib.suppress(APIError):
        await session.run(user_input="Hello?")
    await until(lambda: ERROR_APOLOGY in assistant_lines(session))

    assert [str(event.error.error) for event in errors] == ["upstream returned 503"]
    assert errors[0].error.type == "llm_error"
    # The note goes into the tenant's transcript: a fixed description, not the provider's words.
    assert "language model error: it could not answer" in control.notes
    assert not any("upstream returned 503" in note for note in control.notes)
    later = await session.run(user_input="Can you help me?")
    later.expect.next_event().is_message(role="assistant")
    await asyncio.wait_for(session.aclose(), timeout=5)


# --- call context --------------------------------------------------------------------------------


def test_the_call_context_comes_from_the_dispatch_metadata():
    metadata = json.dumps(
        {
            "agent_id": AGENT_ID,
            "tenant_id": TENANT_ID,
            "call_id": CALL_ID.upper(),
            "call_type": "outbound",
            "caller_number": "+12125550100",
            "callee_number": "+14155550100",
            "variables": {"first_name": "Ann", "visits": 3},
        }
    )

    call = parse_call_context(metadata, json.dumps({"agent_id": BILLING_ID}))

    assert call == CallContext(
        agent_id=AGENT_ID,
        tenant_id=TENANT_ID,
        call_id=CALL_ID,
        call_type="outbound",
        caller_number="+12125550100",
        callee_number="+14155550100",
        variables={"first_name": "Ann", "visits": "3"},
    )


def test_the_room_metadata_is_used_when_the_dispatch_has_none():
    call = parse_call_context("", json.dumps({"agent_id": AGENT_ID}))

    assert call == CallContext(agent_id=AGENT_ID, call_type="inbound")


@pytest.mark.parametrize(
    ("job_metadata", "room_metadata", "reason"),
    [
        ('{"agent_id": ', None, "not valid JSON"),
        (None, "{nope", "room metadata is not valid JSON"),
        ("[1, 2]", None, "not a JSON object"),
        (None, None, "neither the dispatch nor the room"),
        ("{}", None, "no agent_id"),
        ('{"agent_id": "42"}', None, "agent_id '42' is not a UUID"),
        (json.dumps({"agent_id": AGENT_ID, "call_id": "call-1"}), None, "call_id 'call-1' is not a UUID"),
        (json.dumps({"agent_id": AGENT_ID, "call_type": "fax"}), None, "call_type 'fax'"),
        (json.dumps({"agent_id": AGENT_ID, "variables": ["a"]}), None, "variables must be an object"),
        (json.dumps({"agent_id": AGENT_ID, "caller_number": 14155550100}), None, "caller_number must be a string"),
    ],
)
def test_unusable_metadata_is_refused_with_a_reason(job_metadata, room_metadata, reason):
    with pytest.raises(InvalidCallContext) as excinfo:
        parse_call_context(job_metadata, room_metadata)

    assert reason in excinfo.value.reason


# --- the real call control, against a fake job context ---------------------------------------------


@async_test
async def test_livekit_call_control_transfers_the_sip_participant_through_the_job_context():
    with fake_job_context() as job_ctx:
        control = LiveKitCallControl(job_ctx, participant_identity="caller", call_id=CALL_ID)

        assert await control.transfer(TRANSFER_NUMBER) == f"transferred to {TRANSFER_NUMBER}"
        await control.hang_up()


@async_test
async def test_livekit_call_control_refuses_to_transfer_when_no_sip_participant_is_in_the_room():
    with fake_job_context():
        control = LiveKitCallControl(call_id=CALL_ID)  # the job context is found with get_job_context()

        with pytest.raises(CallControlError, match="no SIP participant"):
            await control.transfer(TRANSFER_NUMBER)
