"""The load side of manage.py bench_inbound_webhook, run as its own process (no Django in it):
sends correctly signed Twilio voice webhooks at a fixed rate and reports latencies as JSON.

Open-loop pacing: request i is sent at start + i/rps whether or not earlier ones have answered,
and its latency runs from that planned moment, so a slow server shows up as latency rather than
as a quietly lower send rate (no coordinated omission).

    echo '{"base_url": ..., "public_url": ..., "token": ..., "to": ..., ...}' \
        | python -m voiceplatform.devtools.bench_load
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from typing import Any
from urllib.parse import urlencode, urlsplit

from twilio.request_validator import RequestValidator

TIMEOUT_SECONDS = 15.0  # Twilio gives up on a voice webhook after 15 s


def _request(config: dict[str, Any], validator: RequestValidator) -> bytes:
    """One complete HTTP/1.1 request (a new CallSid, signed) as Twilio would send it."""
    sid = "CA" + uuid.uuid4().hex
    params = {
        "AccountSid": config["account_sid"], "ApiVersion": "2010-04-01", "CallSid": sid, "CallStatus": "ringing",
        "Called": config["to"], "Caller": config["from"], "Direction": "inbound", "From": config["from"],
        "FromCountry": "US", "FromState": "NY", "FromCity": "NEW YORK", "To": config["to"], "ToCountry": "US",
    }  # fmt: skip
    signature = validator.compute_signature(config["public_url"], params)
    body = urlencode(params).encode()
    target = urlsplit(config["base_url"])
    head = (
        f"POST {config['path']} HTTP/1.1\r\nHost: {target.netloc}\r\nUser-Agent: TwilioProxy/1.1\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {len(body)}\r\n"
        f"X-Twilio-Signature: {signature}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class _Exchange(asyncio.Protocol):
    """One request on its own connection (Connection: close, as Twilio sends them): writes it,
    collects the answer until the server closes. A Protocol rather than streams: the load
    generator shares the two cores with the server it measures, so it has to cost little."""

    def __init__(self, payload: bytes, done: asyncio.Future[bytes]) -> None:
        self.payload = payload
        self.done = done
        self.chunks: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(self.payload)

    def data_received(self, data: bytes) -> None:
        self.chunks.append(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done.done():
            return
        if exc is not None:
            self.done.set_exception(exc)
        else:
            self.done.set_result(b"".join(self.chunks))


async def _send(host: str, port: int, payload: bytes) -> tuple[bool, str]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bytes] = loop.create_future()
    transport, _ = await loop.create_connection(lambda: _Exchange(payload, done), host, port)
    try:
        response = await done
    finally:
        transport.close()
    status_line, _, rest = response.partition(b"\r\n")
    ok = status_line.startswith(b"HTTP/1.1 200") and b"<Sip>" in rest
    return ok, status_line.decode(errors="replace")


async def _run(config: dict[str, Any]) -> dict[str, Any]:
    validator = RequestValidator(config["token"])
    target = urlsplit(config["base_url"])
    host, port = target.hostname or "127.0.0.1", target.port or 80
    rps, total = config["rps"], int(config["rps"] * config["seconds"])
    payloads = [_request(config, validator) for _ in range(total)]  # signing is not timed
    latencies: list[float] = []
    errors: list[str] = []
    finished: list[float] = []

    async def one(planned: float, payload: bytes) -> None:
        try:
            async with asyncio.timeout(TIMEOUT_SECONDS):  # no extra task per request, unlike wait_for
                ok, status = await _send(host, port, payload)
        except (OSError, TimeoutError) as exc:
            ok, status = False, type(exc).__name__
        now = time.perf_counter()
        finished.append(now)
        latencies.append((now - planned) * 1000)
        if not ok:
            errors.append(status)

    start = time.perf_counter() + 0.05
    tasks = []
    for i, payload in enumerate(payloads):
        planned = start + i / rps
        delay = planned - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(planned, payload)))
    await asyncio.gather(*tasks)
    elapsed = max(finished) - start if finished else 0.0
    return {
        "sent": total,
        "elapsed_s": elapsed,
        "latencies_ms": latencies,
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:5],
    }


def main() -> None:
    config = json.load(sys.stdin)
    json.dump(asyncio.run(_run(config)), sys.stdout)


if __name__ == "__main__":
    main()
