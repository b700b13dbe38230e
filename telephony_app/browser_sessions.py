"""Browser test calls: a person talks to an agent from the browser, through LiveKit, as a caller would.

One service for both doors (POST /api/v1/agents/{id}/test-session and the portal's "Test agent"
page), so both refuse the same agents with the same words and start sessions the same way: a test
Call, a room whose metadata names the agent, tenant and call, the agent dispatched to it, and a
join token for that room only that expires.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from agents_app.models import Agent
from agents_app.readiness import readiness
from agents_app.runtime_config import loader
from telephony_app import livekit_client
from telephony_app.models import Call, CallDirection
from telephony_app.services import call_create, call_fail
from voiceplatform.actor import Actor
from voiceplatform.models import Tenant

TEST_SESSION_TTL_SECONDS = 600
INACTIVE_PROBLEM = "The agent is inactive: activate it first."
UNLOADABLE_PROBLEM = "The agent's configuration could not be loaded."


class BrowserSessionNotReady(Exception):
    """The agent cannot take a test call; `problems` says what to fix, one sentence each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("The agent is not ready for a test call: " + " ".join(problems))


@dataclass(frozen=True)
class BrowserSession:
    """What a browser needs to join: livekit-client's room.connect(url, token), and the call it is."""

    call: Call
    room: str
    token: str
    url: str
    expires_at: datetime.datetime

    def as_json(self) -> dict[str, str]:
        """The API's and the portal's answer, in the reference's camelCase."""
        return {
            "room": self.room,
            "token": self.token,
            "url": self.url,
            "callId": str(self.call.code),
            "expiresAt": self.expires_at.isoformat(),
        }


def livekit_missing_settings() -> list[str]:
    """The names (never the values) of the LiveKit settings a test call still needs."""
    names = ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET")
    return [name for name in names if not getattr(settings, name)]


def browser_session_problems(*, tenant: Tenant, agent: Agent) -> list[str]:
    """What stops a test call of this agent: inactive, or a model/voice/transcriber that cannot be built."""
    if not agent.is_active:
        return [INACTIVE_PROBLEM]
    loaded = loader.get(tenant_code=tenant.code, agent_code=agent.code, count=False)
    if loaded.config is None:
        return [UNLOADABLE_PROBLEM]
    return list(readiness(tenant=tenant, config=loaded.config).problems)


def browser_session_start(*, tenant: Tenant, agent: Agent, actor: Actor) -> BrowserSession:
    """A started test session of the tenant's agent.

    Raises LiveKitNotConfigured (nothing written), BrowserSessionNotReady (nothing written), or another
    LiveKitError after marking the test Call failed with the reason, so the call log shows the attempt.
    """
    if agent.tenant_id != tenant.pk:
        raise ValueError("the agent belongs to another tenant")  # callers look agents up by tenant
    if not livekit_client.is_configured():
        raise livekit_client.LiveKitNotConfigured(livekit_client.NOT_CONFIGURED_MESSAGE)
    problems = browser_session_problems(tenant=tenant, agent=agent)
    if problems:
        raise BrowserSessionNotReady(problems)
    room = f"test-{uuid.uuid4()}"
    call = call_create(
        tenant=tenant,
        agent=agent,
        direction=CallDirection.TEST,
        room_name=room,
        context={"started_by": actor.label},
    )
    metadata = {
        "agent_id": str(agent.code),
        "tenant_id": str(tenant.code),
        "call_id": str(call.code),
        "call_type": CallDirection.TEST.value,
    }
    try:
        livekit_client.create_room(name=room, metadata=metadata)
        token = livekit_client.participant_token(
            room=room,
            identity=f"tester-{call.code}",
            ttl_seconds=TEST_SESSION_TTL_SECONDS,
            dispatch_metadata=metadata,
        )
        url = livekit_client.client_url()
    except livekit_client.LiveKitError as exc:
        call_fail(tenant=tenant, call=call, reason=f"test session: {exc}")
        raise
    expires_at = timezone.now() + datetime.timedelta(seconds=TEST_SESSION_TTL_SECONDS)
    return BrowserSession(call=call, room=room, token=token, url=url, expires_at=expires_at)
