"""Hostile request input refused before any view or PostgreSQL sees it.

PostgreSQL cannot store a NUL character, psycopg cannot encode a lone UTF-16 surrogate, and
Python's JSON decoder recurses once per nesting level: each of these used to surface as a 500.
`HostileInputMiddleware` checks the path, query string, cookies, form fields and JSON bodies of
every request once; `SafeJSONParser` (DRF's default parser) and `json_loads` apply the same rules
to bodies that views read themselves. The API and the webhooks (everything under /api/) answer
`{"detail", "problems"}` JSON; the portal and the admin a plain 400 page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.views import defaults
from rest_framework import exceptions, parsers

# Deep enough for every document the API takes (an IVR menu is 4 levels), far below the depth at
# which json, DRF or psycopg's dumps would recurse out of the stack.
MAX_JSON_DEPTH = 32
API_PREFIX = "/api/"

# A NUL, or a code point in U+D800..U+DFFF: json decodes a valid surrogate pair to one astral
# character, so any surrogate left in a str is a lone one that UTF-8 cannot encode.
_BAD_CHARACTER = re.compile("[\x00\ud800-\udfff]")
_JSON_CONTENT_TYPE = re.compile(r"^application/(?:[\w.+-]+\+)?json$")


class HostileInput(exceptions.ParseError):
    """A 400 whose `problems` name each refused value by where it was (query parameter, field path)."""

    default_detail = "The request contains characters or nesting this API does not accept."
    default_code = "hostile_input"

    def __init__(self, problems: list[str], detail: str | None = None) -> None:
        super().__init__(detail or self.default_detail)
        self.problems = problems


def character_problem(where: str, text: str) -> str | None:
    """What is wrong with one string (a NUL or a lone surrogate), naming where it was; None if fine."""
    match = _BAD_CHARACTER.search(text)
    if match is None:
        return None
    if match.group() == "\x00":
        return f"{where}: contains a NUL character (\\u0000), which is not allowed."
    return f"{where}: contains a lone surrogate (\\u{ord(match.group()):04x}), which is not valid text."


def json_problems(document: Any, *, where: str = "body") -> list[str]:
    """Every string (key or value) with a bad character, and nesting beyond MAX_JSON_DEPTH, in a decoded document."""
    problems: list[str] = []
    stack: list[tuple[str, Any, int]] = [(where, document, 0)]
    while stack:  # iterative: the point is not to recurse on attacker-chosen depth
        path, node, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return [f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels."]
        if isinstance(node, str):
            if problem := character_problem(path, node):
                problems.append(problem)
        elif isinstance(node, dict):
            for key, value in node.items():
                if problem := character_problem(f"{path} key {key!r}", key):
                    problems.append(problem)
                    key = "<refused key>"  # the paths below must not carry the NUL
                stack.append((f"{path}.{key}", value, depth + 1))
        elif isinstance(node, list):
            stack.extend((f"{path}[{index}]", value, depth + 1) for index, value in enumerate(node))
    return sorted(problems)


def json_loads(raw: bytes | str, *, where: str = "body") -> Any:
    """json.loads that raises HostileInput for deep nesting, NULs and lone surrogates (ValueError for bad JSON)."""
    try:
        document = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise HostileInput([f"{where}: JSON nested deeper than {MAX_JSON_DEPTH} levels."]) from None
    if problems := json_problems(document, where=where):
        raise HostileInput(problems)
    return document


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON.")


class SafeJSONParser(parsers.JSONParser):
    """DRF's JSON parser with bounded nesting and no NULs or lone surrogates in any string."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        raw = stream.read() if stream is not None else b""
        try:
            return json_loads(raw.decode(encoding))
        except HostileInput:
            raise
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None


def _named_strings(kind: str, items: Iterable[tuple[str, list[str]]]) -> Iterator[tuple[str, str]]:
    """(where, text) for every key and value of a multi-valued mapping (query string, form), skipping
    at once a mapping with no bad character anywhere (one scan instead of naming every value: this
    runs on every request)."""
    items = list(items)
    if not any(_BAD_CHARACTER.search(key) or any(map(_BAD_CHARACTER.search, values)) for key, values in items):
        return
    for key, values in items:
        yield f"{kind} name", key
        yield from ((f"{kind} {key!r}", value) for value in values)


