"""The call rollups: what one finished call adds to its CallRollup row, applied in the transaction that
writes the call's final state, and the set-based rebuild from the calls.

The rule the call-log services follow (telephony_app/services.py): under the call's row lock, take
`counted(call)` before changing it, mark it with `mark(call)` before its UPDATE, then `apply(...)`
after. A call's rollup share is a pure function of its row (`share`), so a second end, a duplicate
report or a provisional end replaced by the worker's report changes the rollups by exactly the
difference between what was counted and what is true now: zero when nothing changed.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db import connection

from telephony_app.analytics.buckets import LATENCY_LOWER, TALK_LOWER, bucket_index, empty
from telephony_app.models import TERMINAL_STATUSES, Call, CallRollup, CallStatus

# Counted per status: the rollup column of each terminal status.
STATUS_COLUMNS: dict[str, str] = {
    CallStatus.COMPLETED: "completed",
    CallStatus.FAILED: "failed",
    CallStatus.NO_ANSWER: "no_answer",
    CallStatus.BUSY: "busy",
    CallStatus.VOICEMAIL: "voicemail",
    CallStatus.TRANSFERRED: "transferred",
}
COUNT_COLUMNS = ("calls", *STATUS_COLUMNS.values(), "answered")
# Histogram column -> the turn_metrics key it counts (worker/call_report.py), None for talk time.
HIST_COLUMNS: dict[str, str | None] = {
    "talk_hist": None,
    "end_of_turn_hist": "end_of_turn_delay",
    "llm_ttft_hist": "llm_ttft",
    "tts_ttfb_hist": "tts_ttfb",
}

Key = tuple[int, datetime.date, int | None, object, str]  # tenant, day, agent, campaign code, direction


@dataclass
class Share:
    """What some calls add to one rollup row."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_COLUMNS, 0))
    talk_seconds: float = 0.0
    cost_usd: Decimal = Decimal(0)
    hists: dict[str, list[int]] = field(
        default_factory=lambda: {
            name: empty(TALK_LOWER if key is None else LATENCY_LOWER) for name, key in HIST_COLUMNS.items()
        }
    )

    def combine(self, other: Share, sign: int) -> None:
        for name, value in other.counts.items():
            self.counts[name] += sign * value
        self.talk_seconds += sign * other.talk_seconds
        self.cost_usd += sign * other.cost_usd
        for name, values in other.hists.items():
            self.hists[name] = [a + sign * b for a, b in zip(self.hists[name], values, strict=True)]

    @property
    def is_zero(self) -> bool:
        return (
            not any(self.counts.values())
            and not self.talk_seconds
            and not self.cost_usd
            and not any(any(values) for values in self.hists.values())
        )


def call_day(call: Call) -> datetime.date:
    """The UTC day the call was created on: its rollup's day (it never changes once the call exists)."""
    return call.created_at.astimezone(datetime.UTC).date()


def share(call: Call) -> tuple[Key, Share] | None:
    """What this call adds to the rollups as its row stands: nothing until it has ended."""
    if call.status not in TERMINAL_STATUSES:
        return None
    key: Key = (call.tenant_id, call_day(call), call.agent_id, call.campaign_code, call.direction)
    part = Share()
    part.counts["calls"] = 1
    part.counts[STATUS_COLUMNS[call.status]] = 1
    if call.answered_at is not None:
        part.counts["answered"] = 1
        index = bucket_index(call.duration_seconds or 0.0, TALK_LOWER)
        if index is not None:
            part.hists["talk_hist"][index] += 1
    part.talk_seconds = float(call.duration_seconds or 0.0)
    part.cost_usd = call.estimated_cost_usd or Decimal(0)
    turns = call.turn_metrics if isinstance(call.turn_metrics, list) else []
    for turn in turns:
        if not isinstance(turn, dict):
            continue
        for column, metric in HIST_COLUMNS.items():
            if metric is not None and (index := bucket_index(turn.get(metric), LATENCY_LOWER)) is not None:
                part.hists[column][index] += 1
    return key, part


def counted(call: Call) -> tuple[Key, Share] | None:
    """What the rollups hold for this (locked) call now: its share if it is marked rolled up."""
    return share(call) if call.is_rolled_up else None


def mark(call: Call) -> None:
    """Set the marker the call's next UPDATE writes: rolled up exactly when it has ended."""
    call.is_rolled_up = call.status in TERMINAL_STATUSES


def apply(*, before: tuple[Key, Share] | None, after: tuple[Key, Share] | None) -> None:
    """Move the rollups from `before` (what was counted for a call) to `after` (its share now); the
    caller holds the call's row lock and its transaction, so two ends of one call never both add."""
    deltas: dict[Key, Share] = {}
    for item, sign in ((after, 1), (before, -1)):
        if item is not None:
            key, part = item
            deltas.setdefault(key, Share()).combine(part, sign)
    for key, delta in deltas.items():
        if not delta.is_zero:
            _upsert(key, delta)


@functools.cache
def _upsert_sql() -> str:
    """INSERT ... ON CONFLICT adding a delta to a rollup row (identifiers from the model, values as
    parameters)."""
    table = CallRollup._meta.db_table
    summed = [*COUNT_COLUMNS, "talk_seconds", "cost_usd"]
    columns = ["tenant_id", "code", "day", "agent_id", "campaign_code", "direction", *summed, *HIST_COLUMNS]
    values = ["%s", "gen_random_uuid()", *["%s"] * (len(columns) - 2)]
    updates = [f"{name} = {table}.{name} + EXCLUDED.{name}" for name in summed]
    updates += [f"{name} = {_array_sum(f'{table}.{name}', f'EXCLUDED.{name}')}" for name in HIST_COLUMNS]
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(values)}) "  # noqa: S608  (no input in it)
        f"ON CONFLICT ON CONSTRAINT callrollup_key_uniq DO UPDATE SET {', '.join(updates)}"
    )


def _upsert(key: Key, delta: Share) -> None:
    tenant_id, day, agent_id, campaign_code, direction = key
    params = [tenant_id, day, agent_id, campaign_code, direction, *(delta.counts[name] for name in COUNT_COLUMNS)]
    params += [delta.talk_seconds, delta.cost_usd, *(delta.hists[name] for name in HIST_COLUMNS)]
    with connection.cursor() as cursor:
        cursor.execute(_upsert_sql(), params)


def _array_sum(left: str, right: str) -> str:
    """SQL for the element-wise sum of two integer arrays (a missing element counts 0)."""
    return (
        f"ARRAY(SELECT COALESCE(a, 0) + COALESCE(b, 0) FROM unnest({left}, {right}) WITH ORDINALITY "  # noqa: S608
        "AS t(a, b, n) ORDER BY n)"
    )


def shares_of(calls: Iterable[Call]) -> dict[Key, Share]:
    """The rollups these calls add up to, recomputed in Python (the tests' from-scratch reference)."""
    totals: dict[Key, Share] = {}
    for call in calls:
        if (item := share(call)) is not None:
            totals.setdefault(item[0], Share()).combine(item[1], 1)
    return totals
