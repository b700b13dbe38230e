"""Operator admin for webhooks: endpoints (no secret shown; URLs checked by the same guard) and a
read-only delivery log with each delivery's attempts."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Model
from django.http import HttpRequest

from voiceplatform.admin import TenantScopedAdmin
from voiceplatform.webhooks import services
from voiceplatform.webhooks.events import event_choices
from voiceplatform.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class WebhookEndpointAdminForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")
    event_types = forms.MultipleChoiceField(choices=event_choices, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "event_types", "is_enabled"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if self.instance.pk and not self.errors:
            try:
                services.check_endpoint_url(cleaned.get("url", ""))
            except ValidationError as error:
                self.add_error("url", error.messages)
        return cleaned


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(TenantScopedAdmin):
    form = WebhookEndpointAdminForm
    list_display = ["url", "tenant", "is_enabled", "consecutive_failures", "disabled_at", "created_at"]
    list_filter = ["is_enabled"]
    search_fields = ["url", "description", "tenant__name"]
    readonly_fields = ["tenant", "code", "consecutive_failures", "disabled_at", "disabled_reason", "created_at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the secret is shown once to the tenant: endpoints are added in the portal or the API

    def save_model(self, request: HttpRequest, obj: WebhookEndpoint, form: forms.ModelForm, change: bool) -> None:
        data = form.cleaned_data
        services.endpoint_update(
            tenant=obj.tenant,
            endpoint=obj,
            url=data["url"],
            event_types=data["event_types"],
            description=data["description"],
            is_enabled=data["is_enabled"],
        )


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ["number", "is_success", "response_code", "latency_ms", "error_class", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(TenantScopedAdmin):
    list_display = [
        "created_at",
        "event_type",
        "endpoint",
        "tenant",
        "status",
        "attempts",
        "last_response_code",
        "message_id",
    ]
    list_filter = ["status", "event_type"]
    search_fields = ["message_id", "endpoint__url"]
    fields = [
        "tenant",
        "endpoint",
        "event_type",
        "message_id",
        "status",
        "attempts",
        "next_attempt_at",
        "last_response_code",
        "last_error_class",
        "created_at",
        "delivered_at",
        "body",
    ]
    readonly_fields = fields
    inlines = [WebhookAttemptInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False  # read-only: a delivery log is a record

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False
