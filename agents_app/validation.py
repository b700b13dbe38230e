"""Validators for agent fields: E.164 numbers, the IVR menu's JSON shape, business hours, placeholders."""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass
from typing import Any

import jsonschema
import phonenumbers
from django.core.exceptions import ValidationError

from agents_app.placeholders import allowed_placeholders_text, unknown_placeholders

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def normalize_e164(value: str) -> str:
    """'+1 (415) 555-0123' -> '+14155550123'; raises ValidationError for anything not a valid number."""
    value = (value or "").strip()
    if not value:
        return ""
    try:
        number = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValidationError(
            f"{value!r} is not a phone number in international format, e.g. +14155550123.", code="e164"
        ) from None
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(f"{value!r} is not a valid phone number.", code="e164")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def validate_e164(value: str) -> None:
    if value and normalize_e164(value) != value:
        raise ValidationError(f"{value!r} is not in E.164 format (e.g. +14155550123).", code="e164")


def placeholder_problem(text: str) -> str | None:
    """What is wrong with the {{placeholders}} in text (ones no call can fill in), or None."""
    unknown = sorted(unknown_placeholders(text))
    if not unknown:
        return None
    names = ", ".join(f"{{{{{name}}}}}" for name in unknown)
    noun = "placeholder" if len(unknown) == 1 else "placeholders"
    return f"Unknown {noun} {names}. Use one of {allowed_placeholders_text()}."


# Prompt size. The three texts go to the model on every turn, so they must leave most of the
# context window to the conversation: together at most a quarter of it (estimated at ~4 characters
# a token, no tokenizer involved), and each under a hard cap whatever the model, because a voice
# agent re-reads them every turn (latency, cost). A model of unknown window gets only the caps.
CHARS_PER_TOKEN = 4
PROMPT_SHARE_OF_CONTEXT = 4  # the texts may use at most 1/4 of the context window
PROMPT_FIELD_MAX_CHARS = {"system_prompt": 32_000, "personality": 2_000, "greeting_message": 1_000}
PROMPT_FIELD_LABELS = {"system_prompt": "system prompt", "personality": "personality", "greeting_message": "greeting"}


def estimated_tokens(chars: int) -> int:
    """The token estimate the limits use (rounded up), shown by the form's live counter too."""
    return -(-chars // CHARS_PER_TOKEN)


def prompt_budget_tokens(*, context_window: int, max_output_tokens: int | None) -> int | None:
    """How many tokens the three prompt texts may use with this model; None = unknown window."""
    if not context_window:
        return None
    budget = context_window // PROMPT_SHARE_OF_CONTEXT
    if max_output_tokens:  # the reply must fit too, however long it may be
        budget = min(budget, context_window - max_output_tokens)
    return max(budget, 0)


def prompt_size_problems(
    *, texts: dict[str, str], context_window: int, max_output_tokens: int | None, model_name: str
) -> dict[str, str]:
    """Field -> what is too long: a text over its own cap, or the three over the model's budget
    (reported on the system prompt, the text that is usually the long one)."""
    problems: dict[str, str] = {}
    for field, cap in PROMPT_FIELD_MAX_CHARS.items():
        length = len(texts.get(field) or "")
        if length > cap:
            problems[field] = (
                f"The {PROMPT_FIELD_LABELS[field]} is {length:,} characters; the limit is {cap:,}. "
                "Shorten it: the agent re-reads it on every turn of a call."
            )
    budget = prompt_budget_tokens(context_window=context_window, max_output_tokens=max_output_tokens)
    total = sum(len(texts.get(field) or "") for field in PROMPT_FIELD_MAX_CHARS)
    if budget is not None and estimated_tokens(total) > budget and "system_prompt" not in problems:
        problems["system_prompt"] = (
            f"The system prompt, personality and greeting are about {estimated_tokens(total):,} tokens together; "
            f"with {model_name} they may use at most {budget:,} of its context window of {context_window} tokens "
            "(a quarter, and never the room the longest reply needs), so the rest is left for the conversation."
        )
    return problems


OUTBOUND_ONLY = "outbound"  # agents_app.models.Direction.OUTBOUND (models imports this module)


def inbound_agent_problem(*, name: str, direction: str) -> str | None:
    """Why this agent cannot answer a phone number's inbound calls, or None: the one rule the
    number forms, the numbers API, the admin and the agent's own direction check share."""
    if direction == OUTBOUND_ONLY:
        return (
            f"{name} is outbound-only: it places calls and cannot answer a number. Choose an agent that takes "
            "inbound calls, or change this agent's direction to inbound or both."
        )
    return None


INBOUND_ONLY = "inbound"  # agents_app.models.Direction.INBOUND


def outbound_agent_problem(*, name: str, direction: str, is_active: bool) -> str | None:
    """Why this agent cannot place a campaign's calls, or None: the one rule the campaign forms, the
    campaigns API, the admin and the start of a campaign share."""
    if direction == INBOUND_ONLY:
        return (
            f"{name} is inbound-only: it answers calls and cannot place them. Choose an agent that makes "
            "outbound calls, or change this agent's direction to outbound or both."
        )
    if not is_active:
        return f"{name} is switched off. Switch it on, or choose another agent."
    return None


IVR_ACTIONS = ("transfer", "agent", "message")

IVR_MENU_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "prompt": {"type": "string", "maxLength": 1000},
        "options": {
            "type": "array",
            "maxItems": 12,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["digit", "action"],
                "properties": {
                    "digit": {"type": "string", "pattern": "^[0-9*#]$"},
                    "label": {"type": "string", "maxLength": 80},
                    "action": {"enum": list(IVR_ACTIONS)},
                    "number": {"type": "string"},
                    "agentId": {"type": "string"},
                    "message": {"type": "string", "minLength": 1, "maxLength": 1000},
                },
                "allOf": [
                    {"if": {"properties": {"action": {"const": "transfer"}}}, "then": {"required": ["number"]}},
                    {"if": {"properties": {"action": {"const": "agent"}}}, "then": {"required": ["agentId"]}},
                    {"if": {"properties": {"action": {"const": "message"}}}, "then": {"required": ["message"]}},
                ],
            },
        },
    },
}


