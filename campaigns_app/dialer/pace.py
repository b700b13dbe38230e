"""Calls-per-second limits for the dialer's tick: one limiter per campaign and one per caller-ID
number (the carrier's trunk), kept in one Redis hash so every Celery worker's tick shares them and a
tick reads them all in one command and writes the ones it used in another.

A limiter allows, at a tick, min(token bucket, sliding window): the bucket refills at `rate` per
second up to max(1, rate) tokens, so the average never exceeds the rate; the window counts the
launches of the last second and allows at most ceil(rate) in it, so no 1-second window ever holds
more than a whole rate however irregularly ticks arrive. Only code holding the tick's advisory lock
reads and writes them. If Redis loses them, a limiter starts full again: at most one second's worth
of calls, never a burst beyond the rate."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

import redis

from agents_app.runtime_config import redis_client

HASH_KEY = "vp:dialer:pace"
WINDOW_SECONDS = 1.0
# Limiters not used for this long are dropped by forget_idle (they would be full again anyway).
IDLE_SECONDS = 3600.0


@dataclass
class Limiter:
    key: str
    rate: float
    tokens: float
    launches: list[float] = field(default_factory=list)  # launch times (epoch s) within the last window
    used: bool = False

    def allowed(self, now: float) -> int:
        in_window = sum(1 for at in self.launches if at > now - WINDOW_SECONDS)
        by_window = max(1, math.ceil(self.rate - 1e-9)) - in_window
        return max(0, min(math.floor(self.tokens + 1e-9), by_window))

    def take(self, count: int, now: float) -> None:
        self.tokens -= count
        self.launches.extend([now] * count)
        self.used = True

    def dump(self, now: float) -> str:
        window = ",".join(repr(at) for at in self.launches if at > now - WINDOW_SECONDS)
        return f"{self.tokens!r}|{now!r}|{window}"


def limiter_key(kind: str, pk: int) -> str:
    return f"{kind}:{pk}"


def _parse(raw: bytes | str | None) -> tuple[float, float, list[float]] | None:
    if raw is None:
        return None
    try:
        text = raw.decode() if isinstance(raw, bytes) else raw
        tokens, at, window = text.split("|", 2)
        return float(tokens), float(at), [float(x) for x in window.split(",") if x]
    except ValueError:
        return None


def load(
    specs: Iterable[tuple[str, Decimal | float]], *, now: float, client: redis.Redis | None = None
) -> dict[str, Limiter]:
    """The limiters for these (key, rate) pairs, refilled to `now`: one Redis command."""
    client = client or redis_client()
    rates = dict(specs)
    keys = list(rates)
    raws = client.hmget(HASH_KEY, keys) if keys else []
    limiters: dict[str, Limiter] = {}
    for key, raw in zip(keys, raws, strict=True):
        rate = float(rates[key])
        capacity = max(1.0, rate)
        state = _parse(raw)
        if state is None:
            limiters[key] = Limiter(key=key, rate=rate, tokens=capacity)
            continue
        tokens, at, window = state
        level = min(capacity, tokens + max(0.0, now - at) * rate)
        limiters[key] = Limiter(
            key=key, rate=rate, tokens=level, launches=[x for x in window if x > now - WINDOW_SECONDS]
        )
    return limiters


def save(limiters: Iterable[Limiter], *, now: float, client: redis.Redis | None = None) -> None:
    """Writes back the limiters that launched calls (one Redis command)."""
    used = {limiter.key: limiter.dump(now) for limiter in limiters if limiter.used}
    if used:
        (client or redis_client()).hset(HASH_KEY, mapping=used)


def forget_idle(*, now: float, client: redis.Redis | None = None) -> int:
    """Drops limiters idle for IDLE_SECONDS (finished campaigns, numbers no longer dialing)."""
    client = client or redis_client()
    stale = [
        key
        for key, raw in client.hgetall(HASH_KEY).items()
        if (state := _parse(raw)) is None or state[1] < now - IDLE_SECONDS
    ]
    if stale:
        client.hdel(HASH_KEY, *stale)
    return len(stale)
