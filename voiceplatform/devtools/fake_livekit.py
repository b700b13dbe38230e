"""A local fake of LiveKit for the tests, the benchmarks (manage.py bench_inbound_webhook) and local
trials without a LiveKit server: its Twirp server API, and the signed webhooks it sends.

Twirp: livekit-api POSTs protobuf (Content-Type application/protobuf) to
/twirp/livekit.<Service>/<Method> with a Bearer JWT signed by the API secret, and reads protobuf
back on 200 and Twirp's JSON error body otherwise. The fake checks the token with livekit-api's own
TokenVerifier, decodes each request into its real message class, records it (`received`) and
answers as LiveKit would; a test can make a method fail (`fail`) or every answer slow
(`delay_seconds`). Rooms live in memory. It keeps connections alive (HTTP/1.1) like LiveKit does,
so a client that pools connections is measured as it would run against the real server.

Webhooks: LiveKit signs each webhook with a JWT in the Authorization header whose sha256 claim is
the body's hash (`sign_webhook`; `webhook_authorization` with this fake's key and secret).

It runs on one asyncio loop in a background thread with a minimal HTTP/1.1 reader (requests with
a Content-Length body, which is all a Twirp client sends): the benchmark shares two cores with the
platform it measures, and LiveKit's own server runs elsewhere, so its stand-in must cost little.
http.server's header parsing and thread per connection cost four times as much per request.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import Message
from livekit import api

KEY = "APIfakeKey123"
SECRET = "fake-secret-that-is-long-enough-for-hs256-0123456789"  # noqa: S105  (the fake's, known to the tests)

# route -> request message class
REQUESTS: dict[str, type[Message]] = {
    "livekit.RoomService/CreateRoom": api.CreateRoomRequest,
    "livekit.RoomService/DeleteRoom": api.DeleteRoomRequest,
    "livekit.RoomService/ListRooms": api.ListRoomsRequest,
    "livekit.AgentDispatchService/CreateDispatch": api.CreateAgentDispatchRequest,
    "livekit.SIP/CreateSIPParticipant": api.CreateSIPParticipantRequest,
    "livekit.SIP/TransferSIPParticipant": api.TransferSIPParticipantRequest,
}
_MAX_HEAD_BYTES = 16 * 1024
_MAX_BODY_BYTES = 1024 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}


def sign_webhook(
    body: str,
    *,
    key: str = KEY,
    secret: str = SECRET,
    ttl: datetime.timedelta = datetime.timedelta(minutes=5),
    sha256_of: str | None = None,
) -> str:
    """The Authorization header LiveKit sends with the webhook `body` (`sha256_of`: hash another body instead)."""
    digest = base64.b64encode(hashlib.sha256((body if sha256_of is None else sha256_of).encode()).digest()).decode()
    return api.AccessToken(key, secret).with_sha256(digest).with_ttl(ttl).to_jwt()


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
    meta: dict[str, str] | None = None


@dataclass(frozen=True)
class _Reply:
    status: int
    content_type: str
    body: bytes


class FakeLiveKit:
    """Start with start() or use as a context manager; `url`, `key` and `secret` are what the platform's
    LIVEKIT_* settings need, `received` what it was sent."""

    def __init__(self, *, key: str = KEY, secret: str = SECRET) -> None:
        self.key = key
        self.secret = secret
        self.verifier = api.TokenVerifier(key, secret)
        self.received: list[Received] = []
        self.rooms: dict[str, api.Room] = {}
        self.failures: dict[str, Failure] = {}  # method -> the error it answers with
        self.delay_seconds = 0.0  # before every answer (a slow server)
        self.connections: set[asyncio.Transport] = set()
        # Tokens already verified, with their claims and when to verify again: livekit-api signs a
        # new token per request, but within one second they are the same string, so most requests
        # skip the HMAC.
        self._verified: dict[str, tuple[float, Any]] = {}
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._address: tuple[str, int] = ("127.0.0.1", 0)
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-livekit", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._address
        return f"http://{host}:{port}"

    # --- scripting and inspection ---------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        status: int = 500,
        code: str = "internal",
        msg: str = "boom",
        meta: dict[str, str] | None = None,
    ) -> None:
        """`method` answers with this Twirp error from now on; `meta` is the error's metadata (a SIP dial's
        failure carries {"sip_status_code": "486", "sip_status": "Busy Here"})."""
        self.failures[method] = Failure(status, code, msg, meta)

    def sip_fail(self, sip_status_code: int, sip_status: str, *, code: str = "unavailable", status: int = 503) -> None:
        """CreateSIPParticipant fails as LiveKit reports a SIP response to the INVITE."""
        meta = {"sip_status_code": str(sip_status_code), "sip_status": sip_status}
        self.fail("SIP/CreateSIPParticipant", status=status, code=code, msg=f"INVITE failed: {sip_status}", meta=meta)

    def messages(self, method: str) -> list[Any]:
        return [r.message for r in self.received if r.method == method]

    def webhook_authorization(self, body: str, **kwargs: Any) -> str:
        """The Authorization header this server's LiveKit would send with the webhook `body`."""
        return sign_webhook(body, key=self.key, secret=self.secret, **kwargs)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeLiveKit:
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

    def __enter__(self) -> FakeLiveKit:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- what the protocol calls ----------------------------------------------------------

    def receive(self, path: str, headers: dict[str, str], body: bytes) -> Received | _Reply:
        """One Twirp request checked, decoded and recorded; or the error that refuses it."""
        route = path.removeprefix("/twirp/")
        message_class = REQUESTS.get(route)
        if message_class is None:
            return _error(404, "bad_route", f"no handler for {path}")
        content_type = headers.get("content-type")
        if content_type != "application/protobuf":
            return _error(400, "malformed", f"unexpected Content-Type {content_type}")
        token = headers.get("authorization", "").removeprefix("Bearer ")
        try:
            claims = self._verify(token)
        except Exception as exc:
            return _error(401, "unauthenticated", str(exc) or type(exc).__name__)
        try:
            message = message_class.FromString(body)
        except Exception as exc:  # protobuf's DecodeError
            return _error(400, "malformed", f"the body is not a {message_class.__name__}: {exc}")
        received = Received(route.removeprefix("livekit."), message, claims, token)
        self.received.append(received)
        return received

    def respond(self, received: Received) -> _Reply:
        """The answer to a recorded request: its method's scripted failure, or what LiveKit answers."""
        if failure := self.failures.get(received.method):
            return _error(failure.status, failure.code, failure.msg, failure.meta)
        return _Reply(200, "application/protobuf", self.answer(received.method, received.message).SerializeToString())

    def _verify(self, token: str) -> Any:
        now = time.time()
        verified = self._verified.get(token)
        if verified is not None and now < verified[0]:
            return verified[1]
        claims = self.verifier.verify(token)
        if len(self._verified) > 1000:
            self._verified.clear()
        self._verified[token] = (now + 1.0, claims)  # re-verified every second: expiry is still enforced
        return claims

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


