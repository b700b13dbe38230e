"""Celery tasks of the call log: thin, idempotent, each calls one service."""

from __future__ import annotations

import datetime

from celery import shared_task
from django.conf import settings

from telephony_app.services import calls_reap_stale

DEFAULT_STALE_AFTER_SECONDS = 4 * 3600  # longer than any real call; a live call's row changes on every report


@shared_task
def reap_stale_calls() -> int:
    """Marks calls the voice worker never reported on (crash, lost job) as failed; returns how many."""
    seconds = getattr(settings, "CALL_STALE_AFTER_SECONDS", DEFAULT_STALE_AFTER_SECONDS)
    return calls_reap_stale(older_than=datetime.timedelta(seconds=seconds))
