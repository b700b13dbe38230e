"""The tenant-scoped DRF base view and the API's error format."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions, viewsets
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from voiceplatform.models import Tenant


def api_validation_error(error: DjangoValidationError, api_paths: Mapping[str, str]) -> exceptions.ValidationError:
    """A service's ValidationError as a DRF 400 whose keys are the API's field names.

    api_paths maps model/service field names to API paths; a dotted path nests the message
    (e.g. "metadata.voiceProvider"). Unmapped fields keep their name; "__all__" and errors
    without fields become non_field_errors.
    """
    if not hasattr(error, "error_dict"):
        return exceptions.ValidationError({"non_field_errors": error.messages})
    nested: dict[str, Any] = {}
    for field, messages in error.message_dict.items():
        path = api_paths.get(field, "non_field_errors" if field == "__all__" else field).split(".")
        node = nested
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node.setdefault(path[-1], []).extend(messages)
    return exceptions.ValidationError(nested)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, plus service-layer ValidationErrors turned into 400 with field messages."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    return drf_exception_handler(exc, context)


class TenantScopedViewSet(viewsets.GenericViewSet):
    """Base of every tenant-owned API view: the queryset is always `model.objects.for_tenant(...)`.

    Subclasses set `model` and may narrow rows in `filter_tenant_queryset`; overriding
    `get_queryset` is refused at class creation so no view can forget the tenant.
    """

    model: ClassVar[type[Model]]
    lookup_field = "code"
    lookup_url_kwarg = "id"
    lookup_value_converter = "uuid"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "get_queryset" in cls.__dict__:
            raise TypeError(f"{cls.__name__} must not override get_queryset; use filter_tenant_queryset")

    @property
    def tenant(self) -> Tenant:
        return self.request.auth.tenant

    def get_queryset(self) -> QuerySet:
        return self.filter_tenant_queryset(self.model.objects.for_tenant(self.tenant))

    def filter_tenant_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    """Tells drf-spectacular (and so /api/docs/) that the API takes Bearer API keys."""

    target_class = "voiceplatform.api_auth.ApiKeyAuthentication"
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "vp_<prefix>_<secret>",
            "description": "A tenant API key from the portal (Settings → API keys) or `manage.py create_api_key`.",
        }
