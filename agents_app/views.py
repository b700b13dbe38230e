"""Portal pages for agents and their htmx partials: access -> form -> service -> render."""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from agents_app import catalog, option_views, references, selectors, services, validation
from agents_app.agent_links import agent_links
from agents_app.forms import ANALYSIS_SCHEMA_EXAMPLE, IVR_EXAMPLE, AgentFilterForm, AgentForm, RevertForm
from agents_app.models import OUTBOUND_NOT_ACTIVE, PROMPT_FIELDS, RECORDING_NOT_ACTIVE, Agent, PromptVersion
from agents_app.readiness import readiness
from agents_app.runtime_config import loader
from agents_app.validation import WEEKDAYS, HoursRange
from voiceplatform.actor import Actor
from voiceplatform.models import Membership, Tenant
from voiceplatform.portal import apply_errors, portal_view

logger = logging.getLogger(__name__)

# Presentation helpers ------------------------------------------------------------------------


def _range_text(item: HoursRange) -> str:
    return f"{item.label()} (next day)" if item.is_overnight else item.label()


def _ranges(agent: Agent) -> list[HoursRange]:
    return [HoursRange(h.weekday, h.start, h.end) for h in agent.business_hours.all()]


def _hours_rows(agent: Agent) -> list[tuple[str, str]]:
    """(weekday, "09:00-12:00, 13:00-17:00" or "Closed") for the detail page."""
    ranges = _ranges(agent)
    return [
        (
            day.title(),
            ", ".join(_range_text(r) for r in ranges if r.weekday == index) or "Closed",
        )
        for index, day in enumerate(WEEKDAYS)
    ]


def _report_every_problem(form: AgentForm, *, tenant: Tenant, agent: Agent | None) -> None:
    """A form that failed on some fields still gets the service's verdict on the others, so one save
    shows every mistake instead of one round at a time."""
    kwargs, unreadable = form.readable_service_kwargs()
    problems = services.agent_check(tenant=tenant, agent=agent, unreadable=unreadable, **kwargs)
    for field, field_errors in problems.items():
        name = field if field in form.fields else None
        if name not in form.errors:
            form.add_error(name, field_errors)


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return target
    return default


# List ----------------------------------------------------------------------------------------


AGENTS_PER_PAGE = 50


@portal_view()
def agent_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    filters = AgentFilterForm(request.GET)
    criteria = filters.selector_kwargs()
    page = Paginator(selectors.agent_list(tenant=membership.tenant, **criteria), AGENTS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    rows = [selectors.agent_summary(agent) for agent in page]
    is_filtered = bool(criteria["search"] or criteria["direction"] or criteria["is_active"] is not None)
    query = request.GET.copy()
    query.pop("page", None)
    context = {"rows": rows, "filters": filters, "is_filtered": is_filtered, "page": page, "query": query.urlencode()}
    return render(request, "agents_app/agent_list.html", context)


# Create and edit -----------------------------------------------------------------------------


def _prompt_limits() -> dict[str, Any]:
    """The prompt-size rule's numbers for the form's live counter (static/js/agent_form.js)."""
    return {
        "charsPerToken": validation.CHARS_PER_TOKEN,
        "share": validation.PROMPT_SHARE_OF_CONTEXT,
        "fieldMax": validation.PROMPT_FIELD_MAX_CHARS,
        "models": {
            f"{provider.id}:{model.id}": {
                "name": model.name,
                "contextWindow": model.context_window,
                "maxOutput": model.max_output_tokens,
            }
            for provider in catalog.LLM_PROVIDERS.values()
            for model in provider.models
        },
        "uploadMax": settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
    }


def _render_form(request: HttpRequest, form: AgentForm, *, tenant: Tenant, agent: Agent | None) -> HttpResponse:
    def value(name: str) -> str:
        return str(form[name].value() or "")

    def errors(*names: str) -> list[str]:
        return [message for name in names for message in form.errors.get(name, [])]

    other_agents = selectors.agent_list(tenant=tenant)
    context = {
        "form": form,
        "agent": agent,
        "llm": option_views.llm_field(
            provider_id=value("llm_provider"), model_id=value("llm_model"), errors=errors("llm_model")
        ),
        "tts": option_views.voice_field(
            tenant=tenant,
            provider_id=value("tts_provider"),
            voice_id=value("voice_id"),
            custom_voice_id=value("custom_voice_id").strip(),
            tts_model=value("tts_model"),
            errors=errors("voice_id", "custom_voice_id", "tts_model"),
            is_saved_value=not form.is_bound,
        ),
        "stt": option_views.stt_field(
            provider_id=value("stt_provider"), model_id=value("stt_model"), errors=errors("stt_model")
        ),
        "ivr_example": IVR_EXAMPLE,
        "analysis_schema_example": ANALYSIS_SCHEMA_EXAMPLE,
        "outbound_not_active": OUTBOUND_NOT_ACTIVE,
        "prompt_limits": _prompt_limits(),
        "other_agents": other_agents.exclude(pk=agent.pk) if agent else other_agents,
    }
    return render(request, "agents_app/agent_form.html", context, status=400 if form.errors else 200)


@portal_view(write=True)
def agent_create(request: HttpRequest, membership: Membership) -> HttpResponse:
    tenant = membership.tenant
    initial = AgentForm.initial_for(Agent(tenant=tenant, timezone=tenant.timezone), ranges=None, holidays=[])
    form = AgentForm(request.POST if request.method == "POST" else None, initial=initial)
    if form.is_bound and not form.is_valid():
        _report_every_problem(form, tenant=tenant, agent=None)
    elif form.is_bound:
        try:
            agent = services.agent_create(tenant=tenant, actor=Actor(user=request.user), **form.service_kwargs())
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, f"Agent {agent.name} was created.")
            return redirect("agents-agent-detail", code=agent.code)
    return _render_form(request, form, tenant=tenant, agent=None)


