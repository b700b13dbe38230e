"""The API's pagination: its own module because DRF imports it while building GenericAPIView."""

from __future__ import annotations

import base64
import re
from typing import Any
from urllib import parse

from django.db.models import Model, QuerySet
from rest_framework import exceptions
from rest_framework.pagination import BasePagination, Cursor, CursorPagination, PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.urls import replace_query_param

from voiceplatform.cursor import BadCursor, CursorPage, cursor_page


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


class NewestFirstKeysetPagination(BasePagination):
    """Keyset pages newest first by (created_at, id) for tables ordered by time with ties (the call log):
    DRF's CursorPagination keys on one field and skips ties by OFFSET; this one names the last row seen
    (voiceplatform.cursor), so each page is one index range scan at any depth and rows inserted while a
    client pages never shift a page. No count: {"next", "previous", "results"}."""

    keys = ("created_at", "id")
    page_size = api_settings.PAGE_SIZE
    cursor_query_param = "cursor"

    def paginate_queryset(self, queryset: QuerySet[Model], request: Request, view: Any = None) -> list[Any]:
        self.request = request
        raw = request.query_params.get(self.cursor_query_param, "")
        try:
            self.page: CursorPage = cursor_page(
                queryset, cursor=raw, keys=self.keys, descending=True, size=self.page_size
            )
        except BadCursor:
            message = f"Use the `next` or `previous` link of a page, got {raw[:40]!r}."
            raise exceptions.ValidationError({self.cursor_query_param: [message]}) from None
        return self.page.rows

    def _link(self, cursor: str | None) -> str | None:
        if cursor is None:
            return None
        return replace_query_param(self.request.build_absolute_uri(), self.cursor_query_param, cursor)

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {
                "next": self._link(self.page.next_cursor),
                "previous": self._link(self.page.previous_cursor),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        link = {"type": "string", "nullable": True, "format": "uri"}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {**link, "description": "Older rows; null on the last page"},
                "previous": {**link, "description": "Newer rows; null on the first page"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The position a `next` or `previous` link names; omit for the newest page",
                "schema": {"type": "string", "maxLength": 200},
            }
        ]
