"""agents_app.schedule.is_open: ranges per weekday, closed days, holidays, the agent's timezone."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from agents_app.runtime_config import InboundSettings, RuntimeConfig
from agents_app.schedule import agent_timezone, is_open

NEW_YORK = ZoneInfo("America/New_York")

SUPPORT_HOURS = {
    "timezone": "America/New_York",
    "business_hours_enabled": True,
    "business_hours": {
        "monday": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:30"}],
        "tuesday": [{"start": "09:00", "end": "17:30"}],
        "saturday": [],
        "sunday": None,
    },
    "holidays": [{"date": "2026-12-28", "name": "Company day"}],
}


def _inbound(document: dict) -> InboundSettings:
    """The inbound section of a runtime config, from its document."""
    return InboundSettings.from_document(document)


def _config(document: dict) -> RuntimeConfig:
    return RuntimeConfig.from_document({"agent_id": "", "tenant_id": "", **document})


def at(year, month, day, hour, minute=0, tz=NEW_YORK):
    return datetime(year, month, day, hour, minute, tzinfo=tz)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at(2026, 3, 2, 8, 59), False),  # Monday, before opening
        (at(2026, 3, 2, 9, 0), True),  # the start is open
        (at(2026, 3, 2, 11, 59), True),
        (at(2026, 3, 2, 12, 30), False),  # lunch break between two ranges
        (at(2026, 3, 2, 13, 0), True),
        (at(2026, 3, 2, 17, 30), False),  # the end is closed
        (at(2026, 3, 3, 17, 0), True),  # Tuesday
        (at(2026, 3, 4, 10, 0), False),  # Wednesday: not listed, closed
        (at(2026, 3, 7, 10, 0), False),  # Saturday: []
        (at(2026, 3, 8, 10, 0), False),  # Sunday: null
    ],
)
def test_ranges_and_closed_days(moment, expected):
    assert is_open(_inbound(SUPPORT_HOURS), moment) is expected


def test_a_holiday_is_closed_even_inside_the_hours():
    assert is_open(_inbound(SUPPORT_HOURS), at(2026, 12, 28, 10)) is False  # a Monday
    assert is_open(_inbound(SUPPORT_HOURS), at(2026, 12, 29, 10)) is True  # the Tuesday after


def test_the_agent_timezone_decides_the_day_and_the_hour():
    # 13:30 UTC on Monday is 08:30 in New York: not open yet; 14:30 UTC is 09:30: open.
    assert is_open(_inbound(SUPPORT_HOURS), datetime(2026, 3, 2, 13, 30, tzinfo=UTC)) is False
    assert is_open(_inbound(SUPPORT_HOURS), datetime(2026, 3, 2, 14, 30, tzinfo=UTC)) is True
    # 02:00 UTC on Tuesday is still Monday 21:00 in New York: closed, though Tuesday has hours then.
    assert is_open(_inbound(SUPPORT_HOURS), datetime(2026, 3, 3, 2, 0, tzinfo=UTC)) is False


def test_holidays_are_dates_in_the_agent_timezone():
    # 03:00 UTC on the 29th is 22:00 on the 28th (the holiday, a Monday) in New York.
    all_monday = {**SUPPORT_HOURS, "business_hours": {"monday": [{"start": "00:00", "end": "23:59"}]}}

    assert is_open(_inbound(all_monday), datetime(2026, 12, 29, 3, 0, tzinfo=UTC)) is False


def test_business_hours_switched_off_means_always_open():
    inbound = {**SUPPORT_HOURS, "business_hours_enabled": False}

    assert is_open(_inbound(inbound), at(2026, 3, 8, 3)) is True  # Sunday night
    assert is_open(_inbound(inbound), at(2026, 12, 28, 10)) is True  # holiday
    assert is_open(_inbound({}), at(2026, 3, 8, 3)) is True  # the default config has no hours at all


def test_the_reference_form_with_one_object_per_day_is_understood():
    inbound = {
        "timezone": "Europe/Paris",
        "business_hours_enabled": True,
        "business_hours": {"monday": {"start": "09:00", "end": "17:00"}},
    }

    assert is_open(_inbound(inbound), datetime(2026, 3, 2, 9, 30, tzinfo=ZoneInfo("Europe/Paris"))) is True
    assert is_open(_inbound(inbound), datetime(2026, 3, 2, 8, 30, tzinfo=UTC)) is True  # 09:30 in Paris
    assert is_open(_inbound(inbound), datetime(2026, 3, 2, 7, 30, tzinfo=UTC)) is False


def test_enabled_hours_with_no_ranges_are_always_closed():
    inbound = {"timezone": "UTC", "business_hours_enabled": True, "business_hours": {}}

    assert is_open(_inbound(inbound), datetime(2026, 3, 2, 12, tzinfo=UTC)) is False


def test_a_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="aware"):
        is_open(_inbound(SUPPORT_HOURS), datetime(2026, 3, 2, 12))


def test_agent_timezone_falls_back_to_the_tenant_then_utc():
    assert agent_timezone(_config({"inbound": {"timezone": "Asia/Tokyo"}})) == ZoneInfo("Asia/Tokyo")
    assert agent_timezone(_config({"inbound": {}, "tenant_timezone": "Europe/Berlin"})) == ZoneInfo("Europe/Berlin")
    assert agent_timezone(_config({"inbound": {"timezone": "Mars/Olympus"}})) == ZoneInfo("UTC")
    assert agent_timezone(_config({})) == ZoneInfo("UTC")