@portal_view(write=True)
def agent_edit(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    tenant = membership.tenant
    agent = selectors.agent_get(tenant=tenant, code=code)
    holidays = [(holiday.date, holiday.name) for holiday in agent.holidays.all()]
    initial = AgentForm.initial_for(agent, ranges=_ranges(agent), holidays=holidays)
    form = AgentForm(request.POST if request.method == "POST" else None, initial=initial)
    if form.is_bound and not form.is_valid():
        _report_every_problem(form, tenant=tenant, agent=agent)
    elif form.is_bound:
        try:
            agent = services.agent_update(
                tenant=tenant, agent=agent, actor=Actor(user=request.user), **form.service_kwargs()
            )
        except ValidationError as error:
            apply_errors(form, error)
        else:
            messages.success(request, f"Agent {agent.name} was saved.")
            return redirect("agents-agent-detail", code=agent.code)
    return _render_form(request, form, tenant=tenant, agent=agent)


# Detail and row actions ----------------------------------------------------------------------


def _staff_metrics(request: HttpRequest) -> dict[str, float | int] | None:
    if not request.user.is_staff:
        return None
    try:
        return loader.metrics()
    except redis.RedisError:
        logger.warning("agent config metrics unavailable: Redis did not answer")
        return {}


@portal_view()
def agent_detail(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    tenant = membership.tenant
    agent = selectors.agent_get(tenant=tenant, code=code)
    loaded = loader.get(tenant_code=tenant.code, agent_code=agent.code, count=False)
    context = {
        "agent": agent,
        "summary": selectors.agent_summary(agent),
        "hours": _hours_rows(agent),
        "holidays": agent.holidays.all(),
        "versions": selectors.prompt_version_list(tenant=tenant, agent=agent)[:5],
        "runtime": loaded,
        "runtime_json": json.dumps(loaded.config and loaded.config.to_document(), indent=2, ensure_ascii=False),
        "readiness": readiness(tenant=tenant, config=loaded.config),
        "setup_problems": references.dangling_ivr_problems(tenant=tenant, agent=agent),
        "used_by": references.agent_references(tenant=tenant, agent=agent),
        "agent_links": agent_links(agent),
        "outbound_not_active": OUTBOUND_NOT_ACTIVE,
        "recording_not_active": RECORDING_NOT_ACTIVE,
        "metrics": _staff_metrics(request),
    }
    return render(request, "agents_app/agent_detail.html", context)


@require_POST
@portal_view(write=True)
def agent_duplicate(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    agent = selectors.agent_get(tenant=membership.tenant, code=code)
    try:
        copy = services.agent_duplicate(tenant=membership.tenant, agent=agent, actor=Actor(user=request.user))
    except ValidationError as error:
        messages.error(request, f"{agent.name} could not be copied: {' '.join(error.messages)}")
        return redirect("agents-agent-detail", code=agent.code)
    messages.success(request, f"{copy.name} was created as a copy of {agent.name}. Review it before use.")
    return redirect("agents-agent-edit", code=copy.code)


def _set_active(request: HttpRequest, membership: Membership, code: str, *, is_active: bool) -> HttpResponse:
    tenant = membership.tenant
    agent = selectors.agent_get(tenant=tenant, code=code)
    try:
        services.agent_set_active(tenant=tenant, agent=agent, is_active=is_active)
    except ValidationError as error:  # an open campaign calls with it
        messages.error(request, " ".join(error.messages))
        if request.headers.get("HX-Request"):
            row = selectors.agent_summary(selectors.agent_list(tenant=tenant).get(pk=agent.pk))
            response = render(request, "agents_app/_agent_row.html", {"row": row})
            response["HX-Refresh"] = "true"  # the page reloads and shows the message
            return response
        return redirect(_safe_next(request, reverse("agents-agent-detail", kwargs={"code": agent.code})))
    if request.headers.get("HX-Request"):
        row = selectors.agent_summary(selectors.agent_list(tenant=tenant).get(pk=agent.pk))
        return render(request, "agents_app/_agent_row.html", {"row": row})
    messages.success(request, f"{agent.name} is now {'active' if is_active else 'inactive'}.")
    return redirect(_safe_next(request, reverse("agents-agent-detail", kwargs={"code": agent.code})))


@require_POST
@portal_view(write=True)
def agent_activate(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    return _set_active(request, membership, code, is_active=True)


@require_POST
@portal_view(write=True)
def agent_deactivate(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    return _set_active(request, membership, code, is_active=False)


@portal_view(write=True)
def agent_delete(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    """GET asks for confirmation, naming what refers to the agent; POST deletes it with its hours,
    holidays and prompt history, detaching the references only if the page listed them (and the
    list has not changed since: otherwise the page is shown again with the new list)."""
    tenant = membership.tenant
    agent = selectors.agent_get(tenant=tenant, code=code)
    found = references.agent_references(tenant=tenant, agent=agent)
    fingerprint = references.references_fingerprint(found)
    blocking = references.blocking_references(found)
    changed = False
    refused = request.method == "POST" and bool(blocking)  # a campaign holds it: no confirmation helps
    if request.method == "POST" and not refused:
        confirmed = request.POST.get("detach") == "1" and request.POST.get("references", "") == fingerprint
        changed = bool(found) and not confirmed
        if not changed:
            try:
                services.agent_delete(tenant=tenant, agent=agent, detach=bool(found))
            except services.AgentInUse as in_use:  # a reference appeared after the check above
                found, changed, blocking = in_use.references, True, in_use.blocking
                fingerprint = references.references_fingerprint(found)
            else:
                detached = (
                    f" {len(found)} reference{'s' if len(found) != 1 else ''} to it were detached." if found else ""
                )
                messages.success(request, f"Agent {agent.name} was deleted.{detached}")
                return redirect("agents-agent-list")
    context = {
        "agent": agent,
        "references": found,
        "fingerprint": fingerprint,
        "changed": changed,
        "blocking": blocking,
        "in_use": services.AgentInUse(agent, found) if blocking else None,
    }
    return render(request, "agents_app/agent_confirm_delete.html", context, status=409 if changed or refused else 200)


# Prompt history ------------------------------------------------------------------------------


def _int_param(request: HttpRequest, name: str) -> int | None:
    try:
        return int(request.GET[name])
    except (KeyError, ValueError):
        return None


def _pick_versions(request: HttpRequest, versions: list[PromptVersion]) -> tuple[PromptVersion, PromptVersion] | None:
    """The ?from=N&to=M pair (default: previous vs latest); 404 when a named version does not exist."""
    by_number = {version.version: version for version in versions}
    wanted_from, wanted_to = _int_param(request, "from"), _int_param(request, "to")
    if wanted_to is None:
        wanted_to = versions[0].version if versions else None
    if wanted_from is None:
        wanted_from = versions[1].version if len(versions) > 1 else None
    if wanted_from is None or wanted_to is None:
        return None
    if wanted_from not in by_number or wanted_to not in by_number:
        raise Http404
    return by_number[wanted_from], by_number[wanted_to]


@portal_view()
def prompt_history(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    tenant = membership.tenant
    agent = selectors.agent_get(tenant=tenant, code=code)
    versions = list(selectors.prompt_version_list(tenant=tenant, agent=agent))
    pair = _pick_versions(request, versions)
    current = {name: getattr(agent, name) for name in PROMPT_FIELDS}
    context = {
        "agent": agent,
        "versions": versions,
        "current_version": next(
            (v.version for v in versions if all(getattr(v, name) == text for name, text in current.items())), None
        ),
        "older": pair[0] if pair else None,
        "newer": pair[1] if pair else None,
        "diffs": selectors.prompt_diff(older=pair[0], newer=pair[1]) if pair else [],
    }
    return render(request, "agents_app/prompt_history.html", context)


@require_POST
@portal_view(write=True)
def prompt_revert(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    tenant = membership.tenant
    agent = selectors.agent_get(tenant=tenant, code=code)
    form = RevertForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a version to revert to.")
        return redirect("agents-prompt-list", code=agent.code)
    version = form.cleaned_data["version"]
    snapshot = selectors.prompt_version_get(tenant=tenant, agent=agent, version=version)
    if all(getattr(snapshot, name) == getattr(agent, name) for name in PROMPT_FIELDS):
        messages.info(request, f"{agent.name} already uses the texts of version {version}; nothing changed.")
        return redirect("agents-prompt-list", code=agent.code)
    try:
        services.agent_revert_prompt(tenant=tenant, agent=agent, version=version, actor=Actor(user=request.user))
    except ValidationError as error:
        messages.error(request, f"Could not revert to version {version}: {' '.join(error.messages)}")
    else:
        messages.success(request, f"The prompt texts of version {version} are back, saved as a new version.")
    return redirect("agents-prompt-list", code=agent.code)
