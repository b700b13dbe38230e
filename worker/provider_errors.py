"""What a tenant is told about a provider failure: a fixed description and the HTTP status, if any.

A provider's error body is its server's own words (a self-hosted server's stack trace, a proxy's
banner, an internal address) and is never shown to the tenant: not in a chat's reply, a call's
`error` or `end_reason`, nor a transcript line. The worker's log keeps the full error for operators.
"""

from __future__ import annotations

from typing import Any

from livekit.agents import APIConnectionError, APIStatusError, APITimeoutError

from voiceplatform import outbound_url

NO_ANSWER = "it did not answer in time"

_STATUS_DESCRIPTIONS = {
    400: "the request was refused",
    401: "the key was refused",
    403: "access was refused",
    404: "the model or address was not found",
    408: "the request timed out",
    413: "the request was too large",
    422: "the request was refused",
    429: "too many requests or quota exhausted",
}


def _caused_by(error: BaseException | None, kind: type[BaseException]) -> bool:
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, kind):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


def describe(error: Any, *, no_answer: str = NO_ANSWER) -> str:
    """A fixed description of a provider failure; no_answer is the text for a timeout."""
    if isinstance(error, APIStatusError) and error.status_code > 0:
        status = error.status_code
        fallback = "the provider's server failed" if status >= 500 else "the request was refused"
        return f"HTTP {status} ({_STATUS_DESCRIPTIONS.get(status, fallback)})"
    if isinstance(error, BaseException) and outbound_url.is_refusal(error):
        return "its address is not allowed (a private, local or reserved network)"
    if isinstance(error, BaseException) and _caused_by(error, APITimeoutError):
        return no_answer  # also after the retries: "failed after 2 attempts (caused by APITimeoutError)"
    if isinstance(error, APIConnectionError):
        return "it could not be reached"
    return "it could not answer"
