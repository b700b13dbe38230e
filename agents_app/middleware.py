"""An agent form posted over DATA_UPLOAD_MAX_MEMORY_SIZE gets a page that says what happened (413).

Django cannot read such a body (RequestDataTooBig, raised first by the CSRF check), so the form cannot
be shown again with what was typed: the server never holds the text. The honest answer is to say
so and send the person back, where the browser still has every field; the form's script
(static/js/agent_form.js) stops such a submit before it leaves the browser, and any body below the
limit comes back as the form with the field's own error (the prompt caps are far below it).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve

from agents_app.validation import PROMPT_FIELD_LABELS, PROMPT_FIELD_MAX_CHARS

AGENT_FORM_URLS = frozenset({"agents-agent-create", "agents-agent-edit"})


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


def _is_agent_form(request: HttpRequest) -> bool:
    try:
        return resolve(request.path_info).url_name in AGENT_FORM_URLS
    except Resolver404:
        return False


class AgentFormTooLargeMiddleware:
    """413 with the agent form's limits for an over-size POST to the agent create/edit pages."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if request.method == "POST" and limit is not None and _content_length(request) > limit:
            if _is_agent_form(request):
                return self._too_large(request, size=_content_length(request), limit=limit)
        return self.get_response(request)

    @staticmethod
    def _too_large(request: HttpRequest, *, size: int, limit: int) -> HttpResponse:
        context = {
            "size_mb": f"{size / 1_048_576:.1f}",
            "limit_mb": f"{limit / 1_048_576:.1f}",
            "caps": [(PROMPT_FIELD_LABELS[name], f"{cap:,}") for name, cap in PROMPT_FIELD_MAX_CHARS.items()],
        }
        return render(request, "agents_app/agent_form_too_large.html", context, status=413)
