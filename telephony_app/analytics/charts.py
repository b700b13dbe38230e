"""The analytics page's charts as inline SVG geometry (no JavaScript, no chart library: the CSP allows no
inline script), in the style of campaigns_app/pace_chart.py. One `Chart` shape serves bars (stacked or
grouped) and lines; telephony_app/templates/telephony_app/_analytics_chart.html draws any of them."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.safestring import SafeString, mark_safe

from telephony_app.analytics.selectors import LATENCY_METRICS, Analytics, Figures

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 52, 8, 10, 22
STATUS_COLOURS = {
    "completed": "#047857",
    "transferred": "#4f46e5",
    "voicemail": "#7c3aed",
    "no_answer": "#b45309",
    "busy": "#d97706",
    "failed": "#b91c1c",
}
STATUS_LABELS = {"no_answer": "no answer"}


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    colour: str
    title: str


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class Line:
    colour: str
    runs: list[str]  # SVG polyline `points`, one per unbroken run of days with a value
    points: list[Point]


@dataclass(frozen=True)
class Key:
    colour: str
    label: str


@dataclass(frozen=True)
class Chart:
    """A chart's size, plot box, value and category ticks, bars, lines and legend."""

    slug: str
    title: str
    summary: str
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    rects: list[Rect]
    lines: list[Line]
    keys: list[Key]

    def svg_body(self) -> SafeString:
        """The SVG's grid, bars, lines and labels, built here rather than by the template engine: a chart
        has hundreds of elements, and the page's five took ~25 ms to render as template loops. Every
        text (titles, labels, colours) is escaped; numbers are formatted."""
        e = html.escape
        parts: list[str] = []
        for tick in self.y_ticks:
            y = _n(tick.at)
            parts.append(
                f'<line class="grid" x1="{_n(self.left)}" x2="{_n(self.right)}" y1="{y}" y2="{y}" stroke="#e5e7eb"/>'
                f'<text class="axis" x="{_n(self.left - 4)}" y="{y}" text-anchor="end" dominant-baseline="middle" '
                f'font-size="10" fill="#6b7280">{e(tick.label)}</text>'
            )
        for rect in self.rects:
            parts.append(
                f'<rect class="bar" x="{_n(rect.x)}" y="{_n(rect.y)}" width="{_n(rect.width)}" '
                f'height="{_n(rect.height)}" fill="{e(rect.colour)}"><title>{e(rect.title)}</title></rect>'
            )
        for line in self.lines:
            colour = e(line.colour)
            for points in line.runs:
                parts.append(
                    f'<polyline class="line" points="{e(points)}" fill="none" stroke="{colour}" stroke-width="2"/>'
                )
            for point in line.points:
                parts.append(
                    f'<circle class="point" cx="{_n(point.x)}" cy="{_n(point.y)}" r="2.5" fill="{colour}">'
                    f"<title>{e(point.title)}</title></circle>"
                )
        for tick in self.x_ticks:
            parts.append(
                f'<text class="axis" x="{_n(tick.at)}" y="{self.height}" dy="-6" font-size="10" '
                f'fill="#6b7280">{e(tick.label)}</text>'
            )
        return mark_safe("".join(parts))  # noqa: S308  (every text above is escaped)


def _n(value: float) -> str:
    """A coordinate with one decimal, as SVG reads it."""
    return f"{value:.1f}"


def _ceiling(value: float) -> float:
    """A round top for the value axis at or above `value` (1, 2, 5 x 10^n, never below 1)."""
    if value <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 2.5, 5, 10) if step * magnitude >= value)


def _seconds(value: float) -> str:
    return f"{value:.2f} s" if value < 10 else f"{value:,.0f} s"


def _chart(
    slug: str,
    title: str,
    summary: str,
    *,
    top_value: float,
    label: Callable[[float], str],
    keys: list[Key],
    x_ticks: list[Tick],
    rects: list[Rect],
    lines: list[Line],
) -> Chart:
    """A chart in the common frame, its value axis labelled at 0, half and `top_value`."""
    bottom = HEIGHT - BOTTOM
    ticks = [Tick(bottom - share * (bottom - TOP), label(top_value * share)) for share in (0, 0.5, 1)]
    return Chart(
        slug=slug,
        title=title,
        summary=summary,
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=WIDTH - RIGHT,
        top=TOP,
        bottom=bottom,
        y_ticks=ticks,
        x_ticks=x_ticks,
        rects=rects,
        lines=lines,
        keys=keys,
    )


