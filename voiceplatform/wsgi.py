"""The WSGI application for production servers (gunicorn or any other WSGI server)."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceplatform.settings")


class MachineHandler(WSGIHandler):
    """Django's WSGI handler with settings.MACHINE_MIDDLEWARE as its middleware chain."""

    def load_middleware(self, is_async: bool = False) -> None:
        # Django builds the chain from settings.MIDDLEWARE; it is swapped for the build only, once,
        # at start-up (before any request is served), and nothing else reads it meanwhile.
        browser_chain = settings.MIDDLEWARE
        settings.MIDDLEWARE = settings.MACHINE_MIDDLEWARE
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = browser_chain


class Application:
    """Serves settings.MACHINE_PATH_PREFIXES (other machines' webhooks) with MachineHandler and
    everything else with Django's full handler: same URLconf, views and error handlers."""

    def __init__(self) -> None:
        self.full = get_wsgi_application()  # sets Django up first
        self.machine = MachineHandler()
        self.machine_prefixes = tuple(settings.MACHINE_PATH_PREFIXES)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        handler = self.machine if environ.get("PATH_INFO", "").startswith(self.machine_prefixes) else self.full
        return handler(environ, start_response)


application = Application()

# Import every view now rather than in each worker's first request (once in the master, with
# gunicorn --preload), then take everything loaded so far out of the garbage collector's sight.
# These objects live as long as the process; left in, each full collection walks all of them and
# stalls whichever request is running for 70-150 ms (measured under bench_inbound_webhook, where
# it was the whole p99). Forked workers also keep sharing these pages instead of copying them.
get_resolver().url_patterns  # noqa: B018
gc.freeze()
