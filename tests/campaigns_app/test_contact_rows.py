"""The one contact-row rule (CSV import and JSON alike): numbers, names, zones, variables."""

from __future__ import annotations

import pytest

from agents_app.services import agent_create
from campaigns_app.contact_rows import RowError, check_contact, normalize_number, required_variables
from voiceplatform.actor import SYSTEM


@pytest.mark.parametrize(
    ("raw", "country", "expected"),
    [
        ("+1 (415) 555-0123", "", "+14155550123"),
        ("(415) 555-0123", "US", "+14155550123"),
        ("415.555.0123", "us", "+14155550123"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
    ],
)
def test_numbers_are_normalised_to_e164(raw, country, expected):
    assert normalize_number(raw, country) == expected


@pytest.mark.parametrize(
    ("raw", "country", "reason"),
    [
        ("", "", "the number is empty"),
        ("(415) 555-0123", "", "a national number needs a default country (choose one) or a +country code"),
        ("+1 555", "", "not a valid phone number"),
        ("call me", "US", "not a phone number"),
        ("+999 1234", "", "not a phone number"),
    ],
)
def test_bad_numbers_say_why(raw, country, reason):
    with pytest.raises(RowError) as refused:
        normalize_number(raw, country)

    assert refused.value.field == "number" and refused.value.reason == reason


def test_a_name_fills_the_name_variables_unless_given():
    values = check_contact(number="+14155550123", name="Ada Lovelace King", variables={"first_name": "Ada L."})

    assert values.variables == {"first_name": "Ada L.", "full_name": "Ada Lovelace King", "last_name": "Lovelace King"}


def test_an_unknown_time_zone_is_refused_and_a_known_one_kept():
    with pytest.raises(RowError) as refused:
        check_contact(number="+14155550123", timezone="Mars/Olympus")

    assert refused.value.field == "timezone"
    assert check_contact(number="+14155550123", timezone="America/Chicago").timezone == "America/Chicago"


def test_variable_names_are_normalised_and_bad_ones_refused():
    values = check_contact(number="+14155550123", variables={"Plan Name": "Gold", "empty": "  "})

    assert values.variables == {"plan_name": "Gold"}
    with pytest.raises(RowError) as refused:
        check_contact(number="+14155550123", variables={"plan-name!": "Gold"})
    assert refused.value.reason == "a variable name may use only a-z, 0-9 and _"


def test_required_variables_come_from_the_agents_texts(tenant):
    agent = agent_create(
        tenant=tenant,
        actor=SYSTEM,
        fields={
            "name": "Caller",
            "direction": "outbound",
            "system_prompt": "Call {{first_name}} about plan {{contact.plan}} on {{current_date}}.",
        },
    )

    required = required_variables(agent)

    assert required == frozenset({"first_name", "plan"})
    with pytest.raises(RowError) as refused:
        check_contact(number="+14155550123", name="Ada", required=required)
    assert refused.value.field == "plan"
    assert refused.value.reason == "the agent's prompt uses {{contact.plan}}; this row has no plan"


def _numbers_sharing_calling_codes():
    """Numbers of calling codes shared by several regions (+1: the US, Canada and the Caribbean; +7:
    Russia and Kazakhstan; +44: the UK and its islands), valid and not, with single-region codes beside them."""
    import random

    import phonenumbers

    chooser = random.Random(14)
    for region in ("US", "CA", "JM", "BS", "PR", "DO", "AG", "RU", "KZ", "GB", "GG", "JE", "IM", "FR", "AU", "CX"):
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is not None:
                yield example
    for _ in range(3000):  # every +1 area code and exchange shape, most of them not valid anywhere
        yield phonenumbers.PhoneNumber(country_code=1, national_number=chooser.randrange(10**9, 10**10))
    for _ in range(500):
        yield phonenumbers.PhoneNumber(country_code=7, national_number=chooser.randrange(10**9, 10**10))
        yield phonenumbers.PhoneNumber(country_code=44, national_number=chooser.randrange(10**9, 10**10))


def test_is_valid_number_answers_exactly_as_phonenumbers():
    import phonenumbers

    from campaigns_app.contact_rows import is_valid_number

    answers = [
        (number, is_valid_number(number), phonenumbers.is_valid_number(number))
        for number in _numbers_sharing_calling_codes()
    ]
    assert [number for number, ours, library in answers if ours != library] == []
    assert (
        sum(ours for _number, ours, _library in answers) > 100
    )  # the sample holds valid numbers, not only invalid ones
    assert any(not ours for _number, ours, _library in answers)


def test_the_common_north_american_shapes_parse_exactly_as_phonenumbers_parses_them():
    import random

    import phonenumbers

    from campaigns_app.contact_rows import _parsed_nanp

    chooser = random.Random(7)
    texts = []
    for _ in range(4000):
        digits = f"{chooser.randrange(10**9, 10**10):010d}"
        area, exchange, line = digits[:3], digits[3:6], digits[6:]
        texts += [f"+1{digits}", f"({area}) {exchange}-{line}", f"+1{digits}0", f"({area}) {exchange}-{line[:3]}"]
    texts += ["+12125550100", "(212) 555-0100", "+1 212 555 0100", "(212)555-0100", "+10125550100", "(112) 555-0100"]
    fast = 0
    for text in texts:
        for region in ("US", "CA", "JM", "PR", "GB", "FR", None):
            ours = _parsed_nanp(text, region)
            if ours is None:
                continue  # the library parses it
            fast += 1
            assert ours == phonenumbers.parse(text, region), (text, region)
    assert fast > 10000  # the shapes are taken for the regions of +1 and for E.164 under any region
    assert _parsed_nanp("(212) 555-0100", "GB") is None  # a national number of another country: the library's
    assert _parsed_nanp("(212) 555-0100", None) is None
