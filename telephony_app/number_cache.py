"""The dialed number's routing facts, served from Redis: the inbound webhooks' hot path.

Every inbound webhook starts from the number that was dialed: which PhoneNumber it is, whose
(tenant), which agent answers it and by what rules (business hours), and the tenant's Twilio
credential that must have signed the request. Read from PostgreSQL and the config cache those are
two queries, a second Redis read and about 4 ms of ORM work per call; here they are one Redis GET.
Entries are written on a miss and dropped on commit, explicitly, by every write that changes what
they hold: a number's own services (telephony_app/services.py, its admin, the agent-delete detach);
an agent, its hours, holidays or menu, or its tenant, through agents_app.config_cache, which drops
the tenant's numbers (tenant_numbers_drop) only after it refreshed the agents' configs, so an entry
filled right after reads the new config; a Twilio credential, through voiceplatform.change_hooks
(twilio_credential_numbers_drop). Both are registered in TelephonyAppConfig.ready. Entries expire
after NUMBER_CACHE_TTL_SECONDS anyway, which bounds what a write that bypasses the services (a
queryset update) could leave behind. Redis down: straight to the database.

Keys are vp:inbound:v3:<E.164 number>, not per tenant, on purpose: numbers are unique across
the platform, and the number is what tells us the tenant (see phone_number_for_inbound). Values
are pickled model instances, as in Django's own cache backends; the credential stays encrypted.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis
from django.db import transaction

from agents_app.runtime_config import InboundSettings, loader, redis_client
from telephony_app.models import PhoneNumber
from voiceplatform.models import Provider, ProviderCredential, Tenant

logger = logging.getLogger(__name__)

KEY_PREFIX = "vp:inbound:v4:"  # bumped whenever InboundNumber changes shape
NUMBER_CACHE_TTL_SECONDS = 60

# What routing reads of a number's agent; the rest of the (wide) agent row stays in the database.
# Other fields still load on access, with one more query.
_ROUTE_FIELDS = (
    *(field.name for field in PhoneNumber._meta.concrete_fields),
    *(f"tenant__{field.name}" for field in Tenant._meta.concrete_fields),
    *(f"agent__{name}" for name in ("code", "name", "is_active", "tenant", "max_concurrent_calls")),
)


@dataclass(frozen=True)
class InboundNumber:
    """A dialed number of the platform, with its tenant, its agent, the tenant's own Twilio
    credential (None: the tenant has none, so TWILIO_AUTH_TOKEN applies) and the agent's inbound
    rules (the "inbound" part of its runtime config: business hours, holidays, out-of-hours message,
    fallback number), so routing needs no second read. None when the number has no active agent or
    its config could only come from a stale copy or the default: routing then asks the loader."""

    phone_number: PhoneNumber
    twilio_credential: ProviderCredential | None
    inbound_rules: InboundSettings | None = None


def cache_key(number: str) -> str:
    return KEY_PREFIX + number


def _from_database(number: str) -> InboundNumber | None:
    phone_number = (
        PhoneNumber.objects.across_tenants(reason="an inbound call: numbers are unique, the number names its tenant")
        .select_related("tenant", "agent")
        .only(*_ROUTE_FIELDS)
        .filter(number=number)
        .first()
    )
    if phone_number is None:
        return None
    credential = ProviderCredential.objects.for_tenant(phone_number.tenant).filter(provider=Provider.TWILIO).first()
    return InboundNumber(phone_number, credential, _inbound_rules(phone_number))


def _inbound_rules(phone_number: PhoneNumber) -> InboundSettings | None:
    agent = phone_number.agent
    if agent is None or not agent.is_active:
        return None
    # count=False: filling this cache is not a call start (the call's own start counts).
    loaded = loader.get(tenant_code=phone_number.tenant.code, agent_code=agent.code, count=False)
    config = loaded.config
    if loaded.source not in ("cache", "database") or config is None or config.is_default:
        return None  # nothing fresh to keep: every call asks the loader (and its fallbacks) again
    return config.inbound


class Miss:
    """Nothing usable cached for a number (`unreachable`: Redis did not answer)."""

    def __init__(self, *, unreachable: bool = False) -> None:
        self.unreachable = unreachable


MISS, UNREACHABLE = Miss(), Miss(unreachable=True)


def inbound_number_cached(number: str) -> InboundNumber | Miss | None:
    """The cached routing facts of an E.164 number (None: cached as nobody's), or MISS/UNREACHABLE."""
    try:
        cached = redis_client().get(cache_key(number))
    except redis.RedisError:
        logger.warning("inbound number cache unreachable; reading the database")
        return UNREACHABLE
    if cached is None:
        return MISS
    try:
        entry: InboundNumber | None = pickle.loads(cached)  # noqa: S301 (our own Redis, as Django's cache)
    except Exception:  # written by another code version: read again
        logger.warning("inbound number cache entry for %s unreadable; reading the database", number)
        return MISS
    return entry


def inbound_number(number: str, *, cached: InboundNumber | Miss | None = None) -> InboundNumber | None:
    """The routing facts of an E.164 number (None: no tenant has it), from Redis when it can.
    `cached`: a Miss that inbound_number_cached answered for it a moment ago (then Redis is not asked again)."""
    if not isinstance(cached, Miss):
        cached = inbound_number_cached(number)
    if not isinstance(cached, Miss):
        return cached
    entry = _from_database(number)
    if cached.unreachable:
        return entry
    client = redis_client()
    key = cache_key(number)
    try:
        # An unknown number is cached too, so that calls to it (or forged webhooks) cost no query;
        # creating the number drops the entry.
        client.set(key, pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL), ex=NUMBER_CACHE_TTL_SECONDS)
    except redis.RedisError:
        logger.warning("inbound number cache unreachable; %s not cached", number)
    return entry