def _schema_error_message(error: jsonschema.ValidationError) -> str:
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    if error.validator == "pattern" and error.absolute_path and error.absolute_path[-1] == "digit":
        return f"ivrMenu{where}: {error.instance!r} is not a keypad key; use 0-9, * or #."
    if error.validator == "required":
        return f"ivrMenu{where}: {error.message}."
    return f"ivrMenu{where}: {error.message}."


def validate_ivr_menu_shape(value: Any) -> None:
    """Shape only: keys, digits, actions and their targets. Tenant checks happen in Agent.clean()."""
    if value in (None, {}):
        return
    validator = jsonschema.Draft202012Validator(IVR_MENU_SCHEMA)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    messages = [_schema_error_message(e) for e in errors[:5]]
    # The checks below read only the parts whose shape is right, so a wrong digit in one option
    # does not hide a bad transfer number in another until the next save.
    raw_options = value.get("options") if isinstance(value, dict) else None
    options = [o for o in raw_options if isinstance(o, dict)] if isinstance(raw_options, list) else []
    prompt = value.get("prompt", "") if isinstance(value, dict) else ""
    if options and isinstance(prompt, str) and not prompt.strip():
        messages.append("ivrMenu.prompt: say what the caller can choose, e.g. 'For sales press 1'.")
    digits = [option["digit"] for option in options if isinstance(option.get("digit"), str)]
    for digit in sorted({d for d in digits if digits.count(d) > 1}):
        messages.append(f"ivrMenu.options: digit {digit!r} is used more than once.")
    for index, option in enumerate(raw_options if isinstance(raw_options, list) else []):
        number = option.get("number") if isinstance(option, dict) else None
        if _is_transfer(option) and isinstance(number, str) and not _is_e164(number):
            messages.append(f"ivrMenu.options[{index}].number: {number!r} is not an E.164 number.")
    if messages:
        raise ValidationError(messages, code="ivr_menu")


def _is_transfer(option: Any) -> bool:
    return isinstance(option, dict) and option.get("action") == "transfer"


def _is_e164(number: str) -> bool:
    try:
        return normalize_e164(number) == number
    except ValidationError:
        return False


DAY_SECONDS = 24 * 3600
WEEK_SECONDS = 7 * DAY_SECONDS
MIDNIGHT = datetime.time(0, 0)


@dataclass(frozen=True)
class HoursRange:
    """Open from `start` on `weekday` (0 = Monday) until `end`: the same day when end is later than
    start, else the next day (an overnight range, e.g. Friday 22:00-06:00 runs into Saturday). An
    end of 00:00 (written 24:00) is the midnight that ends the day, so 00:00-24:00 is the whole day."""

    weekday: int
    start: datetime.time
    end: datetime.time

    @property
    def is_overnight(self) -> bool:
        return self.end != MIDNIGHT and self.end <= self.start

    def week_span(self) -> tuple[int, int]:
        """[start, end) in seconds from Monday 00:00; the end may pass the week's end (Sunday night)."""
        start = self.weekday * DAY_SECONDS + _seconds(self.start)
        end = self.weekday * DAY_SECONDS + _seconds(self.end)
        return start, end if end > start else end + DAY_SECONDS

    def label(self) -> str:
        return f"{self.start:%H:%M}-{_end_text(self.end)}"


def _seconds(value: datetime.time) -> int:
    return value.hour * 3600 + value.minute * 60 + value.second


def _end_text(value: datetime.time) -> str:
    return "24:00" if value == MIDNIGHT else f"{value:%H:%M}"


def _parse_time(value: Any, where: str, *, is_end: bool = False) -> datetime.time:
    if isinstance(value, datetime.time):
        return value
    if isinstance(value, str):
        text = value.strip()
        if is_end and text in ("24:00", "24:00:00"):
            return MIDNIGHT
        try:
            return datetime.time.fromisoformat(text)
        except ValueError:
            pass
    raise ValidationError(f"{where}: {value!r} is not a time like 09:00.")


