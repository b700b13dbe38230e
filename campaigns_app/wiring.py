"""What campaigns_app registers with the lower apps' registries (called from CampaignsAppConfig.ready)."""

from __future__ import annotations


def register() -> None:
    """Fill the registries; a second call replaces the same entries, so it is harmless."""
    from campaigns_app.dashboard import campaign_dashboard_counts
    from voiceplatform.dashboard import register_counts

    register_counts("campaigns_app.campaigns", campaign_dashboard_counts, order=30)

    from agents_app.references import register_agent_references
    from campaigns_app.agent_references import CampaignAgentReferences, campaign_number_references
    from telephony_app.number_references import register_number_references

    # A campaign holds its agent and caller ID: neither is deleted (nor the agent made inbound-only,
    # nor the number switched off) while an open campaign uses it.
    register_agent_references("campaigns_app.campaigns", CampaignAgentReferences())
    register_number_references("campaigns_app.campaigns", campaign_number_references)

    from campaigns_app.dialer.call_end import HOOK_NAME, attempt_on_call_end
    from telephony_app.call_hooks import register_call_end_hook

    # A campaign call's end, whoever reports it (worker, webhooks, reconciliation, reaper), writes
    # its attempt's outcome and moves the contact on (once).
    register_call_end_hook(HOOK_NAME, attempt_on_call_end)

    from campaigns_app.dialer.single import single_call_place
    from telephony_app.outbound import register_outbound_placer

    # POST /api/v1/calls places one call through the dialer's checks (window, DNC, consent, limits).
    register_outbound_placer(single_call_place)

    from campaigns_app.selectors import campaign_analytics_choices
    from telephony_app.analytics.campaigns import register_campaign_source

    # The analytics filter by campaign; telephony_app learns the tenant's campaigns from here.
    register_campaign_source("campaigns_app.campaigns", campaign_analytics_choices)
