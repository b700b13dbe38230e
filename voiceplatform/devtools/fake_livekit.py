"""A small stand-in for LiveKit's Twirp server API on loopback, for benchmarks (manage.py
bench_inbound_webhook) and local trials without a LiveKit server.

It speaks the real protocol: protobuf POSTs to /twirp/livekit.RoomService/<Method> with a Bearer
JWT signed by the API secret (checked with livekit-api's TokenVerifier), answered in protobuf, or
with Twirp's JSON error body. It keeps connections alive (HTTP/1.1) like LiveKit does, so a client
that pools connections is measured as it would run against the real server. Rooms live in memory.

It runs on one asyncio loop in a background thread with a minimal HTTP/1.1 reader (requests with
a Content-Length body, which is all a Twirp client sends): the benchmark shares two cores with the
platform it measures, and LiveKit's own server runs elsewhere, so its stand-in must cost little.
http.server's header parsing and thread per connection cost four times as much per request.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
import uuid
from typing import Any

from livekit import api

KEY = "APIbenchKey"
# The secret only has to match between this process and the platform it serves; a fresh one per run.
_REQUESTS: dict[str, Any] = {
    "/twirp/livekit.RoomService/CreateRoom": api.CreateRoomRequest,
    "/twirp/livekit.RoomService/DeleteRoom": api.DeleteRoomRequest,
    "/twirp/livekit.RoomService/ListRooms": api.ListRoomsRequest,
}
_MAX_HEAD_BYTES = 16 * 1024
_MAX_BODY_BYTES = 1024 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}


class FakeLiveKitServer:
    """Start with start(); `url`, `key` and `secret` are what the platform's LIVEKIT_* settings need."""

    def __init__(self, *, key: str = KEY, secret: str | None = None) -> None:
        self.key = key
        self.secret = secret or secrets.token_urlsafe(32)
        self.verifier = api.TokenVerifier(self.key, self.secret)
        self.rooms: dict[str, api.Room] = {}
        self.requests = 0
        self.connections: set[asyncio.Transport] = set()
        # Tokens already verified, with their expiry: livekit-api signs a new token per request,
        # but within one second they are the same string, so most requests skip the HMAC.
        self._verified: dict[str, float] = {}
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._address: tuple[str, int] = ("127.0.0.1", 0)
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-livekit", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._address
        return f"http://{host}:{port}"

    def start(self) -> FakeLiveKitServer:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            self._loop.create_server(lambda: _TwirpProtocol(self), "127.0.0.1", 0), self._loop
        ).result(timeout=5)
        self._address = self._server.sockets[0].getsockname()[:2]
        return self

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for transport in list(self.connections):
                transport.close()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5)

    def handle(self, path: str, authorization: str, body: bytes) -> tuple[int, str, bytes]:
        """(status, content type, body) for one Twirp request."""
        message_class = _REQUESTS.get(path)
        if message_class is None:
            return _error(404, "bad_route", f"no handler for {path}")
        problem = self._check_token(authorization.removeprefix("Bearer "))
        if problem:
            return _error(401, "unauthenticated", problem)
        try:
            message = message_class.FromString(body)
        except Exception as exc:  # protobuf's DecodeError
            return _error(400, "malformed", f"the body is not a {message_class.__name__}: {exc}")
        return 200, "application/protobuf", self.answer(path, message).SerializeToString()

    def _check_token(self, token: str) -> str:
        now = time.time()
        expires = self._verified.get(token)
        if expires is not None and now < expires:
            return ""
        try:
            self.verifier.verify(token)
        except Exception as exc:
            return str(exc) or type(exc).__name__
        if len(self._verified) > 1000:
            self._verified.clear()
        self._verified[token] = now + 1.0  # re-verified every second: expiry is still enforced
        return ""

    def answer(self, path: str, message: Any) -> Any:
        self.requests += 1
        if path.endswith("/CreateRoom"):
            room = api.Room(sid=f"RM_{uuid.uuid4().hex[:12]}", name=message.name, metadata=message.metadata)
            self.rooms[message.name] = room
            return room
        if path.endswith("/DeleteRoom"):
            self.rooms.pop(message.room, None)
            return api.DeleteRoomResponse()
        return api.ListRoomsResponse(rooms=list(self.rooms.values()))


def _error(status: int, code: str, message: str) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps({"code": code, "msg": message}).encode()


class _TwirpProtocol(asyncio.Protocol):
    """One keep-alive connection: reads requests with a Content-Length body, answers in order.
    asyncio sets TCP_NODELAY on TCP transports, as LiveKit's Go server does."""

    def __init__(self, fake: FakeLiveKitServer) -> None:
        self.fake = fake
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.fake.connections.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.fake.connections.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None and not self.transport.is_closing():
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                if len(self.buffer) > _MAX_HEAD_BYTES:
                    self._reply(400, "text/plain", b"request head too large", close=True)
                return
            lines = bytes(self.buffer[:head_end]).decode("latin-1").split("\r\n")
            headers = {
                name.strip().lower(): value.strip() for name, _, value in (ln.partition(":") for ln in lines[1:])
            }
            try:
                method, path, _version = lines[0].split(" ", 2)
                length = int(headers.get("content-length", "0"))
            except ValueError:
                self._reply(400, "text/plain", b"malformed request", close=True)
                return
            if length > _MAX_BODY_BYTES or method != "POST":
                self._reply(400, "text/plain", b"Twirp takes a POST with a body", close=True)
                return
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            body = bytes(self.buffer[head_end + 4 : end])
            del self.buffer[:end]
            status, content_type, payload = self.fake.handle(path, headers.get("authorization", ""), body)
            self._reply(status, content_type, payload, close=headers.get("connection", "").lower() == "close")

    def _reply(self, status: int, content_type: str, body: bytes, *, close: bool = False) -> None:
        assert self.transport is not None
        connection = "Connection: close\r\n" if close else ""
        head = (
            f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n{connection}\r\n"
        )
        self.transport.write(head.encode("latin-1") + body)
        if close:
            self.transport.close()