def inbound_numbers_forget(numbers: Iterable[str]) -> None:
    """Drops the entries of these numbers now; the next call reads the database."""
    keys = [cache_key(number) for number in numbers if number]
    if not keys:
        return
    try:
        redis_client().delete(*keys)
    except redis.RedisError:
        logger.warning("inbound number cache unreachable; %d entries left to expire", len(keys))


def inbound_numbers_forget_on_commit(numbers: Iterable[str]) -> None:
    """inbound_numbers_forget once the current transaction commits (at once outside one)."""
    wanted = sorted(set(numbers))
    if wanted:
        transaction.on_commit(lambda: inbound_numbers_forget(wanted))


def tenant_numbers(tenant: Tenant) -> list[str]:
    """Every number of a tenant (what to forget when its agents, name or credential change)."""
    return list(PhoneNumber.objects.for_tenant(tenant).values_list("number", flat=True))


def tenant_numbers_drop(tenant: Tenant) -> Callable[[], None]:
    """The tenant's numbers, read now (before a delete takes them), to forget once the write commits.

    agents_app.config_cache runs it after refreshing the configs of the tenant's agents: an entry
    carries its number's agent and the agent's inbound rules, and its tenant."""
    numbers = tenant_numbers(tenant)
    return lambda: inbound_numbers_forget(numbers)


def twilio_credential_numbers_drop(tenant: Tenant, provider: str) -> Callable[[], None]:
    """A new, rotated or removed Twilio auth token must sign the very next webhook: the tenant's
    entries (they carry its credential) are forgotten once the write commits."""
    if provider != Provider.TWILIO:
        return lambda: None
    return tenant_numbers_drop(tenant)


def phone_number_stored(phone_number: PhoneNumber) -> str:
    """The number as stored now ("" for a new row), so a renumbered line also drops its old entry."""
    if phone_number.pk is None:
        return ""
    stored = PhoneNumber.objects.for_tenant(phone_number.tenant).filter(pk=phone_number.pk)
    return stored.values_list("number", flat=True).first() or ""
