"""How many more phone calls the platform can take: what the voice workers report, less the calls
in progress and the claims not placed yet; and the tenants' and agents' own caps.

Each `run_voice_worker` process reports itself every few seconds (report_voice_worker) under a key
that expires, so a worker that died stops counting within VOICE_WORKER_TTL seconds. When no worker
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

VOICE_WORKER_KEY_PREFIX = "vp:voice-worker:"
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
    client.set(f"{VOICE_WORKER_KEY_PREFIX}{worker_id}", value, ex=VOICE_WORKER_TTL)


def withdraw_voice_worker(*, worker_id: str, client: redis.Redis | None = None) -> None:
    """A voice worker leaving (draining or stopped): its capacity stops counting at once."""
    (client or redis_client()).delete(f"{VOICE_WORKER_KEY_PREFIX}{worker_id}")


def voice_capacity(client: redis.Redis | None = None) -> VoiceCapacity:
    """The voice workers' total capacity, from their live reports, else the DIALER_VOICE_CAPACITY setting."""
    client = client or redis_client()
    total = workers = 0
    try:
        keys = list(client.scan_iter(match=f"{VOICE_WORKER_KEY_PREFIX}*", count=500))
        values = client.mget(keys) if keys else []
    except redis.RedisError as exc:
        logger.warning("dialer: cannot read the voice workers' reports from Redis (%s)", exc)
        values = []
    for raw in values:
        if raw is None:
            continue
        try:
            total += max(0, int(json.loads(raw)["capacity"]))
            workers += 1
        except (ValueError, KeyError, TypeError):
            continue
    if workers:
        return VoiceCapacity(total=total, workers=workers, source="workers")
    if settings.DIALER_VOICE_CAPACITY:
        return VoiceCapacity(total=settings.DIALER_VOICE_CAPACITY, workers=0, source="setting")
    return VoiceCapacity(total=0, workers=0, source="none")
