"""The campaign page's pace chart as inline SVG geometry (no JavaScript, no chart library; the CSP allows
no inline script): dials per minute as bars against the configured pace as a line, and the answer and
abandon rates per ten minutes as two lines. campaigns_app/templates/campaigns_app/_pace_chart.html draws it."""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass

from campaigns_app.selectors import CampaignPace, RateBucket
from telephony_app.analytics.charts import Point, Tick  # the axis labels and points of every SVG chart

WIDTH = 600
DIALS_HEIGHT = 180
RATES_HEIGHT = 140
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 10, 22
# The legal ceiling of abandoned calls (3 % of live-answered calls, COMPLIANCE.md), drawn on the rates chart.
ABANDON_LIMIT = 0.03


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class PaceChartSvg:
    """Everything the template needs: the two charts' sizes, plot box, bars, lines and labels."""

    width: int
    dials_height: int
    rates_height: int
    left: float
    right: float
    dials_bottom: float
    rates_bottom: float
    top: float
    bars: list[Bar]
    pace_y: float
    pace_label: str
    dial_ticks: list[Tick]
    time_ticks: list[Tick]
    rate_ticks: list[Tick]
    answer_lines: list[str]  # SVG polyline `points`, one per unbroken run of buckets with a rate
    abandon_lines: list[str]
    answer_points: list[Point]
    abandon_points: list[Point]
    limit_y: float
    summary: str


def _ceiling(value: float) -> float:
    """A round top for the value axis at or above `value` (1, 2, 5 x 10^n)."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 5, 10) if step * magnitude >= value)


def _number(value: float) -> str:
    return f"{value:g}" if value < 1000 else f"{value:,.0f}"


def _lines(points: list[Point | None]) -> list[str]:
    """Polylines through consecutive points; a bucket with nothing to divide breaks the line."""
    runs: list[list[Point]] = [[]]
    for point in points:
        if point is None:
            runs.append([])
        else:
            runs[-1].append(point)
    return [" ".join(f"{p.x:.1f},{p.y:.1f}" for p in run) for run in runs if run]


def pace_chart(pace: CampaignPace, *, zone: datetime.tzinfo) -> PaceChartSvg:
    """The SVG geometry of `pace`; times are labelled in `zone` (the tenant's)."""
    plot_width = WIDTH - LEFT - RIGHT
    dials_bottom = DIALS_HEIGHT - BOTTOM
    rates_bottom = RATES_HEIGHT - BOTTOM
    dials_plot = dials_bottom - TOP
    rates_plot = rates_bottom - TOP
    slot = plot_width / len(pace.minutes)
    top = _ceiling(max([pace.configured_per_minute, *(m.dialed for m in pace.minutes)]) * 1.1)

    def local(moment: datetime.datetime) -> str:
        return moment.astimezone(zone).strftime("%H:%M")

    bars = []
    for index, minute in enumerate(pace.minutes):
        if minute.dialed:
            # At least one unit tall: a minute with a dial stays visible under a pace far above it.
            height = max(minute.dialed / top * dials_plot, 1)
            title = f"{local(minute.start)}: {minute.dialed} dial{'s' if minute.dialed != 1 else ''}"
            bars.append(Bar(LEFT + index * slot + 1, dials_bottom - height, max(slot - 2, 1), height, title))
    time_ticks = [Tick(LEFT + i * slot, local(pace.minutes[i].start)) for i in range(0, len(pace.minutes), 10)]

    def rate_point(index: int, bucket: RateBucket, rate: float | None, what: str, of: str) -> Point | None:
        if rate is None:
            return None
        x = LEFT + (index + 0.5) * plot_width / len(pace.buckets)
        title = f"{local(bucket.start)}: {what} {rate:.0%} ({of})"
        return Point(x, rates_bottom - rate * rates_plot, title)

    buckets = pace.buckets
    answers = [
        rate_point(i, b, b.answer_rate, "answered", f"{b.answered} of {b.finished} dialed")
        for i, b in enumerate(buckets)
    ]
    abandons = [
        rate_point(i, b, b.abandon_rate, "abandoned", f"{b.abandoned} of {b.answered} answered")
        for i, b in enumerate(buckets)
    ]
    configured = pace.configured_per_minute
    return PaceChartSvg(
        width=WIDTH,
        dials_height=DIALS_HEIGHT,
        rates_height=RATES_HEIGHT,
        left=LEFT,
        right=WIDTH - RIGHT,
        dials_bottom=dials_bottom,
        rates_bottom=rates_bottom,
        top=TOP,
        bars=bars,
        pace_y=dials_bottom - configured / top * dials_plot,
        pace_label=f"configured {_number(configured)}/min",
        dial_ticks=[Tick(dials_bottom - share * dials_plot, _number(top * share)) for share in (0, 0.5, 1)],
        time_ticks=time_ticks,
        rate_ticks=[Tick(rates_bottom - share * rates_plot, f"{share:.0%}") for share in (0, 0.5, 1)],
        answer_lines=_lines(answers),
        abandon_lines=_lines(abandons),
        answer_points=[point for point in answers if point is not None],
        abandon_points=[point for point in abandons if point is not None],
        limit_y=rates_bottom - ABANDON_LIMIT * rates_plot,
        summary=f"{pace.dialed} dials in the last {len(pace.minutes)} minutes; "
        f"configured pace {_number(configured)} per minute.",
    )
