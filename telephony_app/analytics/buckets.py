"""The rollups' fixed histogram buckets, and percentiles read back from them.

A bucket is counted by its lower bound: value v falls in bucket i when LOWER[i] <= v < LOWER[i + 1]
(the last bucket is open-ended), exactly as PostgreSQL's width_bucket(v, LOWER) numbers them (from 1),
so the Python increments and the SQL rebuild agree. Values below the first bound (negative) are not
counted. Changing a list means rebuilding every rollup (`manage.py analytics_rebuild`).
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Sequence

# Talk time of an answered call, seconds.
TALK_LOWER: tuple[float, ...] = (0, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 300, 420, 600, 900, 1200, 1800, 3600)
# One turn's latency (end of turn, LLM time to first token, TTS time to first byte), seconds.
LATENCY_LOWER: tuple[float, ...] = (
    0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0,
    1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, 5.0, 7.5, 10.0,
)  # fmt: skip


def bucket_index(value: object, lower: Sequence[float]) -> int | None:
    """The 0-based bucket of `value`, or None for anything that is not a finite number >= lower[0]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    position = bisect.bisect_right(lower, value)  # = width_bucket(value, lower)
    return position - 1 if position else None


def empty(lower: Sequence[float]) -> list[int]:
    return [0] * len(lower)


def percentile(counts: Sequence[int], lower: Sequence[float], share: float) -> float | None:
    """The value below which `share` of the counted values lie, interpolated linearly inside its
    bucket (the open last bucket answers its lower bound); None when nothing was counted."""
    total = sum(counts)
    if total <= 0:
        return None
    rank = share * total
    seen = 0
    for index, count in enumerate(counts):
        if count <= 0:
            continue
        if seen + count >= rank:
            low = lower[index]
            if index + 1 >= len(lower):
                return float(low)
            high = lower[index + 1]
            return float(low + (high - low) * max(rank - seen, 0) / count)
        seen += count
    return float(lower[-1])


def add(into: list[int], other: Sequence[int]) -> list[int]:
    """Element-wise sum (arrays of different lengths: the longer one's tail is kept)."""
    if len(into) == len(other):
        return list(map(operator.add, into, other))
    size = max(len(into), len(other))
    return [(into[i] if i < len(into) else 0) + (other[i] if i < len(other) else 0) for i in range(size)]
