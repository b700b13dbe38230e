"""gunicorn's settings for the web process in production:

    gunicorn -c python:voiceplatform.gunicorn_conf voiceplatform.wsgi:application

This is the shape `manage.py bench_inbound_webhook` measures (docs/benchmarks.md), so the figures
there are the shipped server's: sync workers (gthread and granian measured slower), the
application preloaded in the master so voiceplatform.wsgi's gc.freeze() runs once and the workers
share those pages, a deep listen backlog for bursts of calls, and a worker timeout
above Twilio's 15 s webhook patience. WEB_BIND (default 127.0.0.1:8000), WEB_WORKERS (default:
one per CPU, plus one) and WEB_TIMEOUT (default 30 s) are read like every other setting; a bad value
stops gunicorn with one line.

WEB_REQUEST_BUDGET_SECONDS (default 20), the longest a request waits on providers, must be smaller
than WEB_TIMEOUT, so such a request answers before its worker is killed.

Why one more worker than CPUs: a sync worker spends about half of an inbound webhook waiting
(PostgreSQL, Redis, LiveKit, the client), and the extra worker runs while another waits. On the
2-CPU machine of docs/benchmarks.md ("Fourteenth session"), 3 workers held p99 at 15-23 ms at
200 webhooks/s where 2 reached 130-166 ms; 4 were worse than 3 (41-49 ms).

Prometheus (voiceplatform/metrics.py): the workers count in PROMETHEUS_MULTIPROC_DIR, and a scrape of
any one of them sums all of them. Unset, a fresh private directory is made for this server (set it
before prometheus_client is imported, i.e. here, ahead of the preloaded application); set it to a
directory the Celery workers share to have /metrics show their tasks too. A worker that exits has its
live gauges dropped (child_exit); its counters stay in the sums.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import tempfile
from typing import Any

from gunicorn.http.body import LengthReader

from voiceplatform.config import ConfigError, Settings, check_request_budget, default_web_workers

try:
    _env = Settings(os.environ)
    bind = [_env.str("WEB_BIND", "127.0.0.1:8000")]
    workers = _env.int("WEB_WORKERS", default_web_workers(), minimum=1)
    timeout = _env.int("WEB_TIMEOUT", 30, minimum=2)
    check_request_budget(
        budget_seconds=_env.int("WEB_REQUEST_BUDGET_SECONDS", 20, minimum=1), worker_timeout_seconds=timeout
    )
except ConfigError as exc:  # one line and exit code 2, like manage.py (gunicorn lets SystemExit through)
    print(f"configuration error: {exc}", file=sys.stderr)
    sys.exit(2)

worker_class = "sync"
preload_app = True
backlog = 2048
graceful_timeout = 30

_private_metrics_dir = ""
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _private_metrics_dir = tempfile.mkdtemp(prefix="voiceplatform-metrics-")


def post_request(worker: Any, req: Any, environ: Any, resp: Any) -> None:
    """Close the connection of a finished exchange at once when the client has nothing left unread.

    gunicorn (27) closes every sync-worker connection by half-closing it and then waiting, up to 2 s,
    for the client to close its end (RFC 9112 9.6: closing with unread request data in the kernel's
    buffer would send a reset that can destroy the answer in flight). Meanwhile the worker serves no
    one: a client that keeps its connection open after the answer holds a worker for 2 s, and each
    webhook costs the worker a wait for the client's FIN. When the whole request body was read and
    nothing more has arrived, closing sends an orderly FIN after the answer, with nothing to reset
    (gunicorn's own close then finds the socket closed and does nothing); otherwise gunicorn's
    graceful close runs as before."""
    sock = getattr(resp, "sock", None)
    if sock is None or not resp.headers_sent:
        return
    if resp.response_length is not None and resp.sent < resp.response_length:
        return
    reader = getattr(getattr(req, "body", None), "reader", None)
    if not isinstance(reader, LengthReader) or reader.length:
        return
    try:
        unread = sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except BlockingIOError:
        unread = b""  # nothing has arrived since the request
    except OSError:
        return
    if not unread:  # nothing to read, or the client already closed its end
        sock.close()


def post_fork(server: Any, worker: Any) -> None:
    """Each worker hands its committed webhook deliveries to Celery from a background thread, batched,
    instead of publishing inside the request (voiceplatform/webhooks/relay.py)."""
    from voiceplatform.webhooks import relay

    relay.enable()


def worker_exit(server: Any, worker: Any) -> None:
    """A worker that stops sends the deliveries its relay still holds (the due sweep would, later)."""
    from voiceplatform.webhooks import relay

    relay.flush()


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone: its live gauges no longer count (prometheus_client's multiprocess bookkeeping)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server: Any) -> None:
    """The private metrics directory made above goes with the server (a given one is the operator's)."""
    if _private_metrics_dir:
        shutil.rmtree(_private_metrics_dir, ignore_errors=True)
