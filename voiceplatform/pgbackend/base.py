"""Django's PostgreSQL backend, its per-request health check made without a round trip.

With CONN_HEALTH_CHECKS (voiceplatform.config), Django runs `SELECT 1` at the first query of every
request that reuses a connection, so that a connection the server has dropped (a restart, a
terminated backend, an idle timeout) is replaced instead of failing the request. That is one more
round trip to PostgreSQL on every request: on the inbound webhook, one of seven.

Between requests the server sends nothing unprompted on an idle connection, except when it ends it:
a backend told to stop writes its FATAL error and closes, and a killed one's socket is closed by the
kernel. Either makes the socket readable. So: an idle connection whose socket has nothing to read
is kept without asking the server; one with something to read (or not idle, or already broken)
gets Django's own `SELECT 1`, which decides. What the poll cannot see, a server host that vanished
without closing anything, fails the request's first query as it would have failed the `SELECT 1`'s
a moment later.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status == TransactionStatus.IDLE:
            try:
                readable, _, _ = select.select([connection.fileno()], [], [], 0)
            except (OSError, ValueError):
                return False
            if not readable:
                return True
        return super().is_usable()
