"""Keyset ("cursor") pagination for the long tables (a campaign's contacts, the ledgers, the call log;
the portal's pages and the calls API): each page is one indexed range query, never an OFFSET or a
COUNT(*) of the table. Rows inserted while someone pages (newer calls at the head of a newest-first
list) never shift a page: a cursor names the last row seen, not a position."""

from __future__ import annotations

import base64
import binascii
import datetime
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import DateTimeField, Model, Q, QuerySet

MAX_CURSOR_CHARS = 200


class BadCursor(ValueError):
    """The query string's cursor is not one this module wrote (edited, truncated, from elsewhere)."""


@dataclass(frozen=True)
class CursorPage:
    """One page of rows, with the opaque cursors of its neighbours (None: no such page)."""

    rows: list[Any]
    next_cursor: str | None
    previous_cursor: str | None

    @property
    def has_other_pages(self) -> bool:
        return bool(self.next_cursor or self.previous_cursor)


def _encode(values: list[Any], direction: str) -> str:
    plain = [value.isoformat() if isinstance(value, datetime.datetime) else value for value in values]
    text = json.dumps({"k": plain, "d": direction}, separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(cursor: str, size: int) -> tuple[list[Any], str]:
    if len(cursor) > MAX_CURSOR_CHARS:
        raise BadCursor("too long")
    try:
        document = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise BadCursor(str(error)) from None
    if not isinstance(document, dict) or document.get("d") not in ("next", "prev"):
        raise BadCursor("not a cursor")
    raw = document.get("k")
    if not isinstance(raw, list) or len(raw) != size:
        raise BadCursor("wrong keys")
    values: list[Any] = []
    for value in raw:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise BadCursor("wrong key type")
        if isinstance(value, int) and not 0 <= value < 2**63:
            raise BadCursor("key out of range")
        if isinstance(value, str):
            try:
                value = datetime.datetime.fromisoformat(value)
            except ValueError:
                raise BadCursor("not a time") from None
            if value.tzinfo is None:
                raise BadCursor("naive time")
        values.append(value)
    return values, document["d"]


def _beyond(keys: Sequence[str], values: list[Any], op: str) -> Q:
    """Rows after `values` in the order of `keys` (op gt) or before them (op lt): (a > x) or (a = x and b > y)...

    With several keys the first one's bound (a >= x) is added as well: the same rows, but PostgreSQL can
    start the index range scan at the cursor instead of filtering every row before it (a deep page)."""
    condition = Q()
    for index, key in enumerate(keys):
        condition |= Q(**dict(zip(keys[:index], values[:index], strict=True)), **{f"{key}__{op}": values[index]})
    if len(keys) > 1:
        condition &= Q(**{f"{keys[0]}__{op}e": values[0]})
    return condition


def cursor_page(
    queryset: QuerySet[Model], *, cursor: str, keys: Sequence[str], descending: bool, size: int
) -> CursorPage:
    """The page of `queryset` the cursor points at (the first page for an empty cursor), in the order
    of `keys` (all ascending or all descending; the last key must be unique, e.g. the id).

    Raises BadCursor for a cursor this module did not write; the caller shows the first page."""
    ordering = [f"-{key}" if descending else key for key in keys]
    reverse_ordering = [key if descending else f"-{key}" for key in keys]
    forward_op, backward_op = ("lt", "gt") if descending else ("gt", "lt")
    if not cursor:
        rows = list(queryset.order_by(*ordering)[: size + 1])
        return _page(rows[:size], keys, has_next=len(rows) > size, has_previous=False)
    values, direction = _decode(cursor, len(keys))
    for key, value in zip(keys, values, strict=True):  # a time where the id goes would reach PostgreSQL
        is_time = isinstance(queryset.model._meta.get_field(key), DateTimeField)
        if is_time != isinstance(value, datetime.datetime):
            raise BadCursor("wrong key type")
    if direction == "next":
        rows = list(queryset.filter(_beyond(keys, values, forward_op)).order_by(*ordering)[: size + 1])
        return _page(rows[:size], keys, has_next=len(rows) > size, has_previous=True)
    rows = list(queryset.filter(_beyond(keys, values, backward_op)).order_by(*reverse_ordering)[: size + 1])
    page = list(reversed(rows[:size]))
    return _page(page, keys, has_next=True, has_previous=len(rows) > size)


def _page(rows: list[Any], keys: Sequence[str], *, has_next: bool, has_previous: bool) -> CursorPage:
    def values(row: Any) -> list[Any]:
        return [getattr(row, key) for key in keys]

    return CursorPage(
        rows=rows,
        next_cursor=_encode(values(rows[-1]), "next") if rows and has_next else None,
        previous_cursor=_encode(values(rows[0]), "prev") if rows and has_previous else None,
    )
