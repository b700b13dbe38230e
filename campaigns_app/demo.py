"""A small demo campaign, created by seed_demo on its first run on a database (its SeedMarker): a
draft with ten contacts across the US time zones, one of them on the do-not-call list (imported as
skipped), the others with recorded consent, calling with the demo's outbound agent."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError

from agents_app.models import Agent, Direction
from campaigns_app.models import Campaign, ConsentSource, DncSource
from campaigns_app.services import campaign_create, consent_grant, contacts_add, dnc_add
from telephony_app.models import PhoneNumber
from telephony_app.services import phone_number_create
from voiceplatform.actor import Actor
from voiceplatform.models import Tenant

logger = logging.getLogger(__name__)

DEMO_CAMPAIGN_NAME = "Demo callback requests"
# The number the demo Sales agent's voicemail gives for calling back (555-01xx: fictional numbers).
DEMO_CALLER_ID = "+12125550100"
# Real area codes, so phonenumbers places each callee in its zone (the dialer's calling window).
DEMO_CONTACTS: list[dict[str, str]] = [
    {"number": "+12125550143", "name": "Olivia Bennett"},  # New York: Eastern
    {"number": "+16175550112", "name": "Liam Walsh"},  # Boston: Eastern
    {"number": "+13125550123", "name": "Ava Kowalski"},  # Chicago: Central
    {"number": "+12145550134", "name": "Noah Ramirez"},  # Dallas: Central
    {"number": "+13035550145", "name": "Emma Lindqvist"},  # Denver: Mountain (on the do-not-call list)
    {"number": "+16025550156", "name": "Mateo Alvarez"},  # Phoenix: Mountain, no daylight saving
    {"number": "+14155550167", "name": "Sophia Chen"},  # San Francisco: Pacific
    {"number": "+12065550178", "name": "Lucas Novak"},  # Seattle: Pacific
    {"number": "+19075550189", "name": "Isabella Nanuk"},  # Anchorage: Alaska
    {"number": "+18085550190", "name": "Kai Kealoha"},  # Honolulu: Hawaii
]
DEMO_DNC_NUMBER = "+13035550145"


def demo_campaign_ensure(*, tenant: Tenant, actor: Actor) -> Campaign | None:
    """Create the demo campaign when the tenant has an outbound agent and no campaign of that name;
    None when it already exists or cannot be made (no outbound agent, the caller ID taken elsewhere)."""
    if Campaign.objects.for_tenant(tenant).filter(name=DEMO_CAMPAIGN_NAME).exists():
        return None
    agents = Agent.objects.for_tenant(tenant).filter(is_active=True).order_by("name")
    # The dedicated outbound agent (the demo's Sales), else one that does both.
    agent = agents.filter(direction=Direction.OUTBOUND).first() or agents.filter(direction=Direction.BOTH).first()
    caller_id = _caller_id(tenant)
    if agent is None or caller_id is None:
        return None
    campaign = campaign_create(
        tenant=tenant,
        fields={
            "name": DEMO_CAMPAIGN_NAME,
            "objective": "Call back the people who asked for a callback and book a 20-minute product demo.",
            "agent": agent,
            "caller_id": caller_id,
            "requires_consent": True,
            "recording_notice": "This call may be recorded for quality.",
        },
    )
    dnc_add(
        tenant=tenant,
        number=DEMO_DNC_NUMBER,
        source=DncSource.MANUAL,
        reason="Asked not to be called again (demo).",
        actor=actor,
    )
    for row in DEMO_CONTACTS:
        if row["number"] != DEMO_DNC_NUMBER:
            consent_grant(
                tenant=tenant,
                number=row["number"],
                evidence="Demo data: callback request form on the website.",
                source=ConsentSource.WEB_FORM,
                actor=actor,
            )
    # The DNC rule is the import's: the listed number arrives as skipped, with its reason.
    contacts_add(tenant=tenant, campaign=campaign, rows=DEMO_CONTACTS)
    return campaign


def _caller_id(tenant: Tenant) -> PhoneNumber | None:
    """The tenant's demo caller ID, created (with no agent: it only presents outbound calls) if missing."""
    existing = PhoneNumber.objects.for_tenant(tenant).filter(number=DEMO_CALLER_ID, is_active=True).first()
    if existing is not None:
        return existing
    try:
        return phone_number_create(tenant=tenant, number=DEMO_CALLER_ID, label="Demo outbound caller ID")
    except ValidationError:  # another tenant of this database holds it: no demo campaign
        logger.warning("seed_demo: %s is taken by another tenant; no demo campaign", DEMO_CALLER_ID)
        return None
