"""Statements sent to PostgreSQL in one message: one round trip for all of them.

A hot path that writes a few rows in one transaction pays a round trip per statement, plus BEGIN
and COMMIT: five for an inbound call (its row, its webhook outbox rows, the agent's admission).
Each is network latency in a deployment where the database is another machine, and a row lock
taken by one statement stays held until the client's next message (COMMIT) arrives, however long
the client takes to be scheduled again: the inbound admission's agent lock (telephony_app.inbound).

PostgreSQL runs the statements of one simple-query message in order, and, outside a transaction
block, as one implicit transaction: they commit together right after the last one, or, when one
fails, none of them does (PostgreSQL docs, "Multiple Statements in a Simple Query"). Django's
PostgreSQL backend binds parameters on the client (psycopg's ClientCursor, the default), so a
message can carry statements with parameters. Inside a transaction (an atomic block) the batch runs
under a savepoint, with the same all-or-nothing result. With server-side binding configured (one
statement per message), the statements run one by one in a transaction: the same result, slower.

Each statement's rows (RETURNING, SELECT) go to its `on_rows`, in order, once the batch has run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from django.db import connection, transaction

Rows = list[tuple[Any, ...]]


@dataclass(frozen=True)
class _Statement:
    sql: str
    params: Sequence[Any]
    on_rows: Callable[[Rows], None] | None


class StatementBatch:
    """Statements to run together: add() them in order, then run() once."""

    def __init__(self) -> None:
        self._statements: list[_Statement] = []

    def add(self, sql: str, params: Sequence[Any] = (), on_rows: Callable[[Rows], None] | None = None) -> None:
        """One statement; `on_rows` receives its rows (a statement with RETURNING or a SELECT)."""
        if not sql.strip() or ";" in sql.rstrip().rstrip(";"):
            raise ValueError("a batch statement is one SQL statement")
        self._statements.append(_Statement(sql.rstrip().rstrip(";"), tuple(params), on_rows))

    def run(self) -> None:
        """All statements, in order, all or nothing; raises the first failure's database error."""
        if not self._statements:
            return
        if connection.in_atomic_block:
            with transaction.atomic():  # a savepoint: a failure leaves the caller's transaction usable
                self._send()
        else:
            self._send()

    def _send(self) -> None:
        with connection.cursor() as cursor:
            if not isinstance(cursor.cursor, psycopg.ClientCursor):
                self._send_one_by_one(cursor)
                return
            # Each statement is bound on its own: psycopg caches the parsing of a statement of up to 50
            # parameters, which one statement with all of them (the inbound batch has ~60) never is.
            # The message then goes as bound text, with no parameters left to parse.
            client = cursor.cursor
            sql = ";\n".join(client.mogrify(statement.sql, statement.params) for statement in self._statements)
            cursor.execute(sql)
            results: list[Rows | None] = []
            for index in range(len(self._statements)):
                if index:
                    cursor.nextset()
                results.append(cursor.fetchall() if cursor.description is not None else None)
        self._deliver(results)

    def _send_one_by_one(self, cursor: Any) -> None:
        results: list[Rows | None] = []
        with transaction.atomic():
            for statement in self._statements:
                cursor.execute(statement.sql, statement.params)
                results.append(cursor.fetchall() if cursor.description is not None else None)
        self._deliver(results)

    def _deliver(self, results: list[Rows | None]) -> None:
        for statement, rows in zip(self._statements, results, strict=True):
            if statement.on_rows is not None:
                statement.on_rows(rows or [])
