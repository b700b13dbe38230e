"""The API's pagination: its own module because DRF imports it while building GenericAPIView."""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib import parse

from rest_framework import exceptions
from rest_framework.pagination import Cursor, CursorPagination, PageNumberPagination
from rest_framework.request import Request


class StrictPageNumberPagination(PageNumberPagination):
    """Page-number pagination whose `page` must be a positive integer: garbage is a 400 naming it, not page 1."""

    _PAGE = re.compile(r"[1-9][0-9]{0,8}")

    def get_page_number(self, request: Request, paginator: Any) -> str:
        raw = request.query_params.get(self.page_query_param, "1")
        if not self._PAGE.fullmatch(raw):
            message = f"Use a page number (1, 2, ...), got {raw[:40]!r}."
            raise exceptions.ValidationError({self.page_query_param: [message]})
        return raw

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": 999_999_999}
        return parameters


class StrictCursorPagination(CursorPagination):
    """Cursor pagination for tables that grow with traffic (contacts, ledgers): one indexed range query
    a page, never a COUNT(*). A cursor this API did not write is a 400 naming `cursor`, not page 1 or a 500."""

    ordering = "id"
    _POSITION = re.compile(r"-?[0-9]{1,19}")
    _MAX_CURSOR_CHARS = 200

    def decode_cursor(self, request: Request) -> Cursor | None:
        raw = request.query_params.get(self.cursor_query_param)
        if raw is None:
            return None
        bad = exceptions.ValidationError(
            {self.cursor_query_param: [f"Use the `next` or `previous` link of a page, got {raw[:40]!r}."]}
        )
        if len(raw) > self._MAX_CURSOR_CHARS or not self._written_here(raw):
            raise bad
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise bad from None
        # The position is compared with the (integer) id: anything else would reach PostgreSQL.
        if cursor is not None and cursor.position is not None and not self._POSITION.fullmatch(cursor.position):
            raise bad
        return cursor

    @staticmethod
    def _written_here(raw: str) -> bool:
        """Strict base64 of a query string of DRF's keys (DRF's own decoder skips stray characters)."""
        try:
            decoded = base64.b64decode(raw.encode("ascii"), validate=True).decode("ascii")
        except (ValueError, UnicodeError):
            return False
        pairs = parse.parse_qsl(decoded, keep_blank_values=True)
        return bool(pairs) and all(key in ("o", "r", "p") for key, _value in pairs)


class NewestFirstCursorPagination(StrictCursorPagination):
    """The ledgers' order: newest first (ids grow with time)."""

    ordering = "-id"
