"""A local fake of LiveKit for the tests, the benchmarks (manage.py bench_inbound_webhook) and local
trials without a LiveKit server: its Twirp server API, and the signed webhooks it sends.

Twirp: livekit-api POSTs protobuf (Content-Type application/protobuf) to
/twirp/livekit.<Service>/<Method> with a Bearer JWT signed by the API secret, and reads protobuf
back on 200 and Twirp's JSON error body otherwise. The fake checks the token with livekit-api's own
TokenVerifier, decodes each request into its real message class, records it (`received`) and
answers as LiveKit would; a test can make a method fail (`fail`) or every answer slow
(`delay_seconds`). Rooms, SIP inbound/outbound trunks and dispatch rules live in memory
(`inbound_trunks`, `outbound_trunks`, `dispatch_rules`, keyed by id; a test may edit them to play
an operator changing LiveKit by hand). Updates take `replace` only (what the platform sends); the
field-level `update` form answers Twirp's `unimplemented`, as an old LiveKit server would.
It keeps connections alive (HTTP/1.1) like LiveKit does,
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
import ssl
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
    "livekit.SIP/CreateSIPInboundTrunk": api.CreateSIPInboundTrunkRequest,
    "livekit.SIP/UpdateSIPInboundTrunk": api.UpdateSIPInboundTrunkRequest,
    "livekit.SIP/ListSIPInboundTrunk": api.ListSIPInboundTrunkRequest,
    "livekit.SIP/CreateSIPOutboundTrunk": api.CreateSIPOutboundTrunkRequest,
    "livekit.SIP/UpdateSIPOutboundTrunk": api.UpdateSIPOutboundTrunkRequest,
    "livekit.SIP/ListSIPOutboundTrunk": api.ListSIPOutboundTrunkRequest,
    "livekit.SIP/DeleteSIPTrunk": api.DeleteSIPTrunkRequest,
    "livekit.SIP/CreateSIPDispatchRule": api.CreateSIPDispatchRuleRequest,
    "livekit.SIP/UpdateSIPDispatchRule": api.UpdateSIPDispatchRuleRequest,
    "livekit.SIP/ListSIPDispatchRule": api.ListSIPDispatchRuleRequest,
    "livekit.SIP/DeleteSIPDispatchRule": api.DeleteSIPDispatchRuleRequest,
}
# The SIP methods that change LiveKit's state (a test of an idempotent caller expects none of them).
SIP_WRITES = frozenset(
    route.removeprefix("livekit.")
    for route in REQUESTS
    if route.startswith("livekit.SIP/")
    and route.split("/")[1].startswith(("Create", "Update", "Delete"))
    and not route.endswith("Participant")
)
_MAX_HEAD_BYTES = 16 * 1024
_MAX_BODY_BYTES = 1024 * 1024
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 409: "Conflict"}


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

    def __init__(self, *, key: str = KEY, secret: str = SECRET, tls: ssl.SSLContext | None = None) -> None:
        self.key = key
        self.tls = tls  # a server context: the API is served over HTTPS (url says https://)
        self.secret = secret
        self.verifier = api.TokenVerifier(key, secret)
        self.received: list[Received] = []
        self.rooms: dict[str, api.Room] = {}
        self.inbound_trunks: dict[str, api.SIPInboundTrunkInfo] = {}
        self.outbound_trunks: dict[str, api.SIPOutboundTrunkInfo] = {}
        self.dispatch_rules: dict[str, api.SIPDispatchRuleInfo] = {}
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
        return f"{'https' if self.tls else 'http'}://{host}:{port}"

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

    def sip_writes(self) -> list[str]:
        """The SIP trunk and dispatch rule methods called that change LiveKit (creates, updates, deletes)."""
        return [r.method for r in self.received if r.method in SIP_WRITES]

    def drop_connections(self) -> None:
        """Closes every kept-alive connection from the server's side, as LiveKit does to idle ones."""

        async def close() -> None:
            for transport in list(self.connections):
                transport.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)

    def webhook_authorization(self, body: str, **kwargs: Any) -> str:
        """The Authorization header this server's LiveKit would send with the webhook `body`."""
        return sign_webhook(body, key=self.key, secret=self.secret, **kwargs)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeLiveKit:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            self._loop.create_server(lambda: _TwirpProtocol(self), "127.0.0.1", 0, ssl=self.tls), self._loop
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
        try:
            answer = self.answer(received.method, received.message)
        except _TwirpError as error:
            return _error(error.status, error.code, error.msg)
        return _Reply(200, "application/protobuf", answer.SerializeToString())

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
        if method.startswith("SIP/") and not method.endswith("Participant"):
            return self._sip(method.removeprefix("SIP/"), message)
        if method == "SIP/CreateSIPParticipant":
            return api.SIPParticipantInfo(
                participant_id=f"PA_{uuid.uuid4().hex[:12]}",
                participant_identity=message.participant_identity,
                room_name=message.room_name,
                sip_call_id=f"SCL_{uuid.uuid4().hex[:12]}",
            )
        return api.TransferSIPParticipantResponse()

    def _sip(self, method: str, message: Any) -> Message:
        """LiveKit's SIP trunk and dispatch rule store, as its server keeps it (ids ST_ and SDR_)."""
        if method == "CreateSIPInboundTrunk":
            trunk = api.SIPInboundTrunkInfo()
            trunk.CopyFrom(message.trunk)
            trunk.sip_trunk_id = _new_id("ST_")
            self.inbound_trunks[trunk.sip_trunk_id] = trunk
            return trunk
        if method == "CreateSIPOutboundTrunk":
            out = api.SIPOutboundTrunkInfo()
            out.CopyFrom(message.trunk)
            if not out.address:
                raise _TwirpError(400, "invalid_argument", "no trunk address specified")
            out.sip_trunk_id = _new_id("ST_")
            self.outbound_trunks[out.sip_trunk_id] = out
            return out
        if method == "CreateSIPDispatchRule":
            rule = api.SIPDispatchRuleInfo()
            if message.HasField("dispatch_rule"):
                rule.CopyFrom(message.dispatch_rule)
            else:  # the older flat form of the request
                rule.rule.CopyFrom(message.rule)
                rule.trunk_ids.extend(message.trunk_ids)
                rule.hide_phone_number, rule.name, rule.metadata = (
                    message.hide_phone_number,
                    message.name,
                    message.metadata,
                )
                rule.room_config.CopyFrom(message.room_config)
            rule.sip_dispatch_rule_id = _new_id("SDR_")
            self.dispatch_rules[rule.sip_dispatch_rule_id] = rule
            return rule
        if method in ("UpdateSIPInboundTrunk", "UpdateSIPOutboundTrunk"):
            store: dict[str, Any] = self.inbound_trunks if "Inbound" in method else self.outbound_trunks
            return _replace(store, message.sip_trunk_id, message, "sip_trunk_id")
        if method == "UpdateSIPDispatchRule":
            return _replace(self.dispatch_rules, message.sip_dispatch_rule_id, message, "sip_dispatch_rule_id")
        if method in ("ListSIPInboundTrunk", "ListSIPOutboundTrunk"):
            trunks = self.inbound_trunks if "Inbound" in method else self.outbound_trunks
            ids, numbers = set(message.trunk_ids), set(message.numbers)
            items = [
                trunk
                for trunk_id, trunk in trunks.items()
                if (not ids or trunk_id in ids) and (not numbers or numbers & set(trunk.numbers) or not trunk.numbers)
            ]
            response_class = (
                api.ListSIPInboundTrunkResponse if "Inbound" in method else api.ListSIPOutboundTrunkResponse
            )
            return response_class(items=items)
        if method == "ListSIPDispatchRule":
            ids, trunk_ids = set(message.dispatch_rule_ids), set(message.trunk_ids)
            rules = [
                rule
                for rule_id, rule in self.dispatch_rules.items()
                if (not ids or rule_id in ids)
                and (not trunk_ids or trunk_ids & set(rule.trunk_ids) or not rule.trunk_ids)
            ]
            return api.ListSIPDispatchRuleResponse(items=rules)
        if method == "DeleteSIPTrunk":
            inbound = self.inbound_trunks.pop(message.sip_trunk_id, None)
            outbound = self.outbound_trunks.pop(message.sip_trunk_id, None)
            if inbound is None and outbound is None:
                raise _TwirpError(404, "not_found", f"SIP trunk {message.sip_trunk_id} not found")
            return api.SIPTrunkInfo(sip_trunk_id=message.sip_trunk_id)
        if method == "DeleteSIPDispatchRule":
            deleted = self.dispatch_rules.pop(message.sip_dispatch_rule_id, None)
            if deleted is None:
                raise _TwirpError(404, "not_found", f"dispatch rule {message.sip_dispatch_rule_id} not found")
            return deleted
        raise _TwirpError(404, "bad_route", f"no handler for SIP/{method}")


class _TwirpError(Exception):
    def __init__(self, status: int, code: str, msg: str) -> None:
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg


def _new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:12]}"


def _replace(store: dict[str, Any], object_id: str, message: Any, id_field: str) -> Message:
    """UpdateSIP*Request with `replace`: the whole object replaced, its id kept."""
    if message.WhichOneof("action") != "replace":
        raise _TwirpError(501, "unimplemented", "this fake takes `replace` updates only")
    if object_id not in store:
        raise _TwirpError(404, "not_found", f"{object_id} not found")
    replaced = type(store[object_id])()
    replaced.CopyFrom(message.replace)
    setattr(replaced, id_field, object_id)
    store[object_id] = replaced
    return replaced


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
