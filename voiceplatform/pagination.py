"""The API's pagination: its own module because DRF imports it while building GenericAPIView."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import exceptions
from rest_framework.pagination import PageNumberPagination
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
