"""The agent's runtime configuration: one document, served from Redis, refreshed on commit.

Read path (AgentConfigLoader.get): fresh Redis copy -> database (and re-cache) -> stale copy
(Redis key without TTL, then this process's memory) -> a safe default. Writes reach readers
through refresh_agent_config(), which the post-commit signal handlers call, so the next call
after an edit sees it. Keys hold the tenant: vp:agentcfg:v1:<tenant code>:<agent code>.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
import time
import uuid
from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError

from agents_app import catalog
from agents_app.models import Agent
from agents_app.references import dangling_ivr_targets
from agents_app.validation import HoursRange, business_hours_document

logger = logging.getLogger(__name__)

SCHEMA_VERSION = "v1"
METRICS_KEY = f"vp:agentcfg:{SCHEMA_VERSION}:metrics"
COUNTERS = (
    "total_requests",
    "cache_hits",
    "cache_misses",
    "db_successes",
    "db_failures",
    "fallback_to_stale",
    "fallback_to_default",
)
FLUSH_INTERVAL_SECONDS = 1.0
IN_PROCESS_STALE_LIMIT = 2000

DEFAULT_APOLOGY = (
    "Sorry, we are having technical difficulties right now. "
    "Let me transfer you to someone who can help, or please call back in a few minutes."
)


def fresh_key(tenant_code: uuid.UUID | str, agent_code: uuid.UUID | str) -> str:
    return f"vp:agentcfg:{SCHEMA_VERSION}:{tenant_code}:{agent_code}"


def stale_key(tenant_code: uuid.UUID | str, agent_code: uuid.UUID | str) -> str:
    return f"vp:agentcfg-stale:{SCHEMA_VERSION}:{tenant_code}:{agent_code}"


def build_runtime_config(agent: Agent, *, is_saved: bool = True) -> dict[str, Any]:
    """The document every consumer sees (the reference's fields plus what the worker needs); no secrets.

    is_saved=False: an agent that is not in the database (the voice worker's rehearsal) has no
    business hours or holidays to read."""
    llm = catalog.llm_model(agent.llm_provider, agent.llm_model)
    hours = agent.business_hours.all() if is_saved else []
    holidays = agent.holidays.all() if is_saved else []
    ranges = [HoursRange(h.weekday, h.start, h.end) for h in hours]
    return {
        "agent_id": str(agent.code),
        "tenant_id": str(agent.tenant.code),
        "tenant_name": agent.tenant.name,
        "tenant_timezone": agent.tenant.timezone,
        "name": agent.name,
        "description": agent.description,
        "is_active": agent.is_active,
        "is_default": False,
        "system_prompt": agent.system_prompt,
        "personality": agent.personality,
        "greeting_message": agent.greeting_message,
        "llm_provider": agent.llm_provider,
        "llm_model": agent.llm_model,
        "llm_context_window": llm.context_window if llm else None,
        "temperature": agent.temperature,
        "max_output_tokens": agent.max_output_tokens,
        "voice_id": agent.voice_id,
        "tts_provider": agent.tts_provider,
        "tts_voice_id": agent.voice_id,
        "tts_model": agent.effective_tts_model,
        "voice_is_custom": agent.is_custom_voice,
        "speaking_speed": agent.speaking_speed,
        "stt_provider": agent.stt_provider,
        "stt_model": agent.effective_stt_model,
        "stt_language": agent.stt_language,
        "turn_taking": {
            "allow_interruptions": agent.allow_interruptions,
            "min_endpointing_delay": agent.min_endpointing_delay,
            "max_endpointing_delay": agent.max_endpointing_delay,
            "preemptive_generation": agent.preemptive_generation,
        },
        "direction": agent.direction,
        "max_concurrent_calls": agent.max_concurrent_calls,
        "recording_enabled": agent.recording_enabled,
        "inbound": {
            "timezone": agent.timezone,
            "business_hours_enabled": agent.business_hours_enabled,
            "business_hours": business_hours_document(ranges),
            "holidays": [{"date": h.date.isoformat(), "name": h.name} for h in holidays],
            "transfer_number": agent.transfer_number or None,
            "fallback_number": agent.fallback_number or None,
            "out_of_hours_message": agent.out_of_hours_message,
            "ivr_menu": _ivr_menu_without_dangling(agent),
        },
        "outbound": {
            "dialer_type": agent.dialer_type,
            "max_retries": agent.max_retries,
            "retry_delay_minutes": agent.retry_delay_minutes,
            "voicemail_action": agent.voicemail_action,
            "voicemail_message": agent.voicemail_message,
            "consent_required": agent.consent_required,
            "dnc_enabled": agent.dnc_enabled,
        },
        "updated_at": agent.updated_at.isoformat(),
    }


def _ivr_menu_without_dangling(agent: Agent) -> dict[str, Any] | None:
    """The IVR menu minus options that hand the call to an agent that no longer exists: a call must
    never be sent to a dangling id (the detail page's readiness panel names such options)."""
    menu = agent.ivr_menu
    if not menu:
        return None
    dangling = set(dangling_ivr_targets(tenant=agent.tenant, menu=menu, own_code=agent.code))
    if not dangling:
        return menu
    options = [
        option
        for option in menu.get("options", [])
        if not (isinstance(option, dict) and option.get("action") == "agent" and str(option.get("agentId")) in dangling)
    ]
    return {**menu, "options": options}


def default_config(*, agent_code: uuid.UUID | str, tenant_code: uuid.UUID | str) -> dict[str, Any]:
    """What a call gets when neither cache nor database can say anything: apologise, hand over."""
    return {
        "agent_id": str(agent_code),
        "tenant_id": str(tenant_code),
        "is_active": True,
        "is_default": True,
        "name": "Fallback",
        "system_prompt": "Apologise briefly for technical difficulties and offer a transfer. Do not improvise.",
        "greeting_message": DEFAULT_APOLOGY,
        "inbound": {"transfer_number": None, "fallback_number": None, "business_hours_enabled": False},
    }


@dataclass(frozen=True)
class LoadedConfig:
    config: dict[str, Any] | None  # None: the agent does not exist (or not in this tenant)
    source: str  # "cache", "database", "stale", "default", "missing"
    cached_at: float | None = None

    @property
    def cached_until(self) -> datetime | None:
        if self.cached_at is None:
            return None
        return datetime.fromtimestamp(self.cached_at + settings.CONFIG_CACHE_TTL, tz=UTC)


_redis_lock = threading.Lock()
_redis_client: redis.Redis | None = None


def redis_client() -> redis.Redis:
    """One connection pool per process, with short timeouts so a dead Redis costs little."""
    global _redis_client
    if _redis_client is None:
        with _redis_lock:
            if _redis_client is None:
                _redis_client = redis.Redis.from_url(
                    settings.REDIS_URL, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30
                )
    return _redis_client


def _load_from_database(*, tenant_code: uuid.UUID | str, agent_code: uuid.UUID | str) -> dict[str, Any] | None:
    agent = (
        Agent.objects.across_tenants(reason="the config loader: the filter names the tenant by its code")
        .select_related("tenant")
        .prefetch_related("business_hours", "holidays")
        .filter(code=agent_code, tenant__code=tenant_code)
        .first()
    )
    return build_runtime_config(agent) if agent is not None else None


class AgentConfigLoader:
    """Loads runtime configs with the fallback chain and counts what happened."""

    def __init__(self, *, client: redis.Redis | None = None) -> None:
        self._client = client
        self._stale: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._pending: Counter[str] = Counter()
        self._local: Counter[str] = Counter()
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        self._counting: contextvars.ContextVar[bool] = contextvars.ContextVar("counting", default=True)

    @property
    def client(self) -> redis.Redis:
        return self._client or redis_client()

    def _count(self, *names: str) -> None:
        if not self._counting.get():
            return
        with self._lock:
            for name in names:
                self._pending[name] += 1
                self._local[name] += 1
        if time.monotonic() - self._last_flush >= FLUSH_INTERVAL_SECONDS:
            self.flush_metrics()

    def _remember(self, key: str, config: dict[str, Any]) -> None:
        with self._lock:
            self._stale[key] = config
            self._stale.move_to_end(key)
            while len(self._stale) > IN_PROCESS_STALE_LIMIT:
                self._stale.popitem(last=False)

    def _forget(self, key: str) -> None:
        with self._lock:
            self._stale.pop(key, None)

    def get(self, *, tenant_code: uuid.UUID | str, agent_code: uuid.UUID | str, count: bool = True) -> LoadedConfig:
        """The agent's config by the fallback chain; count=False for previews that are not calls."""
        token = self._counting.set(count)
        try:
            return self._get(tenant_code=tenant_code, agent_code=agent_code)
        finally:
            self._counting.reset(token)

    def _get(self, *, tenant_code: uuid.UUID | str, agent_code: uuid.UUID | str) -> LoadedConfig:
        key = fresh_key(tenant_code, agent_code)
        try:
            raw = self.client.get(key)
        except redis.RedisError:
            raw = None
            logger.warning("agent config cache unreachable; reading the database")
        if raw is not None:
            envelope = json.loads(raw)
            self._count("total_requests", "cache_hits")
            return LoadedConfig(envelope["config"], "cache", envelope["cached_at"])
        self._count("total_requests", "cache_misses")
        try:
            config = _load_from_database(tenant_code=tenant_code, agent_code=agent_code)
        except DatabaseError:
            logger.exception("agent config: database unreachable for agent %s", agent_code)
            self._count("db_failures")
            return self._fallback(tenant_code=tenant_code, agent_code=agent_code)
        self._count("db_successes")
        if config is None:
            self._forget(key)
            return LoadedConfig(None, "missing")
        cached_at = self.store(tenant_code=tenant_code, agent_code=agent_code, config=config)
        return LoadedConfig(config, "database", cached_at)

    def store(self, *, tenant_code: uuid.UUID | str, agent_code: uuid.UUID | str, config: dict[str, Any]) -> float:
        cached_at = time.time()
        payload = json.dumps({"config": config, "cached_at": cached_at}, separators=(",", ":"))
        self._remember(fresh_key(tenant_code, agent_code), config)
        try:
            pipe = self.client.pipeline(transaction=False)
            pipe.set(fresh_key(tenant_code, agent_code), payload, ex=settings.CONFIG_CACHE_TTL)
            pipe.set(stale_key(tenant_code, agent_code), payload)
            pipe.execute()
        except redis.RedisError:
            logger.warning("agent config cache unreachable; config %s not cached", agent_code)
        return cached_at

    def _fallback(self, *, tenant_code: uuid.UUID | str, agent_code: uuid.UUID | str) -> LoadedConfig:
        try:
            raw = self.client.get(stale_key(tenant_code, agent_code))
        except redis.RedisError:
            raw = None
            stale = self._stale.get(fresh_key(tenant_code, agent_code))
        else:
            # Redis answered, so its stale key is authoritative: deleting an agent removes it.
            stale = json.loads(raw)["config"] if raw is not None else None
        if stale is not None:
            self._count("fallback_to_stale")
            return LoadedConfig(stale, "stale")
        self._count("fallback_to_default")
        return LoadedConfig(default_config(agent_code=agent_code, tenant_code=tenant_code), "default")

    def invalidate(self, *, tenant_code: uuid.UUID | str, agent_code: uuid.UUID | str) -> None:
        """Forget an agent everywhere this process can reach (fresh, stale and in-process copies)."""
        self._forget(fresh_key(tenant_code, agent_code))
        try:
            self.client.delete(fresh_key(tenant_code, agent_code), stale_key(tenant_code, agent_code))
        except redis.RedisError:
            logger.warning("agent config cache unreachable; could not invalidate %s", agent_code)

    def clear(self) -> int:
        """Delete every cached agent config (all tenants); returns how many keys went."""
        with self._lock:
            self._stale.clear()
        deleted = 0
        for pattern in (f"vp:agentcfg:{SCHEMA_VERSION}:*:*", f"vp:agentcfg-stale:{SCHEMA_VERSION}:*"):
            keys = [k for k in self.client.scan_iter(match=pattern, count=1000) if not k.endswith(b":metrics")]
            if keys:
                deleted += self.client.delete(*keys)
        return deleted

    def flush_metrics(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, Counter()
            self._last_flush = time.monotonic()
        if not pending:
            return
        try:
            pipe = self.client.pipeline(transaction=False)
            for name, amount in pending.items():
                pipe.hincrby(METRICS_KEY, name, amount)
            pipe.execute()
        except redis.RedisError:
            with self._lock:
                self._pending.update(pending)  # keep them for the next flush

    def metrics(self, *, scope: str = "platform") -> dict[str, float | int]:
        """Counters for all processes (scope "platform", from Redis) or this process only ("process")."""
        if scope == "process":
            with self._lock:
                counts = {name: self._local[name] for name in COUNTERS}
        else:
            self.flush_metrics()
            raw = self.client.hgetall(METRICS_KEY)
            counts = {name: int(raw.get(name.encode(), 0)) for name in COUNTERS}
        total = counts["total_requests"]
        return {**counts, "cache_hit_rate": round(counts["cache_hits"] / total, 4) if total else 0.0}

    def reset_metrics(self) -> None:
        with self._lock:
            self._pending.clear()
            self._local.clear()
        self.client.delete(METRICS_KEY)


loader = AgentConfigLoader()


def refresh_agent_config(*, tenant_code: uuid.UUID | str, agent_code: uuid.UUID | str) -> None:
    """After a commit: rebuild the document and write it through, or remove it if the agent is gone."""
    try:
        config = _load_from_database(tenant_code=tenant_code, agent_code=agent_code)
    except DatabaseError:
        loader.invalidate(tenant_code=tenant_code, agent_code=agent_code)
        return
    if config is None:
        loader.invalidate(tenant_code=tenant_code, agent_code=agent_code)
    else:
        loader.store(tenant_code=tenant_code, agent_code=agent_code, config=config)
