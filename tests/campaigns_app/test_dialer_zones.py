"""The dialer's zones: a number's dialing zone key, the legal windows (Florida's stricter one), which
keys are open at a moment (checked minute by minute over a week with a DST switch against zoneinfo
itself), and the set-based classification of a campaign's contacts."""

from __future__ import annotations

import datetime
import zoneinfo

import phonenumbers
import pytest
from celery import current_app
from phonenumbers import geocoder

from agents_app.validation import is_within_hours, parse_business_hours
from campaigns_app import services
from campaigns_app.dialer import zones
from campaigns_app.dialer.zones import (
    REGION_AREA_CODES,
    ZONE_UNKNOWN_REASON,
    classify_campaign_contacts,
    dial_zone_for,
    max_calls_per_24h,
    next_open_at,
    open_zone_keys,
    zone_key_open,
)
from campaigns_app.importer import contact_import_create
from campaigns_app.models import Campaign, Contact, ContactStatus
from campaigns_app.tasks import import_contacts
from voiceplatform.actor import SYSTEM

UTC = datetime.UTC
EVERY_DAY = {
    day: [{"start": "00:00", "end": "24:00"}]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}
NINE_TO_FIVE = {
    **{day: [{"start": "09:00", "end": "17:00"}] for day in ("monday", "tuesday", "wednesday", "thursday", "friday")},
    "saturday": [],
    "sunday": [],
}


