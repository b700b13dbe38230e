"""The analytics figures as rows (the CSV export) and as the API's JSON document: one shape for both,
so the page, the CSV and GET /api/v1/analytics say the same numbers."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from telephony_app.analytics.rollups import STATUS_COLUMNS
from telephony_app.analytics.selectors import LATENCY_METRICS, Analytics, Figures

# Histogram column -> the name its percentiles carry in the CSV and the API.
LATENCY_NAMES = {"end_of_turn_hist": "end_of_turn", "llm_ttft_hist": "llm_ttft", "tts_ttfb_hist": "tts_ttfb"}
assert set(LATENCY_NAMES) == set(LATENCY_METRICS)
_CENTS = Decimal("0.00001")


def _round(value: float | None, digits: int) -> float | None:
    return round(value, digits) if value is not None else None


def figures_row(figures: Figures) -> dict[str, Any]:
    """One day's (or the period's) figures, flat, snake_case: rates 0..1, times in seconds, cost in USD."""
    row: dict[str, Any] = {"calls": figures.calls}
    row |= {status: figures.counts[status] for status in STATUS_COLUMNS.values()}
    row["answered"] = figures.counts["answered"]
    row["answer_rate"] = _round(figures.answer_rate, 4)
    row["transfer_rate"] = _round(figures.transfer_rate, 4)
    row["talk_seconds_avg"] = _round(figures.average_talk_seconds, 1)
    row["talk_seconds_p90"] = _round(figures.p90_talk_seconds, 1)
    row["cost_usd"] = str(figures.cost_usd.quantize(_CENTS))
    for column, name in LATENCY_NAMES.items():
        row[f"{name}_p50"] = _round(figures.latency(column, 0.5), 3)
        row[f"{name}_p90"] = _round(figures.latency(column, 0.9), 3)
    return row


def analytics_csv(analytics: Analytics) -> str:
    """A header, one line per day (oldest first), then a `total` line; empty cells where nothing was measured."""
    buffer = io.StringIO()
    writer: csv.DictWriter[str] | None = None
    rows = [(day.day.isoformat(), day.figures) for day in analytics.days] + [("total", analytics.total)]
    for label, figures in rows:
        row = {"date": label, **figures_row(figures)}
        if writer is None:
            writer = csv.DictWriter(buffer, fieldnames=list(row), lineterminator="\n")
            writer.writeheader()
        writer.writerow(row)
    return buffer.getvalue()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def analytics_document(analytics: Analytics, *, period: int) -> dict[str, Any]:
    """The API's document: the filter, the period's totals and one entry per day (camelCase keys)."""
    return {
        "period": period,
        "from": analytics.start.isoformat(),
        "to": analytics.end.isoformat(),
        "agentId": str(analytics.agent.code) if analytics.agent is not None else None,
        "campaignId": str(analytics.campaign_code) if analytics.campaign_code is not None else None,
        "totals": {_camel(key): value for key, value in figures_row(analytics.total).items()},
        "days": [
            {"date": day.day.isoformat(), **{_camel(key): value for key, value in figures_row(day.figures).items()}}
            for day in analytics.days
        ],
    }
