"""What campaigns_app registers with the lower apps' registries (called from CampaignsAppConfig.ready)."""

from __future__ import annotations


def register() -> None:
    """Fill the registries; a second call replaces the same entries, so it is harmless."""
