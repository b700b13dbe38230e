"""The agents API's OpenAPI examples (the reference design's Task 1 and Task 3 payloads, switching
post-call analysis on, a runtime config, a delete refused because something still refers to the agent)."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

from agents_app.analysis import SCHEMA_EXAMPLE

TASK1_EXAMPLE = OpenApiExample(
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
ANALYSIS_EXAMPLE = OpenApiExample(
    "Switch post-call analysis on",
    request_only=True,
    value={
        "analysis": {
            "enabled": True,
            "summaryPrompt": "One or two sentences: who called and what they booked.",
            "schema": SCHEMA_EXAMPLE,
            "successRubric": "The caller booked a table or was told clearly why none was free.",
        }
    },
)
TASK3_EXAMPLE = OpenApiExample(
    "Reference 'Task 3' prompt update", request_only=True, value={"systemPrompt": "New system prompt here..."}
)
RUNTIME_CONFIG_EXAMPLE = OpenApiExample(
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
DELETE_CONFLICT_EXAMPLE = OpenApiExample(
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
                "blocksDelete": False,
            }
        ],
    },
)
