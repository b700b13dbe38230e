"""The agent's runtime configuration: one typed config, served from Redis, refreshed on commit.

RuntimeConfig (frozen dataclasses, built from an Agent by build_runtime_config alone) is what the
worker, readiness, routing and the chat read, by attribute. Its JSON document (to_document: the
reference's field names, what GET /api/v1/agents/{id}/runtime-config returns) is what Redis holds;
from_document reads it back.

Read path (AgentConfigLoader.get): fresh Redis copy -> database (and re-cache) -> stale copy
(Redis key without TTL, then this process's memory) -> a safe default. Writes reach readers
through refresh_agent_config(), which agents_app.config_cache calls on commit after every write,
so the next call after an edit sees it. Keys hold the tenant: vp:agentcfg:v1:<tenant code>:<agent code>.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import redis
from django.conf import settings
from django.db import DatabaseError

from agents_app import catalog
from agents_app.models import Agent
from agents_app.references import dangling_ivr_targets
from agents_app.validation import WEEKDAYS, HoursRange, business_hours_document

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


# --------------------------------------------------------------------------------------------
# The runtime config: frozen dataclasses, built in one function (build_runtime_config), written to
# Redis and the API as one JSON document (to_document) and read back (from_document).
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TurnTaking:
    allow_interruptions: bool | None = None
    min_endpointing_delay: float | None = None
    max_endpointing_delay: float | None = None
    preemptive_generation: bool | None = None

    def to_document(self) -> dict[str, Any]:
        return {
            "allow_interruptions": self.allow_interruptions,
            "min_endpointing_delay": self.min_endpointing_delay,
            "max_endpointing_delay": self.max_endpointing_delay,
            "preemptive_generation": self.preemptive_generation,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any] | None) -> TurnTaking:
        if not document:
            return NO_TURN_TAKING
        return cls(
            allow_interruptions=document.get("allow_interruptions"),
            min_endpointing_delay=document.get("min_endpointing_delay"),
            max_endpointing_delay=document.get("max_endpointing_delay"),
            preemptive_generation=document.get("preemptive_generation"),
        )


NO_TURN_TAKING = TurnTaking()


@dataclass(frozen=True, slots=True)
class OpeningHours:
    """One opening range of the business hours: from start on day (monday ... sunday) until end."""

    day: str
    start: str  # "HH:MM"
    end: str  # "HH:MM", "24:00" for the day's midnight; earlier than start: into the next day


@dataclass(frozen=True, slots=True)
class HolidayDate:
    date: str  # YYYY-MM-DD
    name: str = ""


@dataclass(frozen=True, slots=True)
class IvrOption:
    """One option of the IVR menu (agents_app.validation.IVR_MENU_SCHEMA); None: not given."""

    digit: str
    action: str  # "transfer" | "agent" | "message"
    label: str | None = None
    number: str | None = None
    agent_id: str | None = None  # "agentId" in the document
    message: str | None = None

    def to_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"digit": self.digit}
        for key, value in (
            ("label", self.label),
            ("action", self.action),
            ("number", self.number),
            ("agentId", self.agent_id),
            ("message", self.message),
        ):
            if value is not None:
                document[key] = value
        return document

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> IvrOption:
        return cls(
            digit=document.get("digit") or "",
            action=document.get("action") or "",
            label=document.get("label"),
            number=document.get("number"),
            agent_id=document.get("agentId"),
            message=document.get("message"),
        )


@dataclass(frozen=True, slots=True)
class IvrMenu:
    prompt: str | None = None  # None: not given
    options: tuple[IvrOption, ...] | None = None

    def to_document(self) -> dict[str, Any]:
        document: dict[str, Any] = {}
        if self.prompt is not None:
            document["prompt"] = self.prompt
        if self.options is not None:
            document["options"] = [option.to_document() for option in self.options]
        return document

    @classmethod
    def from_document(cls, document: Mapping[str, Any] | None) -> IvrMenu | None:
        if not document:
            return None
        options = document.get("options")
        return cls(
            prompt=document.get("prompt"),
            options=None if options is None else tuple(IvrOption.from_document(option) for option in options),
        )


@dataclass(frozen=True, slots=True)
class InboundSettings:
    timezone: str = ""  # "": the tenant's
    business_hours_enabled: bool = False
    business_hours: tuple[OpeningHours, ...] = ()
    holidays: tuple[HolidayDate, ...] = ()
    transfer_number: str | None = None
    fallback_number: str | None = None
    out_of_hours_message: str = ""
    ivr_menu: IvrMenu | None = None

    def business_hours_document(self) -> dict[str, list[dict[str, str]]]:
        """{"monday": [{"start": "09:00", "end": "17:00"}], ...}: every weekday, [] when closed."""
        document: dict[str, list[dict[str, str]]] = {day: [] for day in WEEKDAYS}
        for hours in self.business_hours:
            document[hours.day].append({"start": hours.start, "end": hours.end})
        return document

    def holidays_document(self) -> list[dict[str, str]]:
        return [{"date": holiday.date, "name": holiday.name} for holiday in self.holidays]

    def to_document(self) -> dict[str, Any]:
        return {
            "timezone": self.timezone,
            "business_hours_enabled": self.business_hours_enabled,
            "business_hours": self.business_hours_document(),
            "holidays": self.holidays_document(),
            "transfer_number": self.transfer_number,
            "fallback_number": self.fallback_number,
            "out_of_hours_message": self.out_of_hours_message,
            "ivr_menu": self.ivr_menu.to_document() if self.ivr_menu is not None else None,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any] | None) -> InboundSettings:
        if not document:
            return NO_INBOUND_SETTINGS
        days = document.get("business_hours") or {}
        return cls(
            timezone=document.get("timezone") or "",
            business_hours_enabled=bool(document.get("business_hours_enabled")),
            business_hours=tuple(
                OpeningHours(day, item["start"], item["end"])
                for day, items in days.items()
                for item in (items if isinstance(items, list) else [items] if items else ())
            ),
            holidays=tuple(HolidayDate(item["date"], item.get("name", "")) for item in document.get("holidays") or ()),
            transfer_number=document.get("transfer_number"),
            fallback_number=document.get("fallback_number"),
            out_of_hours_message=document.get("out_of_hours_message") or "",
            ivr_menu=IvrMenu.from_document(document.get("ivr_menu")),
        )


NO_INBOUND_SETTINGS = InboundSettings()


@dataclass(frozen=True, slots=True)
class OutboundSettings:
    dialer_type: str = ""
    max_retries: int | None = None
    retry_delay_minutes: int | None = None
    voicemail_action: str = ""
    voicemail_message: str = ""
    consent_required: bool = True
    dnc_enabled: bool = True

    def to_document(self) -> dict[str, Any]:
        return {
            "dialer_type": self.dialer_type,
            "max_retries": self.max_retries,
            "retry_delay_minutes": self.retry_delay_minutes,
            "voicemail_action": self.voicemail_action,
            "voicemail_message": self.voicemail_message,
            "consent_required": self.consent_required,
            "dnc_enabled": self.dnc_enabled,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any] | None) -> OutboundSettings:
        if not document:
            return NO_OUTBOUND_SETTINGS
        return cls(
            dialer_type=document.get("dialer_type") or "",
            max_retries=document.get("max_retries"),
            retry_delay_minutes=document.get("retry_delay_minutes"),
            voicemail_action=document.get("voicemail_action") or "",
            voicemail_message=document.get("voicemail_message") or "",
            consent_required=document.get("consent_required", True),
            dnc_enabled=document.get("dnc_enabled", True),
        )


NO_OUTBOUND_SETTINGS = OutboundSettings()


@dataclass(frozen=True, slots=True)
class RuntimeConfig:
    """What a call (or a chat, or the API) knows of an agent: the reference's fields plus what the
    worker needs; no secrets. A default config (is_default: the agent could not be loaded) carries
    only what the apology needs, and its document has only those fields."""

    agent_id: str
    tenant_id: str
    tenant_name: str = ""
    tenant_timezone: str = ""
    name: str = ""
    description: str = ""
    is_active: bool = True
    is_default: bool = False
    system_prompt: str = ""
    personality: str = ""
    greeting_message: str = ""
    llm_provider: str = ""
    llm_model: str = ""
    llm_context_window: int | None = None
    temperature: float | None = None
    max_output_tokens: int | None = None
    voice_id: str = ""
    tts_provider: str = ""
    tts_voice_id: str = ""
    tts_model: str = ""
    voice_is_custom: bool = False
    speaking_speed: float | None = None
    stt_provider: str = ""
    stt_model: str = ""
    stt_language: str = ""
    turn_taking: TurnTaking = NO_TURN_TAKING
    direction: str = ""
    max_concurrent_calls: int | None = None
    recording_enabled: bool = False
    inbound: InboundSettings = NO_INBOUND_SETTINGS
    outbound: OutboundSettings = NO_OUTBOUND_SETTINGS
    updated_at: str = ""  # ISO 8601

    def to_document(self) -> dict[str, Any]:
        """The JSON document of the API's runtime-config endpoint and of the Redis cache."""
        if self.is_default:
            return {
                "agent_id": self.agent_id,
                "tenant_id": self.tenant_id,
                "is_active": self.is_active,
                "is_default": True,
                "name": self.name,
                "system_prompt": self.system_prompt,
                "greeting_message": self.greeting_message,
                "inbound": {
                    "transfer_number": self.inbound.transfer_number,
                    "fallback_number": self.inbound.fallback_number,
                    "business_hours_enabled": self.inbound.business_hours_enabled,
                },
            }
        return {
            "agent_id": self.agent_id,
            "tenant_id": self.tenant_id,
            "tenant_name": self.tenant_name,
            "tenant_timezone": self.tenant_timezone,
            "name": self.name,
            "description": self.description,
            "is_active": self.is_active,
            "is_default": False,
            "system_prompt": self.system_prompt,
            "personality": self.personality,
            "greeting_message": self.greeting_message,
            "llm_provider": self.llm_provider,
            "llm_model": self.llm_model,
            "llm_context_window": self.llm_context_window,
            "temperature": self.temperature,
            "max_output_tokens": self.max_output_tokens,
            "voice_id": self.voice_id,
            "tts_provider": self.tts_provider,
            "tts_voice_id": self.tts_voice_id,
            "tts_model": self.tts_model,
            "voice_is_custom": self.voice_is_custom,
            "speaking_speed": self.speaking_speed,
            "stt_provider": self.stt_provider,
            "stt_model": self.stt_model,
            "stt_language": self.stt_language,
            "turn_taking": self.turn_taking.to_document(),
            "direction": self.direction,
            "max_concurrent_calls": self.max_concurrent_calls,
            "recording_enabled": self.recording_enabled,
            "inbound": self.inbound.to_document(),
            "outbound": self.outbound.to_document(),
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> RuntimeConfig:
        """A document to_document wrote (the cache's copy); a field it lacks takes its default."""
        get = document.get
        return cls(
            agent_id=str(get("agent_id") or ""),
            tenant_id=str(get("tenant_id") or ""),
            tenant_name=get("tenant_name") or "",
            tenant_timezone=get("tenant_timezone") or "",
            name=get("name") or "",
            description=get("description") or "",
            is_active=get("is_active", True),
            is_default=bool(get("is_default")),
            system_prompt=get("system_prompt") or "",
            personality=get("personality") or "",
            greeting_message=get("greeting_message") or "",
            llm_provider=get("llm_provider") or "",
            llm_model=get("llm_model") or "",
            llm_context_window=get("llm_context_window"),
            temperature=get("temperature"),
            max_output_tokens=get("max_output_tokens"),
            voice_id=get("voice_id") or "",
            tts_provider=get("tts_provider") or "",
            tts_voice_id=get("tts_voice_id") or "",
            tts_model=get("tts_model") or "",
            voice_is_custom=bool(get("voice_is_custom")),
            speaking_speed=get("speaking_speed"),
            stt_provider=get("stt_provider") or "",
            stt_model=get("stt_model") or "",
            stt_language=get("stt_language") or "",
            turn_taking=TurnTaking.from_document(get("turn_taking")),
            direction=get("direction") or "",
            max_concurrent_calls=get("max_concurrent_calls"),
            recording_enabled=bool(get("recording_enabled")),
            inbound=InboundSettings.from_document(get("inbound")),
            outbound=OutboundSettings.from_document(get("outbound")),
            updated_at=get("updated_at") or "",
        )


def build_runtime_config(agent: Agent, *, is_saved: bool = True) -> RuntimeConfig:
    """The agent's runtime config (the one place it is built).

    is_saved=False: an agent that is not in the database (the voice worker's rehearsal) has no
    business hours or holidays to read."""
    llm = catalog.llm_model(agent.llm_provider, agent.llm_model)
    hours = agent.business_hours.all() if is_saved else []
    holidays = agent.holidays.all() if is_saved else []
    ranges = [HoursRange(h.weekday, h.start, h.end) for h in hours]
    return RuntimeConfig(
        agent_id=str(agent.code),
        tenant_id=str(agent.tenant.code),
        tenant_name=agent.tenant.name,
        tenant_timezone=agent.tenant.timezone,
        name=agent.name,
        description=agent.description,
        is_active=agent.is_active,
        is_default=False,
        system_prompt=agent.system_prompt,
        personality=agent.personality,
        greeting_message=agent.greeting_message,
        llm_provider=agent.llm_provider,
        llm_model=agent.llm_model,
        llm_context_window=llm.context_window if llm else None,
        temperature=agent.temperature,
        max_output_tokens=agent.max_output_tokens,
        voice_id=agent.voice_id,
        tts_provider=agent.tts_provider,
        tts_voice_id=agent.voice_id,
        tts_model=agent.effective_tts_model,
        voice_is_custom=agent.is_custom_voice,
        speaking_speed=agent.speaking_speed,
        stt_provider=agent.stt_provider,
        stt_model=agent.effective_stt_model,
        stt_language=agent.stt_language,
        turn_taking=TurnTaking(
            allow_interruptions=agent.allow_interruptions,
            min_endpointing_delay=agent.min_endpointing_delay,
            max_endpointing_delay=agent.max_endpointing_delay,
            preemptive_generation=agent.preemptive_generation,
        ),
        direction=agent.direction,
        max_concurrent_calls=agent.max_concurrent_calls,
        recording_enabled=agent.recording_enabled,
        inbound=InboundSettings(
            timezone=agent.timezone,
            business_hours_enabled=agent.business_hours_enabled,
            business_hours=tuple(
                OpeningHours(day, item["start"], item["end"])
                for day, items in business_hours_document(ranges).items()
                for item in items
            ),
            holidays=tuple(HolidayDate(h.date.isoformat(), h.name) for h in holidays),
            transfer_number=agent.transfer_number or None,
            fallback_number=agent.fallback_number or None,
            out_of_hours_message=agent.out_of_hours_message,
            ivr_menu=_ivr_menu_without_dangling(agent),
        ),
        outbound=OutboundSettings(
            dialer_type=agent.dialer_type,
            max_retries=agent.max_retries,
            retry_delay_minutes=agent.retry_delay_minutes,
            voicemail_action=agent.voicemail_action,
            voicemail_message=agent.voicemail_message,
            consent_required=agent.consent_required,
            dnc_enabled=agent.dnc_enabled,
        ),
        updated_at=agent.updated_at.isoformat(),
    )


def _ivr_menu_without_dangling(agent: Agent) -> IvrMenu | None:
    """The IVR menu minus options that hand the call to an agent that no longer exists: a call must
    never be sent to a dangling id (the detail page's readiness panel names such options)."""
    menu = agent.ivr_menu
    if not menu:
        return None
    dangling = set(dangling_ivr_targets(tenant=agent.tenant, menu=menu, own_code=agent.code))
    if not dangling:
        return IvrMenu.from_document(menu)
    options = [
        option
        for option in menu.get("options", [])
        if not (isinstance(option, dict) and option.get("action") == "agent" and str(option.get("agentId")) in dangling)
    ]
    return IvrMenu.from_document({**menu, "options": options})


def default_config(*, agent_code: uuid.UUID | str, tenant_code: uuid.UUID | str) -> RuntimeConfig:
    """What a call gets when neither cache nor database can say anything: apologise, hand over."""
    return RuntimeConfig(
        agent_id=str(agent_code),
        tenant_id=str(tenant_code),
        is_active=True,
        is_default=True,
        name="Fallback",
        system_prompt="Apologise briefly for technical difficulties and offer a transfer. Do not improvise.",
        greeting_message=DEFAULT_APOLOGY,
        inbound=InboundSettings(transfer_number=None, fallback_number=None, business_hours_enabled=False),
    )


@dataclass(frozen=True)
class LoadedConfig:
    config: RuntimeConfig | None  # None: the agent does not exist (or not in this tenant)
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


def _load_from_database(*, tenant_code: uuid.UUID | str, agent_code: uuid.UUID | str) -> RuntimeConfig | None:
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
        self._stale: OrderedDict[str, RuntimeConfig] = OrderedDict()
        self._parsed: dict[str, tuple[bytes, LoadedConfig]] = {}  # fresh key -> (its cached bytes, parsed)
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

    def _remember(self, key: str, config: RuntimeConfig) -> None:
        with self._lock:
            self._stale[key] = config
            self._stale.move_to_end(key)
            while len(self._stale) > IN_PROCESS_STALE_LIMIT:
                self._stale.popitem(last=False)

    def _forget(self, key: str) -> None:
        with self._lock:
            self._stale.pop(key, None)
            self._parsed.pop(key, None)

    def _parse(self, key: str, raw: bytes) -> LoadedConfig:
        """The cached copy as a LoadedConfig; the same bytes as last time give the same (immutable) object,
        so a warm read costs a comparison, not a JSON parse and the config's construction."""
        known = self._parsed.get(key)
        if known is not None and known[0] == raw:
            return known[1]
        envelope = json.loads(raw)
        loaded = LoadedConfig(RuntimeConfig.from_document(envelope["config"]), "cache", envelope["cached_at"])
        with self._lock:
            if len(self._parsed) >= IN_PROCESS_STALE_LIMIT:
                self._parsed.clear()
            self._parsed[key] = (raw, loaded)
        return loaded

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
            self._count("total_requests", "cache_hits")
            return self._parse(key, raw)
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

    def store(self, *, tenant_code: uuid.UUID | str, agent_code: uuid.UUID | str, config: RuntimeConfig) -> float:
        cached_at = time.time()
        payload = json.dumps({"config": config.to_document(), "cached_at": cached_at}, separators=(",", ":"))
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
            stale = RuntimeConfig.from_document(json.loads(raw)["config"]) if raw is not None else None
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
            self._parsed.clear()
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
