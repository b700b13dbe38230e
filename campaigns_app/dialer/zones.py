"""Where a callee is and when they may be called: a number's dialing zone, the legal windows and
which zones are open now.

A contact's dialing zone is a key "<region>|<zone>[,<zone>...]" (Contact.dial_zone): the IANA zones
phonenumbers gives for the number (sorted; the contact's explicit timezone replaces them) and the
region whose calling rules apply: a stricter state from REGION_AREA_CODES when the number's US area
code is in it ("US-FL"), else the number's region code ("US", "CA", "" when it has none). A zone key
is open when, in EVERY one of its zones, the local time is inside the campaign's calling window and
inside the region's legal window (COMPLIANCE.md: the window must hold in every zone phonenumbers
returns). Contacts sharing a key are claimed together, so the tick asks once per key, not per contact.

Sources of the legal windows (not legal advice; see COMPLIANCE.md):
- Default, every region: 08:00-21:00 in the called party's local time (47 CFR 64.1200(c)(1);
  16 CFR 310.4(c)). Our product rule applies it to every country the platform dials.
- Florida: 08:00-20:00 and at most 3 calls per 24 h to the same number on the same subject
  (Fla. Stat. 501.616(6), as amended 2021). Florida's area codes are those phonenumbers' geocoder
  names "Florida" (tests/campaigns_app/test_dialer_zones.py checks every one of them).

Speed: the tick asks about up to 1,000 campaigns a second. A window (campaign window x legal window)
becomes a 10,080-entry minute-of-week table once per distinct (window, region); a zone's local
minute-of-week is computed once per (zone, UTC minute); so a key costs one table lookup per zone.
Every window boundary is a whole minute, so deciding by the minute is exact.
"""

from __future__ import annotations

import datetime
import functools
import json
import logging
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from phonenumbers import timezone as phone_timezones

from agents_app.validation import parse_business_hours
from campaigns_app.models import Campaign, Contact, ContactStatus

logger = logging.getLogger(__name__)

DAY_MINUTES = 24 * 60
WEEK_MINUTES = 7 * DAY_MINUTES
UNKNOWN_ZONE = "Etc/Unknown"  # what phonenumbers answers for a number it cannot place
KEY_MAX_LENGTH = 1000  # Contact.dial_zone's max_length
LEGAL_ONLY = ""  # the window signature of "no campaign window: the legal window alone"

ZONE_UNKNOWN_REASON = "zone: the number's time zone is unknown; give the contact a timezone"


@dataclass(frozen=True)
class RegionRule:
    """A region's legal calling window (callee's local time, [start, end)) and per-number limit."""

    start: datetime.time
    end: datetime.time
    max_calls_per_24h: int | None
    label: str
    source: str = ""

    @property
    def limit_rule(self) -> str:
        """The rule name of the per-number limit, as the audit export and contact reasons show it."""
        return f"{self.label.lower().replace(' ', '_')}_24h"


# "" is the default for every region not listed (US federal rule; product rule elsewhere).
REGION_RULES: dict[str, RegionRule] = {
    "": RegionRule(
        start=datetime.time(8, 0),
        end=datetime.time(21, 0),
        max_calls_per_24h=None,
        label="Legal hours",
        source="47 CFR 64.1200(c)(1); 16 CFR 310.4(c)",
    ),
    "US-FL": RegionRule(
        start=datetime.time(8, 0),
        end=datetime.time(20, 0),
        max_calls_per_24h=3,
        label="Florida",
        source="Fla. Stat. 501.616(6) (2021)",
    ),
}

# The US area codes of each stricter region of REGION_RULES.
REGION_AREA_CODES: dict[str, frozenset[str]] = {
    "US-FL": frozenset(
        "239 305 321 324 352 386 407 448 561 645 656 689 727 728 754 772 786 813 850 863 904 941 954".split()
    ),
}
_AREA_CODE_REGION: dict[str, str] = {code: region for region, codes in REGION_AREA_CODES.items() for code in codes}


