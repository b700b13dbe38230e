"""The pacing tick: once a second (Celery beat), claim the due, eligible contacts of every running
campaign within its budgets, and enqueue one place_call per claim after commit.

Per campaign, launch = min(free voice-worker capacity, campaign concurrency - its calls in flight,
the campaign's calls-per-second limiter, the caller-ID trunk's limiter, tenant cap - tenant's calls,
agent cap - agent's calls, what is left of DIALER_MAX_CLAIMS_PER_TICK); predictive campaigns multiply
their concurrency share by the dial ratio. The budgets come from two grouped queries over the small
partial indexes of calls in flight, the limiters and the round-robin order from Redis, the claim from
one SELECT over the due index for every campaign at once (one index range per open zone) and one
statement that locks the chosen contacts (SKIP LOCKED), moves them to dialing and inserts their
attempts. Campaigns are served longest-waiting first (a Redis sorted set of when each was last
served), so a tenant with a huge backlog cannot delay another tenant's first call past one tick. One
tick claims at a time (a transaction advisory lock): a second beat or an overlapping tick returns at
once."""

from __future__ import annotations

import datetime
import json
import logging
import math
import time
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from agents_app.runtime_config import redis_client
from campaigns_app.dialer import capacity as capacity_mod
from campaigns_app.dialer import pace, zones
from campaigns_app.dialer.outcome import NotDialed, _complete_if_done, _status_changed
from campaigns_app.models import (
    AttemptOutcome,
    CallAttempt,
    Campaign,
    CampaignStatus,
    Consent,
    ConsentAction,
    Contact,
    ContactStatus,
    DialerMode,
    DncAction,
    DncEntry,
    DncSource,
)
from telephony_app.models import ACTIVE_STATUSES, PHONE_DIRECTIONS, Call
from voiceplatform import metrics
from voiceplatform.models import UUID7_SQL, Tenant

logger = logging.getLogger(__name__)

# pg_try_advisory_xact_lock key of the tick ("vpdialer" as an int64).
TICK_LOCK = 0x7670_6469_616C_6572


# Candidates beyond the launch, so contacts refused at claim (DNC, consent, Florida) don't starve a tick.
def _overselect(launch: int) -> int:
    return launch + launch // 4


# Predictive: the most a campaign over-dials, and the abandonment rate at which it stops.
MAX_DIAL_RATIO = 3.0
ABANDON_LIMIT = 0.025
ABANDON_AFTER_MS = 2000
CLASSIFY_DEDUPE_SECONDS = 30


@dataclass
class TickResult:
    """What one tick did (logged, returned by the task, printed by the benchmark)."""

    locked_out: bool = False
    campaigns: int = 0
    claimed: int = 0
    skipped: int = 0
    held: int = 0
    deferred: int = 0
    capacity: int = 0
    attempt_ids: list[int] = field(default_factory=list)
    duration_ms: float = 0.0


@dataclass
class _Budget:
    """A cap and what is in use; `left` may go to 0 during a tick as campaigns claim."""

    cap: int
    used: int = 0

    @property
    def left(self) -> int:
        return max(0, self.cap - self.used)


@dataclass
class _Candidate:
    id: int
    number: str
    dnc_action: str | None
    dnc_created_at: datetime.datetime | None
    dnc_source: str | None
    consent_id: int | None
    consent_action: str | None
    recent: int
    oldest_recent: datetime.datetime | None
    limit_24h: int | None


def dialer_tick(*, now: datetime.datetime | None = None, enqueue: bool = True) -> TickResult:
    """One pacing tick. `now` is for tests and the benchmark (time travel); `enqueue=False` claims
    without enqueuing place_call (the benchmark drains the attempts itself)."""
    started = time.perf_counter()
    now = now or timezone.now()
    result = TickResult()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [TICK_LOCK])
            if not cursor.fetchone()[0]:
                result.locked_out = True
                return result
            # The tick's commit does not wait for its WAL flush. Safe: its claims are only acted on by
            # place_call, whose own (synchronous) commit flushes the WAL up to and past this one; if the
            # server crashes first, the claims vanish with the tasks' attempts (place_call finds none and
            # dials nothing) and the contacts are simply due again.
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
            # The claim's statements are thousands of index probes the planner prices high from row
            # estimates of unnest(): JIT would compile them every tick (~35 ms at 1,000 campaigns) to save
            # nothing.
            cursor.execute("SET LOCAL jit TO off")
        _start_scheduled(now)
        campaigns = _running_campaigns()
        result.campaigns = len(campaigns)
        if campaigns:
            _claim_all(campaigns, now, result)
        ids = list(result.attempt_ids)
        if enqueue and ids:
            transaction.on_commit(lambda: _enqueue(ids))
    result.duration_ms = (time.perf_counter() - started) * 1000
    metrics.dialer_tick_observed(seconds=result.duration_ms / 1000, claimed=result.claimed)  # once per tick
    if result.claimed or result.skipped or result.held:
        logger.info(
            "dialer tick: %s claimed, %s skipped, %s held over %s running campaign(s) in %.1f ms",
            result.claimed,
            result.skipped,
            result.held,
            result.campaigns,
            result.duration_ms,
        )
    return result


