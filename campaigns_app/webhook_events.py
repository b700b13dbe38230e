"""The campaigns' webhook events (voiceplatform.webhooks), written in the transaction of the change."""

from __future__ import annotations

import datetime

from campaigns_app.models import Campaign
from voiceplatform.models import Tenant
from voiceplatform.webhooks.services import webhook_emit


def campaign_status_changed(*, tenant: Tenant, campaign: Campaign, previous: str, at: datetime.datetime) -> None:
    """campaign.status_changed for a campaign whose row now holds its new status."""
    webhook_emit(
        tenant=tenant,
        event="campaign.status_changed",
        data=lambda: {
            "id": campaign.code,
            "name": campaign.name,
            "status": campaign.status,
            "previousStatus": previous,
            "changedAt": at,
        },
    )


def contact_opted_out(*, tenant: Tenant, number: str, call_code: object, reason: str, at: datetime.datetime) -> None:
    """contact.opted_out: the callee asked during a call not to be called again (a new DNC row)."""
    webhook_emit(
        tenant=tenant,
        event="contact.opted_out",
        data={"number": number, "callId": call_code, "reason": reason, "optedOutAt": at},
    )
