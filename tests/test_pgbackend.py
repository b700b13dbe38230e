"""The database backend's per-request health check (voiceplatform/pgbackend): a healthy idle
connection is reused without a `SELECT 1`, and one the server has ended is replaced before the next
request's first query instead of failing it."""

from __future__ import annotations

import select
import time

import psycopg
import pytest
from django.db import connection

pytestmark = pytest.mark.django_db(transaction=True)


def _admin() -> psycopg.Connection:
    """A connection of its own to the same database, as an operator's psql would be."""
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    return psycopg.connect(**params, autocommit=True)


def _between_requests() -> None:
    """What Django does at request_started and at the next request's first query."""
    connection.close_if_unusable_or_obsolete()
    connection.close_if_health_check_failed()


def test_a_healthy_connection_is_reused_without_asking_the_server(settings):
    assert connection.health_check_enabled
    with connection.cursor() as cursor:
        cursor.execute("SELECT 'the last thing this request asked'")
    pid = connection.connection.info.backend_pid

    _between_requests()

    assert connection.connection is not None and connection.connection.info.backend_pid == pid
    with _admin() as admin:
        (last,) = admin.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
    assert last == "SELECT 'the last thing this request asked'"  # no SELECT 1 went to the server


def test_a_connection_the_server_ended_is_replaced_before_the_next_query():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    pid = connection.connection.info.backend_pid
    with _admin() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + 10
    while not select.select([connection.connection.fileno()], [], [], 0.05)[0]:
        assert time.monotonic() < deadline, "the server did not close the connection"

    _between_requests()

    with connection.cursor() as cursor:  # the next request's first query
        cursor.execute("SELECT pg_backend_pid()")
        (new_pid,) = cursor.fetchone()
    assert new_pid != pid