def _enqueue(attempt_ids: list[int]) -> None:
    from campaigns_app.tasks import place_call

    for attempt_id in attempt_ids:
        place_call.delay(attempt_id)


def _start_scheduled(now: datetime.datetime) -> None:
    """Scheduled campaigns whose start date has come (in their tenant's time zone) start running; running
    ones whose end date has passed are completed."""
    rows = list(
        Campaign.objects.across_tenants(reason="the dialer's tick serves every tenant")
        .filter(status__in=[CampaignStatus.SCHEDULED, CampaignStatus.RUNNING])
        .exclude(start_date__isnull=True, end_date__isnull=True)
        .values_list("pk", "status", "start_date", "end_date", "tenant__timezone")
    )
    for pk, status, start_date, end_date, tz in rows:
        today = now.astimezone(zoneinfo.ZoneInfo(tz)).date()
        if end_date is not None and end_date < today:
            with transaction.atomic():  # the change and its webhook event commit together
                if (
                    Campaign.objects.across_tenants(reason="a campaign past its end date")
                    .filter(pk=pk, status__in=[CampaignStatus.SCHEDULED, CampaignStatus.RUNNING])
                    .update(status=CampaignStatus.COMPLETED, status_changed_at=now, finished_at=now, updated_at=now)
                ):
                    _status_changed(pk, previous=status, at=now)
        elif status == CampaignStatus.SCHEDULED and (start_date is None or start_date <= today):
            with transaction.atomic():
                if (
                    Campaign.objects.across_tenants(reason="a scheduled campaign whose start date came")
                    .filter(pk=pk, status=CampaignStatus.SCHEDULED)
                    .update(status=CampaignStatus.RUNNING, status_changed_at=now, updated_at=now)
                ):
                    _status_changed(pk, previous=status, at=now)


_CAMPAIGN_FIELDS = (
    "pk",
    "tenant_id",
    "agent_id",
    "caller_id_id",
    "dialer_mode",
    "dialer_error",
    "window_json",
    "dial_zones",
    "zones_pending",
    "requires_consent",
    "max_calls_per_second",
    "max_concurrent_calls",
    "caller_id__outbound_cps",
    "agent__max_concurrent_calls",
    "tenant__max_concurrent_calls",
)
ROUND_ROBIN_KEY = "vp:dialer:served"


_RUNNING_SQL = """
SELECT c.id, c.tenant_id, c.agent_id, c.caller_id_id, c.dialer_mode, c.dialer_error, c.calling_window::text,
       c.dial_zones::text, c.zones_pending, c.requires_consent, c.max_calls_per_second, c.max_concurrent_calls,
       n.outbound_cps, a.max_concurrent_calls, t.max_concurrent_calls
FROM {campaign} c
JOIN {agent} a ON a.id = c.agent_id
JOIN {number} n ON n.id = c.caller_id_id
JOIN {tenant} t ON t.id = c.tenant_id
WHERE c.status = %s AND c.dialer_mode <> %s
ORDER BY c.id
"""


