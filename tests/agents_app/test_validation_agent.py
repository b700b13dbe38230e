"""agents_app.validation: phone numbers, business hours, holidays and the IVR menu's shape."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError

from agents_app.validation import (
    HoursRange,
    business_hours_document,
    normalize_e164,
    parse_business_hours,
    parse_holidays,
    validate_e164,
    validate_ivr_menu_shape,
)

NINE, TWELVE, ONE_PM, FIVE_PM = datetime.time(9), datetime.time(12), datetime.time(13), datetime.time(17)


# --- phone numbers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+18005551234", "+18005551234"),
        ("+1 (800) 555-1234", "+18005551234"),
        ("  +1 800 555 1234  ", "+18005551234"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+33 1 42 68 53 00", "+33142685300"),
    ],
)
def test_normalize_e164_turns_international_formats_into_e164(raw, e164):
    assert normalize_e164(raw) == e164


def test_normalize_e164_keeps_an_empty_number_empty():
    assert normalize_e164("") == ""
    assert normalize_e164("   ") == ""


@pytest.mark.parametrize("raw", ["555-1234", "8005551234", "+1800", "+999 123 456 789", "call me", "+1 800 555 12345"])
def test_normalize_e164_rejects_what_is_not_a_valid_international_number(raw):
    with pytest.raises(ValidationError) as excinfo:
        normalize_e164(raw)

    assert raw.strip() in excinfo.value.messages[0]


def test_validate_e164_accepts_only_the_stored_form():
    validate_e164("+18005551234")
    validate_e164("")
    with pytest.raises(ValidationError, match=r"E\.164"):
        validate_e164("+1 800 555 1234")


# --- business hours ----------------------------------------------------------------------------


def test_parse_business_hours_reads_the_reference_single_range_per_day():
    ranges = parse_business_hours(
        {"monday": {"start": "09:00", "end": "17:00"}, "tuesday": {"start": "09:00", "end": "17:00"}}
    )

    assert ranges == [HoursRange(0, NINE, FIVE_PM), HoursRange(1, NINE, FIVE_PM)]


def test_parse_business_hours_reads_several_ranges_a_day_in_order():
    ranges = parse_business_hours(
        {"Friday": [{"start": "13:00", "end": "17:00"}, {"start": "09:00", "end": "12:00"}], "monday": []}
    )

    assert ranges == [HoursRange(4, NINE, TWELVE), HoursRange(4, ONE_PM, FIVE_PM)]


def test_ranges_that_touch_do_not_overlap():
    ranges = parse_business_hours({"monday": [{"start": "09:00", "end": "12:00"}, {"start": "12:00", "end": "17:00"}]})

    assert [(r.start, r.end) for r in ranges] == [(NINE, TWELVE), (TWELVE, FIVE_PM)]


@pytest.mark.parametrize("closed", [None, [], "closed"])
def test_a_day_given_as_null_empty_or_closed_is_closed(closed):
    ranges = parse_business_hours({"sunday": closed, "monday": {"start": "09:00", "end": "17:00"}})

    assert ranges == [HoursRange(0, NINE, FIVE_PM)]


def test_no_business_hours_at_all_means_no_ranges():
    assert parse_business_hours(None) == []
    assert parse_business_hours({}) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"monday": {"start": "09:00", "end": "09:00"}}, "monday: 09:00-09:00 ends when it starts"),
        (
            {"monday": {"start": "22:00", "end": "06:00"}, "tuesday": {"start": "05:00", "end": "12:00"}},
            "monday: 22:00-06:00 overlaps tuesday 05:00-12:00",
        ),
        (
            {"sunday": {"start": "20:00", "end": "02:00"}, "monday": {"start": "01:00", "end": "09:00"}},
            "sunday: 20:00-02:00 overlaps monday 01:00-09:00",
        ),
        ({"monday": {"start": "24:00", "end": "09:00"}}, "monday: '24:00' is not a time like 09:00"),
        (
            {"monday": [{"start": "09:00", "end": "12:00"}, {"start": "11:00", "end": "14:00"}]},
            "monday: 09:00-12:00 overlaps monday 11:00-14:00",
        ),
        ({"funday": {"start": "09:00", "end": "17:00"}}, "'funday' is not a weekday"),
        ({"monday": {"start": "9am", "end": "17:00"}}, "monday: '9am' is not a time like 09:00"),
        ({"monday": {"start": "25:00", "end": "26:00"}}, "is not a time like 09:00"),
        ({"monday": {"start": 9, "end": 17}}, "monday: 9 is not a time"),
        ({"monday": {"start": "09:00"}}, "monday: each range needs 'start' and 'end'"),
        ({"monday": "9-5"}, "monday: give"),
        (["monday"], "businessHours must be an object keyed by weekday"),
        ("always", "businessHours must be an object keyed by weekday"),
    ],
)
def test_parse_business_hours_explains_what_is_wrong(value, expected):
    with pytest.raises(ValidationError) as excinfo:
        parse_business_hours(value)

    assert any(expected in message for message in excinfo.value.messages), excinfo.value.messages


def test_parse_business_hours_reports_every_problem_at_once():
    with pytest.raises(ValidationError) as excinfo:
        parse_business_hours(
            {
                "monday": {"start": "09:00", "end": "09:00"},
                "someday": {"start": "09:00", "end": "17:00"},
                "friday": [{"start": "09:00", "end": "12:00"}, {"start": "10:00", "end": "11:00"}],
            }
        )

    messages = excinfo.value.messages
    assert len(messages) == 3
    assert any("monday" in m for m in messages)
    assert any("someday" in m for m in messages)
    assert any("friday" in m and "overlaps" in m for m in messages)


def test_an_end_before_the_start_runs_into_the_next_day():
    (night,) = parse_business_hours({"friday": {"start": "22:00", "end": "06:00"}})

    assert night == HoursRange(4, datetime.time(22, 0), datetime.time(6, 0))
    assert night.is_overnight
    assert night.label() == "22:00-06:00"


@pytest.mark.parametrize("end", ["24:00", "00:00"])
def test_24_00_and_00_00_end_the_day_at_midnight(end):
    (evening,) = parse_business_hours({"monday": {"start": "18:00", "end": end}})

    assert evening == HoursRange(0, datetime.time(18, 0), datetime.time(0, 0))
    assert not evening.is_overnight
    assert business_hours_document([evening])["monday"] == [{"start": "18:00", "end": "24:00"}]


def test_00_00_to_24_00_is_the_whole_day_and_touching_ranges_do_not_overlap():
    ranges = parse_business_hours(
        {
            "saturday": {"start": "00:00", "end": "24:00"},
            "friday": {"start": "18:00", "end": "24:00"},
            "sunday": {"start": "00:00", "end": "06:00"},
        }
    )

    assert [r.label() for r in ranges] == ["18:00-24:00", "00:00-24:00", "00:00-06:00"]


def test_business_hours_document_gives_back_the_reference_form():
    sent = {"monday": {"start": "09:00", "end": "17:00"}, "tuesday": [{"start": "09:00", "end": "12:00"}]}
    ranges = [*parse_business_hours(sent), HoursRange(2, NINE, TWELVE), HoursRange(2, ONE_PM, FIVE_PM)]

    compact = business_hours_document(ranges, compact=True)
    full = business_hours_document(ranges)

    assert compact["monday"] == {"start": "09:00", "end": "17:00"}
    assert compact["tuesday"] == {"start": "09:00", "end": "12:00"}
    assert compact["wednesday"] == [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}]
    assert compact["sunday"] is None
    assert full["monday"] == [{"start": "09:00", "end": "17:00"}]
    assert full["sunday"] == []
    assert parse_business_hours(compact) == sorted(ranges, key=lambda r: (r.weekday, r.start))


# --- holidays ----------------------------------------------------------------------------------


def test_parse_holidays_reads_dates_and_named_dates_in_order():
    holidays = parse_holidays([{"date": "2027-01-01", "name": "New Year"}, "2026-12-25"])

    assert holidays == [(datetime.date(2026, 12, 25), ""), (datetime.date(2027, 1, 1), "New Year")]


def test_a_date_given_twice_counts_once():
    assert parse_holidays(["2026-12-25", {"date": "2026-12-25", "name": "Christmas"}]) == [
        (datetime.date(2026, 12, 25), "Christmas")
    ]


def test_no_holidays_is_an_empty_list():
    assert parse_holidays(None) == []
    assert parse_holidays([]) == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["2026-02-30"], "'2026-02-30' is not a date like 2026-12-25"),
        (["25/12/2026"], "is not a date"),
        ([{"name": "No date"}], "None is not a date"),
        ([20261225], "20261225 is not a date"),
        ([{"date": 20261225, "name": "Christmas"}], "20261225 is not a date"),
        ("2026-12-25", "holidays must be a list"),
        ({"date": "2026-12-25"}, "holidays must be a list"),
    ],
)
def test_parse_holidays_explains_what_is_wrong(value, expected):
    with pytest.raises(ValidationError) as excinfo:
        parse_holidays(value)

    assert any(expected in message for message in excinfo.value.messages), excinfo.value.messages


# --- IVR menu ----------------------------------------------------------------------------------

AGENT_ID = "3f2b8c1e-5d4a-4e6f-9a7b-0c1d2e3f4a5b"


def _menu(*options: dict) -> dict:
    return {"prompt": "For sales press 1, for support press 2.", "options": list(options)}


def test_a_complete_ivr_menu_is_accepted():
    validate_ivr_menu_shape(
        _menu(
            {"digit": "1", "label": "Sales", "action": "transfer", "number": "+18005551234"},
            {"digit": "2", "action": "agent", "agentId": AGENT_ID},
            {"digit": "*", "action": "message", "message": "We are open 9 to 5."},
            {"digit": "#", "action": "message", "message": "Goodbye."},
        )
    )


@pytest.mark.parametrize("empty", [None, {}])
def test_no_ivr_menu_is_accepted(empty):
    validate_ivr_menu_shape(empty)


@pytest.mark.parametrize("digit", ["A", "10", "", "+", " 1"])
def test_an_ivr_digit_outside_the_keypad_is_rejected(digit):
    with pytest.raises(ValidationError) as excinfo:
        validate_ivr_menu_shape(_menu({"digit": digit, "action": "message", "message": "hi"}))

    assert excinfo.value.messages == [f"ivrMenu.options[0].digit: {digit!r} is not a keypad key; use 0-9, * or #."]


@pytest.mark.parametrize(
    ("menu", "expected"),
    [
        (_menu({"digit": "1", "action": "dance"}), "ivrMenu.options[0].action"),
        (_menu({"digit": "1", "action": "transfer"}), "'number' is a required property"),
        (_menu({"digit": "1", "action": "agent"}), "'agentId' is a required property"),
        (_menu({"digit": "1", "action": "message"}), "'message' is a required property"),
        (_menu({"digit": "1", "action": "transfer", "number": "555-1234"}), "'555-1234' is not an E.164 number"),
        (_menu({"digit": "1", "action": "transfer", "number": "+1 800 555 1234"}), "is not an E.164 number"),
        (
            _menu(
                {"digit": "1", "action": "message", "message": "a"}, {"digit": "1", "action": "message", "message": "b"}
            ),
            "digit '1' is used more than once",
        ),
        ({"options": [{"digit": "1", "action": "message", "message": "a"}]}, "ivrMenu.prompt"),
        (_menu({"digit": 1, "action": "message", "message": "a"}), "ivrMenu.options[0].digit"),
        ({"prompt": "p", "options": 5}, "ivrMenu.options"),
        ({"prompt": "p", "options": [], "extra": True}, "'extra' was unexpected"),
        ("press 1", "ivrMenu"),
        ([{"digit": "1"}], "ivrMenu"),
    ],
)
def test_a_malformed_ivr_menu_is_rejected_with_where_and_why(menu, expected):
    with pytest.raises(ValidationError) as excinfo:
        validate_ivr_menu_shape(menu)

    assert any(expected in message for message in excinfo.value.messages), excinfo.value.messages
