"""A local fake of LiveKit's Twirp server API, for tests of telephony_app.livekit_client.

livekit-api POSTs protobuf (Content-Type application/protobuf) to /twirp/livekit.<Service>/<Method>
with a Bearer JWT signed by the API secret, and reads protobuf back on 200 and Twirp's JSON error
body otherwise. The fake checks the token with livekit-api's own TokenVerifier, decodes each request
into its real message class, records it and answers as LiveKit would.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from google.protobuf.message import Message
from livekit import api

KEY = "APIfakeKey123"
SECRET = "fake-secret-that-is-long-enough-for-hs256-0123456789"

# path -> request message class
REQUESTS: dict[str, type[Message]] = {
    "livekit.RoomService/CreateRoom": api.CreateRoomRequest,
    "livekit.RoomService/DeleteRoom": api.DeleteRoomRequest,
    "livekit.RoomService/ListRooms": api.ListRoomsRequest,
    "livekit.AgentDispatchService/CreateDispatch": api.CreateAgentDispatchRequest,
    "livekit.SIP/CreateSIPParticipant": api.CreateSIPParticipantRequest,
    "livekit.SIP/TransferSIPParticipant": api.TransferSIPParticipantRequest,
}


@dataclass
class Received:
    method: str  # e.g. "RoomService/CreateRoom"
    message: Any
    claims: Any  # livekit.api.access_token.Claims
    token: str = ""  # the Bearer JWT as sent


@dataclass
class Failure:
    status: int
    code: str
    msg: str


class FakeLiveKit:
    """Use as a context manager; `url` is its base URL, `received` what it was sent."""

    def __init__(self, *, key: str = KEY, secret: str = SECRET) -> None:
        self.verifier = api.TokenVerifier(key, secret)
        self.received: list[Received] = []
        self.rooms: dict[str, api.Room] = {}
        self.failures: dict[str, Failure] = {}  # method -> the error it answers with
        self.delay_seconds = 0.0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail(self, method: str, *, status: int = 500, code: str = "internal", msg: str = "boom") -> None:
        self.failures[method] = Failure(status, code, msg)

    def messages(self, method: str) -> list[Any]:
        return [r.message for r in self.received if r.method == method]

    def __enter__(self) -> FakeLiveKit:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer(self, method: str, message: Any) -> Message:
        if method == "RoomService/CreateRoom":
            room = api.Room(sid=f"RM_{uuid.uuid4().hex[:12]}", name=message.name, metadata=message.metadata)
            self.rooms[message.name] = room
            return room
        if method == "RoomService/DeleteRoom":
            self.rooms.pop(message.room, None)
            return api.DeleteRoomResponse()
        if method == "RoomService/ListRooms":
            # As LiveKit does: with `names`, only the open rooms of those names.
            wanted = set(message.names)
            rooms = [room for name, room in self.rooms.items() if not wanted or name in wanted]
            return api.ListRoomsResponse(rooms=rooms)
        if method == "AgentDispatchService/CreateDispatch":
            return api.AgentDispatch(
                id=f"AD_{uuid.uuid4().hex[:12]}", agent_name=message.agent_name, room=message.room,
                metadata=message.metadata,
            )  # fmt: skip
        if method == "SIP/CreateSIPParticipant":
            return api.SIPParticipantInfo(
                participant_id=f"PA_{uuid.uuid4().hex[:12]}",
                participant_identity=message.participant_identity,
                room_name=message.room_name,
                sip_call_id=f"SCL_{uuid.uuid4().hex[:12]}",
            )
        return api.TransferSIPParticipantResponse()


def _handler(fake: FakeLiveKit) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet test output
            pass

        def _error(self, status: int, code: str, msg: str) -> None:
            body = json.dumps({"code": code, "msg": msg}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            route = self.path.removeprefix("/twirp/")
            if route not in REQUESTS:
                return self._error(404, "bad_route", f"no handler for {self.path}")
            if self.headers.get("Content-Type") != "application/protobuf":
                return self._error(400, "malformed", f"unexpected Content-Type {self.headers.get('Content-Type')}")
            auth = self.headers.get("Authorization", "")
            try:
                claims = fake.verifier.verify(auth.removeprefix("Bearer "))
            except Exception as exc:
                return self._error(401, "unauthenticated", str(exc))
            method = route.removeprefix("livekit.")
            message = REQUESTS[route].FromString(body)
            fake.received.append(Received(method, message, claims, auth.removeprefix("Bearer ")))
            if fake.delay_seconds:
                time.sleep(fake.delay_seconds)
            if failure := fake.failures.get(method):
                return self._error(failure.status, failure.code, failure.msg)
            payload = fake.answer(method, message).SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/protobuf")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler
