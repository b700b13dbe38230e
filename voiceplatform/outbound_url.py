"""The one guard for requests to tenant-supplied URLs (a provider credential's base URL).

Two checks, one rule. At save time (ProviderCredential.clean, so the API, the portal and the admin
all refuse the same URLs, naming the field) `validate_tenant_url` checks the scheme and every
address the host resolves to then. At request time `guarded_http_client` connects through a
network backend that resolves the host itself, checks every address and connects only to an
address it checked, so a name that resolved to a public address when it was saved and resolves
to 127.0.0.1 now (DNS rebinding) is refused too.

The rule: https only (http when the operator sets PROVIDER_URL_ALLOW_HTTP); no loopback,
private, link-local (169.254.169.254, the cloud metadata service), multicast, reserved,
unspecified or shared (100.64/10) address, including IPv4 addresses wrapped in IPv6 (::ffff:…,
6to4, NAT64). The operator's PROVIDER_URL_ALLOWED_HOSTS (host names and CIDRs) lets a
self-hosted model on a private network through on purpose. URLs set by the operator (the
OPENAI_BASE_URL / OPENAI_COMPATIBLE_BASE_URL environment fallbacks) are not tenant input and are
not guarded.

Webhook endpoints (voiceplatform.webhooks) are tenant URLs too and go through the same rule with
their own operator settings (WEBHOOK_URL_ALLOW_HTTP, WEBHOOK_URL_ALLOWED_HOSTS): a `Policy` names
the pair of settings a check reads, so allowing a self-hosted model's address does not also let
every tenant's webhooks reach it.
"""

from __future__ import annotations

import concurrent.futures
import functools
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpcore
import httpx
from django.conf import settings
from django.core.exceptions import ValidationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

SAVE_RESOLVE_TIMEOUT_SECONDS = 3.0  # a save waits this long for DNS; a name that does not resolve is checked on use
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: not private, not public either
_resolver = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="outbound-url-dns")


class DestinationNotAllowed(httpcore.ConnectError):
    """A request to a tenant URL was refused by the guard; str() names the host, never shown to tenants."""


@dataclass(frozen=True)
class AllowList:
    hosts: frozenset[str]
    networks: tuple[IPNetwork, ...]

    def allows_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.hosts

    def allows_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks if network.version == address.version)


def parse_allow_list(entries: Iterable[str]) -> AllowList:
    """Split PROVIDER_URL_ALLOWED_HOSTS entries into host names and networks; ValueError names a bad one."""
    hosts, networks = set(), []
    for entry in entries:
        value = entry.strip().lower().strip("[]")
        if not value:
            continue
        try:
            networks.append(ipaddress.ip_network(value, strict=False))
            continue
        except ValueError:
            pass
        labels = value.rstrip(".").split(".")
        if not all(label and len(label) <= 63 and label.replace("-", "").isalnum() for label in labels):
            raise ValueError(f"{entry!r} is neither a host name nor an IP address or CIDR")
        hosts.add(value.rstrip("."))
    return AllowList(hosts=frozenset(hosts), networks=tuple(networks))


@functools.lru_cache(maxsize=8)
def _allow_list(entries: tuple[str, ...]) -> AllowList:
    return parse_allow_list(entries)


@dataclass(frozen=True)
class Policy:
    """Which operator settings a check reads: the allow-list and whether plain http is allowed."""

    allowed_hosts_setting: str
    allow_http_setting: str

    def allow_list(self) -> AllowList:
        return _allow_list(tuple(getattr(settings, self.allowed_hosts_setting, ()) or ()))

    def http_allowed(self) -> bool:
        return bool(getattr(settings, self.allow_http_setting, False))


PROVIDER_URLS = Policy("PROVIDER_URL_ALLOWED_HOSTS", "PROVIDER_URL_ALLOW_HTTP")
WEBHOOK_URLS = Policy("WEBHOOK_URL_ALLOWED_HOSTS", "WEBHOOK_URL_ALLOW_HTTP")


def current_allow_list() -> AllowList:
    return PROVIDER_URLS.allow_list()


def http_allowed() -> bool:
    return PROVIDER_URLS.http_allowed()


