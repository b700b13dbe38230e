"""The Content-Security-Policy middleware: django-csp's, plus the LiveKit URL browsers connect to."""

from __future__ import annotations

from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

# livekit-client opens a websocket to the URL and, when that fails, asks the same host over HTTP
# why; so both scheme families of the configured origin are allowed.
_SCHEME_PAIRS = {"ws": ("ws", "http"), "http": ("ws", "http"), "wss": ("wss", "https"), "https": ("wss", "https")}


def livekit_connect_sources() -> list[str]:
    """Origins the test-call page may connect to: LIVEKIT_PUBLIC_URL (or LIVEKIT_URL), read now."""
    url = settings.LIVEKIT_PUBLIC_URL or settings.LIVEKIT_URL
    parts = urlsplit(url)
    if not url or parts.scheme not in _SCHEME_PAIRS or not parts.netloc:
        return []
    return [f"{scheme}://{parts.netloc}" for scheme in _SCHEME_PAIRS[parts.scheme]]


class PortalCSPMiddleware(CSPMiddleware):
    """django-csp's middleware; connect-src also names LiveKit, read per request so a changed
    setting (or a test's) applies without a restart of the policy."""

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        # django-csp leaves the header off under CONTENT_SECURITY_POLICY["EXCLUDE_URL_PREFIXES"], but
        # builds the policy first; these are machine-to-machine answers (TwiML), so skip all of it.
        excluded = settings.CONTENT_SECURITY_POLICY.get("EXCLUDE_URL_PREFIXES") or ()
        if excluded and request.path_info.startswith(tuple(excluded)):
            return response
        return super().process_response(request, response)

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponseBase, report_only: bool = False
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        sources = livekit_connect_sources()
        if sources and not report_only:
            update = dict(parts.update or {})  # a view's own csp_update keeps its sources
            update["connect-src"] = [*update.get("connect-src", ()), *sources]
            parts.update = update
        return parts
