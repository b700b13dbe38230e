"""One HTTP try of a delivery, through the outbound-URL guard, in bounded time.

Only what the delivery log keeps comes back: success, the status code, the latency and a short error
class. The receiver's body is read (at most RESPONSE_READ_LIMIT bytes, so the connection can be
reused) and dropped: a tenant's server could answer with anything, and it is never stored or logged.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import httpx
from django.conf import settings

from voiceplatform import outbound_url

RESPONSE_READ_LIMIT = 64 * 1024
USER_AGENT = "voiceplatform-webhooks/1"


@dataclass(frozen=True)
class AttemptResult:
    is_success: bool
    response_code: int | None
    latency_ms: int
    error_class: str  # "" on success


def _error_class(error: BaseException) -> str:
    if outbound_url.is_refusal(error):
        return "destination_refused"
    if isinstance(error, httpx.TimeoutException):
        return "timeout"
    if isinstance(error, httpx.ConnectError):
        return "connect_error"
    if isinstance(error, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError):
        return "protocol_error"
    return "request_error"


async def _post(url: str, body: bytes, headers: dict[str, str], timeout: float) -> AttemptResult:
    started = time.monotonic()
    client = outbound_url.guarded_http_client(
        timeout=httpx.Timeout(timeout),
        limits=httpx.Limits(max_connections=1),
        policy=outbound_url.WEBHOOK_URLS,
        follow_redirects=False,  # a redirect is the receiver's misconfiguration, not a place to re-send a signed body
    )
    try:
        async with client, asyncio.timeout(timeout):
            async with client.stream("POST", url, content=body, headers=headers) as response:
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read >= RESPONSE_READ_LIMIT:
                        break
        code = response.status_code
        ok = 200 <= code < 300
        error = "" if ok else ("redirect" if 300 <= code < 400 else "http_status")
        return AttemptResult(ok, code, _elapsed_ms(started), error)
    except TimeoutError:
        return AttemptResult(False, None, _elapsed_ms(started), "timeout")
    except httpx.HTTPError as exc:
        return AttemptResult(False, None, _elapsed_ms(started), _error_class(exc))


def _elapsed_ms(started: float) -> int:
    return max(0, round((time.monotonic() - started) * 1000))


def post_signed(*, url: str, body: bytes, headers: dict[str, str]) -> AttemptResult:
    """POST the body with its signed headers; the whole try is bounded by WEBHOOK_TIMEOUT_SECONDS."""
    all_headers = {"content-type": "application/json", "user-agent": USER_AGENT, **headers}
    return asyncio.run(_post(url, body, all_headers, float(settings.WEBHOOK_TIMEOUT_SECONDS)))