def _running_campaigns() -> list[dict[str, Any]]:
    """Running campaigns the tick dials for (preview campaigns wait for their operator), longest-waiting
    first: never served, then by when the tick last claimed for them. Every tenant's, on purpose: the
    tick serves them all (one raw statement: the ORM's row building would cost more than the query)."""
    from agents_app.models import Agent
    from telephony_app.models import PhoneNumber

    sql = _RUNNING_SQL.format(
        campaign=Campaign._meta.db_table,
        agent=Agent._meta.db_table,
        number=PhoneNumber._meta.db_table,
        tenant=Tenant._meta.db_table,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [CampaignStatus.RUNNING, DialerMode.PREVIEW])
        rows = cursor.fetchall()
    if not rows:
        return []
    served = redis_client().zmscore(ROUND_ROBIN_KEY, [row[0] for row in rows])
    order = sorted(range(len(rows)), key=lambda i: (served[i] or 0.0, rows[i][0]))
    campaigns = []
    decoded: dict[str, list[str]] = {}  # campaigns of one list share their zones: decode each text once
    for i in order:
        row = dict(zip(_CAMPAIGN_FIELDS, rows[i], strict=True))
        text = row["dial_zones"]
        if (keys := decoded.get(text)) is None:
            keys = decoded[text] = json.loads(text)
        row["dial_zones"] = keys
        campaigns.append(row)
    return campaigns


def forget_idle(*, now: float | None = None) -> None:
    """Drops the pace limiters and round-robin entries not used for an hour (finished campaigns)."""
    now = time.time() if now is None else now
    pace.forget_idle(now=now)
    redis_client().zremrangebyscore(ROUND_ROBIN_KEY, "-inf", now - pace.IDLE_SECONDS)


def _in_flight(campaign_ids: list[int]) -> tuple[dict[int, int], dict[int, int], dict[int, int], int]:
    """Calls in flight: per campaign (its open attempts), per agent and per tenant (their open phone calls
    plus claims without a call yet), and platform-wide. Two grouped queries over partial indexes."""
    per_campaign: dict[int, int] = defaultdict(int)
    per_agent: dict[int, int] = defaultdict(int)
    per_tenant: dict[int, int] = defaultdict(int)
    total = 0
    calls = (
        Call.objects.across_tenants(reason="the dialer counts every tenant's calls in progress")
        .filter(status__in=sorted(ACTIVE_STATUSES), direction__in=PHONE_DIRECTIONS, agent__isnull=False)
        .values_list("tenant_id", "agent_id")
    )
    with connection.cursor() as cursor:
        sql, params = calls.query.sql_with_params()
        cursor.execute(f"SELECT tenant_id, agent_id, count(*) FROM ({sql}) AS open GROUP BY 1, 2", params)  # noqa: S608
        for tenant_id, agent_id, count in cursor.fetchall():
            per_agent[agent_id] += count
            per_tenant[tenant_id] += count
            total += count
        cursor.execute(
            f"SELECT a.campaign_id, c.tenant_id, c.agent_id, count(*), count(*) FILTER (WHERE a.call_id IS NULL) "  # noqa: S608
            f"FROM {CallAttempt._meta.db_table} a JOIN {Campaign._meta.db_table} c ON c.id = a.campaign_id "
            "WHERE a.outcome = '' GROUP BY 1, 2, 3"
        )
        for campaign_id, tenant_id, agent_id, open_count, without_call in cursor.fetchall():
            per_campaign[campaign_id] += open_count
            if without_call:
                per_tenant[tenant_id] += without_call
                total += without_call
                if agent_id is not None:
                    per_agent[agent_id] += without_call
    return per_campaign, per_agent, per_tenant, total


