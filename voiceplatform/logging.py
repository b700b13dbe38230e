"""Structured logging: request/tenant context on every record, JSON lines, secrets redacted."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from django.http import HttpRequest, HttpResponse

# Context variables (not thread-locals) carry ids for log lines only; no code reads them to
# decide access, so they cannot leak one tenant's data into another's request.
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
tenant_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("tenant", default=None)

_SECRET_PATTERNS = [
    re.compile(r"\bvp_[A-Za-z0-9]{8}_[A-Za-z0-9_-]{16,}"),  # our API keys
    re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"\bgAAAAA[A-Za-z0-9_=-]{20,}"),  # Fernet tokens
    re.compile(r"\b(sk|sk-proj|sk-ant|gsk|xai)-[A-Za-z0-9_-]{12,}"),  # vendor API keys
]


def redact(text: str) -> str:
    """Return text with anything shaped like a secret replaced by [REDACTED]."""
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("[REDACTED]", text)
    return text


class ContextFilter(logging.Filter):
    """Adds request_id and tenant (when known) to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        # django.request logs 4xx responses after the middleware has reset request_id_var, but it
        # passes the request along, which carries the id.
        record.request_id = (
            getattr(record, "request_id", None)
            or request_id_var.get()
            or getattr(getattr(record, "request", None), "request_id", None)
        )
        record.tenant = getattr(record, "tenant", None) or tenant_var.get()
        parts = [f"{key}={value}" for key in ("request_id", "tenant") if (value := getattr(record, key))]
        record.context_suffix = f" [{' '.join(parts)}]" if parts else ""
        return True


class RedactSecretsFilter(logging.Filter):
    """Renders the message once and removes secret-shaped substrings from it."""

    _traceback_formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            # Formatters reuse exc_text when it is set, so the traceback is printed redacted too.
            record.exc_text = redact(self._traceback_formatter.formatException(record.exc_info))
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, tenant, exception."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "tenant"):
            if value := getattr(record, key, None):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


class RequestContextMiddleware:
    """Gives each request an id (honouring a sane incoming X-Request-ID) and echoes it back."""

    _valid_id = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if self._valid_id.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        id_token = request_id_var.set(request_id)
        tenant_token = tenant_var.set(None)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(id_token)
            tenant_var.reset(tenant_token)
        response["X-Request-ID"] = request_id
        return response