def _day_ticks(analytics: Analytics) -> list[Tick]:
    slot = (WIDTH - LEFT - RIGHT) / len(analytics.days)
    step = max(1, len(analytics.days) // 7)
    return [Tick(LEFT + i * slot, analytics.days[i].day.strftime("%b %d")) for i in range(0, len(analytics.days), step)]


def _scale(value: float, top_value: float) -> float:
    return value / top_value * (HEIGHT - BOTTOM - TOP)


def calls_chart(analytics: Analytics) -> Chart:
    """Finished calls per day, stacked by outcome."""
    top_value = _ceiling(max((day.figures.calls for day in analytics.days), default=0) * 1.1)
    slot = (WIDTH - LEFT - RIGHT) / len(analytics.days)
    rects = []
    for index, day in enumerate(analytics.days):
        base = HEIGHT - BOTTOM
        for status, colour in STATUS_COLOURS.items():
            if count := day.figures.counts[status]:
                height = max(_scale(count, top_value), 1)
                title = f"{day.day:%b %d}: {count} {STATUS_LABELS.get(status, status)}"
                rects.append(Rect(LEFT + index * slot + 1, base - height, max(slot - 2, 1), height, colour, title))
                base -= height
    keys = [Key(colour, STATUS_LABELS.get(status, status)) for status, colour in STATUS_COLOURS.items()]
    summary = f"{analytics.total.calls} finished calls from {analytics.start} to {analytics.end}."
    return _chart(
        "calls",
        "Calls per day by outcome",
        summary,
        top_value=top_value,
        label=_count,
        keys=keys,
        x_ticks=_day_ticks(analytics),
        rects=rects,
        lines=[],
    )


def _count(value: float) -> str:
    return f"{value:g}" if value < 1000 else f"{value:,.0f}"


def _line(analytics: Analytics, values: Sequence[float | None], top_value: float, colour: str, text: str) -> Line:
    slot = (WIDTH - LEFT - RIGHT) / len(analytics.days)
    runs: list[list[Point]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            runs.append([])
            continue
        day = analytics.days[index].day
        point = Point(LEFT + (index + 0.5) * slot, HEIGHT - BOTTOM - _scale(value, top_value), f"{day:%b %d}: {text}")
        runs[-1].append(point)
    formatted = [" ".join(f"{p.x:.1f},{p.y:.1f}" for p in run) for run in runs if run]
    return Line(colour, formatted, [point for run in runs for point in run])


def rates_chart(analytics: Analytics) -> Chart:
    """Answer rate (answered / finished) and transfer rate (transferred / answered) per day."""
    lines = []
    for name, colour, what in (("answer_rate", "#047857", "answered"), ("transfer_rate", "#4f46e5", "transferred")):
        values = [getattr(day.figures, name) for day in analytics.days]
        line = _line(analytics, values, 1, colour, what)
        # Each point says its own rate.
        points = [
            Point(p.x, p.y, f"{p.title} {value:.0%}")
            for p, value in zip(line.points, [v for v in values if v is not None], strict=True)
        ]
        lines.append(Line(colour, line.runs, points))
    total = analytics.total
    summary = (
        f"Answer rate {_percent(total.answer_rate)}, transfer rate {_percent(total.transfer_rate)} over the period."
    )
    keys = [Key("#047857", "answered / finished"), Key("#4f46e5", "transferred / answered")]
    return _chart(
        "rates",
        "Answer and transfer rates",
        summary,
        top_value=1,
        label=lambda v: f"{v:.0%}",
        keys=keys,
        x_ticks=_day_ticks(analytics),
        rects=[],
        lines=lines,
    )


def _percent(value: float | None) -> str:
    return "none" if value is None else f"{value:.1%}"


def talk_chart(analytics: Analytics) -> Chart:
    """Average and 90th-percentile talk time of answered calls per day."""
    averages = [day.figures.average_talk_seconds for day in analytics.days]
    p90s = [day.figures.p90_talk_seconds for day in analytics.days]
    top_value = _ceiling(max([v for v in [*averages, *p90s] if v is not None], default=0) * 1.1)
    lines = [
        _labelled_line(analytics, averages, top_value, "#4f46e5", "average"),
        _labelled_line(analytics, p90s, top_value, "#b45309", "p90"),
    ]
    total = analytics.total
    summary = (
        f"Average talk time {_maybe_seconds(total.average_talk_seconds)}, p90 {_maybe_seconds(total.p90_talk_seconds)}."
    )
    keys = [Key("#4f46e5", "average"), Key("#b45309", "90th percentile")]
    return _chart(
        "talk",
        "Talk time of answered calls",
        summary,
        top_value=top_value,
        label=_seconds,
        keys=keys,
        x_ticks=_day_ticks(analytics),
        rects=[],
        lines=lines,
    )


def _labelled_line(
    analytics: Analytics, values: Sequence[float | None], top_value: float, colour: str, what: str
) -> Line:
    line = _line(analytics, values, top_value, colour, what)
    known = [v for v in values if v is not None]
    points = [Point(p.x, p.y, f"{p.title} {_seconds(v)}") for p, v in zip(line.points, known, strict=True)]
    return Line(colour, line.runs, points)


def _maybe_seconds(value: float | None) -> str:
    return "none" if value is None else _seconds(value)


def cost_chart(analytics: Analytics) -> Chart:
    """Estimated vendor cost per day (list prices; telephony_app/costs.py)."""
    costs = [float(day.figures.cost_usd) for day in analytics.days]
    top_value = _ceiling(max(costs, default=0) * 1.1)
    slot = (WIDTH - LEFT - RIGHT) / len(analytics.days)
    rects = []
    for index, (day, cost) in enumerate(zip(analytics.days, costs, strict=True)):
        if cost > 0:
            height = max(_scale(cost, top_value), 1)
            title = f"{day.day:%b %d}: ${cost:,.4f}"
            x = LEFT + index * slot + 1
            rects.append(Rect(x, HEIGHT - BOTTOM - height, max(slot - 2, 1), height, "#0f766e", title))
    summary = f"Estimated cost ${analytics.total.cost_usd:,.2f} over the period (list prices, not invoices)."
    keys = [Key("#0f766e", "estimated cost, USD")]
    return _chart(
        "cost",
        "Cost per day",
        summary,
        top_value=top_value,
        label=lambda v: f"${v:,.2f}",
        keys=keys,
        x_ticks=_day_ticks(analytics),
        rects=rects,
        lines=[],
    )


def latency_chart(total: Figures) -> Chart:
    """p50 and p90 of each per-turn latency over the period, as grouped bars."""
    values = {name: (total.latency(name, 0.5), total.latency(name, 0.9)) for name in LATENCY_METRICS}
    top_value = _ceiling(max([v for pair in values.values() for v in pair if v is not None], default=0) * 1.1)
    group = (WIDTH - LEFT - RIGHT) / len(LATENCY_METRICS)
    rects, x_ticks = [], []
    for index, (name, label) in enumerate(LATENCY_METRICS.items()):
        x_ticks.append(Tick(LEFT + index * group + 8, label))
        for offset, (share, colour, value) in enumerate(
            (("p50", "#4f46e5", values[name][0]), ("p90", "#b45309", values[name][1]))
        ):
            if value is None:
                continue
            height = max(_scale(value, top_value), 1)
            x = LEFT + index * group + 8 + offset * (group / 2 - 8)
            rects.append(
                Rect(x, HEIGHT - BOTTOM - height, group / 2 - 12, height, colour, f"{label} {share}: {_seconds(value)}")
            )
    parts = [
        f"{label} p50 {_maybe_seconds(values[name][0])}, p90 {_maybe_seconds(values[name][1])}"
        for name, label in LATENCY_METRICS.items()
    ]
    keys = [Key("#4f46e5", "p50"), Key("#b45309", "p90")]
    return _chart(
        "latency",
        "Per-turn latency",
        "; ".join(parts) + ".",
        top_value=top_value,
        label=_seconds,
        keys=keys,
        x_ticks=x_ticks,
        rects=rects,
        lines=[],
    )


def analytics_charts(analytics: Analytics) -> list[Chart]:
    """Every chart of the analytics page, in page order."""
    return [
        calls_chart(analytics),
        rates_chart(analytics),
        talk_chart(analytics),
        cost_chart(analytics),
        latency_chart(analytics.total),
    ]