def _claim_all(campaigns: list[dict[str, Any]], now: datetime.datetime, result: TickResult) -> None:
    ids = [c["pk"] for c in campaigns]
    per_campaign, per_agent, per_tenant, total = _in_flight(ids)
    voice = capacity_mod.voice_capacity()
    free = _Budget(cap=voice.total, used=total)
    result.capacity = free.left
    if voice.source == "none":
        _set_errors(ids, NO_VOICE_WORKER, now)
        return
    tenants = {
        c["tenant_id"]: _Budget(
            cap=c["tenant__max_concurrent_calls"] or settings.TENANT_MAX_CONCURRENT_CALLS,
            used=per_tenant[c["tenant_id"]],
        )
        for c in campaigns
    }
    agents = {
        c["agent_id"]: _Budget(cap=c["agent__max_concurrent_calls"], used=per_agent[c["agent_id"]]) for c in campaigns
    }
    clock = now.timestamp()
    specs = [(pace.limiter_key("campaign", c["pk"]), c["max_calls_per_second"]) for c in campaigns]
    specs += [(pace.limiter_key("number", c["caller_id_id"]), c["caller_id__outbound_cps"]) for c in campaigns]
    limiters = pace.load(specs, now=clock)
    plans: list[_Plan] = []
    pending_zones = [c["pk"] for c in campaigns if c["zones_pending"]]
    per_tick = _Budget(cap=settings.DIALER_MAX_CLAIMS_PER_TICK)
    # Campaigns with the same zones and window (one list, the default window) share their open zones.
    opened: dict[tuple[int, str], list[str]] = {}
    for campaign in campaigns:
        if free.left <= 0 or per_tick.left <= 0:
            break
        memo = (id(campaign["dial_zones"]), campaign["window_json"])
        if (open_keys := opened.get(memo)) is None:
            open_keys = opened[memo] = zones.open_zone_keys(
                campaign["dial_zones"], window_json=campaign["window_json"], now=now
            )
        if not open_keys:
            continue
        campaign_limiter = limiters[pace.limiter_key("campaign", campaign["pk"])]
        number_limiter = limiters[pace.limiter_key("number", campaign["caller_id_id"])]
        slots = campaign["max_concurrent_calls"] - per_campaign[campaign["pk"]]
        if campaign["dialer_mode"] == DialerMode.PREDICTIVE:
            slots = math.floor(slots * _dial_ratio(campaign["pk"], now))
        launch = min(
            free.left,
            per_tick.left,
            slots,
            campaign_limiter.allowed(clock),
            number_limiter.allowed(clock),
            tenants[campaign["tenant_id"]].left,
            agents[campaign["agent_id"]].left,
        )
        if launch <= 0:
            continue
        # Reserved now so later campaigns see what is left; a campaign that claims fewer leaves the rest
        # of its share unused until the next tick.
        for budget in (free, per_tick, tenants[campaign["tenant_id"]], agents[campaign["agent_id"]]):
            budget.used += launch
        number_limiter.take(launch, clock)  # the trunk is shared: reserve it too; given back below
        plans.append(_Plan(campaign=campaign, zones=open_keys, launch=launch))
    claimed = _claim_batch(plans, now, result) if plans else {}
    served = []
    for plan in plans:
        count = claimed.get(plan.campaign["pk"], 0)
        number_limiter = limiters[pace.limiter_key("number", plan.campaign["caller_id_id"])]
        number_limiter.tokens += plan.launch - count
        del number_limiter.launches[len(number_limiter.launches) - (plan.launch - count) :]
        if count:
            limiters[pace.limiter_key("campaign", plan.campaign["pk"])].take(count, clock)
            served.append(plan.campaign["pk"])
    pace.save(limiters.values(), now=clock)
    if served:
        redis_client().zadd(ROUND_ROBIN_KEY, dict.fromkeys(served, clock))
    # The tick clears only its own error; place_call clears LiveKit's once a dial succeeds.
    if recovered := [plan.campaign["pk"] for plan in plans if plan.campaign["dialer_error"] == NO_VOICE_WORKER]:
        Campaign.objects.across_tenants(reason="campaigns this tick served").filter(
            pk__in=recovered, dialer_error=NO_VOICE_WORKER
        ).update(dialer_error="", dialer_error_at=None)
    if pending_zones:
        transaction.on_commit(lambda: _classify_later(pending_zones))


NO_VOICE_WORKER = "No voice worker is running: start `manage.py run_voice_worker` (or set DIALER_VOICE_CAPACITY)."


@dataclass
class _Plan:
    campaign: dict[str, Any]
    zones: list[str]
    launch: int


def _set_errors(campaign_ids: list[int], message: str, now: datetime.datetime) -> None:
    Campaign.objects.across_tenants(reason="campaigns this tick could not serve").filter(pk__in=campaign_ids).exclude(
        dialer_error=message
    ).update(dialer_error=message, dialer_error_at=now)


def _classify_later(campaign_ids: list[int]) -> None:
    from campaigns_app.tasks import classify_contacts

    client = redis_client()
    for campaign_id in campaign_ids:
        if client.set(f"vp:dialer:classify:{campaign_id}", "1", nx=True, ex=CLASSIFY_DEDUPE_SECONDS):
            classify_contacts.delay(campaign_id)


