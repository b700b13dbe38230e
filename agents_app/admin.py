"""Operator admin for agents, scoped like every tenant-owned model (voiceplatform.admin.TenantScopedAdmin)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from agents_app import config_cache, services
from agents_app.models import OUTBOUND_NOT_ACTIVE, RECORDING_NOT_ACTIVE, Agent, BusinessHours, Holiday, PromptVersion
from agents_app.references import agent_references, blocking_references
from agents_app.runtime_config import loader
from voiceplatform.actor import Actor
from voiceplatform.admin import TenantScopedAdmin


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    fields = ["weekday", "start", "end"]
    extra = 0


class HolidayInline(admin.TabularInline):
    model = Holiday
    fields = ["date", "name"]
    extra = 0


class PromptVersionInline(admin.TabularInline):
    model = PromptVersion
    fields = ["version", "author_label", "note", "created_at", "system_prompt"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False
    ordering = ["-version"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Agent)
class AgentAdmin(TenantScopedAdmin):
    list_display = [
        "name",
        "tenant",
        "direction",
        "llm_provider",
        "llm_model",
        "tts_provider",
        "is_active",
        "updated_at",
    ]
    list_filter = [
        "is_active",
        "direction",
        "llm_provider",
        "tts_provider",
        "stt_provider",
        ("tenant", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["name", "description", "tenant__name"]
    readonly_fields = ["code", "created_at", "updated_at", "config_cache_metrics"]
    inlines = [BusinessHoursInline, HolidayInline, PromptVersionInline]
    actions = ["activate", "deactivate", "duplicate"]
    fieldsets = [
        ("Identity", {"fields": ["tenant", "name", "description", "is_active", "code", "created_at", "updated_at"]}),
        (
            "AI",
            {
                "fields": [
                    "system_prompt",
                    "personality",
                    "greeting_message",
                    "llm_provider",
                    "llm_model",
                    "temperature",
                    "max_output_tokens",
                ]
            },
        ),
        ("Voice", {"fields": ["tts_provider", "voice_id", "tts_model", "speaking_speed"]}),
        ("Speech to text", {"fields": ["stt_provider", "stt_model", "stt_language"]}),
        (
            "Turn taking",
            {
                "fields": [
                    "allow_interruptions",
                    "min_endpointing_delay",
                    "max_endpointing_delay",
                    "preemptive_generation",
                ]
            },
        ),
        (
            "Inbound",
            {
                "fields": [
                    "direction",
                    "timezone",
                    "business_hours_enabled",
                    "transfer_number",
                    "fallback_number",
                    "out_of_hours_message",
                    "ivr_menu",
                ]
            },
        ),
        (
            "Outbound",
            {
                "description": f"Not active yet: {OUTBOUND_NOT_ACTIVE}",
                "fields": [
                    "dialer_type",
                    "max_retries",
                    "retry_delay_minutes",
                    "voicemail_action",
                    "voicemail_message",
                    "consent_required",
                    "dnc_enabled",
                ],
            },
        ),
        (
            "Post-call analysis",
            {
                "description": "After each call the agent's model writes a summary, extracts the data of the "
                "schema (a JSON Schema subset; see docs/agents.md) and judges success against the rubric.",
                "fields": [
                    "analysis_enabled",
                    "analysis_summary_prompt",
                    "analysis_schema",
                    "analysis_success_rubric",
                ],
            },
        ),
        (
            "Operations",
            {
                "description": f"Recording is not active yet: {RECORDING_NOT_ACTIVE}",
                "fields": ["max_concurrent_calls", "recording_enabled", "config_cache_metrics"],
            },
        ),
    ]

    def get_readonly_fields(self, request: HttpRequest, obj: Agent | None = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "tenant"] if obj is not None else fields

    @admin.display(description="Runtime-config cache (all processes)")
    def config_cache_metrics(self, obj: Agent | None) -> str:
        try:
            metrics = loader.metrics()
        except Exception:  # the admin page must render even when Redis is down
            return "Redis unreachable"
        return ", ".join(f"{name}={value}" for name, value in metrics.items())

    def save_model(self, request: HttpRequest, obj: Agent, form: forms.ModelForm, change: bool) -> None:
        """Saves go through the services so prompt history and validation match the portal and API."""
        fields = {name: form.cleaned_data[name] for name in services.EDITABLE_FIELDS if name in form.cleaned_data}
        actor = Actor(user=request.user)
        try:
            if change:
                saved = services.agent_update(tenant=obj.tenant, agent=obj, actor=actor, fields=fields, note="Admin")
            else:
                saved = services.agent_create(tenant=obj.tenant, actor=actor, fields=fields, note="Admin")
        except ValidationError as exc:  # form validation ran the same checks; this is a race, say so
            messages.error(request, "; ".join(exc.messages))
            raise
        obj.pk, obj.code = saved.pk, saved.code

    def save_formset(self, request: HttpRequest, form: forms.ModelForm, formset: Any, change: bool) -> None:
        instances = formset.save(commit=False)
        for instance in instances:
            instance.tenant_id = form.instance.tenant_id
            instance.save()
        for deleted in formset.deleted_objects:
            deleted.delete()
        formset.save_m2m()
        if formset.model is not PromptVersion:
            form.instance.save(update_fields=["updated_at"])  # the schedule is part of the agent's config

    def save_related(self, request: HttpRequest, form: forms.ModelForm, formsets: Any, change: bool) -> None:
        """After the inlines (hours, holidays): the config refreshed, then its numbers dropped, on commit."""
        super().save_related(request, form, formsets, change)
        config_cache.agent_changed(tenant=form.instance.tenant, agent=form.instance)

    # Deleting: the confirmation pages name what refers to each agent (other agents' IVR options,
    # phone numbers, campaigns), and confirming detaches them with the delete, as in the portal.

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        agent = self.get_object(request, unquote(object_id))
        found = agent_references(tenant=agent.tenant, agent=agent) if agent is not None else []
        if blocking_references(found):  # an open campaign holds it: no confirmation page to offer
            self.message_user(request, str(services.AgentInUse(agent, found)), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:agents_app_agent_change", args=[agent.pk]))
        references = [(agent, found)] if found else []
        return super().delete_view(request, object_id, {**(extra_context or {}), "agent_references": references})

    def delete_model(self, request: HttpRequest, obj: Agent) -> None:
        services.agent_delete(tenant=obj.tenant, agent=obj, detach=True)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        for agent in queryset.select_related("tenant"):
            try:
                services.agent_delete(tenant=agent.tenant, agent=agent, detach=True)
            except services.AgentInUse as in_use:  # an open campaign's agent: the others still go
                self.message_user(request, str(in_use), messages.ERROR)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            _func, name, description = actions["delete_selected"]
            actions["delete_selected"] = (_delete_selected_naming_references, name, description)
        return actions

    @admin.action(description="Activate selected agents")
    def activate(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        for agent in queryset.select_related("tenant"):
            services.agent_set_active(tenant=agent.tenant, agent=agent, is_active=True)

    @admin.action(description="Deactivate selected agents")
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        for agent in queryset.select_related("tenant"):
            try:
                services.agent_set_active(tenant=agent.tenant, agent=agent, is_active=False)
            except ValidationError as error:  # an open campaign calls with it: the others still go off
                self.message_user(request, " ".join(error.messages), messages.ERROR)

    @admin.action(description="Duplicate selected agents")
    def duplicate(self, request: HttpRequest, queryset: QuerySet[Agent]) -> None:
        for agent in queryset.select_related("tenant"):
            services.agent_duplicate(tenant=agent.tenant, agent=agent, actor=Actor(user=request.user))


def _delete_selected_naming_references(
    modeladmin: AgentAdmin, request: HttpRequest, queryset: QuerySet[Agent]
) -> HttpResponse | None:
    """Django's bulk delete, with each agent's references added to its confirmation page."""
    response = delete_selected(modeladmin, request, queryset)
    if isinstance(response, TemplateResponse) and response.context_data is not None:
        agents = queryset.select_related("tenant")
        found = [(agent, agent_references(tenant=agent.tenant, agent=agent)) for agent in agents]
        response.context_data["agent_references"] = [(agent, refs) for agent, refs in found if refs]
    return response