def at(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- Keys ------------------------------------------------------------------------------------------


def _geocoded_florida_area_codes() -> set[str]:
    found = set()
    for area_code in range(200, 1000):
        for subscriber in ("5550100", "2345678", "4567890"):
            description = geocoder.description_for_number(phonenumbers.parse(f"+1{area_code}{subscriber}"), "en")
            if description:
                break
        if description == "Florida" or description.endswith(", FL"):
            found.add(str(area_code))
    return found


def test_the_florida_table_is_exactly_the_area_codes_the_geocoder_places_in_florida():
    assert REGION_AREA_CODES["US-FL"] == _geocoded_florida_area_codes()
    for area_code in REGION_AREA_CODES["US-FL"]:
        assert dial_zone_for(f"+1{area_code}5550100").startswith("US-FL|"), area_code


@pytest.mark.parametrize(
    ("number", "key"),
    [
        ("+12125550100", "US|America/New_York"),
        ("+13055550100", "US-FL|America/New_York"),
        ("+13125550100", "US|America/Chicago"),
        ("+16025550100", "US|America/Phoenix"),
        ("+18085550100", "US|Pacific/Honolulu"),
        ("+19075550100", "US|America/Adak,America/Anchorage"),
        ("+16045550100", "CA|America/Vancouver"),
        ("+442071234567", "GB|Europe/London"),
    ],
)
def test_a_number_gets_its_region_and_every_zone_phonenumbers_gives(number, key):
    assert dial_zone_for(number) == key


def test_a_toll_free_number_spans_every_zone_of_the_plan():
    region, zone_names = zones.parse_key(dial_zone_for("+18005550100"))
    assert region == "US"
    assert len(zone_names) > 30
    assert {"Pacific/Guam", "America/St_Johns", "America/New_York", "Pacific/Honolulu"} <= set(zone_names)
    assert list(zone_names) == sorted(zone_names)


def test_an_unplaceable_number_has_no_zone_unless_the_contact_gives_one():
    assert dial_zone_for("+15555550100") is None
    assert dial_zone_for("+881612345678") is None  # a satellite phone: valid, but nowhere
    assert dial_zone_for("not a number") is None
    assert dial_zone_for("+15555550100", "America/Chicago") == "|America/Chicago"


def test_an_explicit_timezone_replaces_the_numbers_zones_and_keeps_its_region():
    assert dial_zone_for("+19075550100", "America/Anchorage") == "US|America/Anchorage"
    assert dial_zone_for("+13055550100", "America/Chicago") == "US-FL|America/Chicago"
    assert dial_zone_for("+12125550100", "Mars/Olympus") == "US|America/New_York"  # not a zone: ignored


def test_florida_numbers_have_a_limit_of_three_calls_a_day_and_others_none():
    assert max_calls_per_24h("US-FL|America/New_York") == 3
    assert max_calls_per_24h("US|America/New_York") is None
    assert max_calls_per_24h("") is None


# --- Windows -----------------------------------------------------------------------------------------


def test_the_legal_window_is_eight_to_nine_and_eight_to_eight_in_florida():
    # Monday 2026-12-07; New York is UTC-5.
    assert not zone_key_open("US|America/New_York", window=EVERY_DAY, now=at("2026-12-07T12:59"))
    assert zone_key_open("US|America/New_York", window=EVERY_DAY, now=at("2026-12-07T13:00"))
    assert zone_key_open("US|America/New_York", window=EVERY_DAY, now=at("2026-12-08T01:59"))
    assert not zone_key_open("US|America/New_York", window=EVERY_DAY, now=at("2026-12-08T02:00"))
    assert zone_key_open("US-FL|America/New_York", window=EVERY_DAY, now=at("2026-12-08T00:59"))
    assert not zone_key_open("US-FL|America/New_York", window=EVERY_DAY, now=at("2026-12-08T01:00"))


def test_phoenix_keeps_its_hours_through_the_summer_when_denver_moves():
    # Phoenix is UTC-7 all year; Denver UTC-6 in July, UTC-7 in December.
    for day in ("2026-07-06", "2026-12-07"):
        assert not zone_key_open("US|America/Phoenix", window=EVERY_DAY, now=at(f"{day}T14:59"))
        assert zone_key_open("US|America/Phoenix", window=EVERY_DAY, now=at(f"{day}T15:00"))
    assert zone_key_open("US|America/Denver", window=EVERY_DAY, now=at("2026-07-06T14:00"))
    assert not zone_key_open("US|America/Denver", window=EVERY_DAY, now=at("2026-12-07T14:00"))


def test_a_multi_zone_key_is_open_only_when_every_zone_is():
    # Anchorage UTC-9, Adak UTC-10 in December: 08:00 in Adak is 18:00 UTC.
    alaska = "US|America/Adak,America/Anchorage"
    assert zone_key_open("US|America/Anchorage", window=EVERY_DAY, now=at("2026-12-07T17:30"))
    assert not zone_key_open(alaska, window=EVERY_DAY, now=at("2026-12-07T17:30"))
    assert zone_key_open(alaska, window=EVERY_DAY, now=at("2026-12-07T18:00"))
    # 21:00 in Anchorage (06:00 UTC) closes it although Adak is at 20:00.
    assert not zone_key_open(alaska, window=EVERY_DAY, now=at("2026-12-08T06:00"))


def test_the_campaign_window_narrows_the_legal_window_in_the_callees_time():
    # Monday 2026-12-07 in Los Angeles (UTC-8): 09:00-17:00 is 17:00-01:00 UTC.
    la = "US|America/Los_Angeles"
    assert not zone_key_open(la, window=NINE_TO_FIVE, now=at("2026-12-07T16:59"))
    assert zone_key_open(la, window=NINE_TO_FIVE, now=at("2026-12-07T17:00"))
    assert zone_key_open(la, window=NINE_TO_FIVE, now=at("2026-12-08T00:59"))
    assert not zone_key_open(la, window=NINE_TO_FIVE, now=at("2026-12-08T01:00"))
    assert not zone_key_open(la, window=NINE_TO_FIVE, now=at("2026-12-12T20:00"))  # Saturday
    assert not zone_key_open(la, window={}, now=at("2026-12-07T20:00"))  # no day has hours


def test_open_zone_keys_keeps_the_open_ones_in_order_and_never_an_unknown_one():
    keys = ["US|America/Los_Angeles", "", "US|America/New_York", "US|Pacific/Honolulu", "US|Nowhere/Atlantis"]
    # 14:30 UTC Monday: 09:30 in New York, 06:30 in Los Angeles, 04:30 in Honolulu.
    assert open_zone_keys(keys, window=NINE_TO_FIVE, now=at("2026-12-07T14:30")) == ["US|America/New_York"]
    # 20:00 UTC: 15:00 New York, 12:00 Los Angeles, 10:00 Honolulu.
    assert open_zone_keys(keys, window=NINE_TO_FIVE, now=at("2026-12-07T20:00")) == [
        "US|America/Los_Angeles",
        "US|America/New_York",
        "US|Pacific/Honolulu",
    ]


def test_next_open_at_names_the_next_opening_across_the_weekend():
    # Friday 2026-12-11 17:30 in New York: next is Monday 09:00 (14:00 UTC).
    assert next_open_at("US|America/New_York", window=NINE_TO_FIVE, now=at("2026-12-11T22:30")) == at(
        "2026-12-14T14:00"
    )
    assert next_open_at("US|America/New_York", window={}, now=at("2026-12-11T22:30")) is None


_ZONES: dict[str, zoneinfo.ZoneInfo] = {}  # held: zoneinfo's own cache keeps only 8 zones strongly


def _oracle(key: str, ranges: list, now: datetime.datetime) -> bool:
    """The rule stated plainly with zoneinfo: inside the window and the legal hours in every zone."""
    region, zone_names = zones.parse_key(key)
    end = datetime.time(20, 0) if region == "US-FL" else datetime.time(21, 0)
    for name in zone_names:
        local = now.astimezone(_ZONES.setdefault(name, zoneinfo.ZoneInfo(name)))
        if not (datetime.time(8, 0) <= local.time() < end and is_within_hours(ranges, local)):
            return False
    return True


@pytest.mark.parametrize(
    ("start", "switch"),
    [("2026-10-28T00:00", "fall back on Sunday 1 November"), ("2026-03-04T00:00", "spring forward on 8 March")],
)
def test_a_week_across_a_dst_switch_never_opens_outside_the_windows(start, switch):
    """Every 10 minutes (each boundary is on one) for 8 days, every kind of US number: open exactly when
    the oracle says so."""
    window = {
        **{day: [{"start": "07:00", "end": "22:30"}] for day in ("monday", "tuesday", "wednesday", "thursday")},
        "friday": [{"start": "09:00", "end": "12:00"}, {"start": "13:00", "end": "17:00"}],
        "saturday": [],
        "sunday": [{"start": "06:00", "end": "24:00"}],
    }
    numbers = ["+12125550100", "+13055550100", "+13125550100", "+16025550100", "+18085550100", "+19075550100"]
    numbers.append("+18005550100")  # toll-free: open only while Guam to Newfoundland are all inside
    keys = [dial_zone_for(number) for number in numbers] + ["|America/Chicago"]
    first = at(start)
    ranges = parse_business_hours(window)
    opened = dict.fromkeys(keys, 0)
    for step in range(8 * 24 * 6):
        now = first + datetime.timedelta(minutes=10 * step)
        open_now = set(open_zone_keys(keys, window=window, now=now))
        for key in keys:
            assert (key in open_now) == _oracle(key, ranges, now), (switch, key, now)
            opened[key] += key in open_now
    assert all(opened.values()), opened


def test_the_day_of_the_fall_back_opens_an_hour_later_in_utc():
    new_york = "US|America/New_York"
    # Saturday 31 October (EDT, UTC-4) opens 12:00 UTC; Sunday 1 November (EST, UTC-5) 13:00 UTC.
    assert zone_key_open(new_york, window=EVERY_DAY, now=at("2026-10-31T12:00"))
    assert not zone_key_open(new_york, window=EVERY_DAY, now=at("2026-11-01T12:30"))
    assert zone_key_open(new_york, window=EVERY_DAY, now=at("2026-11-01T13:00"))


# --- Classification ----------------------------------------------------------------------------------


AREAS = ("212", "305", "602", "907", "555")  # New York, Florida, Phoenix, Alaska, nowhere


@pytest.mark.django_db
def test_classifying_ten_thousand_contacts_is_set_based(tenant, campaign, django_assert_max_num_queries):
    rows = [
        Contact(tenant=tenant, campaign=campaign, number=f"+1{AREAS[i % 5]}555{i:04d}", name=f"Contact {i}")
        for i in range(10_000)
    ]
    rows[4].status, rows[4].reason = ContactStatus.SKIPPED, "dnc: on the do-not-call list since 2026-12-01"
    rows[9].timezone = "America/Denver"  # an unplaceable number with an explicit zone is callable
    Contact.objects.bulk_create(rows, batch_size=5000)
    Campaign.objects.filter(pk=campaign.pk).update(zones_pending=True)

    with django_assert_max_num_queries(16):  # a few per batch of 5,000, none per contact
        assert classify_campaign_contacts(campaign.pk) == 10_000

    campaign.refresh_from_db()
    assert campaign.dial_zones == [
        "US-FL|America/New_York",
        "US|America/Adak,America/Anchorage",
        "US|America/New_York",
        "US|America/Phoenix",
        "|America/Denver",
    ]
    assert campaign.zones_pending is False
    contacts = Contact.objects.filter(campaign=campaign)
    held = contacts.filter(status=ContactStatus.HELD)
    assert held.count() == 1998  # the 2,000 unplaceable ones, less the skipped and the explicit one
    assert set(held.values_list("reason", flat=True)) == {ZONE_UNKNOWN_REASON}
    assert not held.filter(next_attempt_at__isnull=False).exists()
    assert set(held.values_list("dial_zone", flat=True)) == {""}
    skipped = contacts.get(number="+15555550004")
    assert (skipped.status, skipped.dial_zone) == (ContactStatus.SKIPPED, "")
    assert skipped.reason.startswith("dnc:")
    assert contacts.get(number="+15555550009").dial_zone == "|America/Denver"
    assert contacts.get(number="+13055550001").dial_zone == "US-FL|America/New_York"
    assert contacts.filter(dial_zone__isnull=True).count() == 0

    with django_assert_max_num_queries(5):  # nothing left to classify: nothing rescanned
        assert classify_campaign_contacts(campaign.pk) == 0


@pytest.mark.django_db
def test_classification_adds_new_keys_to_the_ones_already_known(tenant, campaign):
    services.contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": "+12125550100", "name": "Ada"}])
    classify_campaign_contacts(campaign.pk)
    services.contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": "+18085550100", "name": "Grace"}])
    campaign.refresh_from_db()
    assert campaign.zones_pending is True

    assert classify_campaign_contacts(campaign.pk) == 1

    campaign.refresh_from_db()
    assert campaign.dial_zones == ["US|America/New_York", "US|Pacific/Honolulu"]
    assert campaign.zones_pending is False


@pytest.fixture
def eager_tasks(monkeypatch):
    """Tasks enqueued on commit run at once in this process (the real task code, no broker)."""
    monkeypatch.setitem(current_app.conf, "task_always_eager", True)


@pytest.mark.django_db
def test_starting_a_campaign_classifies_its_contacts(tenant, campaign, eager_tasks, django_capture_on_commit_callbacks):
    services.contacts_add(
        tenant=tenant,
        campaign=campaign,
        rows=[{"number": "+12125550100", "name": "Ada"}, {"number": "+881612345678", "name": "Grace"}],
    )

    with django_capture_on_commit_callbacks(execute=True):
        services.campaign_start(tenant=tenant, campaign=campaign)

    zones_by_number = dict(Contact.objects.filter(campaign=campaign).values_list("number", "dial_zone"))
    assert zones_by_number == {"+12125550100": "US|America/New_York", "+881612345678": ""}
    unknown = Contact.objects.get(campaign=campaign, number="+881612345678")
    assert (unknown.status, unknown.reason) == (ContactStatus.HELD, ZONE_UNKNOWN_REASON)


@pytest.mark.django_db
def test_an_import_marks_the_campaign_and_has_its_contacts_classified(
    tenant, campaign, settings, tmp_path, eager_tasks, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    settings.MEDIA_ROOT = tmp_path / "media"
    upload = SimpleUploadedFile("contacts.csv", b"Phone,Name\n(602) 555-0100,Ada\n(305) 555-0101,Grace\n")
    contact_import = contact_import_create(
        tenant=tenant, campaign=campaign, upload=upload, default_country="US", actor=SYSTEM
    )

    with django_capture_on_commit_callbacks() as callbacks:
        import_contacts(contact_import.pk)
    campaign.refresh_from_db()
    assert campaign.zones_pending is True
    assert len(callbacks) == 1
    callbacks[0]()

    campaign.refresh_from_db()
    assert campaign.zones_pending is False
    assert campaign.dial_zones == ["US-FL|America/New_York", "US|America/Phoenix"]
