"""The one door to LiveKit's server API: rooms, agent dispatch, SIP participants, join tokens.

Nothing else in the project imports livekit.api. Every function is synchronous (for views and
Celery tasks): it runs livekit-api's async client with asyncio.run under a timeout, so it must not
be called from a running event loop. Failures become the three exceptions below, which callers turn
into useful responses.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
from django.conf import settings
from livekit import api

T = TypeVar("T")

REQUEST_TIMEOUT_SECONDS = 5.0
# A transfer rings the far end: livekit-api pins the ring window to 30 s and waits 2 s beyond it.
DIAL_TIMEOUT_SECONDS = 40.0
NOT_CONFIGURED_MESSAGE = "LiveKit is not configured: set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET."


class LiveKitError(Exception):
    """Base of every failure this module raises."""


class LiveKitNotConfigured(LiveKitError):
    """LIVEKIT_URL, LIVEKIT_API_KEY or LIVEKIT_API_SECRET is missing."""


class LiveKitUnavailable(LiveKitError):
    """LiveKit could not be reached or did not answer in time."""


class LiveKitRequestFailed(LiveKitError):
    """LiveKit answered with an error (Twirp error code and message)."""

    def __init__(self, code: str, message: str, *, status: int | None = None) -> None:
        self.code = code
        self.message = message
        self.status = status
        super().__init__(f"LiveKit refused the request ({code}): {message or 'no message'}")


def is_configured() -> bool:
    """Whether the URL, key and secret are all set."""
    return bool(settings.LIVEKIT_URL and settings.LIVEKIT_API_KEY and settings.LIVEKIT_API_SECRET)


def client_url() -> str:
    """The URL a browser's livekit-client connects to (ws/wss; http(s) settings are rewritten)."""
    url = _credentials()[0]
    if url.startswith("http"):
        return "ws" + url[len("http") :]
    return url


def _credentials() -> tuple[str, str, str]:
    if not is_configured():
        raise LiveKitNotConfigured(NOT_CONFIGURED_MESSAGE)
    return settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET


def _call(operation: Callable[[api.LiveKitAPI], Awaitable[T]], *, timeout: float | None = None) -> T:
    url, key, secret = _credentials()
    timeout = timeout or REQUEST_TIMEOUT_SECONDS

    async def run() -> T:
        # failover=False: region failover is for LiveKit Cloud and would multiply our timeout.
        client_timeout = aiohttp.ClientTimeout(total=timeout)
        async with api.LiveKitAPI(url, key, secret, timeout=client_timeout, failover=False) as lk:
            return await asyncio.wait_for(operation(lk), timeout)

    try:
        return asyncio.run(run())
    except api.TwirpError as exc:
        raise LiveKitRequestFailed(exc.code, exc.message, status=exc.status) from exc
    except (TimeoutError, aiohttp.ClientError, OSError) as exc:
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
    _call(lambda lk: lk.room.create_room(request))


def create_dispatch(*, room: str, metadata: dict[str, Any]) -> str:
    """Dispatches the platform's agent to an existing room; returns the dispatch id."""
    request = api.CreateAgentDispatchRequest(
        agent_name=settings.LIVEKIT_AGENT_NAME, room=room, metadata=json.dumps(metadata)
    )
    dispatch = _call(lambda lk: lk.agent_dispatch.create_dispatch(request))
    return dispatch.id


def create_sip_participant(*, room: str, trunk_id: str, call_to: str, identity: str) -> str:
    """Starts dialing `call_to` through the outbound trunk into the room (does not wait for an answer);
    returns the SIP call id."""
    request = api.CreateSIPParticipantRequest(
        sip_trunk_id=trunk_id, sip_call_to=call_to, room_name=room, participant_identity=identity
    )
    info = _call(lambda lk: lk.sip.create_sip_participant(request))
    return info.sip_call_id


def transfer_participant(*, room: str, identity: str, transfer_to: str) -> None:
    """Transfers the SIP participant to a number (+E.164 becomes tel:) or a sip: URI."""
    if transfer_to.startswith("+"):
        transfer_to = f"tel:{transfer_to}"
    request = api.TransferSIPParticipantRequest(room_name=room, participant_identity=identity, transfer_to=transfer_to)
    _call(lambda lk: lk.sip.transfer_sip_participant(request), timeout=DIAL_TIMEOUT_SECONDS)


def delete_room(*, room: str) -> None:
    """Deletes the room, which disconnects everyone in it (hangs up)."""
    _call(lambda lk: lk.room.delete_room(api.DeleteRoomRequest(room=room)))


def list_rooms() -> list[str]:
    """The names of the rooms open now."""
    response = _call(lambda lk: lk.room.list_rooms(api.ListRoomsRequest()))
    return [room.name for room in response.rooms]


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
