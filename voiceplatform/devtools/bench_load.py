"""The load side of manage.py bench_inbound_webhook, run as its own process (no Django in it):
sends correctly signed Twilio voice webhooks at a fixed rate and reports latencies as JSON.

Open-loop pacing: request i is sent at start + i/rps whether or not earlier ones have answered,
and its latency runs from that planned moment, so a slow server shows up as latency rather than
as a quietly lower send rate (no coordinated omission).

It shares the two cores with the server it measures, so it is a plain non-blocking socket loop
(selectors): one new connection per request, as Twilio sends them (Connection: close). The asyncio
version it replaces cost ~0.9 ms of CPU per request, about a tenth of the machine at 200 req/s.

    echo '{"base_url": ..., "public_url": ..., "token": ..., "to": ..., ...}' \\
        | python -m voiceplatform.devtools.bench_load
"""

from __future__ import annotations

import collections
import errno
import json
import selectors
import socket
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode, urlsplit

from twilio.request_validator import RequestValidator

TIMEOUT_SECONDS = 15.0  # Twilio gives up on a voice webhook after 15 s
_CONNECTING = {0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN}


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


@dataclass(eq=False)
class _Exchange:
    """One request on its own connection: written once connected, read until the server closes."""

    planned: float
    payload: bytes
    sock: socket.socket
    sent: int = 0
    chunks: list[bytes] = field(default_factory=list)
    done: bool = False


def _verdict(response: bytes) -> tuple[bool, str]:
    status_line, _, rest = response.partition(b"\r\n")
    ok = status_line.startswith(b"HTTP/1.1 200") and b"<Sip>" in rest
    return ok, status_line.decode(errors="replace") or "empty answer"


def _run(config: dict[str, Any]) -> dict[str, Any]:
    validator = RequestValidator(config["token"])
    target = urlsplit(config["base_url"])
    address = (target.hostname or "127.0.0.1", target.port or 80)
    rps, total = config["rps"], int(config["rps"] * config["seconds"])
    payloads = [_request(config, validator) for _ in range(total)]  # signing is not timed
    latencies: list[float] = []
    errors: list[str] = []
    finished: list[float] = []
    selector = selectors.DefaultSelector()
    open_exchanges: collections.deque[_Exchange] = collections.deque()  # in planned order, for time-outs

    def finish(exchange: _Exchange, ok: bool, status: str) -> None:
        if exchange.done:
            return
        exchange.done = True
        selector.unregister(exchange.sock)
        exchange.sock.close()
        now = time.perf_counter()
        finished.append(now)
        latencies.append((now - exchange.planned) * 1000)
        if not ok:
            errors.append(status)

    def launch(planned: float, payload: bytes) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        exchange = _Exchange(planned, payload, sock)
        code = sock.connect_ex(address)
        selector.register(sock, selectors.EVENT_WRITE, exchange)
        open_exchanges.append(exchange)
        if code not in _CONNECTING:
            finish(exchange, False, f"ConnectionError errno {code}")

    def writable(exchange: _Exchange) -> None:
        error = exchange.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            finish(exchange, False, f"ConnectionError errno {error}")
            return
        try:
            exchange.sent += exchange.sock.send(exchange.payload[exchange.sent :])
        except BlockingIOError:
            return
        except OSError as exc:
            finish(exchange, False, type(exc).__name__)
            return
        if exchange.sent == len(exchange.payload):
            selector.modify(exchange.sock, selectors.EVENT_READ, exchange)

    def readable(exchange: _Exchange) -> None:
        try:
            chunk = exchange.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError as exc:
            finish(exchange, False, type(exc).__name__)
            return
        if chunk:
            exchange.chunks.append(chunk)
        else:
            finish(exchange, *_verdict(b"".join(exchange.chunks)))

    start = time.perf_counter() + 0.05
    sent = 0
    while sent < total or open_exchanges:
        now = time.perf_counter()
        while sent < total and start + sent / rps <= now:
            launch(start + sent / rps, payloads[sent])
            sent += 1
        while open_exchanges and (open_exchanges[0].done or now - open_exchanges[0].planned > TIMEOUT_SECONDS):
            stale = open_exchanges.popleft()
            if not stale.done:
                finish(stale, False, "TimeoutError")
        wait = start + sent / rps - now if sent < total else 0.05
        for key, events in selector.select(max(wait, 0.0)):
            exchange = key.data
            if exchange.done:
                continue
            if events & selectors.EVENT_WRITE:
                writable(exchange)
            elif events & selectors.EVENT_READ:
                readable(exchange)
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
    json.dump(_run(config), sys.stdout)


if __name__ == "__main__":
    main()
