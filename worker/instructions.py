"""What an agent says and how it takes turns, from its runtime config and the call's context.

Pure text and options, no I/O: the instructions (prompt and personality with their placeholders
filled, then the call's facts), the greeting, the opening line known before the session starts, the
IVR menu's options and how an answer matches one, and the turn-taking options. worker.agent's
VoiceAgent uses them in a call and in the text chat.
"""

from __future__ import annotations

from datetime import datetime

from livekit.agents import EndpointingOptions, TurnHandlingOptions

from agents_app import placeholders
from agents_app.runtime_config import IvrOption, RuntimeConfig
from agents_app.schedule import agent_timezone, is_open
from worker.context import CallContext

CALL_TYPE_TEXT = {
    "inbound": "an inbound phone call",
    "outbound": "an outbound phone call you placed",
    "test": "a test call",
    "chat": "a text chat test; telephony actions are simulated",
}
DIGIT_WORDS = {
    **{w: str(i) for i, w in enumerate("zero one two three four five six seven eight nine".split())},
    "star": "*",
    "pound": "#",
    "hash": "#",
}


def placeholder_values(config: RuntimeConfig, ctx: CallContext, now: datetime) -> dict[str, str]:
    local = now.astimezone(agent_timezone(config))
    variables = ctx.variables
    full_name = variables.get("full_name") or " ".join(
        part for part in (variables.get("first_name"), variables.get("last_name")) if part
    )
    values = {f"{placeholders.CONTACT_PREFIX}{key}": value for key, value in variables.items()}
    values.update(
        caller_number=ctx.caller_number,
        callee_number=ctx.callee_number,
        agent_name=config.name,
        company_name=config.tenant_name or variables.get("company_name") or "",
        current_date=f"{local:%A}, {local:%B} {local.day}, {local:%Y}",
        current_time=f"{local:%H:%M}",
        first_name=variables.get("first_name", ""),
        last_name=variables.get("last_name", ""),
        full_name=full_name,
        email=variables.get("email", ""),
        company=variables.get("company", ""),
    )
    return values


def menu_options(config: RuntimeConfig, ctx: CallContext) -> list[IvrOption]:
    """The IVR options this call offers: inbound-style calls only (not the ones the agent places)."""
    menu = config.inbound.ivr_menu
    if ctx.call_type == "outbound" or menu is None:
        return []
    return [option for option in menu.options or () if option.digit]


def build_instructions(config: RuntimeConfig, ctx: CallContext, now: datetime) -> str:
    """The system instructions: prompt and personality with placeholders filled, then the call's facts."""
    values = placeholder_values(config, ctx, now)
    local = now.astimezone(agent_timezone(config))
    parts = [placeholders.render(config.system_prompt, values).strip()]
    if personality := placeholders.render(config.personality, values).strip():
        parts.append(f"Personality and tone: {personality}")
    facts = [
        f"- This is {CALL_TYPE_TEXT.get(ctx.call_type, 'a call')}.",
        f"- Caller number: {ctx.caller_number or 'unknown'}.",
        f"- Number called: {ctx.callee_number or 'unknown'}.",
        f"- Current date and time: {values['current_date']} ({local:%Y-%m-%d}), {values['current_time']} "
        f"{local.tzname()} ({getattr(local.tzinfo, 'key', local.tzname())}).",
    ]
    if ctx.variables:
        details = "; ".join(f"{key}: {value}" for key, value in sorted(ctx.variables.items()))
        facts.append(f"- What we know about the contact: {details}.")
    parts.append("About this call:\n" + "\n".join(facts))
    if options := menu_options(config, ctx):
        listed = "\n".join(f"- {o.digit}: {o.label or o.action}" for o in options)
        parts.append(
            "The caller hears a menu and may answer on the keypad or by voice. When they name an option, "
            f"call choose_menu_option with the key or the option's name. Options:\n{listed}"
        )
    if ctx.call_type == "outbound":
        parts.append(
            'You placed this call. If the person asks not to be called again (for example "stop calling", '
            '"remove me from your list", "don\'t call me"), call opt_out at once: it ends the call politely.'
        )
    parts.append(
        "Use transfer_to_human when the caller asks for a person. Use end_call once the conversation is "
        "over. Keep answers short: they are spoken on the phone."
    )
    return "\n\n".join(part for part in parts if part)