def parse_business_hours(value: Any) -> list[HoursRange]:
    """Accept {"monday": {"start","end"} | [{"start","end"}, ...] | null | []} and return sorted ranges.

    A missing day or null/[] means closed. An end earlier than the start runs into the next day
    (22:00-06:00), and 24:00 ends at midnight. Raises one ValidationError listing every problem:
    unknown weekday, malformed range, a range that ends when it starts, overlapping ranges
    (an overnight range overlaps the next morning's, Sunday night's Monday's).
    """
    if value is None:
        return []
    if not isinstance(value, dict):
        raise ValidationError("businessHours must be an object keyed by weekday (monday ... sunday).")
    problems: list[str] = []
    ranges: list[HoursRange] = []
    for day, spec in value.items():
        key = str(day).strip().lower()
        if key not in WEEKDAYS:
            problems.append(f"{day!r} is not a weekday; use monday ... sunday.")
            continue
        if spec in (None, [], "closed"):
            continue
        items = [spec] if isinstance(spec, dict) else spec
        if not isinstance(items, list):
            problems.append(f"{key}: give {{'start': 'HH:MM', 'end': 'HH:MM'}} or a list of them.")
            continue
        for item in items:
            if not isinstance(item, dict) or "start" not in item or "end" not in item:
                problems.append(f"{key}: each range needs 'start' and 'end'.")
                continue
            try:
                start, end = _parse_time(item["start"], key), _parse_time(item["end"], key, is_end=True)
            except ValidationError as exc:
                problems.extend(exc.messages)
                continue
            if start == end and end != MIDNIGHT:
                problems.append(
                    f"{key}: {start:%H:%M}-{end:%H:%M} ends when it starts; for the whole day use 00:00-24:00."
                )
                continue
            ranges.append(HoursRange(WEEKDAYS.index(key), start, end))
    problems.extend(_overlaps(ranges))
    if problems:
        raise ValidationError(problems)
    return sorted(ranges, key=lambda r: (r.weekday, r.start))


def _overlaps(ranges: list[HoursRange]) -> list[str]:
    """A message for each range that starts before the one before it (in the week) has ended; the
    week wraps around, so Sunday night's range can overlap Monday morning's."""
    ordered = sorted(ranges, key=HoursRange.week_span)
    problems = []
    for before, after in itertools.pairwise(ordered):
        if after.week_span()[0] < before.week_span()[1]:
            problems.append(_overlap_text(before, after))
    if len(ordered) > 1 and ordered[0].week_span()[0] + WEEK_SECONDS < ordered[-1].week_span()[1]:
        problems.append(_overlap_text(ordered[-1], ordered[0]))
    return problems


def _overlap_text(before: HoursRange, after: HoursRange) -> str:
    return f"{WEEKDAYS[before.weekday]}: {before.label()} overlaps {WEEKDAYS[after.weekday]} {after.label()}."


def is_within_hours(ranges: list[HoursRange], local: datetime.datetime) -> bool:
    """Whether the local wall-clock moment falls in one of the ranges (start included, end excluded)."""
    moment = local.weekday() * DAY_SECONDS + _seconds(local.time())
    for item in ranges:
        start, end = item.week_span()
        if start <= moment < end or start <= moment + WEEK_SECONDS < end:
            return True
    return False


def business_hours_document(ranges: list[HoursRange], *, compact: bool = False) -> dict[str, Any]:
    """Ranges back to {"monday": [{"start": "09:00", "end": "17:00"}], ...}; closed days are [].

    compact=True gives the reference design's form for API responses: a day with one range is
    that range's object, a closed day is null, several ranges stay a list.
    """
    document: dict[str, Any] = {day: [] for day in WEEKDAYS}
    for item in ranges:
        document[WEEKDAYS[item.weekday]].append({"start": f"{item.start:%H:%M}", "end": _end_text(item.end)})
    if compact:
        for day, day_ranges in document.items():
            document[day] = None if not day_ranges else day_ranges[0] if len(day_ranges) == 1 else day_ranges
    return document


def parse_holidays(value: Any) -> list[tuple[datetime.date, str]]:
    """Accept ["2026-12-25", {"date": "2027-01-01", "name": "New Year"}] and return (date, name) pairs."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValidationError("holidays must be a list of dates (YYYY-MM-DD) or {date, name} objects.")
    result: dict[datetime.date, str] = {}
    problems = []
    for item in value:
        raw, name = (item.get("date"), str(item.get("name", ""))[:100]) if isinstance(item, dict) else (item, "")
        try:
            if not isinstance(raw, str):  # a number such as 20261225 is not a date string
                raise ValueError(raw)
            day = datetime.date.fromisoformat(raw)
        except ValueError:
            problems.append(f"{raw!r} is not a date like 2026-12-25.")
            continue
        result[day] = name
    if problems:
        raise ValidationError(problems)
    return sorted(result.items())
