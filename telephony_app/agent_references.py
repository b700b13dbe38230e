"""The phone numbers that route calls to an agent, for agents_app's reference registry
(registered in TelephonyAppConfig.ready, so agents_app never imports telephony_app)."""

from __future__ import annotations

from agents_app.models import Agent
from agents_app.references import AgentReference
from telephony_app.models import PhoneNumber
from telephony_app.number_cache import inbound_numbers_forget_on_commit
from voiceplatform.models import Tenant


class PhoneNumberReferences:
    """A number answered by the agent; detaching leaves the number with no agent (calls get the
    'not available' line) until someone assigns another one."""

    def references(self, *, tenant: Tenant, agent: Agent) -> list[AgentReference]:
        return [
            AgentReference(
                kind="phone_number",
                id=str(number.code),
                label=f"phone number {number}",
                on_detach=f"{number.number} is left with no agent: its callers hear that no one is available",
                answers_inbound=True,
            )
            for number in PhoneNumber.objects.for_tenant(tenant).filter(agent=agent).order_by("number")
        ]

    def detach(self, *, tenant: Tenant, agent: Agent) -> None:
        for number in PhoneNumber.objects.for_tenant(tenant).filter(agent=agent):
            number.agent = None
            number.save(update_fields=["agent", "updated_at"])
            inbound_numbers_forget_on_commit([number.number])