def greeting_text(config: RuntimeConfig, ctx: CallContext, now: datetime) -> str:
    greeting = placeholders.render(config.greeting_message, placeholder_values(config, ctx, now)).strip()
    if ctx.call_type == "outbound" and not config.is_default:
        return outbound_opening(config, ctx, greeting)
    return greeting


DEFAULT_RECORDING_NOTICE = "This call is recorded."


def outbound_opening(config: RuntimeConfig, ctx: CallContext, greeting: str) -> str:
    """What the callee hears first (COMPLIANCE.md): the recording notice when the agent records calls,
    then the greeting, which names who is calling; one that names neither the business nor the agent
    gets "Hi, this is <agent> calling on behalf of <business>." in front of it."""
    parts = []
    if config.recording_enabled:
        notice = ctx.outbound.recording_notice if ctx.outbound is not None else ""
        parts.append(notice.strip() or DEFAULT_RECORDING_NOTICE)
    names = [name for name in (config.tenant_name.strip(), config.name.strip()) if name]
    if not any(name.casefold() in greeting.casefold() for name in names):
        if config.name and config.tenant_name:
            parts.append(f"Hi, this is {config.name} calling on behalf of {config.tenant_name}.")
        elif names:
            parts.append(f"Hi, this is {names[0]} calling.")
    parts.append(greeting)
    return " ".join(part for part in parts if part)


def opening_line(config: RuntimeConfig, ctx: CallContext, now: datetime) -> str:
    """The greeting VoiceAgent.on_enter will say, known before the session starts ('' when the call
    opens otherwise: the default config's apology, the out-of-hours message, or no greeting)."""
    if config.is_default or ctx.scripted is not None:
        return ""
    if ctx.call_type == "inbound" and not is_open(config.inbound, now):
        return ""
    return greeting_text(config, ctx, now)


def turn_handling_options(config: RuntimeConfig) -> TurnHandlingOptions:
    """The agent's turn-taking knobs; turn detection itself is chosen where the session is built."""
    knobs = config.turn_taking
    options: TurnHandlingOptions = {}
    endpointing: EndpointingOptions = {}
    if knobs.min_endpointing_delay is not None:
        endpointing["min_delay"] = float(knobs.min_endpointing_delay)
    if knobs.max_endpointing_delay is not None:
        endpointing["max_delay"] = float(knobs.max_endpointing_delay)
    if endpointing:
        options["endpointing"] = endpointing
    if knobs.allow_interruptions is not None:
        options["interruption"] = {"enabled": bool(knobs.allow_interruptions)}
    if knobs.preemptive_generation is not None:
        options["preemptive_generation"] = {"enabled": bool(knobs.preemptive_generation)}
    return options


def match_menu_option(options: list[IvrOption], answer: str) -> IvrOption | None:
    """The option a keypad digit or a spoken answer ("2", "two", "option 2", "sales") names, if exactly one."""
    text = " ".join(str(answer).casefold().replace("press", " ").replace("option", " ").split())
    key = DIGIT_WORDS.get(text, text)
    by_digit = [o for o in options if o.digit == key]
    if by_digit:
        return by_digit[0]
    labelled = [o for o in options if (o.label or "").strip()]
    exact = [o for o in labelled if (o.label or "").casefold().strip() == text]
    if exact:
        return exact[0]
    close = [o for o in labelled if text and ((o.label or "").casefold() in text or text in (o.label or "").casefold())]
    return close[0] if len(close) == 1 else None
