"""Hands committed webhook deliveries to Celery, from a background thread in the web server.

A Celery publish costs ~0.4 ms of CPU and a Redis round trip. Made inside the inbound webhook's
request (a tenant with an endpoint subscribed to call.started), it took the benchmark's p99 at 200
webhooks/s from 23-63 ms (the same runs without the publish) to 129-4,252 ms (docs/benchmarks.md,
"Fourteenth session"). So in each gunicorn worker (voiceplatform/gunicorn_conf.py calls enable()
after the fork) the after-commit enqueue only appends the delivery ids here, and a daemon thread
sends whatever has gathered BATCH_WINDOW_SECONDS after the first one as one `deliver_webhooks`
message, which a Celery worker fans out into one deliver_webhook task per delivery (each with its
own tries and log).

Nothing is lost if the process dies before the thread sends: the rows are committed and pending,
and the beat sweep (enqueue_due_webhook_deliveries) sends every delivery still pending SWEEP_GRACE
after it fell due. A worker that stops normally sends what it holds first (flush, gunicorn's
worker_exit). Everywhere else (Celery workers, the voice worker, commands, tests) enqueue()
publishes at once, one task per delivery, as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

logger = logging.getLogger(__name__)

# How long the thread gathers ids after the first before it sends them: the most a delivery waits
# here. Each message costs the worker far more CPU than its warm ~0.4 ms (the thread wakes on a busy
# 2-CPU machine with cold caches), so few, full ones: at 70 events/s per worker, ~35 deliveries each.
# With 0.1 s, the benchmark's p99 with an endpoint subscribed stayed well above the same runs without
# one (docs/benchmarks.md, "Fourteenth session").
BATCH_WINDOW_SECONDS = 0.5
MAX_BATCH = 500  # ids per message, well under any broker's message size


def _publish_each(delivery_ids: Sequence[int]) -> None:
    from voiceplatform.tasks import deliver_webhook

    for delivery_id in delivery_ids:
        deliver_webhook.delay(delivery_id)


def _publish_batch(delivery_ids: Sequence[int]) -> None:
    from voiceplatform.tasks import deliver_webhooks

    deliver_webhooks.delay(list(delivery_ids))


class Relay:
    """Pending delivery ids and the daemon thread that sends them with `send` (started on first use)."""

    def __init__(
        self, send: Callable[[Sequence[int]], None] = _publish_batch, *, window: float = BATCH_WINDOW_SECONDS
    ) -> None:
        self._send, self._window = send, window
        self._lock = threading.Lock()
        self._pending: list[int] = []
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def push(self, delivery_ids: Sequence[int]) -> None:
        with self._lock:
            self._pending.extend(delivery_ids)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="webhook-relay", daemon=True)
                self._thread.start()
        self._wake.set()

    def flush(self) -> int:
        """Send everything pending now, in this thread; returns how many ids were handed over."""
        with self._lock:
            batch, self._pending = self._pending, []
        sent = 0
        for start in range(0, len(batch), MAX_BATCH):
            chunk = batch[start : start + MAX_BATCH]
            try:
                self._send(chunk)
            except Exception:
                # The broker is down or refused: the rows stay pending and the due sweep sends them.
                logger.exception("webhook relay: %d deliveries not handed to Celery; the due sweep will", len(chunk))
            else:
                sent += len(chunk)
        return sent

    def _run(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(self._window)  # what else commits meanwhile goes in the same message
            # Cleared before the flush: an id pushed after this point sets the event again, and one
            # pushed before it is in the batch the flush takes.
            self._wake.clear()
            self.flush()


_relay: Relay | None = None


def enable(relay: Relay | None = None) -> Relay:
    """From now on this process relays deliveries through a background thread (the web workers)."""
    global _relay
    _relay = relay or Relay()
    return _relay


def disable() -> None:
    """Back to publishing at once; what was pending is sent first."""
    global _relay
    relay, _relay = _relay, None
    if relay is not None:
        relay.flush()


def flush() -> int:
    """Send what this process's relay holds (a stopping web worker); 0 when it has none."""
    return _relay.flush() if _relay is not None else 0


def enqueue(delivery_ids: Sequence[int]) -> None:
    """Committed deliveries to send: to the relay where enabled, else one Celery task each, now."""
    if not delivery_ids:
        return
    if _relay is not None:
        _relay.push(delivery_ids)
    else:
        _publish_each(delivery_ids)