def _dial_ratio(campaign_id: int, now: datetime.datetime) -> float:
    """Predictive: 1 / the answer rate of the campaign's last 200 dials (at most MAX_DIAL_RATIO), or 1.0
    once answered calls were abandoned (no agent words within 2 s) at ABANDON_LIMIT or more over 30 days."""
    key = f"vp:dialer:ratio:{campaign_id}"
    client = redis_client()
    cached = client.get(key)
    if cached is not None:
        return float(cached)
    dialed = [
        AttemptOutcome.ANSWERED,
        AttemptOutcome.NO_ANSWER,
        AttemptOutcome.BUSY,
        AttemptOutcome.VOICEMAIL,
        AttemptOutcome.REJECTED,
        AttemptOutcome.FAILED,
    ]
    attempts = CallAttempt.objects.across_tenants(reason="the predictive ratio of a campaign the tick serves")
    recent = list(
        attempts.filter(campaign_id=campaign_id, outcome__in=dialed)
        .order_by("-id")
        .values_list("outcome", flat=True)[:200]
    )
    ratio = 1.0
    answered = sum(1 for outcome in recent if outcome == AttemptOutcome.ANSWERED)
    if len(recent) >= 20 and answered:
        month = attempts.filter(
            campaign_id=campaign_id, outcome=AttemptOutcome.ANSWERED, ended_at__gte=now - datetime.timedelta(days=30)
        )
        live = month.count()
        abandoned = month.filter(call__first_words_ms__gt=ABANDON_AFTER_MS).count()
        if not live or abandoned / live < ABANDON_LIMIT:
            ratio = min(MAX_DIAL_RATIO, len(recent) / answered)
    client.set(key, repr(ratio), ex=60)
    return ratio


# Candidates: per open zone of each campaign, its first due contacts in due order (the due index), the
# campaign's first `lim` over its zones, then the DNC / consent / 24-hour verdicts of only those. No row
# is locked here: _dial and _refuse lock and re-check the few rows they change.
_CANDIDATES_SQL = """
WITH wanted AS (
    SELECT * FROM unnest(%(campaigns)s::bigint[], %(tenants)s::bigint[], %(zones)s::text[], %(caps)s::text[],
                         %(limits)s::int[], %(consent)s::bool[]) AS w(campaign_id, tenant_id, zones, caps, lim, req)
), cand AS (
    SELECT wanted.campaign_id, wanted.tenant_id, z.cap, wanted.req, wanted.lim, c.id, c.number, c.next_attempt_at
    FROM wanted
    CROSS JOIN LATERAL unnest(string_to_array(wanted.zones, ';'), string_to_array(wanted.caps, ';', '')::int[])
        AS z(zone, cap)
    CROSS JOIN LATERAL (
        SELECT id, number, next_attempt_at FROM {contact}
        WHERE campaign_id = wanted.campaign_id AND status IN ('pending', 'retry') AND dial_zone = z.zone
          AND {due}
        ORDER BY next_attempt_at, id
        LIMIT wanted.lim
    ) AS c
), top AS (
    SELECT * FROM (
        SELECT cand.*, row_number() OVER (PARTITION BY campaign_id ORDER BY next_attempt_at, id) AS rank FROM cand
    ) AS ranked WHERE rank <= lim
)
SELECT top.campaign_id, top.id, top.number, dnc.action, dnc.created_at, dnc.source, consent.id, consent.action,
       coalesce(recent.n, 0), recent.oldest, top.cap
FROM top
LEFT JOIN LATERAL (
    SELECT action, created_at, source FROM {dnc} WHERE tenant_id = top.tenant_id AND number = top.number
    ORDER BY created_at DESC, id DESC LIMIT 1
) AS dnc ON true
LEFT JOIN LATERAL (
    SELECT id, action FROM {consent} WHERE top.req AND tenant_id = top.tenant_id AND number = top.number
    ORDER BY created_at DESC, id DESC LIMIT 1
) AS consent ON true
LEFT JOIN LATERAL (
    SELECT count(*) AS n, min(created_at) AS oldest FROM {attempt}
    WHERE top.cap IS NOT NULL AND tenant_id = top.tenant_id AND number = top.number
      AND created_at > %(day_ago)s AND outcome <> 'not_dialed'
) AS recent ON true
ORDER BY top.campaign_id, top.next_attempt_at, top.id
"""


def _ints(values: Iterable[int | None]) -> str:
    """A PostgreSQL array literal of ids or counts (None as NULL), built as one string: far cheaper than
    adapting thousands of parameters one by one."""
    return "{" + ",".join("NULL" if value is None else str(value) for value in values) + "}"


