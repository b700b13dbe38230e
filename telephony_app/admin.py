"""Operator admin for the call log (read-only) and phone numbers, scoped like every tenant-owned model."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from agents_app.models import Agent
from agents_app.validation import inbound_agent_problem
from telephony_app.models import Call, PhoneNumber, SipTransport
from telephony_app.number_cache import inbound_numbers_forget_on_commit
from telephony_app.number_references import number_references, refuse_if_referenced
from telephony_app.services import phone_number_delete
from voiceplatform.admin import TenantScopedAdmin


@admin.register(Call)
class CallAdmin(TenantScopedAdmin):
    """Calls are written only by the voice worker and the telephony services, never by hand."""

    list_display = [
        "created_at",
        "tenant",
        "agent_name",
        "direction",
        "status",
        "from_number",
        "to_number",
        "duration_seconds",
        "estimated_cost_usd",
    ]
    # RelatedOnlyFieldListFilter offers only tenants present in the (scoped) rows, so staff do not
    # see the names of tenants they are not in.
    list_filter = [
        "status",
        "direction",
        "config_source",
        "analysis_status",
        "created_at",
        ("tenant", admin.RelatedOnlyFieldListFilter),
    ]
    search_fields = ["code", "room_name", "from_number", "to_number", "agent_name", "end_reason"]
    date_hierarchy = "created_at"
    list_select_related = ["tenant"]
    fieldsets = [
        (None, {"fields": ["code", "tenant", "agent", "agent_name", "direction", "status", "config_source"]}),
        ("Parties", {"fields": ["from_number", "to_number", "room_name", "context"]}),
        (
            "Timing",
            {"fields": ["created_at", "started_at", "answered_at", "ended_at", "duration_seconds", "updated_at"]},
        ),
        ("Outcome", {"fields": ["end_reason", "error", "estimated_cost_usd"]}),
        ("Report", {"fields": ["transcript", "turn_metrics", "usage"]}),
        (
            "Post-call analysis",
            {
                "fields": [
                    "analysis_status",
                    "analysis_error",
                    "summary",
                    "extracted",
                    "success",
                    "analysis_cost_usd",
                    "analysis_started_at",
                    "analyzed_at",
                ]
            },
        ),
    ]
    readonly_fields = [field for _, options in fieldsets for field in options["fields"]]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class PhoneNumberAdminForm(forms.ModelForm):
    class Meta:
        model = PhoneNumber
        fields = [
            "tenant",
            "number",
            "label",
            "provider",
            "agent",
            "is_active",
            "sip_trunk_id",
            "outbound_trunk_id",
            "outbound_cps",
            # LiveKit SIP provisioning; the carrier password is set in the portal or the API only
            # (write-only there, encrypted): the admin never shows or takes it.
            "dispatch_rule_id",
            "outbound_address",
            "outbound_transport",
            "outbound_auth_username",
        ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "outbound_cps" in self.fields:
            self.fields["outbound_cps"].required = False  # empty = 1, as in the portal
        if "outbound_transport" in self.fields:
            self.fields["outbound_transport"].required = False  # empty = auto, as in the portal

    def clean_outbound_transport(self) -> str:
        return self.cleaned_data.get("outbound_transport") or SipTransport.AUTO

    def clean_outbound_cps(self) -> Decimal:
        value = self.cleaned_data.get("outbound_cps")
        return Decimal(1) if value is None else value

    def clean_is_active(self) -> bool:
        """The services' rule: a number an open campaign presents as caller ID stays switched on."""
        is_active = self.cleaned_data.get("is_active", True)
        if self.instance.pk is not None and self.instance.is_active and not is_active:
            try:
                refuse_if_referenced(tenant=self.instance.tenant, phone_number=self.instance, deleting=False)
            except ValidationError as error:
                raise forms.ValidationError(error.messages) from None
        return is_active

    def clean_agent(self) -> Agent | None:
        """The portal's and the API's rule: an outbound-only agent cannot answer a number."""
        agent = self.cleaned_data.get("agent")
        if agent is not None and (problem := inbound_agent_problem(name=agent.name, direction=agent.direction)):
            raise forms.ValidationError(problem)
        return agent


@admin.register(PhoneNumber)
class PhoneNumberAdmin(TenantScopedAdmin):
    """The model's validators keep numbers in E.164 and the agent in the number's tenant here too."""

    form = PhoneNumberAdminForm
    list_display = ["number", "label", "tenant", "provider", "agent", "is_active", "updated_at"]
    list_filter = ["provider", "is_active", ("tenant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["code", "number", "label", "sip_trunk_id", "outbound_trunk_id"]
    list_select_related = ["tenant", "agent"]
    fields = ["code", *PhoneNumberAdminForm.Meta.fields]
    readonly_fields = ["code", "created_at", "updated_at"]

    # Every write drops the inbound number cache's entries on commit (a renumbered line: both).

    def save_model(self, request: HttpRequest, obj: PhoneNumber, form: forms.ModelForm, change: bool) -> None:
        stored = form.initial.get("number", "") if change else ""
        super().save_model(request, obj, form, change)
        inbound_numbers_forget_on_commit([obj.number, stored])

    # Deletes go through the service: a number a campaign holds is refused with its name, not a 500.

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        number = self.get_object(request, unquote(object_id))
        if number is not None and (held_by := number_references(tenant=number.tenant, phone_number=number)):
            text = "; ".join(f"{ref.label}. {ref.remedy}" for ref in held_by)
            self.message_user(request, f"{number.number} cannot be deleted while it is {text}", messages.ERROR)
            return HttpResponseRedirect(reverse("admin:telephony_app_phonenumber_change", args=[number.pk]))
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request: HttpRequest, obj: PhoneNumber) -> None:
        phone_number_delete(tenant=obj.tenant, phone_number=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[PhoneNumber]) -> None:
        for number in queryset.select_related("tenant"):
            try:
                phone_number_delete(tenant=number.tenant, phone_number=number)
            except ValidationError as error:  # held by a campaign: the others still go
                self.message_user(request, " ".join(error.messages), messages.ERROR)
