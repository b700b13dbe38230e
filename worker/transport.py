"""The job process's shared HTTP transport: one TLS context, one httpx connection pool per event loop.

Left to themselves, the OpenAI-based plugins (LLM, TTS, STT, Groq) each build an httpx client,
and each httpx client builds a TLS context by parsing the whole CA bundle (~18 ms, three times
per call, before the greeting). The factories instead give every plugin an openai.AsyncClient
carrying the tenant's own key and base URL over the process's shared pool: only the transport
and the trust store are shared, never credentials. The aiohttp-based plugins (ElevenLabs,
Cartesia, Deepgram, AssemblyAI) already share livekit's per-job session (utils.http_context).

ssl_context() is built in the job process's prewarm (worker.server.setup_process), so a call
never pays for it; it honours SSL_CERT_FILE / SSL_CERT_DIR, else the system trust store, else
certifi, like livekit's own http_context.
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
import weakref

import httpx
import openai

from voiceplatform import outbound_url

# The plugins' own client settings (livekit-plugins-openai 1.8): short reads, long keep-alive.
TIMEOUT = httpx.Timeout(connect=15.0, read=5.0, write=5.0, pool=5.0)
LIMITS = httpx.Limits(max_connections=50, max_keepalive_connections=50, keepalive_expiry=120)

_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()
# Tenant-supplied base URLs get their own pool, whose every connection passes voiceplatform.outbound_url.
_guarded_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = weakref.WeakKeyDictionary()


def ssl_context() -> ssl.SSLContext:
    """The process's TLS context for the trust store the environment names (built once per setting)."""
    return _ssl_context_for(os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None)


@functools.cache
def _ssl_context_for(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    if cafile or capath:
        return ssl.create_default_context(cafile=cafile, capath=capath)
    context = ssl.create_default_context()
    paths = ssl.get_default_verify_paths()
    has_system_store = (paths.cafile and os.path.exists(paths.cafile)) or (paths.capath and os.path.isdir(paths.capath))
    if not has_system_store:
        import certifi

        context.load_verify_locations(cafile=certifi.where())
    return context


def _new_pool() -> httpx.AsyncClient:
    return httpx.AsyncClient(verify=ssl_context(), timeout=TIMEOUT, follow_redirects=True, limits=LIMITS)


def _new_guarded_pool() -> httpx.AsyncClient:
    return outbound_url.guarded_http_client(verify=ssl_context(), timeout=TIMEOUT, limits=LIMITS)


def http_client(*, guarded: bool = False) -> httpx.AsyncClient:
    """The running event loop's shared httpx client (a job process has one loop: one pool per call).

    guarded: the pool for tenant-supplied URLs (every resolved address checked on connect).
    Outside a running loop (a sync caller), a fresh client on the shared TLS context: an httpx
    pool is bound to the loop that first uses it, so it cannot be cached without one.
    """
    pools, new_pool = (_guarded_pools, _new_guarded_pool) if guarded else (_pools, _new_pool)
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return new_pool()
    pool = pools.get(loop)
    if pool is None or pool.is_closed:
        pool = pools[loop] = new_pool()
    return pool


def openai_client(*, api_key: str | None, base_url: str | None, guarded: bool = False) -> openai.AsyncClient:
    """An OpenAI SDK client with this tenant's key and base URL over the shared transport.

    base_url None lets the SDK apply its default (OPENAI_BASE_URL, else api.openai.com), as the
    plugins do. Retries stay with the plugins' own connection options (max_retries=0), as in the
    clients they build. The plugins do not close a client they were given, so the pool outlives
    the call's plugins; it is closed with the job process. guarded=True for a tenant's base URL.
    """
    client = http_client(guarded=guarded)
    return openai.AsyncClient(api_key=api_key, base_url=base_url, max_retries=0, http_client=client)
