"""Agents API: /api/v1/agents in the reference design's camelCase vocabulary."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Max, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
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
from voiceplatform.actor import Actor
from voiceplatform.api_base import E164Field, TenantScopedViewSet, api_validation_error

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

    @extend_schema(summary="Prompt history, newest first", responses=PromptVersionSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="prompt-history")
    def prompt_history(self, request: Request, id: str) -> Response:
        versions = selectors.prompt_version_list(tenant=self.tenant, agent=self.get_object())
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(PromptVersionSerializer(page, many=True).data)
