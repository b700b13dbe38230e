"""Agents API: /api/v1/agents in the reference design's camelCase vocabulary."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Max, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agents_app import selectors, services
from agents_app.models import OUTBOUND_NOT_ACTIVE, RECORDING_NOT_ACTIVE, Agent, DialerType, Direction, VoicemailAction
from agents_app.readiness import readiness
from agents_app.references import dangling_ivr_problems, references_json
from agents_app.runtime_config import loader
from agents_app.validation import HoursRange, business_hours_document
from telephony_app import browser_sessions, livekit_client
from telephony_app.api import CallSerializer
from voiceplatform.actor import Actor
from voiceplatform.api_base import E164Field, TenantScopedViewSet, api_validation_error

CHAT_MAX_MESSAGE_CHARS = 2000  # worker.chat.MAX_MESSAGE_CHARS; that module loads LiveKit, so not imported here

# (API path, model field). Drives both reading requests and naming fields in 400 errors.
FIELD_PATHS: tuple[tuple[str, str], ...] = (
    ("name", "name"),
    ("description", "description"),
    ("systemPrompt", "system_prompt"),
    ("personality", "personality"),
    ("greetingMessage", "greeting_message"),
    ("llmProvider", "llm_provider"),
    ("llmModel", "llm_model"),
    ("temperature", "temperature"),
    ("maxOutputTokens", "max_output_tokens"),
    ("voiceId", "voice_id"),
    ("direction", "direction"),
    ("maxConcurrentCalls", "max_concurrent_calls"),
    ("recordingEnabled", "recording_enabled"),
    ("isActive", "is_active"),
    ("metadata.voiceProvider", "tts_provider"),
    ("metadata.ttsModel", "tts_model"),
    ("metadata.speakingSpeed", "speaking_speed"),
    ("metadata.sttProvider", "stt_provider"),
    ("metadata.sttModel", "stt_model"),
    ("metadata.sttLanguage", "stt_language"),
    ("metadata.timezone", "timezone"),
    ("metadata.transferNumber", "transfer_number"),
    ("metadata.fallbackNumber", "fallback_number"),
    ("metadata.outOfHoursMessage", "out_of_hours_message"),
    ("metadata.ivrMenu", "ivr_menu"),
    ("metadata.turnTaking.allowInterruptions", "allow_interruptions"),
    ("metadata.turnTaking.minEndpointingDelay", "min_endpointing_delay"),
    ("metadata.turnTaking.maxEndpointingDelay", "max_endpointing_delay"),
    ("metadata.turnTaking.preemptiveGeneration", "preemptive_generation"),
    ("metadata.outboundConfig.dialerType", "dialer_type"),
    ("metadata.outboundConfig.maxRetries", "max_retries"),
    ("metadata.outboundConfig.retryDelayMinutes", "retry_delay_minutes"),
    ("metadata.outboundConfig.voicemailAction", "voicemail_action"),
    ("metadata.outboundConfig.voicemailMessage", "voicemail_message"),
    ("metadata.outboundConfig.consentRequired", "consent_required"),
    ("metadata.outboundConfig.dncEnabled", "dnc_enabled"),
)
SCHEDULE_PATHS = {"business_hours": "metadata.businessHours", "holidays": "metadata.holidays"}
MODEL_TO_PATH = {model: path for path, model in FIELD_PATHS} | SCHEDULE_PATHS


class TurnTakingSerializer(serializers.Serializer):
    allowInterruptions = serializers.BooleanField(required=False)
    minEndpointingDelay = serializers.FloatField(required=False, help_text="Seconds of silence before a turn may end.")
    maxEndpointingDelay = serializers.FloatField(required=False, help_text="Longest wait for the caller to go on.")
    preemptiveGeneration = serializers.BooleanField(required=False)


_OUTBOUND_HELP = f"Not active yet: {OUTBOUND_NOT_ACTIVE}"


class OutboundConfigSerializer(serializers.Serializer):
    dialerType = serializers.ChoiceField(choices=DialerType.choices, required=False, help_text=_OUTBOUND_HELP)
    maxRetries = serializers.IntegerField(required=False, help_text=_OUTBOUND_HELP)
    retryDelayMinutes = serializers.IntegerField(required=False, help_text=_OUTBOUND_HELP)
    voicemailAction = serializers.ChoiceField(choices=VoicemailAction.choices, required=False, help_text=_OUTBOUND_HELP)
    voicemailMessage = serializers.CharField(required=False, allow_blank=True, help_text=_OUTBOUND_HELP)
    consentRequired = serializers.BooleanField(required=False, help_text=_OUTBOUND_HELP)
    dncEnabled = serializers.BooleanField(required=False, help_text=_OUTBOUND_HELP)


class AgentMetadataSerializer(serializers.Serializer):
    voiceProvider = serializers.CharField(required=False, help_text="openai, elevenlabs, cartesia or deepgram")
    ttsModel = serializers.CharField(required=False, allow_blank=True)
    speakingSpeed = serializers.FloatField(required=False)
    sttProvider = serializers.CharField(required=False, help_text="deepgram, assemblyai, openai or google")
    sttModel = serializers.CharField(required=False, allow_blank=True)
    sttLanguage = serializers.CharField(required=False)
    timezone = serializers.CharField(required=False, help_text="IANA time zone for business hours")
    businessHours = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text='null = always open; else {"monday": {"start": "09:00", "end": "17:00"}, ...}: '
        "a day takes one range, a list of ranges, or null (closed); missing days are closed.",
    )
    holidays = serializers.JSONField(required=False, help_text='["2026-12-25", {"date": "2027-01-01", "name": "..."}]')
    transferNumber = E164Field(required=False, allow_blank=True, allow_null=True)
    fallbackNumber = E164Field(required=False, allow_blank=True, allow_null=True)
    outOfHoursMessage = serializers.CharField(required=False, allow_blank=True)
    ivrMenu = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text='{"prompt": "For sales press 1", "options": [{"digit": "1", "action": "transfer"|"agent"|"message", '
        '"number": "+1...", "agentId": "<uuid>", "message": "..."}]}',
    )
    turnTaking = TurnTakingSerializer(required=False)
    outboundConfig = OutboundConfigSerializer(required=False, help_text=_OUTBOUND_HELP)


class AgentSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="code", read_only=True)
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(required=False, allow_blank=True)
    systemPrompt = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    personality = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    greetingMessage = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    llmProvider = serializers.CharField(required=False, help_text="openai, google, anthropic, groq, openai_compatible")
    llmModel = serializers.CharField(required=False)
    temperature = serializers.FloatField(required=False)
    maxOutputTokens = serializers.IntegerField(required=False, allow_null=True)
    voiceId = serializers.CharField(required=False)
    direction = serializers.ChoiceField(choices=Direction.choices, required=False)
    maxConcurrentCalls = serializers.IntegerField(required=False)
    recordingEnabled = serializers.BooleanField(required=False, help_text=f"Not active yet: {RECORDING_NOT_ACTIVE}")
    isActive = serializers.BooleanField(required=False)
    metadata = AgentMetadataSerializer(required=False)
    promptVersion = serializers.IntegerField(read_only=True)
    createdAt = serializers.DateTimeField(read_only=True)
    updatedAt = serializers.DateTimeField(read_only=True)

    def to_representation(self, agent: Agent) -> dict[str, Any]:
        ranges = [HoursRange(h.weekday, h.start, h.end) for h in agent.business_hours.all()]
        return {
            "id": str(agent.code),
            "name": agent.name,
            "description": agent.description,
            "systemPrompt": agent.system_prompt,
            "personality": agent.personality,
            "greetingMessage": agent.greeting_message,
            "llmProvider": agent.llm_provider,
            "llmModel": agent.llm_model,
            "temperature": agent.temperature,
            "maxOutputTokens": agent.max_output_tokens,
            "voiceId": agent.voice_id,
            "direction": agent.direction,
            "maxConcurrentCalls": agent.max_concurrent_calls,
            "recordingEnabled": agent.recording_enabled,
            "isActive": agent.is_active,
            "metadata": {
                "voiceProvider": agent.tts_provider,
                "ttsModel": agent.tts_model or agent.effective_tts_model,
                "customVoice": agent.is_custom_voice,
                "speakingSpeed": agent.speaking_speed,
                "sttProvider": agent.stt_provider,
                "sttModel": agent.stt_model or agent.effective_stt_model,
                "sttLanguage": agent.stt_language,
                "timezone": agent.timezone,
                "businessHours": business_hours_document(ranges, compact=True)
                if agent.business_hours_enabled
                else None,
                "holidays": [{"date": h.date.isoformat(), "name": h.name} for h in agent.holidays.all()],
                "transferNumber": agent.transfer_number or None,
                "fallbackNumber": agent.fallback_number or None,
                "outOfHoursMessage": agent.out_of_hours_message,
                "ivrMenu": agent.ivr_menu or None,
                "turnTaking": {
                    "allowInterruptions": agent.allow_interruptions,
                    "minEndpointingDelay": agent.min_endpointing_delay,
                    "maxEndpointingDelay": agent.max_endpointing_delay,
                    "preemptiveGeneration": agent.preemptive_generation,
                },
                "outboundConfig": {
                    "dialerType": agent.dialer_type,
                    "maxRetries": agent.max_retries,
                    "retryDelayMinutes": agent.retry_delay_minutes,
                    "voicemailAction": agent.voicemail_action,
                    "voicemailMessage": agent.voicemail_message,
                    "consentRequired": agent.consent_required,
                    "dncEnabled": agent.dnc_enabled,
                },
            },
            "promptVersion": getattr(agent, "prompt_version", None),
            "createdAt": agent.created_at.isoformat(),
            "updatedAt": agent.updated_at.isoformat(),
        }

    def to_service_kwargs(self) -> dict[str, Any]:
        """Validated request data as agent_create/agent_update keyword arguments."""
        data = self.validated_data
        fields: dict[str, Any] = {}
        for path, model_field in FIELD_PATHS:
            node: Any = data
            for part in path.split("."):
                node = node.get(part, services.UNSET) if isinstance(node, dict) else services.UNSET
            if node is not services.UNSET:
                fields[model_field] = "" if node is None and model_field.endswith("_number") else node
        if fields.get("ivr_menu", services.UNSET) is None:
            fields["ivr_menu"] = {}
        metadata = data.get("metadata", {})
        kwargs: dict[str, Any] = {"fields": fields}
        if "businessHours" in metadata:
            fields["business_hours_enabled"] = metadata["businessHours"] is not None
            kwargs["business_hours"] = metadata["businessHours"]
        if "holidays" in metadata:
            kwargs["holidays"] = metadata["holidays"]
        return kwargs


class PromptVersionSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    systemPrompt = serializers.CharField(source="system_prompt")
    personality = serializers.CharField()
    greetingMessage = serializers.CharField(source="greeting_message")
    author = serializers.CharField(source="author_label")
    note = serializers.CharField()
    createdAt = serializers.DateTimeField(source="created_at")


RuntimeConfigResponse = inline_serializer(
    "RuntimeConfigResponse",
    fields={
        "success": serializers.BooleanField(),
        "config": serializers.DictField(help_text="The runtime configuration document (no secrets)."),
        "source": serializers.ChoiceField(choices=["cache", "database", "stale", "default"]),
        "cached_until": serializers.DateTimeField(allow_null=True),
        "timestamp": serializers.DateTimeField(),
        "readiness": inline_serializer(
            "CallReadiness",
            fields={
                "ready": serializers.BooleanField(),
                "problems": serializers.ListField(
                    child=serializers.CharField(), help_text="What to fix before calls can use this agent."
                ),
            },
            help_text="Whether the worker can build this agent's LLM, TTS and STT with the tenant's keys.",
        ),
    },
)

_TASK1_EXAMPLE = OpenApiExample(
    "Reference 'Task 1' payload",
    request_only=True,
    value={
        "name": "Sales Agent",
        "description": "Handles product inquiries and sales",
        "systemPrompt": "You are a friendly sales agent. Help customers find the right product.",
        "personality": "Enthusiastic and helpful",
        "llmModel": "gpt-4o-mini",
        "voiceId": "79a125e8-cd45-4c13-8a67-188112f4dd22",
        "metadata": {
            "voiceProvider": "cartesia",
            "sttProvider": "assemblyai",
            "sttModel": "universal-streaming",
            "transferNumber": "+18005551234",
            "fallbackNumber": "+18005556789",
            "businessHours": {
                "monday": {"start": "09:00", "end": "17:00"},
                "tuesday": {"start": "09:00", "end": "17:00"},
            },
            "outboundConfig": {"dialerType": "predictive", "maxRetries": 3, "dncEnabled": True},
        },
    },
)
_TASK3_EXAMPLE = OpenApiExample(
    "Reference 'Task 3' prompt update", request_only=True, value={"systemPrompt": "New system prompt here..."}
)
_RUNTIME_CONFIG_EXAMPLE = OpenApiExample(
    "Runtime config",
    response_only=True,
    value={
        "success": True,
        "config": {
            "agent_id": "0b8e6a52-2f0e-4c8f-9a53-1f1d2b7c9e10",
            "name": "Support Agent",
            "system_prompt": "You are a helpful customer support agent...",
            "personality": "Patient and empathetic",
            "llm_provider": "openai",
            "llm_model": "gpt-4o-mini",
            "temperature": 0.7,
            "voice_id": "79a125e8-cd45-4c13-8a67-188112f4dd22",
            "tts_provider": "cartesia",
            "tts_voice_id": "79a125e8-cd45-4c13-8a67-188112f4dd22",
            "stt_provider": "assemblyai",
            "stt_language": "en",
            "max_concurrent_calls": 3,
            "is_active": True,
            "greeting_message": "Thanks for calling. How can I help?",
        },
        "source": "cache",
        "cached_until": "2026-11-25T17:30:00+00:00",
        "timestamp": "2026-11-25T17:25:00+00:00",
        "readiness": {"ready": False, "problems": ["No Cartesia key for the voice: add one under Provider keys."]},
    },
)
_BOOL_PARAM = {"true": True, "1": True, "false": False, "0": False}


class ChatRequestSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=["start", "send", "end"])
    chatId = serializers.UUIDField(required=False, help_text="The chat's id, from start; needed by send and end.")
    message = serializers.CharField(
        required=False,
        allow_blank=True,
        trim_whitespace=False,
        help_text=f"What the user says (send only); 1 to {CHAT_MAX_MESSAGE_CHARS} characters.",
    )

    def validate(self, data: dict[str, Any]) -> dict[str, Any]:
        if data["action"] in ("send", "end") and "chatId" not in data:
            raise serializers.ValidationError({"chatId": f"Give the chat's id to {data['action']} it."})
        if data["action"] == "send" and "message" not in data:
            raise serializers.ValidationError({"message": "Give the message to send."})
        return data


class ChatMessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(
        choices=["user", "assistant", "tool", "system"],
        help_text="tool: a tool the agent called; system: what happened on the (simulated) line, or an error",
    )
    text = serializers.CharField()
    at = serializers.DateTimeField()
    dryRun = serializers.BooleanField(help_text='A telephony action not carried out: "would transfer to +1…"')
    error = serializers.BooleanField(help_text="The language model provider failed; the chat goes on")


ChatResponse = inline_serializer(
    "ChatResponse",
    fields={
        "chatId": serializers.UUIDField(),
        "messages": ChatMessageSerializer(many=True, help_text="start: the greeting; send: the new turns"),
        "ended": serializers.BooleanField(help_text="True once the agent ended or transferred the conversation"),
        "error": serializers.CharField(allow_null=True, help_text="The provider's failure, when the model failed"),
    },
)
ChatEndResponse = inline_serializer(
    "ChatEndResponse",
    fields={"chatId": serializers.UUIDField(), "ended": serializers.BooleanField(), "call": CallSerializer()},
)
_CHAT_200 = PolymorphicProxySerializer(
    component_name="ChatTurnOrEnd",
    serializers=[ChatResponse, ChatEndResponse],
    resource_type_field_name=None,
)
ChatNotReadyResponse = inline_serializer(
    "ChatNotReadyResponse",
    fields={"detail": serializers.CharField(), "problems": serializers.ListField(child=serializers.CharField())},
)
ChatTimedOutResponse = inline_serializer(
    "ChatTimedOutResponse",
    fields={
        "detail": serializers.CharField(),
        "problems": serializers.ListField(child=serializers.CharField()),
        "chatId": serializers.UUIDField(),
        "messages": ChatMessageSerializer(many=True, help_text="The turns recorded: the message and the failure"),
        "ended": serializers.BooleanField(),
        "error": serializers.CharField(allow_null=True),
    },
)
_CHAT_ID = "5d0c1c8e-3f7a-4f0e-9a57-0c2f4b1f7e21"
_CHAT_EXAMPLES = [
    OpenApiExample("Start a chat", request_only=True, value={"action": "start"}),
    OpenApiExample(
        "Send a message",
        request_only=True,
        value={"action": "send", "chatId": _CHAT_ID, "message": "Can I talk to a person?"},
    ),
    OpenApiExample("End the chat", request_only=True, value={"action": "end", "chatId": _CHAT_ID}),
    OpenApiExample(
        "Started (201)",
        response_only=True,
        status_codes=["201"],
        value={
            "chatId": _CHAT_ID,
            "messages": [
                {
                    "role": "assistant",
                    "text": "Hi, this is Maya from Acme. How can I help?",
                    "at": "2026-11-25T17:25:00.120+00:00",
                    "dryRun": False,
                    "error": False,
                }
            ],
            "ended": False,
            "error": None,
        },
    ),
    OpenApiExample(
        "Sent: the agent transfers (200)",
        response_only=True,
        status_codes=["200"],
        value={
            "chatId": _CHAT_ID,
            "messages": [
                {
                    "role": "user",
                    "text": "Can I talk to a person?",
                    "at": "2026-11-25T17:25:09.001+00:00",
                    "dryRun": False,
                    "error": False,
                },
                {
                    "role": "tool",
                    "text": "transfer_to_human()",
                    "at": "2026-11-25T17:25:09.840+00:00",
                    "dryRun": False,
                    "error": False,
                },
                {
                    "role": "assistant",
                    "text": "One moment, I'm transferring you now.",
                    "at": "2026-11-25T17:25:09.842+00:00",
                    "dryRun": False,
                    "error": False,
                },
                {
                    "role": "system",
                    "text": "would transfer to +18005551234",
                    "at": "2026-11-25T17:25:09.850+00:00",
                    "dryRun": True,
                    "error": False,
                },
            ],
            "ended": True,
            "error": None,
        },
    ),
    OpenApiExample(
        "Language model not ready (400)",
        response_only=True,
        status_codes=["400"],
        value={
            "detail": "The agent's language model is not ready: "
            "No OpenAI key for the language model: add one under Provider keys.",
            "problems": ["No OpenAI key for the language model: add one under Provider keys."],
        },
    ),
]


TestSessionResponse = inline_serializer(
    "TestSessionResponse",
    fields={
        "room": serializers.CharField(help_text="The LiveKit room the agent was dispatched to"),
        "token": serializers.CharField(help_text="A join token for that room only"),
        "url": serializers.CharField(help_text="The LiveKit URL for livekit-client's room.connect(url, token)"),
        "callId": serializers.UUIDField(help_text="The test call in /api/v1/calls"),
        "expiresAt": serializers.DateTimeField(help_text="When the token stops letting anyone join"),
    },
)
DetailResponse = inline_serializer("DetailResponse", fields={"detail": serializers.CharField()})
AgentDeleteConflictResponse = inline_serializer(
    "AgentDeleteConflictResponse",
    fields={
        "detail": serializers.CharField(),
        "problems": serializers.ListField(child=serializers.CharField(), help_text="One line per reference"),
        "references": inline_serializer(
            "AgentReference",
            many=True,
            fields={
                "kind": serializers.ChoiceField(choices=["ivr_option", "phone_number", "campaign"]),
                "id": serializers.UUIDField(help_text="The referring agent's or number's id"),
                "label": serializers.CharField(),
                "onDetach": serializers.CharField(help_text="What ?detach=true does to it"),
            },
        ),
    },
)
_DELETE_CONFLICT_EXAMPLE = OpenApiExample(
    "Still in use (409)",
    response_only=True,
    status_codes=["409"],
    value={
        "detail": "Support Agent is still used by 1 thing: phone number +14155550123 (Support line). "
        "Repeat with ?detach=true to detach them and delete the agent.",
        "problems": [
            "phone number +14155550123 (Support line): +14155550123 is left with no agent: "
            "its callers hear that no one is available"
        ],
        "references": [
            {
                "kind": "phone_number",
                "id": "3f6b2a9e-8c41-4d7a-b0e5-6a2f1c9d8e47",
                "label": "phone number +14155550123 (Support line)",
                "onDetach": "+14155550123 is left with no agent: its callers hear that no one is available",
            }
        ],
    },
)


def _has_path(errors: Any, path: str) -> bool:
    """Whether the serializer's errors cover this dotted path (an error on a parent covers it too)."""
    node = errors
    for part in path.split("."):
        if not isinstance(node, dict):
            return True
        if part not in node:
            return False
        node = node[part]
    return True


