"""Operator admin for campaigns, their contacts, attempts and imports, and the DNC and consent
ledgers, scoped like every tenant-owned model (voiceplatform.admin.TenantScopedAdmin).

Campaigns are written through campaigns_app.services (the same rules as the portal and the API);
their status moves only through the actions (start, pause, resume, cancel). Contacts, attempts and
imports are written by the import and the dialer, so they are read-only here; the ledgers are
append-only, so nothing in them is changed or deleted here either.
"""

from __future__ import annotations

import copy
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.actions import delete_selected
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from campaigns_app import services
from campaigns_app.models import CallAttempt, Campaign, Consent, Contact, ContactImport, DncEntry
from voiceplatform.admin import TenantScopedAdmin


class CampaignAdminForm(forms.ModelForm):
    """The campaign's fields, checked by services.campaign_problems (the portal's and the API's rule)."""

    class Meta:
        model = Campaign
        fields = ["tenant", *services.CAMPAIGN_FIELDS]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        tenant = cleaned.get("tenant") if self.instance.pk is None else self.instance.tenant
        if tenant is None or self.errors:
            return cleaned  # the fields' own errors first: the rules would judge values nobody sent
        if self.instance.pk is not None and not self.instance.is_editable:
            raise forms.ValidationError(f"A {self.instance.get_status_display().lower()} campaign cannot be changed.")
        probe = copy.copy(self.instance)
        probe.tenant = tenant
        for name in services.CAMPAIGN_FIELDS:
            if name in cleaned:
                setattr(probe, name, cleaned[name])
        for name, problems in services.campaign_problems(tenant=tenant, campaign=probe).items():
            for problem in problems:
                self.add_error(name if name in self.fields else None, problem)
        return cleaned