def _texts(values: Iterable[str]) -> str:
    """A PostgreSQL array literal of zone keys (or lists of them), caps or E.164 numbers (they hold no quote
    or backslash)."""
    values = list(values)
    return '{"' + '","'.join(values) + '"}' if values else "{}"


def _bools(values: Iterable[bool]) -> str:
    return "{" + ",".join("t" if value else "f" for value in values) + "}"


def _claim_batch(
    plans: list[_Plan], now: datetime.datetime, result: TickResult, *, contact_id: int | None = None
) -> dict[int, int]:
    """Claims, for every plan, up to its launch of due, eligible contacts in its open zones: one SELECT of
    the candidates with their DNC, consent and 24-hour verdicts, then one statement for the refused and
    two (lock with SKIP LOCKED and move to dialing, insert the attempts) for the claimed. Returns the
    claims per campaign."""
    # One row per campaign: its open zones and their per-number 24-hour caps as ";"-joined lists (zone keys
    # hold no ";"), the statement unnests them. Plans with the same zones share one list: joined once.
    joined: dict[int, tuple[str, str]] = {}
    wanted: list[tuple[int, int, str, str, int, bool]] = []
    for plan in plans:
        if (lists := joined.get(id(plan.zones))) is None:
            caps = (zones.max_calls_per_24h(zone) for zone in plan.zones)
            lists = joined[id(plan.zones)] = (
                ";".join(plan.zones),
                ";".join("" if cap is None else str(cap) for cap in caps),
            )
        campaign = plan.campaign
        wanted.append(
            (campaign["pk"], campaign["tenant_id"], *lists, _overselect(plan.launch), campaign["requires_consent"])
        )
    due = "id = %(contact)s" if contact_id is not None else "next_attempt_at <= %(now)s"
    sql = _CANDIDATES_SQL.format(
        contact=Contact._meta.db_table,
        dnc=DncEntry._meta.db_table,
        consent=Consent._meta.db_table,
        attempt=CallAttempt._meta.db_table,
        due=due,
    )
    columns = list(zip(*wanted, strict=True))
    params = {
        "campaigns": _ints(columns[0]),
        "tenants": _ints(columns[1]),
        "zones": _texts(columns[2]),
        "caps": _texts(columns[3]),
        "limits": _ints(columns[4]),
        "consent": _bools(columns[5]),
        "now": now,
        "contact": contact_id,
        "day_ago": now - datetime.timedelta(hours=24),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = cursor.fetchall()
    by_campaign = {plan.campaign["pk"]: plan for plan in plans}
    eligible: list[tuple[dict[str, Any], int, str, int | None]] = []
    refused: list[tuple[int, NotDialed]] = []
    counts: dict[int, int] = defaultdict(int)
    seen: dict[int, int] = defaultdict(int)
    # Per-number limits count this batch's own claims too (one number in several campaigns).
    limited: dict[tuple[int, str], int] = defaultdict(int)
    for row in found:
        campaign_id = row[0]
        plan = by_campaign[campaign_id]
        seen[campaign_id] += 1
        cand = _Candidate(*row[1:10], limit_24h=row[10])
        number_key = (plan.campaign["tenant_id"], cand.number)
        cand.recent += limited[number_key]
        refusal = _refusal(cand, plan.campaign, now)
        if refusal is not None:
            refused.append((cand.id, refusal))
        elif counts[campaign_id] < plan.launch:
            counts[campaign_id] += 1
            if cand.limit_24h is not None:
                limited[number_key] += 1
            eligible.append((plan.campaign, cand.id, cand.number, cand.consent_id))
    if refused:
        _refuse(refused, now, result)
    claimed = _dial(eligible, now, result) if eligible else {}
    if contact_id is None:
        for plan in plans:
            pk = plan.campaign["pk"]
            if not claimed.get(pk) and seen[pk] < _overselect(plan.launch):
                _complete_if_done(pk, now)
    return claimed


def _refusal(cand: _Candidate, campaign: dict[str, Any], now: datetime.datetime) -> NotDialed | None:
    if cand.dnc_action == DncAction.ADD:
        entry = DncEntry(created_at=cand.dnc_created_at, source=cand.dnc_source or DncSource.MANUAL)
        from campaigns_app.services import dnc_reason

        return NotDialed("dnc", dnc_reason(entry).removeprefix("dnc: "), status=ContactStatus.SKIPPED)
    if campaign["requires_consent"] and cand.consent_action != ConsentAction.GRANT:
        why = "consent was revoked" if cand.consent_action else "no recorded consent for this number"
        return NotDialed("consent", why, status=ContactStatus.HELD)
    if cand.limit_24h is not None and cand.recent >= cand.limit_24h:
        retry_at = (cand.oldest_recent or now) + datetime.timedelta(hours=24)
        return NotDialed(
            "region_24h",
            f"{cand.recent} calls to this number in the last 24 h (the limit there is {cand.limit_24h})",
            status=ContactStatus.PENDING,
            retry_at=retry_at,
        )
    return None


def _refuse(refused: list[tuple[int, NotDialed]], now: datetime.datetime, result: TickResult) -> None:
    """Contacts refused at claim: skipped (DNC), held (consent) or deferred (a 24-hour limit), with the rule."""
    if not refused:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {Contact._meta.db_table} AS c SET status = v.status, reason = v.reason, "  # noqa: S608
            "next_attempt_at = CASE WHEN v.retry_at IS NULL THEN c.next_attempt_at ELSE v.retry_at END, "
            "updated_at = %s FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::timestamptz[]) "
            "AS v(id, status, reason, retry_at) WHERE c.id = v.id AND c.status IN ('pending', 'retry')",
            [
                now,
                [pk for pk, _ in refused],
                [r.status for _, r in refused],
                [f"{r.rule}: {r.reason}"[:200] for _, r in refused],
                [r.retry_at for _, r in refused],
            ],
        )
    for _, refusal in refused:
        if refusal.status == ContactStatus.SKIPPED:
            result.skipped += 1
        elif refusal.status == ContactStatus.HELD:
            result.held += 1
        else:
            result.deferred += 1


