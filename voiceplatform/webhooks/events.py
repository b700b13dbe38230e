"""The webhook event types: each is one `register_event` line naming its payload serializer.

The serializer is both the payload's shape on the wire (webhook_emit renders `data` through it, so a
missing field fails loudly where the event is emitted) and its documentation: the OpenAPI schema
lists every registered event as a component with its example (voiceplatform.webhooks.schema).
Payload field names follow the API's (camelCase, ids are the objects' UUID codes).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rest_framework import serializers


@dataclass(frozen=True)
class EventType:
    name: str
    description: str
    payload: type[serializers.Serializer]
    example: Mapping[str, Any]
    subscribable: bool = True  # False: sent on request only (the portal's "Send test event")


EVENT_TYPES: dict[str, EventType] = {}


def register_event(
    name: str,
    payload: type[serializers.Serializer],
    *,
    description: str,
    example: Mapping[str, Any],
    subscribable: bool = True,
) -> EventType:
    """Make an event type known to endpoints, the emitter and the schema (re-registering replaces it)."""
    event = EventType(name, description, payload, example, subscribable)
    EVENT_TYPES[name] = event
    return event


def subscribable_events() -> list[EventType]:
    return [event for event in EVENT_TYPES.values() if event.subscribable]


def event_choices() -> list[tuple[str, str]]:
    return [(event.name, event.name) for event in subscribable_events()]


@functools.cache
def _writer(payload: type[serializers.Serializer]) -> serializers.Serializer:
    # One instance per payload class: building one per event deep-copies every declared field (~0.1 ms
    # of the inbound webhook's path); to_representation keeps no state between calls for these fields.
    return payload()


def render_payload(event: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` as the event's serializer writes it (JSON types); KeyError names a missing field."""
    return dict(_writer(EVENT_TYPES[event].payload).to_representation(data))


# Payloads ------------------------------------------------------------------------------------


class WebhookCallDataSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The call's id (GET /api/v1/calls/{id} has its transcript).")
    agentId = serializers.UUIDField(allow_null=True)
    agentName = serializers.CharField()
    direction = serializers.CharField(help_text="inbound, outbound, web or chat.")
    status = serializers.CharField(help_text="The call's status when the event was written.")
    fromNumber = serializers.CharField()
    toNumber = serializers.CharField()
    startedAt = serializers.DateTimeField(allow_null=True)
    answeredAt = serializers.DateTimeField(allow_null=True)
    endedAt = serializers.DateTimeField(allow_null=True)
    durationSeconds = serializers.FloatField(allow_null=True, help_text="Talk time, answer to end.")
    endReason = serializers.CharField()
    estimatedCostUsd = serializers.DecimalField(max_digits=10, decimal_places=5, allow_null=True)


class WebhookCallAnalysisDataSerializer(serializers.Serializer):
    callId = serializers.UUIDField()
    summary = serializers.CharField()
    extracted = serializers.DictField(help_text="The fields of the agent's structured-data schema.")
    success = serializers.BooleanField(allow_null=True, help_text="The agent's success rubric's verdict.")


class WebhookCampaignDataSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    status = serializers.CharField(help_text="draft, scheduled, running, paused, completed or cancelled.")
    previousStatus = serializers.CharField()
    changedAt = serializers.DateTimeField()


class WebhookOptOutDataSerializer(serializers.Serializer):
    number = serializers.CharField(help_text="E.164; now on the tenant's do-not-call list.")
    callId = serializers.UUIDField(allow_null=True, help_text="The call during which the callee opted out.")
    reason = serializers.CharField()
    optedOutAt = serializers.DateTimeField()


class WebhookTestDataSerializer(serializers.Serializer):
    endpointId = serializers.UUIDField()
    message = serializers.CharField()


_CALL = {
    "id": "5b0e7a3c-2f51-4c8e-9b3a-6d1f0e2c4a77",
    "agentId": "0c9b8a7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d",
    "agentName": "Front desk",
    "direction": "inbound",
    "fromNumber": "+14155550123",
    "toNumber": "+14155550100",
    "startedAt": "2026-12-01T14:03:05.120000Z",
    "answeredAt": "2026-12-01T14:03:07.410000Z",
}
_CALL_STARTED = {
    **_CALL,
    "status": "in_progress",
    "endedAt": None,
    "durationSeconds": None,
    "endReason": "",
    "estimatedCostUsd": None,
}
_CALL_ENDED = {
    **_CALL,
    "status": "completed",
    "endedAt": "2026-12-01T14:05:19.900000Z",
    "durationSeconds": 132.49,
    "endReason": "caller hung up",
    "estimatedCostUsd": "0.04210",
}

register_event(
    "call.started",
    WebhookCallDataSerializer,
    description="A call left the queue: it rings, was answered, or (a text chat) began.",
    example=_CALL_STARTED,
)
register_event(
    "call.ended",
    WebhookCallDataSerializer,
    description="A call's final end was recorded (once per call, whoever reported it).",
    example=_CALL_ENDED,
)
register_event(
    "call.analyzed",
    WebhookCallAnalysisDataSerializer,
    description="The post-call analysis of a call is done: its summary, extracted data and success verdict.",
    example={
        "callId": _CALL["id"],
        "summary": "The caller booked a table for four on Friday at 19:00.",
        "extracted": {"partySize": 4, "day": "friday", "wantsReminder": True},
        "success": True,
    },
)
register_event(
    "campaign.status_changed",
    WebhookCampaignDataSerializer,
    description="A campaign changed status (started, paused, resumed, completed, cancelled).",
    example={
        "id": "9a1d2c3b-4e5f-4a6b-8c7d-0e1f2a3b4c5d",
        "name": "December reminders",
        "status": "running",
        "previousStatus": "draft",
        "changedAt": "2026-12-01T09:00:00Z",
    },
)
register_event(
    "contact.opted_out",
    WebhookOptOutDataSerializer,
    description="A callee asked during a call not to be called again; the number is on the do-not-call list.",
    example={
        "number": "+12125550100",
        "callId": _CALL["id"],
        "reason": "the callee opted out during the call (pressed 9)",
        "optedOutAt": "2026-12-01T14:04:40Z",
    },
)
register_event(
    "webhook.test",
    WebhookTestDataSerializer,
    description="Sent by the portal's or the API's \"send test event\" to one endpoint, whatever it subscribes to.",
    example={"endpointId": "3f2e1d0c-9b8a-4765-8432-10fedcba9876", "message": "A test event from voiceplatform."},
    subscribable=False,
)
