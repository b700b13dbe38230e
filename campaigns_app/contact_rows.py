"""One rule for a contact row, whether it comes from a CSV import or the API's JSON: the number
(E.164 or national with a default country), the name, an optional time zone, and the variables the
agent's {{placeholders}} need. Pure Python (no queries) so the importer can run it 20,000 times a second."""

from __future__ import annotations

import functools
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import phonenumbers

from agents_app import placeholders
from agents_app.models import TEMPLATE_FIELDS, Agent

MAX_NAME_CHARS = 200
MAX_VARIABLES = 50
MAX_VARIABLE_KEY_CHARS = 64
MAX_VARIABLE_VALUE_CHARS = 1000
# Placeholders the platform fills in itself on every call; the others come from the contact.
SYSTEM_PLACEHOLDERS = frozenset(
    {"caller_number", "callee_number", "agent_name", "company_name", "current_date", "current_time"}
)
NAME_PLACEHOLDERS = frozenset({"first_name", "last_name", "full_name"})
_TIMEZONES = frozenset(zoneinfo.available_timezones())


class RowError(Exception):
    """A refused row: which field, the value as given, and why (one line a person can act on)."""

    def __init__(self, field_name: str, value: str, reason: str) -> None:
        self.field = field_name
        self.value = value
        self.reason = reason
        super().__init__(f"{field_name}: {reason}")


@dataclass(frozen=True, slots=True)
class ContactValues:
    """A valid row, ready to insert."""

    number: str
    name: str = ""
    timezone: str = ""
    variables: dict[str, str] = field(default_factory=dict)


def required_variables(agent: Agent | None) -> frozenset[str]:
    """The contact variables the agent's texts use (first_name for {{first_name}}, plan for
    {{contact.plan}}): a row without one of them is refused, or the callee would hear a blank.
    None (a finished campaign whose agent was deleted, which takes no contacts anyway): none."""
    if agent is None:
        return frozenset()
    names: set[str] = set()
    for field_name in TEMPLATE_FIELDS:
        names |= placeholders.find_placeholders(getattr(agent, field_name))
    required: set[str] = set()
    for name in names:
        if name in SYSTEM_PLACEHOLDERS:
            continue
        if name.startswith(placeholders.CONTACT_PREFIX):
            required.add(name[len(placeholders.CONTACT_PREFIX) :])
        elif placeholders.is_allowed(name):
            required.add(name)
    return frozenset(required)


def normalize_number(raw: str, default_country: str = "") -> str:
    """'+1 415 555 0123' or, with default_country 'US', '(415) 555-0123' -> '+14155550123'."""
    text = (raw or "").strip()
    if not text:
        raise RowError("number", raw, "the number is empty")
    region = default_country.upper() or None
    try:
        parsed = _parsed_nanp(text, region) or phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        if region is None and not text.startswith("+"):
            raise RowError(
                "number", raw, "a national number needs a default country (choose one) or a +country code"
            ) from None
        raise RowError("number", raw, "not a phone number") from None
    if not is_valid_number(parsed):
        raise RowError("number", raw, "not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


# The two shapes most North American contact lists use: +1 and ten digits, and (NPA) NXX-XXXX. With
# an area code and an exchange that start with 2-9 there is no national prefix, carrier code, leading
# zero or extension for phonenumbers.parse to find, so its answer is the calling code 1 and the ten
# digits (tests/campaigns_app/test_contact_rows.py holds this to the library's own answers).
_NANP_E164 = re.compile(r"\+1([2-9][0-9]{9})")
_NANP_NATIONAL = re.compile(r"\(([2-9][0-9]{2})\) ([2-9][0-9]{2})-([0-9]{4})")


@functools.cache
def _calling_code(region: str | None) -> int:
    return phonenumbers.country_code_for_region(region) if region else 0


def _parsed_nanp(text: str, region: str | None) -> phonenumbers.PhoneNumber | None:
    """What phonenumbers.parse(text, region) gives for one of the two common North American shapes
    (a sixth of its cost), or None for any other text: the library parses that."""
    match = _NANP_E164.fullmatch(text)
    if match is not None:
        return phonenumbers.PhoneNumber(country_code=1, national_number=int(match.group(1)))
    if _calling_code(region) == 1:
        match = _NANP_NATIONAL.fullmatch(text)
        if match is not None:
            return phonenumbers.PhoneNumber(country_code=1, national_number=int("".join(match.groups())))
    return None


def is_valid_number(parsed: phonenumbers.PhoneNumber) -> bool:
    """phonenumbers.is_valid_number, without its second walk through the patterns in the usual case.

    For a calling code shared by several regions (+1: the US, Canada and the Caribbean), the library
    finds the number's region by checking the regions' patterns in turn, its main region first, then
    checks the number against that region's patterns again. When the main region has no leading-digit
    rule (the US for +1), "valid for the main region" is exactly "the library finds the main region and
    finds the number valid there", so that answer stands alone; any other number gets the full check."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(parsed.country_code, ())
    if len(regions) > 1:
        main = regions[0]
        metadata = phonenumbers.PhoneMetadata.metadata_for_region(main)
        if (
            metadata is not None
            and metadata.leading_digits is None
            and phonenumbers.is_valid_number_for_region(parsed, main)
        ):
            return True
    return phonenumbers.is_valid_number(parsed)


def contact_variables(name: str, variables: Mapping[str, str]) -> dict[str, str]:
    """The row's variables, with first_name/last_name/full_name taken from its name when absent."""
    result = dict(variables)
    if name:
        first, _, last = name.partition(" ")
        result.setdefault("full_name", name)
        result.setdefault("first_name", first)
        if last.strip():
            result.setdefault("last_name", last.strip())
    return result


def check_contact(
    *,
    number: str,
    name: str = "",
    timezone: str = "",
    variables: Mapping[str, str] | None = None,
    required: Iterable[str] = (),
    default_country: str = "",
) -> ContactValues:
    """A valid contact from one row's fields, or RowError naming the first problem."""
    e164 = normalize_number(number, default_country)
    name = (name or "").strip()
    if len(name) > MAX_NAME_CHARS:
        raise RowError("name", name[:40], f"longer than {MAX_NAME_CHARS} characters")
    timezone = (timezone or "").strip()
    if timezone and timezone not in _TIMEZONES:
        raise RowError("timezone", timezone, "not a known IANA time zone (e.g. America/Chicago)")
    given = variables or {}
    if len(given) > MAX_VARIABLES:
        raise RowError("variables", "", f"more than {MAX_VARIABLES} variables")
    clean: dict[str, str] = {}
    for key, value in given.items():
        key_text = str(key).strip().lower().replace(" ", "_")
        if not placeholders.CONTACT_KEY.fullmatch(key_text) or len(key_text) > MAX_VARIABLE_KEY_CHARS:
            raise RowError("variables", str(key)[:40], "a variable name may use only a-z, 0-9 and _")
        text = "" if value is None else str(value).strip()
        if len(text) > MAX_VARIABLE_VALUE_CHARS:
            raise RowError(key_text, text[:40], f"longer than {MAX_VARIABLE_VALUE_CHARS} characters")
        if text:
            clean[key_text] = text
    filled = contact_variables(name, clean)
    for key in sorted(required):
        if not filled.get(key):
            raise RowError(key, "", f"the agent's prompt uses {{{{{_placeholder_name(key)}}}}}; this row has no {key}")
    return ContactValues(number=e164, name=name, timezone=timezone, variables=filled)


def _placeholder_name(key: str) -> str:
    return key if key in placeholders.STANDARD_PLACEHOLDERS else f"{placeholders.CONTACT_PREFIX}{key}"
