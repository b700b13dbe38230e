"""A real HTTP receiver on 127.0.0.1 for webhook tests, answering with a scripted list of status codes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from voiceplatform.models import Tenant
from voiceplatform.webhooks.services import endpoint_create


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    port: int
    script: list[int] = field(default_factory=list)  # status codes to answer with, in order; then 200
    received: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            code = receiver.script.pop(0) if receiver.script else 200
            answer = b"receiver says: internal detail that must never be stored"
            self.send_response(code)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(Receiver(0)))
    receiver = Receiver(server.server_address[1])
    server.RequestHandlerClass = _handler(receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def allow_local(settings: Any) -> Any:
    """The operator allows webhooks to plain http on 127.0.0.1 (the receiver); nothing else."""
    settings.WEBHOOK_URL_ALLOW_HTTP = True
    settings.WEBHOOK_URL_ALLOWED_HOSTS = ["127.0.0.1"]
    return settings


@pytest.fixture
def make_endpoint(allow_local: Any):
    def make(tenant: Tenant, url: str, events: list[str] | None = None, **fields: Any):
        return endpoint_create(tenant=tenant, url=url, event_types=events or ["call.ended"], **fields)

    return make
