"""voiceplatform/db_batch.py: statements in one message, one transaction, all or nothing, on real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext

from voiceplatform.db_batch import StatementBatch

pytestmark = pytest.mark.usefixtures("transactional_db")


@pytest.fixture
def notes() -> Iterator[None]:
    """A table of this session's own (batches outside a transaction commit for real)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE batch_note (id serial PRIMARY KEY, text varchar(40) UNIQUE NOT NULL)")
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE batch_note")


def _texts() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT text FROM batch_note ORDER BY id")
        return [text for (text,) in cursor.fetchall()]


def _batch(*texts: str, seen: list[object] | None = None) -> StatementBatch:
    batch = StatementBatch()
    for text in texts:
        batch.add(
            "INSERT INTO batch_note (text) VALUES (%s) RETURNING id, text",
            [text],
            on_rows=seen.append if seen is not None else None,
        )
    return batch


def test_the_statements_go_in_one_message_and_each_gets_its_own_rows(notes):
    seen: list[object] = []
    batch = _batch("first", "it's second", seen=seen)
    batch.add("UPDATE batch_note SET text = text WHERE false")  # no rows: nothing to hand over
    batch.add("SELECT count(*) FROM batch_note", on_rows=seen.append)
    with CaptureQueriesContext(connection) as queries:
        batch.run()

    assert len(queries.captured_queries) == 1
    assert [rows[0][1:] if len(rows[0]) > 1 else rows[0] for rows in seen] == [("first",), ("it's second",), (2,)]
    assert _texts() == ["first", "it's second"]


def test_outside_a_transaction_a_failing_statement_leaves_none_of_the_rows(notes):
    _batch("taken").run()
    seen: list[object] = []
    with pytest.raises(IntegrityError):
        _batch("new", "taken", seen=seen).run()  # the second violates the unique constraint

    assert _texts() == ["taken"]  # "new" rolled back with it
    assert seen == []  # nothing is handed over from a batch that failed
    _batch("after").run()  # the connection is usable again
    assert _texts() == ["taken", "after"]


def test_a_function_that_raises_rolls_the_whole_batch_back(notes):
    batch = _batch("written first")
    batch.add("SELECT 1 / (CASE WHEN count(*) > 0 THEN 0 ELSE 1 END) FROM batch_note")  # fails once a row exists
    with pytest.raises(DatabaseError, match="division by zero"):
        batch.run()
    assert _texts() == []


def test_inside_a_transaction_a_failure_rolls_back_to_a_savepoint(notes):
    with transaction.atomic():
        _batch("before").run()
        with pytest.raises(IntegrityError):
            _batch("inside", "before").run()
        _batch("still usable").run()
    assert _texts() == ["before", "still usable"]


def test_inside_a_transaction_the_rows_commit_with_it(notes):
    with pytest.raises(RuntimeError), transaction.atomic():
        _batch("rolled back with the caller").run()
        raise RuntimeError
    assert _texts() == []


def test_with_server_side_binding_the_statements_run_one_by_one_with_the_same_result(notes):
    """A server-side binding cursor takes one statement per message with parameters."""
    connection.ensure_connection()
    raw = connection.connection
    factory, raw.cursor_factory = raw.cursor_factory, psycopg.Cursor
    try:
        seen: list[object] = []
        with CaptureQueriesContext(connection) as queries:
            _batch("one", "two", seen=seen).run()
        with pytest.raises(IntegrityError):
            _batch("three", "one").run()
    finally:
        raw.cursor_factory = factory
    assert len([query for query in queries.captured_queries if "batch_note" in query["sql"]]) == 2
    assert [rows[0][1] for rows in seen] == ["one", "two"]
    assert _texts() == ["one", "two"]


def test_a_statement_is_one_statement():
    batch = StatementBatch()
    with pytest.raises(ValueError, match="one SQL statement"):
        batch.add("SELECT 1; SELECT 2")
    with pytest.raises(ValueError, match="one SQL statement"):
        batch.add("  ")
    batch.add("SELECT 1;")  # a trailing semicolon is fine
    batch.run()
    StatementBatch().run()  # nothing to send: no round trip at all
