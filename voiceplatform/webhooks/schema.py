"""The webhook events in the OpenAPI schema: one component per event (its envelope, `<Name>Event`,
with the event's example) and one per payload (`WebhookCallData`…), built from the registry.

The schema is OpenAPI 3.0, which has no `webhooks` section (3.1 has): the events are documented as
components, referenced from the endpoints' `eventTypes` description and docs/webhooks.md.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.plumbing import ComponentRegistry, build_mocked_view
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from voiceplatform.webhooks.events import EVENT_TYPES, EventType


def component_name(event: EventType) -> str:
    """call.ended -> CallEndedEvent; campaign.status_changed -> CampaignStatusChangedEvent."""
    words = event.name.replace("_", ".").split(".")
    return "".join(word.capitalize() for word in words) + "Event"


def _envelope(event: EventType) -> type[serializers.Serializer]:
    fields = {
        "type": serializers.ChoiceField(choices=[(event.name, event.name)], help_text="The event type."),
        "timestamp": serializers.DateTimeField(help_text="When the event happened (UTC)."),
        "data": event.payload(),
    }
    name = component_name(event)
    return type(name, (serializers.Serializer,), {**fields, "__doc__": event.description})


def _event_example(event: EventType) -> dict[str, Any]:
    return {"type": event.name, "timestamp": "2026-12-01T14:05:20.104000Z", "data": dict(event.example)}


def add_webhook_events(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: adds every registered event's body to the components."""
    registry = ComponentRegistry()
    for event in EVENT_TYPES.values():
        view = build_mocked_view(
            method="POST", path="/", extend_schema_decorator=extend_schema(request=_envelope(event)), registry=registry
        )
        view.schema._get_request_body("response")
    built = registry.build(spectacular_settings.APPEND_COMPONENTS).get("schemas", {})
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in built.items():
        schemas.setdefault(name, schema)
    for event in EVENT_TYPES.values():
        schema = schemas[component_name(event)]
        schema["description"] = event.description
        schema["example"] = _event_example(event)
        # The envelope's `type` is one constant: an enum of one value, inline.
        schema["properties"]["type"] = {"type": "string", "enum": [event.name], "description": "The event type."}
    return result
