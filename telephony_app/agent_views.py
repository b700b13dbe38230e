"""Portal pages that talk to an agent: the text chat playground and the browser test call.

Their URLs sit under the agent's (/agents/<code>/chat/, /agents/<code>/test/), but they write a
Call and use LiveKit, which telephony_app owns; the agent's detail page links to them through
agents_app.agent_links, filled in this app's AppConfig.ready.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_POST

from agents_app import selectors
from agents_app.agent_links import AgentLink
from agents_app.models import Agent
from agents_app.selectors import agent_summary
from telephony_app import browser_sessions, chat, livekit_client
from telephony_app.models import Call, CallDirection
from voiceplatform.actor import Actor
from voiceplatform.models import Membership, Tenant
from voiceplatform.portal import portal_view


def agent_talk_links(agent: Agent) -> list[AgentLink]:
    """The agent detail page's buttons to this module's pages (registered in TelephonyAppConfig.ready)."""
    return [
        AgentLink("Try it by text chat", reverse("agents-agent-chat", kwargs={"code": agent.code})),
        AgentLink("Test agent", reverse("agents-agent-test", kwargs={"code": agent.code})),
    ]


# Text chat playground ------------------------------------------------------------------------
# One URL: GET shows the page (?chat=<id> shows that chat), POST runs action=start|send|end. The
# conversation lives in the Call row (telephony_app/chat.py), so any web process can serve the next
# message. htmx requests get partials: start/end replace the panel, send appends the new turns to the log
# and replaces the composer out of band. Validation errors come back with 200 and the error in the
# composer, because htmx does not swap error responses. Without JavaScript each POST redirects.
# Viewers may read the page and its chats, not run one: portal_view refuses them any POST (a chat
# writes a Call and spends the tenant's model credits).


def _chat_page_url(agent: Agent, call: Call | None = None) -> str:
    url = reverse("agents-agent-chat", kwargs={"code": agent.code})
    return f"{url}?{urlencode({'chat': call.code})}" if call is not None else url


def _chat_or_404(*, tenant: Tenant, agent: Agent, code: str) -> Call:
    """This agent's chat with that id; anything else (a phone call, another agent's chat) is a 404 here."""
    try:
        return chat.chat_get(tenant=tenant, agent=agent, code=code)
    except chat.NotThisChat:
        raise Http404 from None


def _chat_context(agent: Agent, *, call: Call | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "agent": agent,
        "call": call,
        "turns": [turn for turn in (call.transcript if call is not None else []) if isinstance(turn, dict)],
        "summary": agent_summary(agent),
        "calls_url": reverse("calls-call-list")
        + "?"
        + urlencode({"agent": agent.code, "direction": CallDirection.CHAT}),
        "idle_minutes": max(settings.CHAT_IDLE_TIMEOUT // 60, 1),
        **extra,
    }


@portal_view()
def agent_chat(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    tenant = membership.tenant
    agent = selectors.agent_get(tenant=tenant, code=code)
    if request.method == "POST":
        handler = {"start": _chat_start, "send": _chat_send, "end": _chat_end}.get(request.POST.get("action", ""))
        if handler is None:
            return HttpResponse("Unknown chat action.", status=400, content_type="text/plain")
        return handler(request, tenant=tenant, agent=agent)
    if request.method not in ("GET", "HEAD"):
        return HttpResponse(status=405, headers={"Allow": "GET, HEAD, POST"})
    chat_code = request.GET.get("chat", "")
    call = _chat_or_404(tenant=tenant, agent=agent, code=chat_code) if chat_code else None
    return render(request, "telephony_app/agent_chat.html", _chat_context(agent, call=call))


def _chat_start(request: HttpRequest, *, tenant: Tenant, agent: Agent) -> HttpResponse:
    is_htmx = bool(request.headers.get("HX-Request"))
    try:
        result = chat.chat_start(tenant=tenant, agent=agent, actor=Actor(user=request.user))
    except chat.ChatError as error:
        context = _chat_context(agent, problems=getattr(error, "problems", None) or [str(error)])
        if is_htmx:
            return render(request, "telephony_app/_chat_panel.html", context)
        return render(request, "telephony_app/agent_chat.html", context, status=400)
    error = _chat_timeout_message(result)
    if is_htmx:
        return render(request, "telephony_app/_chat_panel.html", _chat_context(agent, call=result.call, error=error))
    if error:
        messages.error(request, error)
    return redirect(_chat_page_url(agent, result.call))


def _chat_timeout_message(result: chat.ChatResult) -> str:
    """The portal's line when the model did not answer within the web request's budget ("" otherwise)."""
    if not result.timed_out:
        return ""
    return (
        f"The agent's language model did not answer within {settings.WEB_REQUEST_BUDGET_SECONDS} seconds. "
        "The chat is kept: send your message again."
    )


def _posted_chat(request: HttpRequest, *, tenant: Tenant, agent: Agent) -> Call | None:
    """The chat named by the form, or None when the form names none (a form error, not a 404)."""
    code = request.POST.get("chat", "").strip()
    return _chat_or_404(tenant=tenant, agent=agent, code=code) if code else None


def _chat_send(request: HttpRequest, *, tenant: Tenant, agent: Agent) -> HttpResponse:
    call = _posted_chat(request, tenant=tenant, agent=agent)
    message = request.POST.get("message", "")
    new_turns: list[dict[str, Any]] = []
    error = ""
    if call is None:
        error = "Start a chat first."
    else:
        try:
            result = chat.chat_send(tenant=tenant, call=call, message=message)
        except ValidationError as invalid:
            error = " ".join(invalid.messages)
        except chat.ChatError as refused:
            error = str(refused)
        else:
            call, new_turns = result.call, result.messages
            error = _chat_timeout_message(result)
    if not request.headers.get("HX-Request"):
        if error:
            messages.error(request, error)
        return redirect(_chat_page_url(agent, call))
    context = _chat_context(agent, call=call, new_turns=new_turns, error=error, draft=message if error else "")
    return render(request, "telephony_app/_chat_sent.html", context)


def _chat_end(request: HttpRequest, *, tenant: Tenant, agent: Agent) -> HttpResponse:
    call = _posted_chat(request, tenant=tenant, agent=agent)
    if call is not None:
        call = chat.chat_end(tenant=tenant, call=call)
    elif not request.headers.get("HX-Request"):
        messages.error(request, "There is no chat to end.")
    if request.headers.get("HX-Request"):
        return render(request, "telephony_app/_chat_panel.html", _chat_context(agent, call=call))
    return redirect(_chat_page_url(agent, call))


# Browser test call ---------------------------------------------------------------------------
# GET shows the "Test agent" page; its script POSTs to agent_test_session for {room, token, url,
# callId} and talks to the agent through LiveKit (static/js/test_call.js). Permissions as for the
# text chat: viewers may open the page, not start a call (it writes a Call and spends the tenant's
# provider credits), so portal_view refuses them the POST.


@require_GET
@portal_view()
def agent_test(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    tenant = membership.tenant
    agent = selectors.agent_get(tenant=tenant, code=code)
    is_configured = livekit_client.is_configured()
    context = {
        "agent": agent,
        "is_configured": is_configured,
        "missing_settings": browser_sessions.livekit_missing_settings(),
        "livekit_url": livekit_client.client_url() if is_configured else "",
        "problems": browser_sessions.browser_session_problems(tenant=tenant, agent=agent),
        "chat_url": reverse("agents-agent-chat", kwargs={"code": agent.code}),
        "calls_url": reverse("calls-call-list")
        + "?"
        + urlencode({"agent": agent.code, "direction": CallDirection.TEST}),
    }
    return render(request, "telephony_app/agent_test.html", context)


@require_POST
@portal_view(write=True)
def agent_test_session(request: HttpRequest, membership: Membership, code: str) -> JsonResponse:
    """The page's token request: 201 {room, token, url, callId, expiresAt}, or {detail} with 400
    (not ready; also `problems`), 502 (LiveKit failed) or 503 (LiveKit not configured), as the API."""
    tenant = membership.tenant
    agent = selectors.agent_get(tenant=tenant, code=code)
    try:
        session = browser_sessions.browser_session_start(tenant=tenant, agent=agent, actor=Actor(user=request.user))
    except livekit_client.LiveKitNotConfigured as error:
        return JsonResponse({"detail": str(error)}, status=503)
    except browser_sessions.BrowserSessionNotReady as error:
        return JsonResponse({"detail": str(error), "problems": error.problems}, status=400)
    except livekit_client.LiveKitError as error:
        return JsonResponse({"detail": f"Could not start the test call: {error}"}, status=502)
    return JsonResponse(session.as_json(), status=201)
