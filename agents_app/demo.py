"""Three realistic demo agents, created by seed_demo on its first run on a database (its SeedMarker).

Never again after that: a demo agent the user renamed or deleted stays renamed or deleted."""

from __future__ import annotations

from typing import Any

from agents_app.models import Agent
from agents_app.services import agent_create
from voiceplatform.actor import Actor
from voiceplatform.models import Tenant

WEEKDAY_HOURS = {
    day: {"start": "09:00", "end": "17:30"} for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
}

DEMO_AGENTS: list[dict[str, Any]] = [
    {
        "fields": {
            "name": "Sales",
            "description": "Calls leads who asked for a callback and books product demos.",
            "system_prompt": (
                "You are Maya, a sales development representative for Demo Company. You call people who asked "
                "for a callback about our scheduling software. Confirm you are speaking with {{first_name}}, say "
                "you are an AI assistant calling on behalf of Demo Company, and ask whether now is a good time. "
                "Find out how many people they schedule and what they use today. If there is a fit, offer a "
                "20-minute demo and agree a time. If they ask not to be called again, apologise, confirm they "
                "will not be called again and end the call."
            ),
            "personality": "Warm, concise and never pushy. Speaks in short sentences.",
            "greeting_message": "Hi, this is Maya, an AI assistant calling from Demo Company. Is this {{first_name}}?",
            "llm_provider": "openai",
            "llm_model": "gpt-4o-mini",
            "temperature": 0.6,
            "tts_provider": "cartesia",
            "voice_id": "79a125e8-cd45-4c13-8a67-188112f4dd22",
            "stt_provider": "deepgram",
            "stt_language": "en",
            "direction": "outbound",
            "max_retries": 3,
            "retry_delay_minutes": 120,
            "voicemail_action": "leave_message",
            "voicemail_message": "Hi, this is Maya from Demo Company returning your request for a callback. "
            "We will try again later, or call us back at +1 212 555 0100.",
            "consent_required": True,
            "dnc_enabled": True,
        },
    },
    {
        "fields": {
            "name": "Support",
            "description": "Answers the support line: order status, returns, account questions.",
            "system_prompt": (
                "You are the support assistant of Demo Company. Help callers with order status, returns and "
                "account questions. Ask for the order number when needed and repeat it back. Never invent an "
                "order status. If the caller is upset, asks for a person, or the question is about billing "
                "disputes, transfer them to a human."
            ),
            "personality": "Patient, empathetic and precise.",
            "greeting_message": "Thank you for calling Demo Company support. How can I help you today?",
            "llm_provider": "openai",
            "llm_model": "gpt-4o",
            "temperature": 0.4,
            "tts_provider": "openai",
            "voice_id": "coral",
            "stt_provider": "deepgram",
            "stt_language": "en",
            "direction": "inbound",
            "timezone": "America/New_York",
            "transfer_number": "+12125550142",
            "fallback_number": "+12125550199",
            "out_of_hours_message": "Our support team is available Monday to Friday, 9 AM to 5:30 PM Eastern. "
            "Please call back then, or leave a message after the tone.",
            "recording_enabled": True,
        },
        "business_hours": WEEKDAY_HOURS,
        "holidays": [{"date": "2026-12-25", "name": "Christmas Day"}, {"date": "2027-01-01", "name": "New Year's Day"}],
    },
    {
        "fields": {
            "name": "Greeting",
            "description": "Front desk: greets callers, routes them, and places reminder calls.",
            "system_prompt": (
                "You are the front desk of Demo Company. Greet callers, find out what they need and route them: "
                "sales questions to the sales team, problems with an order to support. For outbound reminder "
                "calls, remind {{first_name}} of their appointment and confirm or reschedule it."
            ),
            "personality": "Friendly and upbeat.",
            "greeting_message": "Hello and welcome to Demo Company!",
            "llm_provider": "openai",
            "llm_model": "gpt-4o-mini",
            "tts_provider": "openai",
            "voice_id": "alloy",
            "stt_provider": "deepgram",
            "stt_language": "en",
            "direction": "both",
            "transfer_number": "+12125550100",
        },
    },
]


def demo_agents_ensure(*, tenant: Tenant, actor: Actor) -> list[Agent]:
    """Create the demo agents this tenant does not have yet (by name); return the ones created."""
    existing = set(Agent.objects.for_tenant(tenant).values_list("name", flat=True))
    created = []
    for spec in DEMO_AGENTS:
        if spec["fields"]["name"] in existing:
            continue
        kwargs = {key: value for key, value in spec.items() if key != "fields"}
        created.append(agent_create(tenant=tenant, actor=actor, fields=spec["fields"], note="Demo data", **kwargs))
    return created
