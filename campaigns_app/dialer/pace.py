"""Calls-per-second limits for the dialer's tick: one limiter per campaign and one per caller-ID
number (the carrier's trunk), kept in Redis so every Celery worker's tick shares them.

A limiter allows, at a tick, min(token bucket, sliding window): the bucket refills at `rate` per
second up to max(1, rate) tokens, so the average never exceeds the rate; the window counts the
launches of the last second and allows at most ceil(rate) in it, so no 1-second window ever holds
more than the rate (for whole rates) however irregularly ticks arrive. Only the tick (one at a time,
under the advisory lock) reads and writes them. If Redis loses them, a limiter starts full again:
at most one second's worth of calls, never a burst beyond the rate."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import redis

from agents_app.runtime_config import redis_client

KEY_PREFIX = "vp:dialer:pace:"
WINDOW_SECONDS = 1.0
# Idle limiters are forgotten after this long (they would be full again anyway).
KEY_TTL_SECONDS = 120


@dataclass
class Limiter:
    key: str
    rate: float
    tokens: float
    launches: list[float]  # launch times (epoch seconds) within the last window
    new: int = 0  # launches taken by this tick

    def allowed(self, now: float) -> int:
        in_window = sum(1 for at in self.launches if at > now - WINDOW_SECONDS)
        by_window = max(1, math.ceil(self.rate - 1e-9)) - in_window
        return max(0, min(math.floor(self.tokens + 1e-9), by_window))

    def take(self, count: int, now: float) -> None:
        self.tokens -= count
        self.launches.extend([now] * count)
        self.new += count


def limiter_key(kind: str, pk: int) -> str:
    return f"{KEY_PREFIX}{kind}:{pk}"


def load(
    specs: Iterable[tuple[str, Decimal | float]], *, now: float, client: redis.Redis | None = None
) -> dict[str, Limiter]:
    """The limiters for these (key, rate) pairs, refilled to `now`: one Redis round trip."""
    client = client or redis_client()
    specs = list(dict(specs).items())
    pipe = client.pipeline(transaction=False)
    for key, _ in specs:
        pipe.hmget(key, "tokens", "at")
        pipe.zrangebyscore(f"{key}:w", now - WINDOW_SECONDS, "+inf")
    replies = pipe.execute() if specs else []
    limiters: dict[str, Limiter] = {}
    for index, (key, rate) in enumerate(specs):
        rate = float(rate)
        capacity = max(1.0, rate)
        (tokens, at), window = replies[2 * index], replies[2 * index + 1]
        if tokens is None or at is None:
            level = capacity
        else:
            level = min(capacity, float(tokens) + max(0.0, now - float(at)) * rate)
        limiters[key] = Limiter(key=key, rate=rate, tokens=level, launches=[float(x) for x in window])
    return limiters


def save(limiters: Iterable[Limiter], *, now: float, client: redis.Redis | None = None) -> None:
    """Writes back the limiters this tick used (one Redis round trip)."""
    client = client or redis_client()
    pipe = client.pipeline(transaction=False)
    used = False
    for limiter in limiters:
        used = True
        pipe.hset(limiter.key, mapping={"tokens": repr(limiter.tokens), "at": repr(now)})
        pipe.expire(limiter.key, KEY_TTL_SECONDS)
        window_key = f"{limiter.key}:w"
        pipe.zremrangebyscore(window_key, "-inf", now - WINDOW_SECONDS)
        if limiter.new:
            stamp = uuid.uuid4().hex
            pipe.zadd(window_key, {f"{now!r}:{stamp}:{i}": now for i in range(limiter.new)})
            pipe.expire(window_key, KEY_TTL_SECONDS)
    if used:
        pipe.execute()
