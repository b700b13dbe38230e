"""A small stand-in for LiveKit's Twirp server API on loopback, for benchmarks (manage.py
bench_inbound_webhook) and local trials without a LiveKit server.

It speaks the real protocol: protobuf POSTs to /twirp/livekit.RoomService/<Method> with a Bearer
JWT signed by the API secret (checked with livekit-api's TokenVerifier), answered in protobuf, or
with Twirp's JSON error body. It keeps connections alive (HTTP/1.1) like LiveKit does, so a client
that pools connections is measured as it would run against the real server. Rooms live in memory.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from livekit import api

KEY = "APIbenchKey"
# The secret only has to match between this process and the platform it serves; a fresh one per run.
_REQUESTS: dict[str, Any] = {
    "/twirp/livekit.RoomService/CreateRoom": api.CreateRoomRequest,
    "/twirp/livekit.RoomService/DeleteRoom": api.DeleteRoomRequest,
    "/twirp/livekit.RoomService/ListRooms": api.ListRoomsRequest,
}


class FakeLiveKitServer:
    """Start with start(); `url`, `key` and `secret` are what the platform's LIVEKIT_* settings need."""

    def __init__(self, *, key: str = KEY, secret: str | None = None) -> None:
        self.key = key
        self.secret = secret or secrets.token_urlsafe(32)
        self.verifier = api.TokenVerifier(self.key, self.secret)
        self.rooms: dict[str, api.Room] = {}
        self.requests = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-livekit", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeLiveKitServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, path: str, message: Any) -> Any:
        with self._lock:
            self.requests += 1
            if path.endswith("/CreateRoom"):
                room = api.Room(sid=f"RM_{uuid.uuid4().hex[:12]}", name=message.name, metadata=message.metadata)
                self.rooms[message.name] = room
                return room
            if path.endswith("/DeleteRoom"):
                self.rooms.pop(message.room, None)
                return api.DeleteRoomResponse()
            return api.ListRoomsResponse(rooms=list(self.rooms.values()))


def _handler(fake: FakeLiveKitServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as LiveKit's server

        def setup(self) -> None:
            super().setup()
            # Headers and body leave in two writes: without TCP_NODELAY (which LiveKit's Go server
            # sets), Nagle's algorithm and the client's delayed ACK add ~40 ms to every answer.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, content_type: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, code: str, msg: str) -> None:
            self._send(status, "application/json", json.dumps({"code": code, "msg": msg}).encode())

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            message_class = _REQUESTS.get(self.path)
            if message_class is None:
                return self._error(404, "bad_route", f"no handler for {self.path}")
            try:
                fake.verifier.verify(self.headers.get("Authorization", "").removeprefix("Bearer "))
            except Exception as exc:
                return self._error(401, "unauthenticated", str(exc))
            answer = fake.answer(self.path, message_class.FromString(body))
            self._send(200, "application/protobuf", answer.SerializeToString())

    return Handler
