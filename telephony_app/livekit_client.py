"""The one door to LiveKit's server API: rooms, agent dispatch, SIP participants, join tokens.

Nothing else in the project imports livekit.api. Every function is synchronous (for views and
Celery tasks): it runs livekit-api's async client on a long-lived event loop and waits for the
answer under a timeout: the main thread's own loop when the main thread calls (a gunicorn sync
worker, a Celery prefork child), else one background event-loop thread per process. Each loop
keeps one LiveKitAPI (one aiohttp session, so pooled keep-alive connections) per LiveKit
URL/key/secret, created lazily and dropped after a fork, because a fresh event loop, session and
TCP connection per request cost more than the request itself on the inbound-call path. The room
calls from the main thread (CreateRoom, DeleteRoom, ListRooms: the inbound webhook's and the
dialer's) skip the loop: the same Twirp requests, with livekit-api's messages and token, over one
kept-alive http.client connection (_TwirpConnection), ~10 % of the inbound webhook's CPU less.
Failures become the three exceptions below, which callers turn into useful responses.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import datetime
import http.client
import json
import os
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
import jwt
from django.conf import settings
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from livekit import api
from livekit.api import twirp_client

T = TypeVar("T")
M = TypeVar("M", bound=Message)

REQUEST_TIMEOUT_SECONDS = 5.0
# A transfer rings the far end: livekit-api pins the ring window to 30 s and waits 2 s beyond it.
DIAL_TIMEOUT_SECONDS = 40.0
# An outbound dial that waits for the answer: LiveKit's default ring window, and how long past the
# ring window to wait for LiveKit's answer.
DEFAULT_RINGING_SECONDS = 30
RINGING_MARGIN_SECONDS = 5.0
NOT_CONFIGURED_MESSAGE = "LiveKit is not configured: set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET."


class LiveKitError(Exception):
    """Base of every failure this module raises."""


class LiveKitNotConfigured(LiveKitError):
    """LIVEKIT_URL, LIVEKIT_API_KEY or LIVEKIT_API_SECRET is missing."""


class LiveKitUnavailable(LiveKitError):
    """LiveKit could not be reached or did not answer in time."""


class LiveKitRequestFailed(LiveKitError):
    """LiveKit answered with an error (Twirp error code and message)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        sip_status_code: int | None = None,
        sip_status: str = "",
    ) -> None:
        self.code = code
        self.message = message
        self.status = status
        # A SIP dial that failed with a SIP response (486 Busy Here, 480 Temporarily Unavailable...).
        self.sip_status_code = sip_status_code
        self.sip_status = sip_status
        sip = f", SIP {sip_status_code} {sip_status}".rstrip() if sip_status_code else ""
        super().__init__(f"LiveKit refused the request ({code}{sip}): {message or 'no message'}")


class LiveKitWebhookInvalid(LiveKitError):
    """A webhook whose token is missing, malformed, expired or signed with another secret, or whose
    body does not match the token's sha256 claim: not from our LiveKit, so nothing may be written."""


class LiveKitWebhookMalformed(LiveKitError):
    """A correctly signed webhook whose body is not a WebhookEvent."""


def is_configured() -> bool:
    """Whether the URL, key and secret are all set."""
    return bool(settings.LIVEKIT_URL and settings.LIVEKIT_API_KEY and settings.LIVEKIT_API_SECRET)


def client_url() -> str:
    """The URL a browser's livekit-client connects to (ws/wss; http(s) settings are rewritten):
    LIVEKIT_PUBLIC_URL when set, since browsers may reach LiveKit by another address than we do."""
    server_url = _credentials()[0]  # raises LiveKitNotConfigured first, public URL or not
    url = settings.LIVEKIT_PUBLIC_URL or server_url
    if url.startswith("http"):
        return "ws" + url[len("http") :]
    return url


def _credentials() -> tuple[str, str, str]:
    if not is_configured():
        raise LiveKitNotConfigured(NOT_CONFIGURED_MESSAGE)
    return settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET


# CreateRoom, DeleteRoom and ListRooms need no room-scoped grant, so one token signed ahead serves
# them all (livekit-api's token mode) where livekit-api would sign a new JWT per request (0.12-0.2
# ms of CPU, about 5 % of the inbound webhook). It is signed again at half its life.
ROOMS_TOKEN_TTL_SECONDS = 600


