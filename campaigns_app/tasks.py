"""Celery tasks of campaigns: thin, idempotent, each calls one service."""

from __future__ import annotations

import logging

from celery import shared_task

from campaigns_app.dialer import outcome
from campaigns_app.dialer.zones import classify_campaign_contacts
from campaigns_app.importer import contact_import_run
from campaigns_app.models import ContactImport

logger = logging.getLogger(__name__)


@shared_task
def place_call(attempt_id: int) -> str:
    """Place a claimed attempt's call (campaigns_app.dialer.place). Safe under acks_late redelivery:
    an attempt that already has a Call or an outcome is left alone, so it is never dialed twice."""
    from campaigns_app.dialer.place import place_call as place

    result = place(attempt_id)
    logger.info("place_call %s: %s", attempt_id, result)
    return result


@shared_task
def import_contacts(import_id: int) -> None:
    """Run a queued contact import. Safe under acks_late redelivery: a finished import is left
    alone, a running one whose worker died starts over without duplicates (contact_import_run)."""
    contact_import = (
        ContactImport.objects.across_tenants(reason="a queued task names the import by id; it runs in its own tenant")
        .select_related("tenant", "campaign", "campaign__agent")
        .filter(pk=import_id)
        .first()
    )
    if contact_import is None:
        logger.warning("contact import %s no longer exists (its campaign was deleted)", import_id)
        return
    contact_import_run(contact_import=contact_import)


@shared_task(soft_time_limit=20, time_limit=30)
def dialer_tick() -> dict[str, int | float | bool]:
    """Celery beat's pacing tick (every second): claims due contacts and enqueues their calls. A tick that
    finds another one running returns at once (advisory lock), so overlapping beats are harmless."""
    from campaigns_app.dialer import tick  # the tick's modules load only in the processes that dial

    result = tick.dialer_tick()
    return {
        "locked_out": result.locked_out,
        "campaigns": result.campaigns,
        "claimed": result.claimed,
        "skipped": result.skipped,
        "held": result.held,
        "duration_ms": round(result.duration_ms, 1),
    }


@shared_task
def reap_dialer_leases() -> int:
    """Returns claims whose lease expired without a call to the queue (idempotent), writes the outcome of
    attempts whose call ended without it (call_end.settle_ended_calls), fails the Calls a killed
    place_call left queued (place.release_unplaced_calls), and forgets the pace limiters and
    round-robin entries of campaigns no longer dialing."""
    from campaigns_app.dialer import call_end, place, tick

    tick.forget_idle()
    call_end.settle_ended_calls()
    place.release_unplaced_calls()
    return outcome.reap_expired_leases()


@shared_task
def classify_contacts(campaign_id: int) -> None:
    """Give the campaign's unclassified contacts their dialing zones (idempotent: a redelivered or
    concurrent run only writes contacts still unclassified)."""
    classified = classify_campaign_contacts(campaign_id)
    if classified:
        logger.info("campaign %s: %d contact(s) given their dialing zone", campaign_id, classified)
