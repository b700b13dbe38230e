"""The agents API's serializers: an agent in the reference design's camelCase vocabulary, its prompt
history, and the response shapes the schema documents (runtime config, delete conflict)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from agents_app import services
from agents_app.models import OUTBOUND_NOT_ACTIVE, RECORDING_NOT_ACTIVE, Agent, DialerType, Direction, VoicemailAction
from agents_app.validation import HoursRange, business_hours_document
from voiceplatform.api_base import E164Field

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
    ("analysis.enabled", "analysis_enabled"),
    ("analysis.summaryPrompt", "analysis_summary_prompt"),
    ("analysis.schema", "analysis_schema"),
    ("analysis.successRubric", "analysis_success_rubric"),
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


class AnalysisSerializer(serializers.Serializer):
    """Post-call analysis: after each call the agent's model writes a summary, the data of `schema` and,
    with a rubric, whether the call succeeded (shown on the call; docs/agents.md, "Post-call analysis")."""

    enabled = serializers.BooleanField(required=False, help_text="Analyse this agent's calls after they end.")
    summaryPrompt = serializers.CharField(
        required=False, allow_blank=True, help_text="What the summary should say; empty = a short summary."
    )
    schema = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text='The data to extract, as a JSON Schema subset: {"type": "object", "properties": {"name": '
        '{"type": "string"|"number"|"integer"|"boolean"|"array", "description": "...", "enum": [...], '
        '"items": {"type": "string"}}}, "required": ["name"]}. null or {} = no data.',
    )
    successRubric = serializers.CharField(
        required=False, allow_blank=True, help_text="When a call counts as a success; empty = not judged."
    )


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
    analysis = AnalysisSerializer(required=False)
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
            "analysis": {
                "enabled": agent.analysis_enabled,
                "summaryPrompt": agent.analysis_summary_prompt,
                "schema": agent.analysis_schema or None,
                "successRubric": agent.analysis_success_rubric,
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
        for json_field in ("ivr_menu", "analysis_schema"):
            if fields.get(json_field, services.UNSET) is None:
                fields[json_field] = {}
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
                "id": serializers.UUIDField(help_text="The referring agent's, number's or campaign's id"),
                "label": serializers.CharField(),
                "onDetach": serializers.CharField(help_text="What ?detach=true does to it"),
                "blocksDelete": serializers.BooleanField(
                    help_text="True for an open campaign: no detach removes it; finish or cancel it first"
                ),
            },
        ),
    },
)
