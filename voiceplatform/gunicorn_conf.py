"""gunicorn's settings for the web process in production:

    gunicorn -c python:voiceplatform.gunicorn_conf voiceplatform.wsgi:application

This is the shape `manage.py bench_inbound_webhook` measures (docs/benchmarks.md), so the figures
there are the shipped server's: sync workers (a request is CPU-bound Django; gthread measured
slower), the application preloaded in the master so voiceplatform.wsgi's gc.freeze() runs once
and the workers share those pages, a deep listen backlog for bursts of calls, and a worker timeout
above Twilio's 15 s webhook patience. WEB_BIND (default 127.0.0.1:8000) and WEB_WORKERS (default:
one per CPU) are read like every other setting; a bad value stops gunicorn with one line.
"""

from __future__ import annotations

import os
import sys

from voiceplatform.config import ConfigError, Settings

try:
    _env = Settings(os.environ)
    bind = [_env.str("WEB_BIND", "127.0.0.1:8000")]
    workers = _env.int("WEB_WORKERS", os.cpu_count() or 1, minimum=1)
except ConfigError as exc:  # one line and exit code 2, like manage.py (gunicorn lets SystemExit through)
    print(f"configuration error: {exc}", file=sys.stderr)
    sys.exit(2)

worker_class = "sync"
preload_app = True
backlog = 2048
timeout = 30
graceful_timeout = 30
