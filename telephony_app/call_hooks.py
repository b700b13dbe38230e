"""Who hears of a call's end: a registry the higher apps fill (campaigns_app writes its attempt's
outcome), so telephony_app never imports them.

The call-log services (telephony_app.services) announce a Call's end once it is final, after the
transaction that wrote it commits: the voice worker's report, Twilio's status callback, the
stale-call reaper, and a call created already ended are final at once. A provisional end (a LiveKit
webhook, the reconciliation: the worker's report may still correct it) is announced when the
worker's report replaces it; when no report comes, a listener's own backstop reads the call (the
campaigns' settle_ended_calls). So an end is announced at most once per Call. A hook that raises is
logged and the others still run: the call's end is already committed and is never undone by a
listener.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from functools import partial

from django.db import transaction

from voiceplatform import metrics

logger = logging.getLogger(__name__)

# fn(call_id, status, end_reason, at): call_id is the Call's primary key, status its terminal status
# (a CallStatus value), at its end time.
CallEndHook = Callable[[int, str, str, datetime.datetime], None]

_hooks: dict[str, CallEndHook] = {}


def register_call_end_hook(name: str, fn: CallEndHook) -> None:
    """Call fn whenever a Call first ends; registering the same name again replaces the entry."""
    _hooks[name] = fn


def unregister_call_end_hook(name: str) -> None:
    _hooks.pop(name, None)


def call_ended_on_commit(
    *, call_id: int, status: str, end_reason: str, at: datetime.datetime, direction: str = ""
) -> None:
    """Announce the end of Call call_id to every hook once the current transaction commits (at once
    outside a transaction); `direction` labels the calls_ended_total metric."""
    transaction.on_commit(partial(_announce, call_id, str(status), end_reason, at, str(direction)))


def _announce(call_id: int, status: str, end_reason: str, at: datetime.datetime, direction: str = "") -> None:
    metrics.call_ended(direction=direction, outcome=status)
    for name, fn in list(_hooks.items()):
        try:
            fn(call_id, status, end_reason, at)
        except Exception:
            logger.exception("call-end hook %s failed for call %s (%s)", name, call_id, status)