_DIAL_SQL = """
WITH chosen AS (
    SELECT * FROM unnest(%(ids)s::bigint[], %(numbers)s::text[], %(consents)s::bigint[]) AS v(id, number, consent_id)
), locked AS (
    SELECT c.id FROM {contact} c
    WHERE c.id = ANY(%(ids)s::bigint[]) AND c.status IN ('pending', 'retry') ORDER BY c.id FOR UPDATE SKIP LOCKED
), moved AS (
    UPDATE {contact} c SET status = 'dialing', attempts = c.attempts + 1, lease_expires_at = %(lease)s,
        reason = '', updated_at = %(now)s
    FROM locked WHERE c.id = locked.id RETURNING c.id, c.campaign_id, c.tenant_id
)
INSERT INTO {attempt} (code, tenant_id, campaign_id, contact_id, attempt_no, number, consent_id, outcome, detail,
                       created_at)
SELECT {uuid7}, moved.tenant_id, moved.campaign_id, chosen.id,
       coalesce((SELECT max(attempt_no) FROM {attempt} a WHERE a.contact_id = chosen.id), 0) + 1,
       chosen.number, chosen.consent_id, '', '', %(now)s
FROM chosen JOIN moved ON moved.id = chosen.id
RETURNING id, campaign_id
"""


def _dial(
    eligible: list[tuple[dict[str, Any], int, str, int | None]], now: datetime.datetime, result: TickResult
) -> dict[int, int]:
    """Locks the chosen contacts (SKIP LOCKED: one another process holds is left for a later tick, and
    one no longer due is not taken), moves them to dialing with a lease and inserts their attempts, in
    one statement. Returns the claims per campaign."""
    chosen = {
        "ids": _ints(pk for _, pk, _, _ in eligible),
        "numbers": _texts(number for _, _, number, _ in eligible),
        "consents": _ints(consent if campaign["requires_consent"] else None for campaign, _, _, consent in eligible),
    }
    sql = _DIAL_SQL.format(contact=Contact._meta.db_table, attempt=CallAttempt._meta.db_table, uuid7=UUID7_SQL)
    lease = now + datetime.timedelta(seconds=settings.DIALER_LEASE_SECONDS)
    with connection.cursor() as cursor:
        cursor.execute(sql, {**chosen, "lease": lease, "now": now})
        rows = cursor.fetchall()
    claimed: dict[int, int] = defaultdict(int)
    for attempt_id, campaign_id in rows:
        result.attempt_ids.append(attempt_id)
        claimed[campaign_id] += 1
    result.claimed += len(rows)
    return dict(claimed)


