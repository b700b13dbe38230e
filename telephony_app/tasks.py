"""Celery tasks of the call log: thin, idempotent, each calls one service."""

from __future__ import annotations

import datetime
import logging

from celery import shared_task
from django.conf import settings

from telephony_app import livekit_client
from telephony_app.livekit_sync import calls_reconcile
from telephony_app.services import calls_reap_stale, chats_end_idle

logger = logging.getLogger(__name__)

DEFAULT_STALE_AFTER_SECONDS = 4 * 3600  # longer than any real call; a live call's row changes on every report
DEFAULT_RECONCILE_AFTER_SECONDS = 300


@shared_task
def reap_stale_calls() -> int:
    """Marks calls the voice worker never reported on (crash, lost job) as failed; returns how many."""
    seconds = getattr(settings, "CALL_STALE_AFTER_SECONDS", DEFAULT_STALE_AFTER_SECONDS)
    return calls_reap_stale(older_than=datetime.timedelta(seconds=seconds))


@shared_task
def reconcile_calls() -> int:
    """Ends open calls whose LiveKit room is gone (dropped webhook, crashed worker); returns how many.

    Safe to run twice (acks_late redelivery, an overlapping beat tick): ended calls are no longer
    open, and rows another run holds are skipped. With LiveKit unconfigured or unreachable it logs
    and changes nothing, since "no answer" is not "no room"; the reaper remains the last resort.
    Text chats have no room: those with no turn for CHAT_IDLE_TIMEOUT are ended first ("idle")."""
    idle = chats_end_idle(idle_for=datetime.timedelta(seconds=settings.CHAT_IDLE_TIMEOUT))
    if idle:
        logger.info("call reconciliation: %d idle text chats ended", idle)
    seconds = getattr(settings, "CALL_RECONCILE_AFTER_SECONDS", DEFAULT_RECONCILE_AFTER_SECONDS)
    try:
        result = calls_reconcile(older_than=datetime.timedelta(seconds=seconds))
    except livekit_client.LiveKitError as exc:
        logger.warning("call reconciliation skipped, LiveKit's room list is unavailable: %s", exc)
        return 0
    if result.checked:
        logger.info(
            "call reconciliation: %d checked, %d ended, %d still have a room",
            result.checked,
            result.ended,
            result.room_open,
        )
    return result.ended