def _error(status: int, code: str, message: str, meta: dict[str, str] | None = None) -> _Reply:
    body: dict[str, Any] = {"code": code, "msg": message}
    if meta:
        body["meta"] = meta
    return _Reply(status, "application/json", json.dumps(body).encode())


class _TwirpProtocol(asyncio.Protocol):
    """One keep-alive connection: reads requests with a Content-Length body, answers in order
    (with `delay_seconds`, reading pauses until the late answer is sent).
    asyncio sets TCP_NODELAY on TCP transports, as LiveKit's Go server does."""

    def __init__(self, fake: FakeLiveKit) -> None:
        self.fake = fake
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None
        self.waiting = False  # a delayed answer is pending

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.fake.connections.add(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.fake.connections.discard(self.transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self._process()

    def _process(self) -> None:
        while not self.waiting and self.transport is not None and not self.transport.is_closing():
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                if len(self.buffer) > _MAX_HEAD_BYTES:
                    self._send(_Reply(400, "text/plain", b"request head too large"), close=True)
                return
            lines = bytes(self.buffer[:head_end]).decode("latin-1").split("\r\n")
            headers = {
                name.strip().lower(): value.strip() for name, _, value in (ln.partition(":") for ln in lines[1:])
            }
            try:
                method, path, _version = lines[0].split(" ", 2)
                length = int(headers.get("content-length", "0"))
            except ValueError:
                self._send(_Reply(400, "text/plain", b"malformed request"), close=True)
                return
            if length > _MAX_BODY_BYTES or method != "POST":
                self._send(_Reply(400, "text/plain", b"Twirp takes a POST with a body"), close=True)
                return
            end = head_end + 4 + length
            if len(self.buffer) < end:
                return
            body = bytes(self.buffer[head_end + 4 : end])
            del self.buffer[:end]
            close = headers.get("connection", "").lower() == "close"
            received = self.fake.receive(path, headers, body)
            if isinstance(received, _Reply):
                self._send(received, close=close)
            elif self.fake.delay_seconds:
                self.waiting = True
                asyncio.get_running_loop().call_later(self.fake.delay_seconds, self._late, received, close)
            else:
                self._send(self.fake.respond(received), close=close)

    def _late(self, received: Received, close: bool) -> None:
        self.waiting = False
        reply = self.fake.respond(received)
        if self.transport is None or self.transport.is_closing():
            return  # the client gave up waiting
        self._send(reply, close=close)
        self._process()

    def _send(self, reply: _Reply, *, close: bool = False) -> None:
        assert self.transport is not None
        connection = "Connection: close\r\n" if close else ""
        head = (
            f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, 'Error')}\r\nContent-Type: {reply.content_type}\r\n"
            f"Content-Length: {len(reply.body)}\r\n{connection}\r\n"
        )
        self.transport.write(head.encode("latin-1") + reply.body)
        if close:
            self.transport.close()
