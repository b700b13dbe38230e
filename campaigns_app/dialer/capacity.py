"""How many more phone calls the platform can take: what the voice workers report, less the calls
in progress and the claims not placed yet; and the tenants' and agents' own caps.

Each `run_voice_worker` process reports itself every few seconds (report_voice_worker) in one Redis
hash, stamped with the time; a report older than VOICE_WORKER_TTL seconds no longer counts (a worker
that died) and is dropped by the next reader. The tick reads them all with one HGETALL. When no worker
reports, DIALER_VOICE_CAPACITY says how many calls to assume (0, the default: dial nothing, and say so
on the campaign). Never an unbounded guess."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass

import redis
from django.conf import settings

from agents_app.runtime_config import redis_client

logger = logging.getLogger(__name__)

VOICE_WORKERS_KEY = "vp:voice-workers"
VOICE_WORKER_TTL = 15


@dataclass(frozen=True)
class VoiceCapacity:
    """Calls the voice workers can take in all (`total`), and where the figure came from."""

    total: int
    workers: int
    source: str  # "workers" | "setting" | "none"


def report_voice_worker(*, worker_id: str, capacity: int, active: int, client: redis.Redis | None = None) -> None:
    """A voice worker's heartbeat: its capacity (MAX_CONCURRENCY) and the calls it runs now."""
    client = client or redis_client()
    value = json.dumps({"capacity": int(capacity), "active": int(active), "at": time.time()})
    client.hset(VOICE_WORKERS_KEY, worker_id, value)


def withdraw_voice_worker(*, worker_id: str, client: redis.Redis | None = None) -> None:
    """A voice worker leaving (draining or stopped): its capacity stops counting at once."""
    (client or redis_client()).hdel(VOICE_WORKERS_KEY, worker_id)


def voice_worker_report(worker_id: str, client: redis.Redis | None = None) -> dict[str, float] | None:
    """What a voice worker last reported ({"capacity", "active", "at"}), or None."""
    raw = (client or redis_client()).hget(VOICE_WORKERS_KEY, worker_id)
    return json.loads(raw) if raw is not None else None


def voice_capacity(client: redis.Redis | None = None) -> VoiceCapacity:
    """The voice workers' total capacity, from their live reports, else the DIALER_VOICE_CAPACITY setting."""
    client = client or redis_client()
    total = workers = 0
    try:
        reports = client.hgetall(VOICE_WORKERS_KEY)
    except redis.RedisError as exc:
        logger.warning("dialer: cannot read the voice workers' reports from Redis (%s)", exc)
        reports = {}
    now, stale = time.time(), []
    for worker_id, raw in reports.items():
        try:
            report = json.loads(raw)
            if float(report["at"]) < now - VOICE_WORKER_TTL:
                stale.append(worker_id)
                continue
            total += max(0, int(report["capacity"]))
            workers += 1
        except (ValueError, KeyError, TypeError):
            stale.append(worker_id)
    if stale:
        client.hdel(VOICE_WORKERS_KEY, *stale)
    if workers:
        return VoiceCapacity(total=total, workers=workers, source="workers")
    if settings.DIALER_VOICE_CAPACITY:
        return VoiceCapacity(total=settings.DIALER_VOICE_CAPACITY, workers=0, source="setting")
    return VoiceCapacity(total=0, workers=0, source="none")