def claim_preview_contact(
    *, tenant: Tenant, campaign: Campaign, contact: Contact, now: datetime.datetime | None = None
) -> CallAttempt | NotDialed:
    """Preview mode: an operator confirmed this contact; claim it through the same rules and budgets as
    the tick (window, DNC, consent, per-number limits, concurrency, pace) and enqueue its call. Returns
    the attempt, or why it was not claimed (nothing changes then, except a DNC/consent verdict recorded
    on the contact)."""
    now = now or timezone.now()
    with transaction.atomic():
        with connection.cursor() as cursor:
            # The limiters and budgets are the tick's: wait for a running tick to finish.
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [TICK_LOCK])
        locked = Campaign.objects.for_tenant(tenant).select_for_update().filter(pk=campaign.pk).first()
        if locked is None or locked.status != CampaignStatus.RUNNING:
            return NotDialed("campaign", "the campaign is not running")
        row = (
            Contact.objects.for_tenant(tenant)
            .select_for_update(skip_locked=True)
            .filter(pk=contact.pk, campaign=locked)
            .values("pk", "status", "dial_zone", "next_attempt_at")
            .first()
        )
        if row is None:
            return NotDialed("contact", "this contact is being dialed or no longer exists")
        if row["status"] not in (ContactStatus.PENDING, ContactStatus.RETRY):
            return NotDialed("contact", f"this contact is {Contact(status=row['status']).get_status_display().lower()}")
        if row["dial_zone"] is None:
            from campaigns_app.dialer.zones import classify_campaign_contacts

            classify_campaign_contacts(locked.pk)
            row["dial_zone"] = Contact.objects.for_tenant(tenant).values_list("dial_zone", flat=True).get(pk=contact.pk)
        if not row["dial_zone"] or not zones.zone_key_open(row["dial_zone"], window=locked.calling_window, now=now):
            return NotDialed("window", "outside the calling window in the contact's time zone")
        per_campaign, per_agent, per_tenant, total = _in_flight([locked.pk])
        voice = capacity_mod.voice_capacity()
        agent_cap = locked.agent.max_concurrent_calls if locked.agent else 0
        tenant_cap = tenant.max_concurrent_calls or settings.TENANT_MAX_CONCURRENT_CALLS
        if (
            min(
                voice.total - total,
                locked.max_concurrent_calls - per_campaign[locked.pk],
                agent_cap - per_agent[locked.agent_id],
                tenant_cap - per_tenant[tenant.pk],
            )
            <= 0
        ):
            return NotDialed("capacity", "no free call slot right now (campaign, agent, tenant or voice workers)")
        clock = now.timestamp()
        keys = [pace.limiter_key("campaign", locked.pk), pace.limiter_key("number", locked.caller_id_id)]
        limiters = pace.load(
            [(keys[0], locked.max_calls_per_second), (keys[1], locked.caller_id.outbound_cps)], now=clock
        )
        if min(limiter.allowed(clock) for limiter in limiters.values()) <= 0:
            return NotDialed("pace", "the calls-per-second limit is reached; try again in a second")
        # The same claim as the tick's, pinned to this contact.
        result = TickResult()
        campaign_row = {"pk": locked.pk, "tenant_id": tenant.pk, "requires_consent": locked.requires_consent}
        plan = _Plan(campaign=campaign_row, zones=[row["dial_zone"]], launch=1)
        if not _claim_batch([plan], now, result, contact_id=contact.pk):
            if result.skipped or result.held or result.deferred:
                return _recorded_refusal(tenant, contact.pk)
            return NotDialed("contact", "this contact is being dialed by someone else")
        for limiter in limiters.values():
            limiter.take(1, clock)
        pace.save(limiters.values(), now=clock)
        attempt_id = result.attempt_ids[0]
        transaction.on_commit(lambda: _enqueue([attempt_id]))
    return CallAttempt.objects.for_tenant(tenant).get(pk=attempt_id)


def _recorded_refusal(tenant: Tenant, contact_id: int) -> NotDialed:
    contact = Contact.objects.for_tenant(tenant).only("status", "reason").get(pk=contact_id)
    rule, _, reason = contact.reason.partition(": ")
    return NotDialed(rule, reason, status=contact.status)