# --------------------------------------------------------------------------------------------
# The address rule
# --------------------------------------------------------------------------------------------


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64): each must pass too."""
    found = [v4 for v4 in (address.ipv4_mapped, address.sixtofour) if v4 is not None]
    if address.teredo is not None:
        found.extend(address.teredo)
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _is_public(address: IPAddress) -> bool:
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv6Address) and address.is_site_local)
        or (isinstance(address, ipaddress.IPv4Address) and address in _SHARED)
        or not address.is_global
    )


def address_allowed(address: IPAddress, allow: AllowList | None = None) -> bool:
    """Whether a request may connect to this address: public, or inside an operator-allowed network."""
    allow = allow or current_allow_list()
    if allow.allows_address(address):
        return True
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded:
            # The IPv6 form of a NAT64 address is "reserved" by its prefix; what it reaches is the IPv4 inside.
            wrapper_ok = address in _NAT64 or address.ipv4_mapped is not None or _is_public(address)
            return wrapper_ok and all(address_allowed(v4, allow) for v4 in embedded)
    return _is_public(address)


def _literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for host (socket.gaierror when there is none)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _refusal(host: str, address: IPAddress, policy: Policy = PROVIDER_URLS) -> str:
    return (
        f"{host} points to {address}, a private, local or reserved address; the platform does not send requests "
        f"there. Use a public https address, or ask the operator to allow this server ({policy.allowed_hosts_setting})."
    )


# --------------------------------------------------------------------------------------------
# Save time
# --------------------------------------------------------------------------------------------


def url_problem(url: str, *, policy: Policy = PROVIDER_URLS) -> str:
    """Why this tenant-supplied URL may not be used ("" when it may), resolving its host now."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme != "https" and not (scheme == "http" and policy.http_allowed()):
        if scheme == "http":
            return "Use an https:// address: plain http is turned off on this platform."
        return "Use an https:// address."
    try:
        host, port = parts.hostname or "", parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        return "The port of this address is not a number between 0 and 65535."
    if not host:
        return "The address has no host name."
    allow = policy.allow_list()
    if allow.allows_host(host):
        return ""
    literal = _literal(host)
    if literal is not None:
        return "" if address_allowed(literal, allow) else _refusal(host, literal, policy)
    future = _resolver.submit(_resolve, host, port)
    try:
        addresses = future.result(timeout=SAVE_RESOLVE_TIMEOUT_SECONDS)
    except (OSError, UnicodeError, ValueError, concurrent.futures.TimeoutError):
        return ""  # not resolvable now (a name on the operator's private DNS, a typo): checked on every request
    blocked = next((address for address in addresses if not address_allowed(address, allow)), None)
    return _refusal(host, blocked, policy) if blocked is not None else ""


def validate_tenant_url(url: str, *, field: str, policy: Policy = PROVIDER_URLS) -> None:
    """Raise ValidationError on `field` when the URL may not be requested (the one save-time rule)."""
    if url and (problem := url_problem(url, policy=policy)):
        raise ValidationError({field: problem})


# --------------------------------------------------------------------------------------------
# Request time: an httpx client whose every connection is checked
# --------------------------------------------------------------------------------------------


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves the host, refuses it if any address is not allowed, and connects to a checked address."""

    def __init__(self, inner: httpcore.AsyncNetworkBackend | None = None, *, policy: Policy = PROVIDER_URLS) -> None:
        self._inner = inner or httpcore.AnyIOBackend()
        self._policy = policy

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self._checked_addresses(host, port, timeout)
        last_error: Exception | None = None
        for address in addresses:
            try:
                # An IP literal: the inner backend does not resolve again, so what was checked is what is used.
                # TLS still verifies the certificate for `host` (httpcore passes the URL's host as SNI).
                return await self._inner.connect_tcp(
                    str(address), port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError as exc:
                last_error = exc
        raise last_error or httpcore.ConnectError(f"no address for {host}")

    async def _checked_addresses(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        allow = self._policy.allow_list()
        literal = _literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                with anyio.fail_after(timeout):
                    addresses = await anyio.to_thread.run_sync(_resolve, host, port, abandon_on_cancel=True)
            except TimeoutError:
                raise httpcore.ConnectTimeout(f"resolving {host} timed out") from None
            except (OSError, UnicodeError, ValueError) as exc:
                raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from None
        if allow.allows_host(host):
            return addresses
        for address in addresses:
            if not address_allowed(address, allow):
                raise DestinationNotAllowed(f"{host} resolves to {address}, which tenant URLs may not reach")
        return addresses

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise DestinationNotAllowed("tenant URLs may not reach a unix socket")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over GuardedNetworkBackend; the URL's scheme is checked on every request (redirects too)."""

    def __init__(
        self, *, verify: Any = True, limits: httpx.Limits | None = None, policy: Policy = PROVIDER_URLS
    ) -> None:
        limits = limits or httpx.Limits()
        super().__init__(verify=verify, limits=limits, trust_env=False)
        self._policy = policy
        # httpx takes no network backend, so the pool it built is replaced by the same pool with
        # ours (httpx 0.28: `_pool`). tests/test_outbound_url.py fails if a release stops using it.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedNetworkBackend(policy=policy),
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        scheme = request.url.scheme
        if scheme != "https" and not (scheme == "http" and self._policy.http_allowed()):
            raise httpx.ConnectError(f"{scheme}:// is not allowed for tenant URLs", request=request) from (
                DestinationNotAllowed(f"{scheme}:// is not allowed for tenant URLs")
            )
        return await super().handle_async_request(request)


def guarded_http_client(
    *,
    verify: Any = True,
    timeout: httpx.Timeout,
    limits: httpx.Limits,
    policy: Policy = PROVIDER_URLS,
    follow_redirects: bool = True,
) -> httpx.AsyncClient:
    """An httpx client for tenant URLs: no environment proxy (it would hide the destination), every address checked."""
    return httpx.AsyncClient(
        transport=GuardedTransport(verify=verify, limits=limits, policy=policy),
        timeout=timeout,
        follow_redirects=follow_redirects,
    )


def is_refusal(error: BaseException | None) -> bool:
    """Whether an exception (or anything it was raised from) is the guard refusing a destination."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, DestinationNotAllowed):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False