class _Clients:
    """Long-lived LiveKitAPI clients (per URL/key/secret) on one event loop, sharing one aiohttp session."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.session: aiohttp.ClientSession | None = None
        self.clients: dict[tuple[str, str, str], api.LiveKitAPI] = {}
        self.rooms_clients: dict[tuple[str, str, str], tuple[api.LiveKitAPI, str]] = {}
        self.rooms_tokens: dict[tuple[str, str, str], tuple[str, float]] = {}

    def _session(self) -> aiohttp.ClientSession:
        if self.session is None or self.session.closed:
            # No session-wide total timeout: each request gets its own below (5 s, 40 s for a transfer).
            self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        return self.session

    def client(self, url: str, key: str, secret: str) -> api.LiveKitAPI:
        """The client for these credentials; called on the loop only, so no lock is needed."""
        credentials = (url, key, secret)
        client = self.clients.get(credentials)
        if client is None:
            # failover=False: region failover is for LiveKit Cloud and would multiply our timeout.
            client = api.LiveKitAPI(url, key, secret, session=self._session(), failover=False)
            self.clients[credentials] = client
        return client

    def rooms_token(self, url: str, key: str, secret: str) -> str:
        """The token for CreateRoom, DeleteRoom and ListRooms: signed ahead, signed again at half its life."""
        credentials = (url, key, secret)
        cached = self.rooms_tokens.get(credentials)
        now = time.monotonic()
        if cached is not None and now < cached[1]:
            return cached[0]
        grants = api.VideoGrants(room_create=True, room_list=True)
        ttl = datetime.timedelta(seconds=ROOMS_TOKEN_TTL_SECONDS)
        token = api.AccessToken(key, secret).with_grants(grants).with_ttl(ttl).to_jwt()
        self.rooms_tokens[credentials] = (token, now + ROOMS_TOKEN_TTL_SECONDS / 2)
        return token

    def rooms_client(self, url: str, key: str, secret: str) -> api.LiveKitAPI:
        """The client for the room calls, carrying rooms_token (a new client once it is signed again)."""
        credentials, token = (url, key, secret), self.rooms_token(url, key, secret)
        cached = self.rooms_clients.get(credentials)
        if cached is not None and cached[1] == token:
            return cached[0]
        client = api.LiveKitAPI(url, token=token, session=self._session(), failover=False)
        self.rooms_clients[credentials] = (client, token)
        return client

    async def close_clients(self) -> None:
        self.clients.clear()
        self.rooms_clients.clear()
        if self.session is not None:
            await self.session.close()
            self.session = None


class _Background(_Clients):
    """This process's event-loop thread, for calls from any thread that is not the main one."""

    def __init__(self) -> None:
        super().__init__(asyncio.new_event_loop())
        self.thread = threading.Thread(target=self._run, name="livekit-client", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def close(self) -> None:
        """Closes the sessions (no "Unclosed client session" warnings at exit) and stops the loop."""
        if self.loop.is_running():
            try:
                asyncio.run_coroutine_threadsafe(self.close_clients(), self.loop).result(timeout=2)
            except (concurrent.futures.TimeoutError, RuntimeError):
                pass
            self.loop.call_soon_threadsafe(self.loop.stop)


class _Inline(_Clients):
    """The main thread's own loop, run only while a call waits for LiveKit. A process that serves
    one request at a time on its main thread (a gunicorn sync worker, a Celery prefork child) runs
    the request right there: handing it to the background thread and back costs two thread
    switches and 0.17-0.25 ms of CPU per request (measured against a local fake LiveKit), about
    7 % of the inbound webhook.

    The room calls (CreateRoom, DeleteRoom, ListRooms: the inbound webhook's and the dialer's) skip
    the loop altogether: _TwirpConnection sends them over a kept-alive http.client connection, the
    same Twirp request livekit-api sends, with livekit-api's messages and token. On the inbound
    webhook that is ~10 % less CPU than aiohttp on this loop (docs/benchmarks.md, "Sixteenth
    session")."""

    def __init__(self) -> None:
        super().__init__(asyncio.new_event_loop())
        self.connections: dict[str, _TwirpConnection] = {}

    def connection(self, url: str) -> _TwirpConnection:
        connection = self.connections.get(url)
        if connection is None:
            connection = self.connections[url] = _TwirpConnection(url)
        return connection

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()
        self.connections.clear()
        if not self.loop.is_closed() and not self.loop.is_running():
            self.loop.run_until_complete(self.close_clients())
            self.loop.close()


class _DeadlineIO:
    """Before every send and receive, the socket's timeout becomes what is left until `deadline`:
    a request never outlasts its timeout, however slowly the server sends its answer."""

    deadline = float("inf")

    def _arm(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out")
        self.settimeout(remaining)  # type: ignore[attr-defined]

    def recv_into(self, buffer: Any, *args: Any, **kwargs: Any) -> int:
        self._arm()
        return super().recv_into(buffer, *args, **kwargs)  # type: ignore[misc]

    def sendall(self, data: Any, *args: Any, **kwargs: Any) -> None:
        self._arm()
        super().sendall(data, *args, **kwargs)  # type: ignore[misc]


class _DeadlineSocket(_DeadlineIO, socket.socket):
    pass


class _DeadlineSSLSocket(_DeadlineIO, ssl.SSLSocket):
    pass


class _LiveKitHTTPConnection(http.client.HTTPConnection):
    """http.client's connection over a _DeadlineSocket (TLS-wrapped for https/wss URLs)."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None) -> None:
        super().__init__(host, port)
        self.tls = tls
        self.deadline = float("inf")

    def connect(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("timed out")
        error: OSError = OSError(f"no address for {self.host}")
        for family, kind, proto, _name, address in socket.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM):
            sock = _DeadlineSocket(family, kind, proto)
            try:
                sock.settimeout(remaining)
                sock.connect(address)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                break
            except OSError as exc:
                sock.close()
                error = exc
        else:
            raise error
        if self.tls is not None:  # the handshake runs under the time left, as the connect did
            sock = self.tls.wrap_socket(sock, server_hostname=self.host)
        sock.deadline = self.deadline
        self.sock = sock


class _TwirpConnection:
    """LiveKit's Twirp API (POST <url>/twirp/livekit.<Service>/<Method>, a protobuf body, a Bearer
    token; errors come back as JSON {code, msg}) over one kept-alive HTTP/1.1 connection."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
        if scheme not in ("http", "https") or not parts.hostname:
            raise LiveKitNotConfigured(f"LIVEKIT_URL must be an http(s) or ws(s) URL, got {url!r}")
        tls = None
        if scheme == "https":
            tls = ssl.create_default_context()
            tls.sslsocket_class = _DeadlineSSLSocket
        self.http = _LiveKitHTTPConnection(parts.hostname, parts.port or (443 if tls else 80), tls)
        self.base_path = parts.path.rstrip("/")

    def post(self, path: str, body: bytes, headers: dict[str, str], deadline: float) -> tuple[int, bytes]:
        """The answer's status and body. A kept-alive connection the server has closed meanwhile
        fails before any answer: that request is sent once more, on a new connection. The room calls
        bear it: CreateRoom of an existing room answers that room, ListRooms only reads, and a
        DeleteRoom that had gone through answers not_found, which its callers log."""
        for attempt in (1, 2):
            reused = self.http.sock is not None
            self.http.deadline = deadline
            if reused:
                self.http.sock.deadline = deadline  # type: ignore[union-attr]
            try:
                self.http.request("POST", self.base_path + path, body, headers)
                response = self.http.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if not reused or attempt == 2:
                    raise
            except BaseException:
                self.close()  # mid-answer: the connection cannot be reused
                raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.http.close()


_background: _Background | None = None
_background_pid = 0
_background_lock = threading.Lock()
_inline: _Inline | None = None
_inline_pid = 0


def _get_background() -> _Background:
    global _background, _background_pid
    with _background_lock:
        # After a fork (gunicorn --preload, Celery prefork) the parent's loop thread does not exist
        # in the child: start a new one rather than queue work onto a loop nobody runs.
        if _background is None or _background_pid != os.getpid():
            _background, _background_pid = _Background(), os.getpid()
        return _background


def _get_inline() -> _Inline | None:
    """The main thread's runner when the caller is the main thread and no loop runs in it; else None
    (request threads of runserver or gthread come and go: they share the background thread)."""
    global _inline, _inline_pid
    if threading.current_thread() is not threading.main_thread() or asyncio._get_running_loop() is not None:
        return None
    if _inline is None or _inline_pid != os.getpid():  # a forked child starts its own, as above
        _inline, _inline_pid = _Inline(), os.getpid()
    return _inline


def _close_runners() -> None:
    if _background is not None and _background_pid == os.getpid():
        _background.close()
    if _inline is not None and _inline_pid == os.getpid():
        _inline.close()


atexit.register(_close_runners)


def _default_timeout() -> float:
    # Web requests call LiveKit too (test sessions, inbound webhooks): with the extra second below,
    # a call never outlasts WEB_REQUEST_BUDGET_SECONDS, whatever the operator set it to.
    return min(REQUEST_TIMEOUT_SECONDS, max(settings.WEB_REQUEST_BUDGET_SECONDS - 1.0, 0.5))


_ROOM_METHODS = {"CreateRoom": "create_room", "DeleteRoom": "delete_room", "ListRooms": "list_rooms"}


def _rooms_call(method: str, request: Message, response_class: type[M]) -> M:
    """A RoomService call the pre-signed rooms token covers: synchronous on the main thread's runner
    (_TwirpConnection), else livekit-api's client on the background loop."""
    inline = _get_inline()
    if inline is None:
        return _call(lambda lk: getattr(lk.room, _ROOM_METHODS[method])(request), rooms=True)
    url, key, secret = _credentials()
    timeout = _default_timeout()
    headers = {
        "Authorization": f"Bearer {inline.rooms_token(url, key, secret)}",
        "Content-Type": "application/protobuf",
        "User-Agent": twirp_client._USER_AGENT,
        twirp_client.REQUEST_ID_HEADER: str(uuid.uuid4()),
    }
    path = f"/{twirp_client.DEFAULT_PREFIX}/livekit.RoomService/{method}"
    try:
        status, body = inline.connection(url).post(
            path, request.SerializeToString(), headers, deadline=time.monotonic() + timeout
        )
    except (OSError, http.client.HTTPException) as exc:  # TimeoutError is an OSError
        reason = str(exc) or type(exc).__name__
        raise LiveKitUnavailable(f"LiveKit at {url} did not answer within {timeout:g} s: {reason}") from exc
    if status != 200:
        try:  # Twirp encodes errors as JSON, whatever the content type says
            error = json.loads(body)
        except ValueError:
            error = {}
        error = error if isinstance(error, dict) else {}
        raise LiveKitRequestFailed(str(error.get("code") or "unknown"), str(error.get("msg") or ""), status=status)
    try:
        return response_class.FromString(body)
    except DecodeError as exc:
        raise LiveKitRequestFailed("malformed", f"not a {response_class.__name__}: {exc}", status=status) from exc


def _call(
    operation: Callable[[api.LiveKitAPI], Awaitable[T]], *, timeout: float | None = None, rooms: bool = False
) -> T:
    """Runs `operation` with a client under a timeout; rooms=True for the room calls the pre-signed
    token covers (CreateRoom, DeleteRoom, ListRooms)."""
    url, key, secret = _credentials()
    timeout = timeout or _default_timeout()
    inline = _get_inline()
    runner: _Clients = inline if inline is not None else _get_background()

    async def run() -> T:
        client = runner.rooms_client(url, key, secret) if rooms else runner.client(url, key, secret)
        async with asyncio.timeout(timeout):  # unlike wait_for, no second task for every request
            return await operation(client)

    future: concurrent.futures.Future[T] | None = None
    try:
        if inline is not None:
            return inline.loop.run_until_complete(run())
        background = _get_background()
        if threading.current_thread() is background.thread:
            raise RuntimeError("livekit_client functions are synchronous; do not call them from its own event loop")
        future = asyncio.run_coroutine_threadsafe(run(), background.loop)
        # The timeout above cancels the request at `timeout`; the extra second only covers a loop
        # that is too busy to even deliver that cancellation.
        return future.result(timeout=timeout + 1)
    except api.SipCallError as exc:
        raise LiveKitRequestFailed(
            exc.code,
            exc.message,
            status=exc.status,
            sip_status_code=exc.sip_status_code,
            sip_status=exc.sip_status or "",
        ) from exc
    except api.TwirpError as exc:
        raise LiveKitRequestFailed(exc.code, exc.message, status=exc.status) from exc
    except (TimeoutError, concurrent.futures.TimeoutError, aiohttp.ClientError, OSError) as exc:
        if future is not None:
            future.cancel()
        reason = str(exc) or type(exc).__name__
        raise LiveKitUnavailable(f"LiveKit at {url} did not answer within {timeout:g} s: {reason}") from exc


def _dispatch(metadata: dict[str, Any]) -> api.RoomAgentDispatch:
    return api.RoomAgentDispatch(agent_name=settings.LIVEKIT_AGENT_NAME, metadata=json.dumps(metadata))


def create_room(*, name: str, metadata: dict[str, Any], agent_dispatch: bool = True) -> None:
    """Creates the room with this metadata and, unless told not to, dispatches the platform's agent to it."""
    request = api.CreateRoomRequest(
        name=name,
        metadata=json.dumps(metadata),
        agents=[_dispatch(metadata)] if agent_dispatch else [],
    )
    _rooms_call("CreateRoom", request, api.Room)


def create_dispatch(*, room: str, metadata: dict[str, Any]) -> str:
    """Dispatches the platform's agent to an existing room; returns the dispatch id."""
    request = api.CreateAgentDispatchRequest(
        agent_name=settings.LIVEKIT_AGENT_NAME, room=room, metadata=json.dumps(metadata)
    )
    dispatch = _call(lambda lk: lk.agent_dispatch.create_dispatch(request))
    return dispatch.id


def create_sip_participant(
    *,
    room: str,
    trunk_id: str,
    call_to: str,
    identity: str,
    ringing_timeout_seconds: int | None = None,
    wait_until_answered: bool = False,
    participant_name: str = "",
    participant_attributes: dict[str, str] | None = None,
    number: str = "",
) -> str:
    """Dials `call_to` through the outbound trunk into the room; returns the SIP call id.

    By default it returns once LiveKit has started the call (the ringing and the answer are seen in
    the room); wait_until_answered=True waits for the answer, up to the ring timeout plus a margin.
    `number` is the caller ID presented (empty: the trunk's own). A SIP failure (busy, no answer,
    refused) raises LiveKitRequestFailed with its sip_status_code."""
    request = api.CreateSIPParticipantRequest(
        sip_trunk_id=trunk_id,
        sip_call_to=call_to,
        sip_number=number,
        room_name=room,
        participant_identity=identity,
        participant_name=participant_name,
        participant_attributes=participant_attributes or {},
        wait_until_answered=wait_until_answered,
    )
    if ringing_timeout_seconds is not None:
        request.ringing_timeout.seconds = int(ringing_timeout_seconds)
    timeout = None
    if wait_until_answered:
        ring = ringing_timeout_seconds or DEFAULT_RINGING_SECONDS
        timeout = ring + RINGING_MARGIN_SECONDS
    info = _call(lambda lk: lk.sip.create_sip_participant(request, timeout=timeout), timeout=timeout)
    return info.sip_call_id


def transfer_participant(*, room: str, identity: str, transfer_to: str) -> None:
    """Transfers the SIP participant to a number (+E.164 becomes tel:) or a sip: URI."""
    if transfer_to.startswith("+"):
        transfer_to = f"tel:{transfer_to}"
    request = api.TransferSIPParticipantRequest(room_name=room, participant_identity=identity, transfer_to=transfer_to)
    _call(lambda lk: lk.sip.transfer_sip_participant(request), timeout=DIAL_TIMEOUT_SECONDS)


def delete_room(*, room: str) -> None:
    """Deletes the room, which disconnects everyone in it (hangs up)."""
    _rooms_call("DeleteRoom", api.DeleteRoomRequest(room=room), api.DeleteRoomResponse)


def list_rooms() -> list[str]:
    """The names of the rooms open now."""
    response = _rooms_call("ListRooms", api.ListRoomsRequest(), api.ListRoomsResponse)
    return [room.name for room in response.rooms]


ROOMS_PER_LIST_REQUEST = 100


def rooms_open(names: Iterable[str]) -> set[str]:
    """Which of these rooms exist now (ListRooms filtered by name, in batches, so the answer stays
    small however many rooms the LiveKit project has open)."""
    wanted = sorted({name for name in names if name})
    found: set[str] = set()
    for start in range(0, len(wanted), ROOMS_PER_LIST_REQUEST):
        batch = wanted[start : start + ROOMS_PER_LIST_REQUEST]
        response = _rooms_call("ListRooms", api.ListRoomsRequest(names=batch), api.ListRoomsResponse)
        found.update(room.name for room in response.rooms)
    return found & set(wanted)


@dataclass(frozen=True)
class WebhookEvent:
    """The parts of a verified LiveKit webhook event the call log uses (no livekit types leak out)."""

    id: str
    event: str  # "room_started", "room_finished", "participant_joined", "participant_left", ...
    created_at: datetime.datetime | None
    room_name: str
    room_metadata: str
    participant_identity: str
    participant_kind: str  # "standard", "sip", "agent", "ingress", "egress", ...; "" without a participant
    participant_attributes: dict[str, str]


def verify_webhook(body: str, auth: str) -> WebhookEvent:
    """The event LiveKit sent, checked with livekit-api's WebhookReceiver: the Authorization header is
    a JWT signed with our API secret (issuer: our API key, not expired) whose sha256 claim is the
    body's hash. Raises LiveKitNotConfigured, LiveKitWebhookInvalid or LiveKitWebhookMalformed."""
    _url, key, secret = _credentials()
    token = auth.strip().removeprefix("Bearer ").strip()  # LiveKit sends the bare JWT
    if not token:
        raise LiveKitWebhookInvalid("missing Authorization token")
    receiver = api.WebhookReceiver(api.TokenVerifier(key, secret))
    try:
        event = receiver.receive(body, token)
    except json_format.ParseError as exc:
        raise LiveKitWebhookMalformed(f"not a LiveKit webhook event: {exc}") from exc
    except jwt.ExpiredSignatureError as exc:
        raise LiveKitWebhookInvalid("token expired") from exc
    except jwt.PyJWTError as exc:
        raise LiveKitWebhookInvalid(f"invalid token: {type(exc).__name__}") from exc
    except Exception as exc:  # WebhookReceiver raises bare Exception for a missing/mismatched sha256
        raise LiveKitWebhookInvalid(str(exc) or type(exc).__name__) from exc
    participant = event.participant
    kind = ""
    if event.HasField("participant"):
        try:
            kind = api.ParticipantInfo.Kind.Name(participant.kind).lower()
        except ValueError:  # a kind newer than this livekit-api: not one the call log acts on
            kind = f"kind-{participant.kind}"
    return WebhookEvent(
        id=event.id,
        event=event.event,
        created_at=datetime.datetime.fromtimestamp(event.created_at, tz=datetime.UTC) if event.created_at else None,
        room_name=event.room.name,
        room_metadata=event.room.metadata,
        participant_identity=participant.identity,
        participant_kind=kind,
        participant_attributes=dict(participant.attributes),
    )


def participant_token(
    *, room: str, identity: str, ttl_seconds: int = 600, dispatch_metadata: dict[str, Any] | None = None
) -> str:
    """A join token for exactly this room, expiring after ttl_seconds, with no admin, create or list grants."""
    _url, key, secret = _credentials()
    token = (
        api.AccessToken(key, secret)
        .with_identity(identity)
        .with_ttl(datetime.timedelta(seconds=ttl_seconds))
        .with_grants(api.VideoGrants(room_join=True, room=room))
    )
    if dispatch_metadata is not None:
        # LiveKit applies a token's room configuration only when the join creates the room: if the
        # room we created closed (empty timeout) before the browser joined, the agent still comes.
        token = token.with_room_config(api.RoomConfiguration(agents=[_dispatch(dispatch_metadata)]))
    return token.to_jwt()


# --- SIP trunks and dispatch rules (telephony_app.provisioning) --------------------------------
# Plain frozen dataclasses go out, so no livekit type leaves this module. Each object LiveKit lists
# keeps its protobuf bytes (`raw`): an update replaces the whole object (UpdateSIP*Request.replace),
# starting from what LiveKit holds, so fields the platform does not manage (allowed addresses, media
# encryption, headers an operator set by hand) are kept.

_TRANSPORTS = {
    "auto": api.SIPTransport.SIP_TRANSPORT_AUTO,
    "udp": api.SIPTransport.SIP_TRANSPORT_UDP,
    "tcp": api.SIPTransport.SIP_TRANSPORT_TCP,
    "tls": api.SIPTransport.SIP_TRANSPORT_TLS,
}
_TRANSPORT_NAMES = {value: name for name, value in _TRANSPORTS.items()}


@dataclass(frozen=True)
class InboundTrunkSpec:
    name: str
    metadata: str
    numbers: tuple[str, ...]


@dataclass(frozen=True)
class OutboundTrunkSpec:
    name: str
    metadata: str
    address: str
    transport: str  # "auto", "udp", "tcp", "tls"
    numbers: tuple[str, ...]
    auth_username: str
    auth_password: str = field(repr=False)


@dataclass(frozen=True)
class DispatchRuleSpec:
    name: str
    metadata: str
    trunk_ids: tuple[str, ...]
    rule_type: str  # "individual" (a new room per call), "direct", "callee"; "" when LiveKit has none
    room_prefix: str
    hide_phone_number: bool
    agents: tuple[tuple[str, str], ...]  # (agent_name, metadata) dispatched into each room


@dataclass(frozen=True)
class SipObject:
    """An inbound trunk, outbound trunk or dispatch rule as LiveKit holds it."""

    id: str
    spec: Any  # InboundTrunkSpec | OutboundTrunkSpec | DispatchRuleSpec
    raw: bytes = field(default=b"", repr=False, compare=False)


def _inbound(info: api.SIPInboundTrunkInfo) -> SipObject:
    spec = InboundTrunkSpec(name=info.name, metadata=info.metadata, numbers=tuple(info.numbers))
    return SipObject(info.sip_trunk_id, spec, info.SerializeToString())


def _outbound(info: api.SIPOutboundTrunkInfo) -> SipObject:
    spec = OutboundTrunkSpec(
        name=info.name,
        metadata=info.metadata,
        address=info.address,
        transport=_TRANSPORT_NAMES.get(info.transport, f"transport-{info.transport}"),
        numbers=tuple(info.numbers),
        auth_username=info.auth_username,
        auth_password=info.auth_password,  # LiveKit may leave it out of its answers: compare with care
    )
    return SipObject(info.sip_trunk_id, spec, info.SerializeToString())


def _rule(info: api.SIPDispatchRuleInfo) -> SipObject:
    rule_type = (info.rule.WhichOneof("rule") or "").removeprefix("dispatch_rule_")
    prefix = getattr(info.rule, f"dispatch_rule_{rule_type}").room_prefix if rule_type else ""
    spec = DispatchRuleSpec(
        name=info.name,
        metadata=info.metadata,
        trunk_ids=tuple(info.trunk_ids),
        rule_type=rule_type,
        room_prefix=prefix,
        hide_phone_number=info.hide_phone_number,
        agents=tuple((agent.agent_name, agent.metadata) for agent in info.room_config.agents),
    )
    return SipObject(info.sip_dispatch_rule_id, spec, info.SerializeToString())


def _inbound_info(spec: InboundTrunkSpec, base: bytes = b"") -> api.SIPInboundTrunkInfo:
    info = api.SIPInboundTrunkInfo.FromString(base)
    info.name, info.metadata = spec.name, spec.metadata
    info.ClearField("numbers")
    info.numbers.extend(spec.numbers)
    return info


def _outbound_info(spec: OutboundTrunkSpec, base: bytes = b"") -> api.SIPOutboundTrunkInfo:
    info = api.SIPOutboundTrunkInfo.FromString(base)
    info.name, info.metadata, info.address = spec.name, spec.metadata, spec.address
    info.transport = _TRANSPORTS[spec.transport]
    info.auth_username, info.auth_password = spec.auth_username, spec.auth_password
    info.ClearField("numbers")
    info.numbers.extend(spec.numbers)
    return info


def _rule_info(spec: DispatchRuleSpec, base: bytes = b"") -> api.SIPDispatchRuleInfo:
    if spec.rule_type != "individual":
        raise ValueError("the platform only makes 'individual' dispatch rules (a new room per call)")
    info = api.SIPDispatchRuleInfo.FromString(base)
    info.name, info.metadata, info.hide_phone_number = spec.name, spec.metadata, spec.hide_phone_number
    info.ClearField("trunk_ids")
    info.trunk_ids.extend(spec.trunk_ids)
    info.rule.CopyFrom(
        api.SIPDispatchRule(dispatch_rule_individual=api.SIPDispatchRuleIndividual(room_prefix=spec.room_prefix))
    )
    info.room_config.ClearField("agents")
    info.room_config.agents.extend(api.RoomAgentDispatch(agent_name=name, metadata=meta) for name, meta in spec.agents)
    return info


def sip_inbound_trunks(
    *, ids: Iterable[str] = (), numbers: Iterable[str] = (), timeout: float | None = None
) -> list[SipObject]:
    """LiveKit's inbound trunks with these ids, or listing these numbers."""
    request = api.ListSIPInboundTrunkRequest(trunk_ids=list(ids), numbers=list(numbers))
    response = _call(lambda lk: lk.sip.list_inbound_trunk(request), timeout=timeout)
    return [_inbound(info) for info in response.items]


def sip_inbound_trunk_create(*, spec: InboundTrunkSpec, timeout: float | None = None) -> SipObject:
    request = api.CreateSIPInboundTrunkRequest(trunk=_inbound_info(spec))
    return _inbound(_call(lambda lk: lk.sip.create_inbound_trunk(request), timeout=timeout))


def sip_inbound_trunk_replace(*, current: SipObject, spec: InboundTrunkSpec, timeout: float | None = None) -> SipObject:
    """The trunk with the spec's fields set, the fields the spec does not name kept as LiveKit had them."""
    info = _inbound_info(spec, current.raw)
    return _inbound(_call(lambda lk: lk.sip.update_inbound_trunk(current.id, info), timeout=timeout))


def sip_outbound_trunks(
    *, ids: Iterable[str] = (), numbers: Iterable[str] = (), timeout: float | None = None
) -> list[SipObject]:
    """LiveKit's outbound trunks with these ids, or listing these numbers."""
    request = api.ListSIPOutboundTrunkRequest(trunk_ids=list(ids), numbers=list(numbers))
    response = _call(lambda lk: lk.sip.list_outbound_trunk(request), timeout=timeout)
    return [_outbound(info) for info in response.items]


def sip_outbound_trunk_create(*, spec: OutboundTrunkSpec, timeout: float | None = None) -> SipObject:
    request = api.CreateSIPOutboundTrunkRequest(trunk=_outbound_info(spec))
    return _outbound(_call(lambda lk: lk.sip.create_outbound_trunk(request), timeout=timeout))


def sip_outbound_trunk_replace(
    *, current: SipObject, spec: OutboundTrunkSpec, timeout: float | None = None
) -> SipObject:
    info = _outbound_info(spec, current.raw)
    return _outbound(_call(lambda lk: lk.sip.update_outbound_trunk(current.id, info), timeout=timeout))


def sip_dispatch_rules(
    *, ids: Iterable[str] = (), trunk_ids: Iterable[str] = (), timeout: float | None = None
) -> list[SipObject]:
    """LiveKit's dispatch rules with these ids, or for these trunks (LiveKit adds rules bound to no trunk)."""
    request = api.ListSIPDispatchRuleRequest(dispatch_rule_ids=list(ids), trunk_ids=list(trunk_ids))
    response = _call(lambda lk: lk.sip.list_dispatch_rule(request), timeout=timeout)
    return [_rule(info) for info in response.items]


def sip_dispatch_rule_create(*, spec: DispatchRuleSpec, timeout: float | None = None) -> SipObject:
    request = api.CreateSIPDispatchRuleRequest(dispatch_rule=_rule_info(spec))
    return _rule(_call(lambda lk: lk.sip.create_dispatch_rule(request), timeout=timeout))


def sip_dispatch_rule_replace(*, current: SipObject, spec: DispatchRuleSpec, timeout: float | None = None) -> SipObject:
    info = _rule_info(spec, current.raw)
    return _rule(_call(lambda lk: lk.sip.update_dispatch_rule(current.id, info), timeout=timeout))
