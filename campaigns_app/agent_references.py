"""Campaigns that hold an agent or a phone number, for the lower apps' reference registries
(agents_app.references, telephony_app.number_references; registered in campaigns_app.wiring).

An open campaign (draft, scheduled, running, paused) calls with its agent and presents its caller
ID, so neither may be deleted, nor the agent made inbound-only, nor the number switched off: the
references block, and detach cannot remove them. A finished (completed or cancelled) campaign is no
reference: deleting its agent or number leaves it with its snapshots (agent_name, caller_id_number).
"""

from __future__ import annotations

from agents_app.models import Agent
from agents_app.references import AgentReference
from campaigns_app.models import OPEN_CAMPAIGN_STATUSES, Campaign
from telephony_app.models import PhoneNumber
from telephony_app.number_references import NumberReference
from voiceplatform.models import Tenant

_REMEDY = "Finish or cancel the campaign, or give it another {what}, first."


def _label(campaign: Campaign) -> str:
    return f"campaign {campaign.name} ({campaign.get_status_display().lower()})"


def _open_campaigns(tenant: Tenant, **holding: object) -> list[Campaign]:
    return list(
        Campaign.objects.for_tenant(tenant).filter(status__in=OPEN_CAMPAIGN_STATUSES, **holding).order_by("name", "id")
    )


class CampaignAgentReferences:
    """The tenant's open campaigns that call with the agent; none is ever detached (blocks_delete)."""

    def references(self, *, tenant: Tenant, agent: Agent) -> list[AgentReference]:
        return [
            AgentReference(
                kind="campaign",
                id=str(campaign.code),
                label=_label(campaign),
                on_detach=_REMEDY.format(what="agent").rstrip("."),
                blocks_delete=True,
                places_calls=True,
            )
            for campaign in _open_campaigns(tenant, agent=agent)
        ]

    def detach(self, *, tenant: Tenant, agent: Agent) -> None:
        """Nothing: agent_delete refuses before detaching while an open campaign uses the agent, and
        the finished ones let go of it by themselves (SET_NULL)."""


def campaign_number_references(*, tenant: Tenant, phone_number: PhoneNumber) -> list[NumberReference]:
    """The tenant's open campaigns that present the number as caller ID."""
    return [
        NumberReference(
            kind="campaign",
            id=str(campaign.code),
            label=f"the caller ID of {_label(campaign)}",
            remedy=_REMEDY.format(what="caller ID"),
        )
        for campaign in _open_campaigns(tenant, caller_id=phone_number)
    ]