def region_rule(region: str) -> RegionRule:
    """The rule of a region (a key's part before "|"); the default for any region not listed."""
    return REGION_RULES.get(region) or REGION_RULES[""]


# --- Keys -----------------------------------------------------------------------------------------


@functools.cache
def _zone_info(name: str) -> zoneinfo.ZoneInfo:
    """The zone, held for the process's life: ZoneInfo's own cache keeps only the last 8 strongly, and
    a toll-free number alone has 42 zones, so each would be read from disk again and again."""
    return zoneinfo.ZoneInfo(name)


@functools.cache
def _loadable(name: str) -> bool:
    try:
        _zone_info(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _region(parsed: phonenumbers.PhoneNumber) -> str:
    region = phonenumbers.region_code_for_number(parsed) or ""
    if region == "US":
        area_code = phonenumbers.national_significant_number(parsed)[:3]
        return _AREA_CODE_REGION.get(area_code, region)
    return region


def dial_zone_for(number: str, explicit_timezone: str = "") -> str | None:
    """The number's dialing zone key, e.g. "US-FL|America/New_York" or "US|America/Adak,America/Anchorage";
    the explicit timezone (the contact's) replaces the number's zones. None when the zone is unknown
    (phonenumbers cannot place the number, or names a zone this system does not know)."""
    try:
        parsed: phonenumbers.PhoneNumber | None = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        parsed = None
    region = _region(parsed) if parsed is not None else ""
    explicit = (explicit_timezone or "").strip()
    if explicit and explicit != UNKNOWN_ZONE and _loadable(explicit):
        return f"{region}|{explicit}"
    if parsed is None:
        return None
    zones = sorted(set(phone_timezones.time_zones_for_number(parsed)))
    if not zones or UNKNOWN_ZONE in zones or not all(_loadable(zone) for zone in zones):
        return None
    key = f"{region}|{','.join(zones)}"
    return key if len(key) <= KEY_MAX_LENGTH else None


@functools.lru_cache(maxsize=4096)
def parse_key(key: str) -> tuple[str, tuple[str, ...]]:
    """(region, zones) of a key; no zones for an empty or malformed key (never open)."""
    region, separator, zones = (key or "").partition("|")
    if not separator or not zones:
        return region, ()
    return region, tuple(zones.split(","))


def max_calls_per_24h(key: str | None) -> int | None:
    """How many calls a number of this key may get in any 24 h (None: no limit besides the campaign's)."""
    return region_rule(parse_key(key or "")[0]).max_calls_per_24h


# --- Windows as minute-of-week tables -------------------------------------------------------------


def window_signature(window: dict[str, Any] | None) -> str:
    """A campaign window as a cache key (LEGAL_ONLY for None: the legal window alone)."""
    if window is None:
        return LEGAL_ONLY
    return json.dumps(window, sort_keys=True, separators=(",", ":"), default=str)


@functools.lru_cache(maxsize=256)
def _legal_table(region: str) -> bytes:
    rule = region_rule(region)
    start = rule.start.hour * 60 + rule.start.minute
    end = rule.end.hour * 60 + rule.end.minute or DAY_MINUTES
    table = bytearray(WEEK_MINUTES)
    for day in range(7):
        table[day * DAY_MINUTES + start : day * DAY_MINUTES + end] = b"\x01" * (end - start)
    return bytes(table)


@functools.lru_cache(maxsize=4096)
def _window_table(signature: str) -> bytes:
    """The campaign window's open minutes of the week (local time); all open for LEGAL_ONLY, none
    for a window that does not parse (a campaign is validated when saved, so that is a bug: logged)."""
    if signature == LEGAL_ONLY:
        return b"\x01" * WEEK_MINUTES
    try:
        ranges = parse_business_hours(json.loads(signature))
    except (ValidationError, ValueError) as error:
        logger.error("dialer: a campaign's calling window does not parse (%s); treated as closed", error)
        return bytes(WEEK_MINUTES)
    table = bytearray(WEEK_MINUTES)
    for item in ranges:
        start_s, end_s = item.week_span()
        start, end = -(-start_s // 60), -(-end_s // 60)  # minutes whose start is inside [start_s, end_s)
        for low, high in ((start, min(end, WEEK_MINUTES)), (WEEK_MINUTES, end)):  # Sunday night wraps
            if high > low:
                offset = low % WEEK_MINUTES
                table[offset : offset + high - low] = b"\x01" * (high - low)
    return bytes(table)


@functools.lru_cache(maxsize=4096)
def _open_table(signature: str, region: str) -> bytes:
    """Campaign window ∩ the region's legal window, by minute of the week."""
    if signature == LEGAL_ONLY:
        return _legal_table(region)
    return bytes(a & b for a, b in zip(_window_table(signature), _legal_table(region), strict=True))


@functools.lru_cache(maxsize=16384)
def _local_minute(zone: str, minute: int) -> int:
    """The zone's local minute of the week (0 = Monday 00:00) at UTC minute `minute` since the epoch;
    -1 for a zone this system does not know (never open)."""
    if not _loadable(zone):
        return -1
    return _week_minute(datetime.datetime.fromtimestamp(minute * 60, _zone_info(zone)))


def _minute(now: datetime.datetime) -> int:
    if now.tzinfo is None:
        raise ValueError("the dialer's zone checks need an aware datetime")
    return int(now.timestamp() // 60)


def _all_open(table: bytes, zones: tuple[str, ...], minute: int) -> bool:
    if not zones:
        return False
    for zone in zones:
        local = _local_minute(zone, minute)
        if local < 0 or not table[local]:
            return False
    return True


@functools.lru_cache(maxsize=65536)
def _key_open(key: str, signature: str, minute: int) -> bool:
    region, zones = parse_key(key)
    return _all_open(_open_table(signature, region), zones, minute)


def zone_key_open(key: str | None, *, window: dict[str, Any] | None, now: datetime.datetime) -> bool:
    """Whether a number of this key may be called at `now`: inside the campaign window (None: no
    campaign window) and the region's legal window, in every zone of the key."""
    return bool(key) and _key_open(key, window_signature(window), _minute(now))


def legal_window_open(key: str | None, *, now: datetime.datetime) -> bool:
    """Whether the key's legal window (alone) holds at `now` in every zone of the key."""
    return zone_key_open(key, window=None, now=now)


def open_zone_keys(
    keys: Iterable[str],
    *,
    window: dict[str, Any] | None = None,
    now: datetime.datetime,
    window_json: str | None = None,
) -> list[str]:
    """The keys of `keys` open at `now` under this campaign window (the tick's question, once per
    campaign). `window_json`, the window as JSON text (the database's own), saves encoding it again."""
    signature = window_json if window_json is not None else window_signature(window)
    minute = _minute(now)
    return [key for key in keys if key and _key_open(key, signature, minute)]


NEXT_OPEN_STEP = datetime.timedelta(minutes=15)
NEXT_OPEN_HORIZON = datetime.timedelta(days=8)


def next_open_at(key: str | None, *, window: dict[str, Any] | None, now: datetime.datetime) -> datetime.datetime | None:
    """The first quarter hour (UTC :00/:15/:30/:45) after `now` at which the key is open, looking up
    to 8 days ahead; None when it does not open in that time."""
    region, zone_names = parse_key(key or "")
    if not zone_names or not all(_loadable(zone) for zone in zone_names):
        return None
    # Not through the tick's caches: a scan of 768 moments would push out the entries the tick reuses.
    table = _open_table(window_signature(window), region)
    infos = [_zone_info(zone) for zone in zone_names]
    minute = _minute(now)
    step = int(NEXT_OPEN_STEP.total_seconds() // 60)
    first = (minute // step + 1) * step
    for candidate in range(first, minute + int(NEXT_OPEN_HORIZON.total_seconds() // 60), step):
        moment = datetime.datetime.fromtimestamp(candidate * 60, datetime.UTC)
        if all(table[_week_minute(moment.astimezone(info))] for info in infos):
            return moment
    return None


def _week_minute(local: datetime.datetime) -> int:
    return local.weekday() * DAY_MINUTES + local.hour * 60 + local.minute


# --- Classification -------------------------------------------------------------------------------


def contact_zone(number: str, explicit_timezone: str) -> tuple[str, str]:
    """(dial_zone, hold reason) the classifier writes for a contact: the key and "", or "" and why
    the contact is held (its zone is unknown)."""
    key = dial_zone_for(number, explicit_timezone)
    return (key, "") if key is not None else ("", ZONE_UNKNOWN_REASON)


_CLASSIFY_SQL = f"""
UPDATE {Contact._meta.db_table} AS c SET
    dial_zone = v.zone,
    status = CASE WHEN v.hold <> '' AND c.status IN (%(pending)s, %(retry)s) THEN %(held)s ELSE c.status END,
    reason = CASE WHEN v.hold <> '' AND c.status IN (%(pending)s, %(retry)s) THEN v.hold ELSE c.reason END,
    next_attempt_at = CASE WHEN v.hold <> '' AND c.status IN (%(pending)s, %(retry)s) THEN NULL
        ELSE c.next_attempt_at END,
    updated_at = now()
FROM unnest(%(ids)s::bigint[], %(zones)s::text[], %(holds)s::text[]) AS v(id, zone, hold)
WHERE c.id = v.id AND c.dial_zone IS NULL
RETURNING c.dial_zone
"""  # noqa: S608  (table name from the model)


def classify_campaign_contacts(campaign_id: int, *, batch: int = 5000) -> int:
    """Give every contact of the campaign without a dialing zone its zone (set-based: one SELECT and
    one UPDATE per batch), hold the pending/retry ones whose zone is unknown, and add the new keys
    to Campaign.dial_zones. Returns how many contacts it classified.

    Idempotent and safe beside itself: each batch runs under the campaign row's lock and only writes
    rows still unclassified. zones_pending is cleared first, so contacts added meanwhile set it again
    and are classified by the next run."""
    campaigns = Campaign.objects.across_tenants(reason="a queued task names the campaign by id")
    campaigns.filter(pk=campaign_id, zones_pending=True).update(zones_pending=False)
    try:
        return _classify_batches(campaign_id, batch)
    except Exception:
        # Not finished: the next tick queues the classifier again.
        campaigns.filter(pk=campaign_id).update(zones_pending=True)
        raise


def _classify_batches(campaign_id: int, batch: int) -> int:
    campaigns = Campaign.objects.across_tenants(reason="a queued task names the campaign by id")
    contacts = Contact.objects.across_tenants(reason="the contacts of the campaign named by id")
    classified, after = 0, 0
    while True:
        with transaction.atomic():
            campaign = campaigns.select_for_update().filter(pk=campaign_id).only("pk", "dial_zones").first()
            if campaign is None:
                return classified
            rows = list(
                contacts.filter(campaign_id=campaign_id, dial_zone__isnull=True, pk__gt=after)
                .order_by("pk")
                .values_list("pk", "number", "timezone")[:batch]
            )
            if not rows:
                return classified
            ids, zones, holds = [], [], []
            for pk, number, explicit in rows:
                zone, hold = contact_zone(number, explicit)
                ids.append(pk)
                zones.append(zone)
                holds.append(hold)
            with connection.cursor() as cursor:
                cursor.execute(
                    _CLASSIFY_SQL,
                    {
                        "ids": ids,
                        "zones": zones,
                        "holds": holds,
                        "pending": ContactStatus.PENDING.value,
                        "retry": ContactStatus.RETRY.value,
                        "held": ContactStatus.HELD.value,
                    },
                )
                written = [zone for (zone,) in cursor.fetchall()]
            classified += len(written)
            known = set(campaign.dial_zones or [])
            merged = known | {zone for zone in written if zone}
            if merged != known:
                campaigns.filter(pk=campaign_id).update(dial_zones=sorted(merged))
            after = rows[-1][0]
