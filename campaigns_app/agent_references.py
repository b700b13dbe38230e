"""Campaigns that hold an agent or a phone number, for the lower apps' reference registries
(agents_app.references, telephony_app.number_references; registered in campaigns_app.wiring).

An open campaign (draft, scheduled, running, paused) calls with its agent and presents its caller
ID, so neither may be deleted, nor the agent made inbound-only: the references block, and detach
cannot remove them. A finished campaign keeps both in its record (the foreign keys PROTECT them),
so it blocks a delete too, with its own remedy.
"""

from __future__ import annotations

from agents_app.models import Agent
from agents_app.references import AgentReference
from campaigns_app.models import OPEN_CAMPAIGN_STATUSES, Campaign
from telephony_app.models import PhoneNumber
from telephony_app.number_references import NumberReference
from voiceplatform.models import Tenant


def _label(campaign: Campaign) -> str:
    return f"campaign {campaign.name} ({campaign.get_status_display().lower()})"


def _remedy(campaign: Campaign, other: str) -> str:
    if campaign.is_open:
        return f"Finish or cancel the campaign, or give it another {other}, first."
    return f"A finished campaign keeps its {other} in its record of calls."


class CampaignAgentReferences:
    """The tenant's campaigns that call with the agent; none is ever detached (blocks_delete)."""

    def references(self, *, tenant: Tenant, agent: Agent) -> list[AgentReference]:
        campaigns = Campaign.objects.for_tenant(tenant).filter(agent=agent).order_by("name", "id")
        return [
            AgentReference(
                kind="campaign",
                id=str(campaign.code),
                label=_label(campaign),
                on_detach=_remedy(campaign, "agent").rstrip("."),
                blocks_delete=True,
                places_calls=campaign.is_open,
            )
            for campaign in campaigns
        ]

    def detach(self, *, tenant: Tenant, agent: Agent) -> None:
        """Nothing: agent_delete refuses before detaching while a campaign refers to the agent."""


def campaign_number_references(*, tenant: Tenant, phone_number: PhoneNumber) -> list[NumberReference]:
    """The tenant's campaigns that present the number as caller ID (open ones first)."""
    campaigns = sorted(
        Campaign.objects.for_tenant(tenant).filter(caller_id=phone_number),
        key=lambda campaign: (campaign.status not in OPEN_CAMPAIGN_STATUSES, campaign.name),
    )
    return [
        NumberReference(
            kind="campaign",
            id=str(campaign.code),
            label=f"the caller ID of {_label(campaign)}",
            remedy=_remedy(campaign, "caller ID"),
            blocks_switch_off=campaign.is_open,
        )
        for campaign in campaigns
    ]
