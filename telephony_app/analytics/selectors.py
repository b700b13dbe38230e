"""Reads of the analytics: a period's figures, per day and in total, from the rollup rows only (the
calls themselves are never scanned; see docs/analytics.md)."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from agents_app.models import Agent
from telephony_app.analytics import buckets
from telephony_app.analytics.rollups import COUNT_COLUMNS, HIST_COLUMNS
from telephony_app.models import CallRollup
from voiceplatform.models import Tenant

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
# Histogram column -> what the page calls it.
LATENCY_METRICS = {
    "end_of_turn_hist": "End of turn",
    "llm_ttft_hist": "LLM time to first token",
    "tts_ttfb_hist": "TTS time to first byte",
}


@dataclass
class Figures:
    """Counts, sums and histograms of some finished calls, and the rates and percentiles they give."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_COLUMNS, 0))
    talk_seconds: float = 0.0
    cost_usd: Decimal = Decimal(0)
    hists: dict[str, list[int]] = field(
        default_factory=lambda: {
            name: buckets.empty(buckets.TALK_LOWER if metric is None else buckets.LATENCY_LOWER)
            for name, metric in HIST_COLUMNS.items()
        }
    )

    def add(self, other: Figures) -> None:
        """Add other figures' counts, sums and histograms to these."""
        for name, value in other.counts.items():
            self.counts[name] += value
        self.talk_seconds += other.talk_seconds
        self.cost_usd += other.cost_usd
        for name in HIST_COLUMNS:
            self.hists[name] = buckets.add(self.hists[name], other.hists[name])

    @property
    def calls(self) -> int:
        return self.counts["calls"]

    @property
    def answer_rate(self) -> float | None:
        """Answered calls of all finished calls."""
        return self.counts["answered"] / self.calls if self.calls else None

    @property
    def transfer_rate(self) -> float | None:
        """Transferred calls of the answered ones."""
        answered = self.counts["answered"]
        return self.counts["transferred"] / answered if answered else None

    @property
    def average_talk_seconds(self) -> float | None:
        """Talk time per answered call."""
        answered = self.counts["answered"]
        return self.talk_seconds / answered if answered else None

    @property
    def p90_talk_seconds(self) -> float | None:
        return buckets.percentile(self.hists["talk_hist"], buckets.TALK_LOWER, 0.9)

    def latency(self, name: str, share: float) -> float | None:
        """The `share` percentile of one per-turn latency (a LATENCY_METRICS key), seconds."""
        return buckets.percentile(self.hists[name], buckets.LATENCY_LOWER, share)


@dataclass(frozen=True)
class Day:
    day: datetime.date
    figures: Figures


@dataclass(frozen=True)
class Analytics:
    """One period's figures for the chosen agent and campaign (None: all)."""

    start: datetime.date
    end: datetime.date
    agent: Agent | None
    campaign_code: uuid.UUID | None
    days: list[Day]
    total: Figures


def _lower(name: str) -> tuple[float, ...]:
    """The bucket bounds of a histogram column."""
    return buckets.TALK_LOWER if HIST_COLUMNS[name] is None else buckets.LATENCY_LOWER


# day, then every histogram's buckets summed in HIST_COLUMNS order (PostgreSQL arrays count from 1).
_BUCKET_SUMS = ", ".join(f"sum({name}[{index + 1}])" for name in HIST_COLUMNS for index in range(len(_lower(name))))
_BUCKET_SUMS_SQL = f"SELECT day, {_BUCKET_SUMS} FROM {CallRollup._meta.db_table}"  # noqa: S608  (names from the code)


def analytics_for(
    *,
    tenant: Tenant,
    period: int = DEFAULT_PERIOD,
    agent: Agent | None = None,
    campaign_code: uuid.UUID | None = None,
    today: datetime.date | None = None,
) -> Analytics:
    """The last `period` UTC days up to `today`, one Day each (empty days included), and their total.
    The agent must be the tenant's (resolved through its selector by the caller)."""
    end = today or timezone.now().astimezone(datetime.UTC).date()
    start = end - datetime.timedelta(days=period - 1)
    rows = CallRollup.objects.for_tenant(tenant).filter(day__gte=start, day__lte=end)
    if agent is not None:
        rows = rows.filter(agent_id=agent.pk)
    if campaign_code is not None:
        rows = rows.filter(campaign_code=campaign_code)
    per_day = {start + datetime.timedelta(days=n): Figures() for n in range(period)}
    sums = {name: Sum(name) for name in (*COUNT_COLUMNS, "talk_seconds", "cost_usd")}
    for row in rows.order_by().values("day").annotate(**sums):
        figures = per_day[row["day"]]
        figures.counts = {name: row[name] for name in COUNT_COLUMNS}
        figures.talk_seconds, figures.cost_usd = row["talk_seconds"], row["cost_usd"]
    # The histograms too are summed by the database, bucket by bucket: one row of plain integers per day.
    # Fetching the rows' arrays to add them here cost ~18 ms at 30 days (600 rows, 2,400 arrays to parse);
    # these sums cost ~6 ms. Raw SQL: the ORM took longer to compile 94 Sum() expressions than to run them.
    where, params = ["tenant_id = %s", "day >= %s", "day <= %s"], [tenant.pk, start, end]
    if agent is not None:
        where.append("agent_id = %s")
        params.append(agent.pk)
    if campaign_code is not None:
        where.append("campaign_code = %s")
        params.append(campaign_code)
    with connection.cursor() as cursor:
        cursor.execute(f"{_BUCKET_SUMS_SQL} WHERE {' AND '.join(where)} GROUP BY day", params)
        for day, *values in cursor.fetchall():
            hists = per_day[day].hists
            offset = 0
            for name in HIST_COLUMNS:
                size = len(_lower(name))
                hists[name] = [value or 0 for value in values[offset : offset + size]]
                offset += size
    total = Figures()
    for figures in per_day.values():
        total.add(figures)
    days = [Day(day=day, figures=figures) for day, figures in per_day.items()]
    return Analytics(start=start, end=end, agent=agent, campaign_code=campaign_code, days=days, total=total)


def calls_finished_total(*, tenant: Tenant) -> int:
    """Every finished call of the tenant, from the rollups (the dashboard's tile)."""
    return CallRollup.objects.for_tenant(tenant).aggregate(n=Sum("calls"))["n"] or 0