def _without(data: Any, errors: Any) -> Any:
    """The request body minus every value the serializer refused."""
    if not isinstance(data, dict) or not isinstance(errors, dict):
        return data
    kept = dict(data)
    for key, error in errors.items():
        if key in kept and isinstance(error, dict) and isinstance(kept[key], dict):
            kept[key] = _without(kept[key], error)
        else:
            kept.pop(key, None)
    return kept


def _every_problem(*, tenant: Any, agent: Agent | None, data: Any, errors: Any) -> dict[str, Any]:
    """The serializer's errors plus what the service finds in the fields that did read."""
    merged: dict[str, Any] = json.loads(json.dumps(errors))  # plain dicts and strings, safe to extend
    if not isinstance(data, dict) or "non_field_errors" in merged:
        return merged
    readable = AgentSerializer(data=_without(data, merged), partial=True)
    if not readable.is_valid():
        return merged
    unreadable = {field for field, path in MODEL_TO_PATH.items() if _has_path(merged, path)}
    problems = services.agent_check(tenant=tenant, agent=agent, unreadable=unreadable, **readable.to_service_kwargs())
    for field, messages in problems.items():
        path = MODEL_TO_PATH.get(field, "non_field_errors" if field == "__all__" else field).split(".")
        node = merged
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node.setdefault(path[-1], []).extend(messages)
    return merged


