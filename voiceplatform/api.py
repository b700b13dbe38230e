"""Tenancy API: who am I, and the tenant's provider credentials (secrets are write-only)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from voiceplatform.api_base import TenantScopedViewSet, service_errors
from voiceplatform.models import Provider, ProviderCredential
from voiceplatform.services import credential_delete, credential_set


@extend_schema(
    summary="Who am I",
    description="The tenant and API key this request authenticates as.",
    responses=inline_serializer(
        "ApiRoot",
        fields={
            "tenant": inline_serializer(
                "ApiRootTenant",
                fields={
                    "id": serializers.UUIDField(),
                    "name": serializers.CharField(),
                    "slug": serializers.CharField(),
                    "timezone": serializers.CharField(),
                },
            ),
            "apiKey": inline_serializer(
                "ApiRootKey", fields={"name": serializers.CharField(), "prefix": serializers.CharField()}
            ),
        },
    ),
)
@api_view(["GET"])
def api_root(request: Request) -> Response:
    tenant = request.auth.tenant
    return Response(
        {
            "tenant": {"id": str(tenant.code), "name": tenant.name, "slug": tenant.slug, "timezone": tenant.timezone},
            "apiKey": {"name": request.auth.name, "prefix": request.auth.display},
        }
    )


class ProviderCredentialSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="code", read_only=True)
    provider = serializers.ChoiceField(choices=Provider.choices)
    baseUrl = serializers.URLField(
        source="base_url",
        required=False,
        allow_blank=True,
        default="",
        help_text="OpenAI and OpenAI-compatible only. https (http only where the operator allows it); an address "
        "that is or resolves to a loopback, private, link-local or reserved network is refused (400) unless the "
        "operator allow-lists it (PROVIDER_URL_ALLOWED_HOSTS). Checked again on every request.",
    )
    accountId = serializers.CharField(source="account_id", required=False, allow_blank=True, default="", max_length=64)
    secret = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        default="",
        max_length=4096,
        trim_whitespace=True,
        style={"input_type": "password"},
        help_text="The API key or auth token. Write-only; omit on update to keep the stored one.",
    )
    secretHint = serializers.CharField(source="masked_secret", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = ProviderCredential
        fields = ["id", "provider", "baseUrl", "accountId", "secret", "secretHint", "createdAt", "updatedAt"]


_CREDENTIAL_EXAMPLE = OpenApiExample(
    "OpenAI key",
    request_only=True,
    value={"provider": "openai", "secret": "sk-proj-…"},
)


@extend_schema_view(
    list=extend_schema(summary="List provider credentials"),
    retrieve=extend_schema(summary="Get a provider credential"),
    create=extend_schema(summary="Add a provider credential", examples=[_CREDENTIAL_EXAMPLE]),
    update=extend_schema(summary="Replace a provider credential"),
    partial_update=extend_schema(summary="Change part of a provider credential"),
    destroy=extend_schema(summary="Delete a provider credential"),
)
class ProviderCredentialViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantScopedViewSet,
):
    model = ProviderCredential
    serializer_class = ProviderCredentialSerializer

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if self.get_queryset().filter(provider=data["provider"]).exists():
            raise serializers.ValidationError(
                {"provider": ["This tenant already has a credential for that provider; PUT to replace it."]}
            )
        credential = self._credential_set(
            serializer,
            provider=data["provider"],
            secret=data["secret"],
            base_url=data["base_url"],
            account_id=data["account_id"],
        )
        return Response(self.get_serializer(credential).data, status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        credential = self.get_object()
        partial = kwargs.pop("partial", False)
        serializer = self.get_serializer(credential, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data.get("provider", credential.provider) != credential.provider:
            raise serializers.ValidationError(
                {"provider": ["The provider of a credential cannot change; add a new one."]}
            )
        credential = self._credential_set(
            serializer,
            provider=credential.provider,
            secret=data.get("secret", ""),
            base_url=data.get("base_url", credential.base_url) if partial else data["base_url"],
            account_id=data.get("account_id", credential.account_id) if partial else data["account_id"],
        )
        return Response(self.get_serializer(credential).data)

    def _credential_set(self, serializer: ProviderCredentialSerializer, **fields: str) -> ProviderCredential:
        """credential_set for this tenant; its field errors come back under the API's field names."""
        with service_errors({field.source: name for name, field in serializer.fields.items()}):
            return credential_set(tenant=self.tenant, **fields)

    def perform_destroy(self, instance: ProviderCredential) -> None:
        credential_delete(tenant=self.tenant, credential=instance)
