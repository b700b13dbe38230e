"""What campaigns_app registers with the lower apps' registries (called from CampaignsAppConfig.ready)."""

from __future__ import annotations


def register() -> None:
    """Fill the registries; a second call replaces the same entries, so it is harmless."""
    from campaigns_app.dashboard import campaign_dashboard_counts
    from voiceplatform.dashboard import register_counts

    register_counts("campaigns_app.campaigns", campaign_dashboard_counts, order=30)