def request_problems(request: HttpRequest) -> list[str]:
    """Bad characters or nesting anywhere a view might read from; may raise RequestDataTooBig."""
    strings: list[tuple[str, str]] = [("path", request.path)]
    strings.extend(_named_strings("query parameter", request.GET.lists()))
    strings.extend(_named_strings("cookie", ((k, [v]) for k, v in request.COOKIES.items())))
    if _has_form_body(request):
        strings.extend(_named_strings("form field", request.POST.lists()))
    problems = [problem for where, text in strings if (problem := character_problem(where, text))]
    if _JSON_CONTENT_TYPE.match(request.content_type or ""):
        problems.extend(_json_body_problems(request.body))
    return problems


def _has_form_body(request: HttpRequest) -> bool:
    return request.method == "POST" and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    )


def _json_body_problems(body: bytes) -> list[str]:
    if not body:
        return []
    try:
        json_loads(body)
    except HostileInput as exc:
        return exc.problems
    except ValueError:
        return []  # not JSON at all: the view's own parser answers that, in its own words
    return []


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0  # Django reads a malformed length as 0 as well


def is_api_request(request: HttpRequest) -> bool:
    """Whether the request is for the JSON API or a webhook (answered in JSON) rather than a page."""
    return request.path.startswith(API_PREFIX)


def error_response(request: HttpRequest, *, status: int, detail: str, problems: list[str]) -> HttpResponse:
    """The API's `{detail, problems}` JSON under /api/, a plain-text page elsewhere."""
    if is_api_request(request):
        return JsonResponse({"detail": detail, "problems": problems}, status=status)
    text = "\n".join([detail, *problems])
    if status == 400:
        return HttpResponseBadRequest(text, content_type="text/plain; charset=utf-8")
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")


def too_big_response(request: HttpRequest, *, limit: int | None = None) -> HttpResponse:
    """413 JSON for a body over DATA_UPLOAD_MAX_MEMORY_SIZE, or `limit` (Django's own answer is an HTML 400)."""
    limit = limit or settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return error_response(
        request,
        status=413,
        detail="The request body is too large.",
        problems=[f"body: larger than the {limit} bytes this API accepts."],
    )


class HostileInputMiddleware:
    """400 for NULs, lone surrogates and over-deep JSON anywhere in a request; 413 for an API body or an
    upload over the limit."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        # A multipart upload's files stream to disk and are not part of Django's limit (its other fields
        # are: RequestDataTooBig below); the view that takes the file applies its own size limit
        # (e.g. CONTACT_IMPORT_MAX_BYTES). Only JSON and other bodies are refused by length here.
        # The largest file the platform takes is a contact list: an upload is bounded by that, in the API
        # and the portal alike, so a huge upload is refused before it is written to a temporary file.
        is_upload = request.content_type == "multipart/form-data"
        if is_upload and limit is not None:
            limit += settings.CONTACT_IMPORT_MAX_BYTES
        if (is_api_request(request) or is_upload) and limit is not None and _content_length(request) > limit:
            return too_big_response(request, limit=limit)
        try:
            problems = request_problems(request)
        except RequestDataTooBig:
            if is_api_request(request):
                return too_big_response(request)
            # The portal's views (e.g. the agent form) turn this into their own form error.
            return self.get_response(request)
        if problems:
            return error_response(request, status=400, detail=HostileInput.default_detail, problems=problems)
        return self.get_response(request)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler404: JSON under /api/ (e.g. a malformed id in the path), the portal's page elsewhere."""
    if is_api_request(request):
        return error_response(
            request, status=404, detail="Not found.", problems=[f"path: no API resource at {request.path!r}."]
        )
    return defaults.page_not_found(request, exception)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """handler400: JSON under /api/ (e.g. a body over the upload limit), Django's page elsewhere."""
    if isinstance(exception, RequestDataTooBig):
        return too_big_response(request)
    if is_api_request(request):
        # Django's own refusals (too many fields, a bad Host...) carry a message fit to show.
        problems = [str(exception)] if isinstance(exception, SuspiciousOperation) and str(exception) else []
        return error_response(request, status=400, detail="Bad request.", problems=problems)
    return defaults.bad_request(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: JSON under /api/ so API clients can always parse the answer, the portal's page elsewhere."""
    if is_api_request(request):
        return error_response(request, status=500, detail="Server error.", problems=[])
    return defaults.server_error(request)
