"""Calls-per-second limits for the dialer's tick: one limiter per campaign and one per caller-ID
number (the carrier's trunk), kept in one Redis document (JSON) so every Celery worker's tick shares
them and a tick reads them all with one command and one C-speed decode, and writes them back with one.

A limiter allows, at a tick, min(token bucket, sliding window): the bucket refills at `rate` per
second up to max(1, rate) tokens, so the average never exceeds the rate; the window counts the
launches of the last second and allows at most ceil(rate) in it, so no 1-second window ever holds
more than a whole rate however irregularly ticks arrive. Only code holding the tick's advisory lock
reads and writes them (the document is read, changed and written whole). If Redis loses them, a
limiter starts full again: at most one second's worth of calls, never a burst beyond the rate."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import redis

from agents_app.runtime_config import redis_client

DOCUMENT_KEY = "vp:dialer:pace:v2"
# Where the limiters were kept before (one hash field each): dropped by forget_idle.
LEGACY_HASH_KEY = "vp:dialer:pace"
WINDOW_SECONDS = 1.0
# Limiters not used for this long are dropped when the document is written (they would be full again).
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

    def state(self, now: float) -> list[Any]:
        """[tokens, at, launches of the last second], as the document stores it."""
        return [self.tokens, now, [at for at in self.launches if at > now - WINDOW_SECONDS]]


def limiter_key(kind: str, pk: int) -> str:
    return f"{kind}:{pk}"


def _document(client: redis.Redis) -> dict[str, Any]:
    raw = client.get(DOCUMENT_KEY)
    try:
        document = json.loads(raw) if raw else {}
    except ValueError:
        return {}  # unreadable: every limiter starts full again (at most a second's worth of calls)
    return document if isinstance(document, dict) else {}


def _state(entry: Any) -> tuple[float, float, list[float]] | None:
    try:
        tokens, at, window = entry
        return float(tokens), float(at), [float(x) for x in window]
    except (TypeError, ValueError):
        return None


def load(
    specs: Iterable[tuple[str, Decimal | float]], *, now: float, client: redis.Redis | None = None
) -> dict[str, Limiter]:
    """The limiters for these (key, rate) pairs, refilled to `now`: one Redis command."""
    document = _document(client or redis_client())
    limiters: dict[str, Limiter] = {}
    for key, given in specs:
        rate = float(given)
        capacity = max(1.0, rate)
        state = _state(document.get(key))
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
    """Writes back the limiters that launched calls, and drops the ones idle for IDLE_SECONDS (two Redis
    commands; the caller holds the tick's lock, so no other writer comes between them)."""
    used = {limiter.key: limiter.state(now) for limiter in limiters if limiter.used}
    if not used:
        return
    client = client or redis_client()
    document = _document(client)
    document.update(used)
    client.set(DOCUMENT_KEY, _dump(_fresh(document, now)))


def forget_idle(*, now: float, client: redis.Redis | None = None) -> int:
    """Drops limiters idle for IDLE_SECONDS (finished campaigns, numbers no longer dialing); the caller
    holds the tick's lock."""
    client = client or redis_client()
    client.delete(LEGACY_HASH_KEY)
    document = _document(client)
    kept = _fresh(document, now)
    if len(kept) != len(document):
        client.set(DOCUMENT_KEY, _dump(kept))
    return len(document) - len(kept)


def forget(keys: Iterable[str], *, client: redis.Redis | None = None) -> None:
    """Drops these limiters (they start full again); the caller holds the tick's lock."""
    client = client or redis_client()
    document = _document(client)
    for key in keys:
        document.pop(key, None)
    client.set(DOCUMENT_KEY, _dump(document))


def _fresh(document: dict[str, Any], now: float) -> dict[str, Any]:
    """The entries used within IDLE_SECONDS (a malformed one is dropped: it would start full again)."""
    idle_before = now - IDLE_SECONDS
    kept = {}
    for key, entry in document.items():
        try:
            if float(entry[1]) >= idle_before:
                kept[key] = entry
        except (TypeError, ValueError, IndexError, KeyError):
            continue
    return kept


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"))
