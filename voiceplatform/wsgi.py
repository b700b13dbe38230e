"""The WSGI application for production servers (gunicorn or any other WSGI server)."""

import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceplatform.settings")
application = get_wsgi_application()

# Import every view now rather than in each worker's first request (once in the master, with
# gunicorn --preload), then take everything loaded so far out of the garbage collector's sight.
# These objects live as long as the process; left in, each full collection walks all of them and
# stalls whichever request is running for 70-150 ms (measured under bench_inbound_webhook, where
# it was the whole p99). Forked workers also keep sharing these pages instead of copying them.
get_resolver().url_patterns  # noqa: B018
gc.freeze()