def _dangling_problems(*, tenant: Any, code: str) -> list[str]:
    """IVR options naming a deleted agent: the readiness list shows them (the config leaves them out)."""
    agent = Agent.objects.for_tenant(tenant).filter(code=code).first()
    return dangling_ivr_problems(tenant=tenant, agent=agent) if agent is not None else []


@extend_schema_view(
    list=extend_schema(
        summary="List agents",
        parameters=[
            OpenApiParameter("isActive", OpenApiTypes.BOOL, description="only active (true) or inactive (false)"),
            OpenApiParameter("direction", OpenApiTypes.STR, enum=Direction.values),
            OpenApiParameter("search", OpenApiTypes.STR, description="name contains (case-insensitive)"),
        ],
    ),
    create=extend_schema(summary="Create an agent", examples=[_TASK1_EXAMPLE]),
    retrieve=extend_schema(summary="Get an agent"),
    update=extend_schema(
        summary="Update an agent",
        description="Like the reference design, PUT changes only the fields sent (Task 3 sends only systemPrompt).",
        examples=[_TASK3_EXAMPLE],
    ),
    partial_update=extend_schema(summary="Update some fields of an agent"),
    destroy=extend_schema(
        summary="Delete an agent",
        description=(
            "Deletes the agent with its hours, holidays and prompt history. When something still refers to it "
            "(another agent's IVR option, a phone number it answers, a campaign), the answer is 409 with the "
            "`references` and nothing changes; repeat with `?detach=true` to detach them (IVR options removed, "
            "numbers left with no agent) and delete in one transaction."
        ),
        parameters=[
            OpenApiParameter(
                "detach",
                OpenApiTypes.BOOL,
                description="true: detach whatever refers to the agent and delete it; false (default): refuse (409)",
            )
        ],
        responses={204: None, 409: AgentDeleteConflictResponse},
        examples=[_DELETE_CONFLICT_EXAMPLE],
    ),
)
class AgentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    TenantScopedViewSet,
):
    model = Agent
    serializer_class = AgentSerializer

    def filter_tenant_queryset(self, queryset: QuerySet[Agent]) -> QuerySet[Agent]:
        queryset = queryset.select_related("tenant").prefetch_related("business_hours", "holidays")
        queryset = queryset.annotate(prompt_version=Max("prompt_versions__version")).order_by("name", "id")
        if self.action != "list":
            return queryset
        params = self.request.query_params
        raw_active = params.get("isActive", params.get("is_active"))
        if raw_active is not None:
            if raw_active.lower() not in _BOOL_PARAM:
                raise serializers.ValidationError({"isActive": "Use true or false."})
            queryset = queryset.filter(is_active=_BOOL_PARAM[raw_active.lower()])
        if direction := params.get("direction"):
            if direction not in Direction.values:
                raise serializers.ValidationError({"direction": f"Use one of {', '.join(Direction.values)}."})
            queryset = queryset.filter(direction=direction)
        if search := params.get("search", "").strip():
            queryset = queryset.filter(name__icontains=search)
        return queryset

    def _write(self, request: Request, agent: Agent | None) -> Response:
        serializer = self.get_serializer(data=request.data, partial=agent is not None)
        if not serializer.is_valid():  # the service still checks what did read: every mistake in one answer
            raise serializers.ValidationError(
                _every_problem(tenant=self.tenant, agent=agent, data=request.data, errors=serializer.errors)
            )
        kwargs = serializer.to_service_kwargs()
        try:
            if agent is None:
                agent = services.agent_create(tenant=self.tenant, actor=Actor.from_request(request), **kwargs)
            else:
                agent = services.agent_update(
                    tenant=self.tenant, agent=agent, actor=Actor.from_request(request), **kwargs
                )
        except DjangoValidationError as exc:
            raise api_validation_error(exc, MODEL_TO_PATH) from None
        agent = self.get_queryset().get(pk=agent.pk)
        return Response(self.get_serializer(agent).data, status=status.HTTP_200_OK)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = self._write(request, None)
        response.status_code = status.HTTP_201_CREATED
        return response

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._write(request, self.get_object())

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._write(request, self.get_object())

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raw = request.query_params.get("detach", "false").lower()
        if raw not in _BOOL_PARAM:
            raise serializers.ValidationError({"detach": "Use true or false."})
        try:
            services.agent_delete(tenant=self.tenant, agent=self.get_object(), detach=_BOOL_PARAM[raw])
        except services.AgentInUse as in_use:
            body = {
                "detail": f"{in_use} Repeat with ?detach=true to detach them and delete the agent.",
                "problems": [ref.as_text() for ref in in_use.references],
                "references": references_json(in_use.references),
            }
            return Response(body, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Duplicate an agent", request=None, responses={201: AgentSerializer})
    @action(detail=True, methods=["post"])
    def duplicate(self, request: Request, id: str) -> Response:
        copy = services.agent_duplicate(tenant=self.tenant, agent=self.get_object(), actor=Actor.from_request(request))
        return Response(self.get_serializer(self.get_queryset().get(pk=copy.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Runtime config (what the voice worker sees)",
        description="Served from Redis; an edit is visible on the next read. `source` says where it came from.",
        responses=RuntimeConfigResponse,
        examples=[_RUNTIME_CONFIG_EXAMPLE],
    )
    @action(detail=True, methods=["get"], url_path="runtime-config")
    def runtime_config(self, request: Request, id: str) -> Response:
        loaded = loader.get(tenant_code=self.tenant.code, agent_code=id)
        if loaded.config is None:
            return Response({"detail": "No Agent matches the given query."}, status=status.HTTP_404_NOT_FOUND)
        verdict = readiness(tenant=self.tenant, config=loaded.config)
        problems = [*verdict.problems, *_dangling_problems(tenant=self.tenant, code=id)]
        return Response(
            {
                "success": loaded.source != "default",
                "config": loaded.config,
                "source": loaded.source,
                "cached_until": loaded.cached_until.isoformat() if loaded.cached_until else None,
                "timestamp": timezone.now().isoformat(),
                "readiness": {"ready": not problems, "problems": problems},
            }
        )

    @extend_schema(
        summary="Text chat with the agent (start, send a message, end)",
        description=(
            "Runs the agent as in a call (same instructions, greeting and tools, its own language model with this "
            "tenant's key) on text, with no LiveKit server. Telephony tools are dry runs: the reply says what would "
            'happen ("would transfer to +1…", "would end the call") and the conversation ends. Each chat is a '
            "call with direction `chat` in /api/v1/calls. `start` answers 201 with the greeting; `send` answers 200 "
            "with the new turns: a provider failure is one of them (`error: true`, also in `error`), the chat goes "
            "on. 400: bad body, empty or too long message, or a language model that cannot be built (`problems` "
            "names the missing key); 404: unknown agent or chat; 409: the chat has ended; 504: the model did not "
            "answer within the web request budget (WEB_REQUEST_BUDGET_SECONDS); the turn is recorded as failed "
            "and the chat goes on."
        ),
        request=ChatRequestSerializer,
        responses={
            201: ChatResponse,
            200: _CHAT_200,
            400: ChatNotReadyResponse,
            404: None,
            409: None,
            504: ChatTimedOutResponse,
        },
        examples=_CHAT_EXAMPLES,
    )
    @action(detail=True, methods=["post"])
    def chat(self, request: Request, id: str) -> Response:
        from worker import chat as playground  # loads LiveKit: only processes that chat pay for it

        agent = self.get_object()
        body = ChatRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            if data["action"] == "start":
                result = playground.chat_start(tenant=self.tenant, agent=agent, actor=Actor.from_request(request))
                return _chat_timed_out(result) or Response(_chat_response(result), status=status.HTTP_201_CREATED)
            call = playground.chat_get(tenant=self.tenant, agent=agent, code=data["chatId"])
            if data["action"] == "send":
                result = playground.chat_send(tenant=self.tenant, call=call, message=data["message"])
                return _chat_timed_out(result) or Response(_chat_response(result))
            call = playground.chat_end(tenant=self.tenant, call=call)
            return Response({"chatId": str(call.code), "ended": True, "call": CallSerializer(call).data})
        except playground.ChatNotReady as exc:
            return Response({"detail": str(exc), "problems": list(exc.problems)}, status=status.HTTP_400_BAD_REQUEST)
        except playground.NotThisChat as exc:
            raise serializers.ValidationError({"chatId": [str(exc)]}) from None
        except playground.ChatEnded as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
        except playground.ChatError as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_400_BAD_REQUEST)

    @extend_schema(
        summary="Start a browser voice test session",
        description=(
            "Creates a test call and a LiveKit room with the agent dispatched, and returns a token that lets a "
            "browser join exactly that room until `expiresAt`. 400: the agent is inactive or not ready (`problems` "
            "says what to fix); 502: LiveKit failed (the call is marked failed); 503: LiveKit is not configured."
        ),
        request=None,
        responses={
            201: TestSessionResponse,
            400: ChatNotReadyResponse,
            404: None,
            502: DetailResponse,
            503: DetailResponse,
        },
    )
    @action(detail=True, methods=["post"], url_path="test-session")
    def test_session(self, request: Request, id: str) -> Response:
        agent = self.get_object()
        try:
            session = browser_sessions.browser_session_start(
                tenant=self.tenant, agent=agent, actor=Actor.from_request(request)
            )
        except livekit_client.LiveKitNotConfigured as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        except browser_sessions.BrowserSessionNotReady as exc:
            return Response({"detail": str(exc), "problems": exc.problems}, status=status.HTTP_400_BAD_REQUEST)
        except livekit_client.LiveKitError as exc:
            return Response({"detail": f"Could not start the test session: {exc}"}, status=status.HTTP_502_BAD_GATEWAY)
        return Response(session.as_json(), status=status.HTTP_201_CREATED)

    @extend_schema(summary="Prompt history, newest first", responses=PromptVersionSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="prompt-history")
    def prompt_history(self, request: Request, id: str) -> Response:
        versions = selectors.prompt_version_list(tenant=self.tenant, agent=self.get_object())
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(PromptVersionSerializer(page, many=True).data)


def _chat_timed_out(result: Any) -> Response | None:
    """504 when the model did not answer within WEB_REQUEST_BUDGET_SECONDS; the chat is kept and goes on."""
    if not result.timed_out:
        return None
    seconds = settings.WEB_REQUEST_BUDGET_SECONDS
    document = {
        "detail": f"The agent's language model did not answer within {seconds} seconds.",
        "problems": [
            "The provider is slow or overloaded: send the message again, or choose a faster model.",
            "The chat is kept: the unanswered turn is in its transcript and the next message continues it.",
        ],
        **_chat_response(result),
    }
    return Response(document, status=status.HTTP_504_GATEWAY_TIMEOUT)


def _chat_response(result: Any) -> dict[str, Any]:
    from worker.chat import public_messages

    return {
        "chatId": str(result.call.code),
        "messages": list(public_messages(result.messages)),
        "ended": result.ended,
        "error": result.error or None,
    }