@admin.register(Campaign)
class CampaignAdmin(TenantScopedAdmin):
    form = CampaignAdminForm
    list_display = [
        "name",
        "tenant",
        "status",
        "agent_shown",
        "caller_id_shown",
        "dialer_mode",
        "start_date",
        "created_at",
    ]
    list_filter = ["status", "dialer_mode", "requires_consent", ("tenant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["code", "name", "agent_name", "caller_id_number"]
    list_select_related = ["tenant", "agent", "caller_id"]
    readonly_fields = [
        "code",
        "agent_name",
        "caller_id_number",
        "status",
        "status_changed_at",
        "started_at",
        "finished_at",
        "created_at",
        "updated_at",
        "dialer_error",
        "dialer_error_at",
        "dial_zones",
        "zones_pending",
    ]
    actions = ["start", "pause", "resume", "cancel"]
    fieldsets = [
        # The snapshots are what a finished campaign shows once its agent or number was deleted.
        (
            None,
            {"fields": ["tenant", "name", "objective", "agent", "agent_name", "caller_id", "caller_id_number", "code"]},
        ),
        ("When", {"fields": ["calling_window", "start_date", "end_date"]}),
        (
            "Pace",
            {"fields": ["dialer_mode", "max_calls_per_second", "max_concurrent_calls", "max_attempts"]},
        ),
        ("Retries", {"fields": ["retry_backoff_minutes"]}),
        (
            "Compliance and voicemail",
            {"fields": ["requires_consent", "recording_notice", "voicemail_action", "voicemail_message"]},
        ),
        (
            "Status (changed only by the actions)",
            {"fields": ["status", "status_changed_at", "started_at", "finished_at", "created_at", "updated_at"]},
        ),
        # The dialer's own bookkeeping: why it cannot dial now, and the callees' zones it has seen.
        ("Dialer", {"fields": ["dialer_error", "dialer_error_at", "dial_zones", "zones_pending"]}),
    ]

    @admin.display(description="agent", ordering="agent_name")
    def agent_shown(self, campaign: Campaign) -> str:
        return campaign.agent_display

    @admin.display(description="caller ID", ordering="caller_id_number")
    def caller_id_shown(self, campaign: Campaign) -> str:
        return campaign.caller_id_display

    def get_readonly_fields(self, request: HttpRequest, obj: Campaign | None = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "tenant"] if obj is not None else fields

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        # A running or finished campaign is shown, not edited (campaign_update would refuse it).
        editable = obj is None or obj.is_editable
        return super().has_change_permission(request, obj) and editable

    def save_model(self, request: HttpRequest, obj: Campaign, form: forms.ModelForm, change: bool) -> None:
        """Saves go through the services; the form ran the same rules, so an error here is a race."""
        fields = {name: form.cleaned_data[name] for name in services.CAMPAIGN_FIELDS if name in form.cleaned_data}
        try:
            if change:
                saved = services.campaign_update(tenant=obj.tenant, campaign=obj, fields=fields)
            else:
                saved = services.campaign_create(tenant=obj.tenant, fields=fields)
        except (ValidationError, services.CampaignStateConflict) as error:
            self.message_user(request, _text(error), messages.ERROR)
            raise
        obj.pk, obj.code = saved.pk, saved.code

    # Deleting: only a campaign that never started (campaign_delete); a started one is cancelled.

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None) -> HttpResponse:
        campaign = self.get_object(request, unquote(object_id))
        if campaign is not None and not campaign.can_delete:
            self.message_user(
                request,
                f"{campaign.name} has started and is kept for its record of calls: cancel it instead.",
                messages.ERROR,
            )
            return HttpResponseRedirect(reverse("admin:campaigns_app_campaign_change", args=[campaign.pk]))
        return super().delete_view(request, object_id, extra_context)

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> tuple[Any, Any, set[str], Any]:
        """Its contacts, attempts and imports go with a deleted campaign (campaign_delete): their admins
        being read-only must not stop that."""
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        owned = {model._meta.verbose_name for model in (Contact, CallAttempt, ContactImport)}
        return deleted, counts, {name for name in perms_needed if name not in owned}, protected

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            _func, name, description = actions["delete_selected"]
            actions["delete_selected"] = (_delete_selected_never_started, name, description)
        return actions

    def delete_model(self, request: HttpRequest, obj: Campaign) -> None:
        services.campaign_delete(tenant=obj.tenant, campaign=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        for campaign in queryset.select_related("tenant"):
            try:
                services.campaign_delete(tenant=campaign.tenant, campaign=campaign)
            except services.CampaignStateConflict as error:
                self.message_user(request, f"{campaign.name}: {_text(error)}", messages.ERROR)

    def _transition(self, request: HttpRequest, queryset: QuerySet[Campaign], service: Any, done: str) -> None:
        moved = 0
        for campaign in queryset.select_related("tenant"):
            try:
                service(tenant=campaign.tenant, campaign=campaign)
            except (ValidationError, services.CampaignStateConflict) as error:
                self.message_user(request, f"{campaign.name}: {_text(error)}", messages.ERROR)
            else:
                moved += 1
        if moved:
            self.message_user(request, f"{moved} campaign{'s' if moved != 1 else ''} {done}.", messages.SUCCESS)

    @admin.action(description="Start selected campaigns")
    def start(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._transition(request, queryset, services.campaign_start, "started")

    @admin.action(description="Pause selected campaigns")
    def pause(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._transition(request, queryset, services.campaign_pause, "paused")

    @admin.action(description="Resume selected campaigns")
    def resume(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._transition(request, queryset, services.campaign_resume, "resumed")

    @admin.action(description="Cancel selected campaigns (for good)")
    def cancel(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._transition(request, queryset, services.campaign_cancel, "cancelled")


def _delete_selected_never_started(
    modeladmin: CampaignAdmin, request: HttpRequest, queryset: QuerySet[Campaign]
) -> HttpResponse | None:
    """Django's bulk delete, refused as a whole (nothing deleted) when a selected campaign has started."""
    started = [campaign.name for campaign in queryset if not campaign.can_delete]
    if started:
        modeladmin.message_user(
            request,
            f"Nothing was deleted: {', '.join(started)} started and "
            f"{'is' if len(started) == 1 else 'are'} kept for the record of calls. Cancel instead.",
            messages.ERROR,
        )
        return None
    return delete_selected(modeladmin, request, queryset)


def _text(error: Exception) -> str:
    """One line for an admin message: the conflict's message with what to do, or the field messages."""
    if isinstance(error, services.CampaignStateConflict):
        return " ".join([error.message, *error.problems])
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error)


class ReadOnlyAdmin(TenantScopedAdmin):
    """Rows written only by the import, the dialer or a ledger service: shown, never edited here."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Contact)
class ContactAdmin(ReadOnlyAdmin):
    list_display = ["number", "name", "campaign", "status", "attempts", "next_attempt_at", "reason"]
    list_filter = ["status", "last_outcome", ("campaign", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["number", "name", "code"]
    list_select_related = ["campaign"]
    readonly_fields = [
        "code",
        "tenant",
        "campaign",
        "number",
        "name",
        "timezone",
        "variables",
        "status",
        "attempts",
        "next_attempt_at",
        "lease_expires_at",
        "last_outcome",
        "reason",
        "created_at",
        "updated_at",
    ]
    fields = readonly_fields


@admin.register(CallAttempt)
class CallAttemptAdmin(ReadOnlyAdmin):
    list_display = ["contact", "attempt_no", "campaign", "outcome", "started_at", "ended_at"]
    list_filter = ["outcome", ("campaign", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["contact__number", "contact__name", "code"]
    list_select_related = ["contact", "campaign"]
    readonly_fields = [
        "code",
        "tenant",
        "campaign",
        "contact",
        "attempt_no",
        "call",
        "consent",
        "outcome",
        "detail",
        "created_at",
        "started_at",
        "ended_at",
    ]
    fields = readonly_fields


@admin.register(ContactImport)
class ContactImportAdmin(ReadOnlyAdmin):
    list_display = [
        "original_name",
        "campaign",
        "status",
        "rows_read",
        "rows_imported",
        "rows_skipped",
        "rows_refused",
        "created_at",
    ]
    list_filter = ["status", "mode", ("campaign", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["original_name", "campaign__name", "code"]
    list_select_related = ["campaign"]
    readonly_fields = [
        "code",
        "tenant",
        "campaign",
        "original_name",
        "size_bytes",
        "encoding",
        "detected_encoding",
        "default_country",
        "mode",
        "dnc_handling",
        "column_map",
        "status",
        "bytes_read",
        "rows_read",
        "rows_imported",
        "rows_skipped",
        "rows_refused",
        "error",
        "error_report",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
    ]
    fields = readonly_fields


@admin.register(DncEntry)
class DncEntryAdmin(ReadOnlyAdmin):
    """Append-only: a removal is a new row written by dnc_remove (portal or API), never an edit here."""

    list_display = ["number", "action", "source", "reason", "actor", "tenant", "created_at"]
    list_filter = ["action", "source", ("tenant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["number"]
    list_select_related = ["tenant"]
    readonly_fields = ["code", "tenant", "number", "action", "source", "reason", "actor", "call", "created_at"]
    fields = readonly_fields


@admin.register(Consent)
class ConsentAdmin(ReadOnlyAdmin):
    """Append-only: a revocation is a new row written by consent_revoke (portal or API), never an edit here."""

    list_display = ["number", "action", "kind", "source", "granted_at", "revoked_at", "tenant", "created_at"]
    list_filter = ["action", "kind", "source", ("tenant", admin.RelatedOnlyFieldListFilter)]
    search_fields = ["number"]
    list_select_related = ["tenant"]
    readonly_fields = [
        "code",
        "tenant",
        "number",
        "action",
        "kind",
        "source",
        "evidence",
        "granted_at",
        "revoked_at",
        "actor",
        "created_at",
    ]
    fields = readonly_fields
