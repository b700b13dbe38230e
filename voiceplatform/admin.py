"""Operator admin. Superusers see every tenant; staff users only rows of tenants they belong to."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from voiceplatform import change_hooks
from voiceplatform.models import ApiKey, Invitation, Membership, ProviderCredential, Tenant
from voiceplatform.services import invitation_revoke, membership_change_check, tenant_delete


def staff_tenant_ids(request: HttpRequest) -> list[int]:
    memberships = Membership.objects.across_tenants(reason="the admin: the staff user's own memberships")
    return list(memberships.filter(user=request.user).values_list("tenant_id", flat=True))


class TenantScopedAdmin(admin.ModelAdmin):
    """Base for tenant-owned models: rows, objects and FK choices limited to the user's tenants."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset.across_tenants(reason="the admin: a superuser sees every tenant's rows")
        return queryset.filter(tenant_id__in=staff_tenant_ids(request))

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if not request.user.is_superuser:
            related = db_field.related_model
            tenant_ids = staff_tenant_ids(request)
            if related is Tenant:
                kwargs["queryset"] = Tenant.objects.filter(pk__in=tenant_ids)
            elif related is get_user_model():
                kwargs["queryset"] = get_user_model().objects.filter(memberships__tenant_id__in=tenant_ids).distinct()
            elif any(f.name == "tenant" for f in related._meta.fields):
                kwargs["queryset"] = related._default_manager.filter(tenant_id__in=tenant_ids)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _owns(self, request: HttpRequest, obj: Model | None) -> bool:
        return obj is None or request.user.is_superuser or obj.tenant_id in staff_tenant_ids(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_view_permission(request, obj) and self._owns(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._owns(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._owns(request, obj)


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "timezone", "max_concurrent_calls", "created_at"]
    search_fields = ["name", "slug"]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["code", "created_at"]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        return queryset if request.user.is_superuser else queryset.filter(pk__in=staff_tenant_ids(request))

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A staff user could not see a tenant they create (no membership yet): superusers only.
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return request.user.is_superuser

    # What higher apps keep about a tenant (its agents' configs, its numbers' routing entries) is
    # refreshed on commit, as after the services' writes.

    def save_model(self, request: HttpRequest, obj: Tenant, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if change:
            change_hooks.tenant_changed(tenant=obj)

    def delete_model(self, request: HttpRequest, obj: Tenant) -> None:
        tenant_delete(tenant=obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        for tenant in queryset:
            tenant_delete(tenant=tenant)


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    """Staff change memberships under the portal's rule (membership_change_check); superusers do not."""

    list_display = ["user", "tenant", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "user__username", "tenant__name"]
    autocomplete_fields = ["user", "tenant"]
    readonly_fields = ["code"]

    def get_form(self, request: HttpRequest, obj: Model | None = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change=change, **kwargs)
        if request.user.is_superuser:
            return form_class
        # The form's clean() asks the same rule as the portal, acting as this staff user.
        return type("StaffMembershipForm", (StaffMembershipFormMixin, form_class), {"staff_user": request.user})

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not request.user.is_superuser:
            actions.pop("delete_selected", None)  # deletes one by one, each checked by the rule
        return actions

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        if not super().has_delete_permission(request, obj):
            return False
        if obj is None or request.user.is_superuser:
            return True
        return membership_change_problem(staff_user=request.user, tenant=obj.tenant, current=obj, new_role=None) is None


def membership_change_problem(
    *, staff_user: Any, tenant: Tenant, current: Membership | None, new_role: str | None
) -> ValidationError | None:
    """What the portal's rule says against this staff user's change, or None when it is allowed."""
    actor = Membership.objects.for_tenant(tenant).filter(user=staff_user).first()
    try:
        membership_change_check(tenant=tenant, actor=actor, current=current, new_role=new_role)
    except ValidationError as error:
        return error
    return None


class StaffMembershipFormMixin(forms.ModelForm):
    """Refuses, as a form error, any membership change the portal would refuse this staff user."""

    staff_user: Any

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        tenant, role = cleaned.get("tenant"), cleaned.get("role")
        if tenant is None or role is None or self.errors:
            return cleaned
        current = None
        if self.instance.pk is not None:
            stored = Membership.objects.across_tenants(reason="the admin: the membership as stored, to compare")
            before = stored.select_related("tenant").get(pk=self.instance.pk)
            if before.tenant_id != tenant.pk or before.user_id != cleaned.get("user", before.user).pk:
                # Moving a membership is taking it away from one tenant and giving it in another.
                self._add_problem(
                    membership_change_problem(
                        staff_user=self.staff_user, tenant=before.tenant, current=before, new_role=None
                    )
                )
            else:
                current = before
        self._add_problem(
            membership_change_problem(staff_user=self.staff_user, tenant=tenant, current=current, new_role=role)
        )
        return cleaned

    def _add_problem(self, problem: ValidationError | None) -> None:
        if problem is not None:
            field = "role" if "role" in getattr(problem, "error_dict", {}) else None
            self.add_error(field, problem.messages)


@admin.register(Invitation)
class InvitationAdmin(TenantScopedAdmin):
    """Operators see invitations and can revoke them; they are made in the portal, which emails the link."""

    list_display = ["email", "tenant", "role", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at"]
    list_filter = ["role"]
    search_fields = ["email", "tenant__name"]
    fields = ["code", "tenant", "email", "role", "invited_by", "created_at", "expires_at", "accepted_at", "revoked_at"]
    readonly_fields = fields  # revoked only through the action, accepted only through the link
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="Revoke selected invitations")
    def revoke(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        for invitation in queryset:
            invitation_revoke(tenant=invitation.tenant, invitation=invitation)


@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    list_display = ["name", "tenant", "display", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "tenant__name"]
    fields = ["tenant", "name", "display", "created_by", "created_at", "last_used_at", "revoked_at"]
    readonly_fields = ["tenant", "display", "created_by", "created_at", "last_used_at"]
    actions = ["revoke"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        # The plaintext of a key is shown exactly once: create keys in the portal or with
        # `manage.py create_api_key`, where it can be copied.
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        from voiceplatform.services import api_key_revoke

        for api_key in queryset:
            api_key_revoke(tenant=api_key.tenant, api_key=api_key)


class ProviderCredentialAdminForm(forms.ModelForm):
    base_url = forms.URLField(
        required=False, assume_scheme="https", help_text="Only for self-hosted OpenAI-compatible endpoints."
    )
    secret = forms.CharField(
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Write-only: leave empty to keep the stored secret.",
    )

    class Meta:
        model = ProviderCredential
        fields = ["tenant", "provider", "base_url", "account_id"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if (
            not self.cleaned_data.get("secret")
            and not self.instance.encrypted_secret
            and cleaned.get("provider") != "openai_compatible"
        ):
            self.add_error("secret", "Enter the API key (or auth token) for this provider.")
        return cleaned

    def save(self, commit: bool = True) -> ProviderCredential:
        credential = super().save(commit=False)
        if secret := self.cleaned_data.get("secret", "").strip():
            credential.set_secret(secret)
        if commit:
            credential.save()
        return credential


@admin.register(ProviderCredential)
class ProviderCredentialAdmin(TenantScopedAdmin):
    form = ProviderCredentialAdminForm
    list_display = ["provider", "tenant", "masked_secret", "base_url", "updated_at"]
    list_filter = ["provider"]
    search_fields = ["tenant__name", "provider"]
    readonly_fields = ["masked_secret", "created_at", "updated_at"]

    # A Twilio token signs the inbound webhooks: its change reaches the number cache on commit.

    def save_model(self, request: HttpRequest, obj: ProviderCredential, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        for provider in {obj.provider, form.initial.get("provider") or obj.provider}:
            change_hooks.credential_changed(tenant=obj.tenant, provider=provider)

    def delete_model(self, request: HttpRequest, obj: ProviderCredential) -> None:
        super().delete_model(request, obj)
        change_hooks.credential_changed(tenant=obj.tenant, provider=obj.provider)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ProviderCredential]) -> None:
        credentials = list(queryset.select_related("tenant"))
        super().delete_queryset(request, queryset)
        for credential in credentials:
            change_hooks.credential_changed(tenant=credential.tenant, provider=credential.provider)


class ScopedUserAdmin(UserAdmin):
    """Staff see only people who share a tenant with them; superusers see everyone."""

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(memberships__tenant_id__in=staff_tenant_ids(request)).distinct()

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        if request.user.is_superuser:
            return fields
        # Only superusers hand out operator powers; staff must not escalate themselves or others.
        return (*fields, "is_staff", "is_superuser", "groups", "user_permissions")

    def _may_change(self, request: HttpRequest, obj: Model | None) -> bool:
        if obj is None or request.user.is_superuser or obj.pk == request.user.pk:
            return True
        # Setting the password (or email) of an operator, or of someone who is also in a tenant
        # this staff user is not in, would take over access beyond this staff user's own tenants.
        if obj.is_superuser or obj.is_staff:
            return False
        return not obj.memberships.exclude(tenant_id__in=staff_tenant_ids(request)).exists()

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_change_permission(request, obj) and self._may_change(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return super().has_delete_permission(request, obj) and self._may_change(request, obj)


admin.site.unregister(get_user_model())
admin.site.register(get_user_model(), ScopedUserAdmin)
admin.site.site_header = "voiceplatform operations"


# Webhook endpoints and the read-only delivery log (their own module, registered with this one).
from voiceplatform.webhooks import admin as _webhook_admin  # noqa: E402, F401
