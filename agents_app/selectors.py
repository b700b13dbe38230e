"""Reads for agents; every lookup takes the tenant explicitly."""

from __future__ import annotations

import difflib
import uuid
from dataclasses import dataclass

from django.db.models import Max, QuerySet
from django.http import Http404
from django.template.defaultfilters import pluralize

from agents_app import catalog
from agents_app.models import PROMPT_FIELDS, Agent, PromptVersion
from voiceplatform.dashboard import DashboardStat
from voiceplatform.models import Tenant
from voiceplatform.selectors import get_or_404


def agent_list(
    *, tenant: Tenant, search: str = "", is_active: bool | None = None, direction: str = ""
) -> QuerySet[Agent]:
    queryset = Agent.objects.for_tenant(tenant).annotate(prompt_version=Max("prompt_versions__version"))
    if search:
        queryset = queryset.filter(name__icontains=search)
    if is_active is not None:
        queryset = queryset.filter(is_active=is_active)
    if direction:
        queryset = queryset.filter(direction=direction)
    return queryset.order_by("name", "id")


def agent_get(*, tenant: Tenant, code: uuid.UUID | str) -> Agent:
    """The tenant's agent with that code; the same 404 for 'not yours' and 'does not exist'."""
    queryset = Agent.objects.for_tenant(tenant).select_related("tenant").prefetch_related("business_hours", "holidays")
    return get_or_404(queryset, code)


def prompt_version_list(*, tenant: Tenant, agent: Agent) -> QuerySet[PromptVersion]:
    return PromptVersion.objects.for_tenant(tenant).filter(agent=agent).order_by("-version")


def prompt_version_get(*, tenant: Tenant, agent: Agent, version: int) -> PromptVersion:
    try:
        return PromptVersion.objects.for_tenant(tenant).get(agent=agent, version=version)
    except PromptVersion.DoesNotExist:
        raise Http404 from None


@dataclass(frozen=True)
class FieldDiff:
    field: str
    changed: bool
    table_html: str  # side-by-side table from difflib.HtmlDiff (escaped by difflib)


def prompt_diff(*, older: PromptVersion, newer: PromptVersion) -> list[FieldDiff]:
    """Side-by-side differences of each prompt text between two versions."""
    differ = difflib.HtmlDiff(wrapcolumn=70)
    result = []
    for field in PROMPT_FIELDS:
        before, after = getattr(older, field), getattr(newer, field)
        table = differ.make_table(
            before.splitlines(), after.splitlines(), f"version {older.version}", f"version {newer.version}"
        )
        result.append(FieldDiff(field=field, changed=before != after, table_html=table))
    return result


@dataclass(frozen=True)
class AgentSummary:
    """An agent with the catalog entries its ids point at (None = not in the catalog)."""

    agent: Agent
    llm_provider: catalog.LLMProvider | None
    llm_model: catalog.LLMModel | None
    tts_provider: catalog.TTSProvider | None
    voice: catalog.Voice | None
    stt_provider: catalog.STTProvider | None
    stt_model: catalog.STTModel | None


def agent_summary(agent: Agent) -> AgentSummary:
    """The agent with its catalog entries, for pages that show them."""
    return AgentSummary(
        agent=agent,
        llm_provider=catalog.llm_provider(agent.llm_provider),
        llm_model=catalog.llm_model(agent.llm_provider, agent.llm_model),
        tts_provider=catalog.tts_provider(agent.tts_provider),
        voice=catalog.voice(agent.tts_provider, agent.voice_id),
        stt_provider=catalog.stt_provider(agent.stt_provider),
        stt_model=catalog.stt_model(agent.stt_provider, agent.effective_stt_model),
    )


def agent_dashboard_counts(tenant: Tenant) -> list[DashboardStat]:
    """The dashboard's agents tile (registered in AgentsAppConfig.ready)."""
    agents = Agent.objects.for_tenant(tenant)
    total, active = agents.count(), agents.filter(is_active=True).count()
    label = f"agent{pluralize(total)} ({active} active)"
    return [DashboardStat(value=total, label=label, url_name="agents-agent-list")]
