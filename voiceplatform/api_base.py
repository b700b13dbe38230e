"""The tenant-scoped DRF base view and the API's error format."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model, QuerySet
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.request import Request
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
    """DRF's handler, plus service-layer ValidationErrors turned into 400 with field messages.

    Field errors keep DRF's `{field: [messages]}` shape; every other error is `{detail, problems}`
    (problems: what to fix, one line each, often empty)."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail=detail)
    response = drf_exception_handler(exc, context)
    if response is not None and isinstance(response.data, dict) and set(response.data) == {"detail"}:
        response.data["problems"] = list(getattr(exc, "problems", []))
    return response


class EmptyBody(exceptions.ParseError):
    default_detail = "This request needs a JSON object body with the fields to change."
    default_code = "empty_body"
    problems = ["body: send a JSON object with at least one field."]


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

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # An update with nothing in it is a client bug (an empty PUT used to answer 200 and change nothing).
        if self.action in ("update", "partial_update") and not request.data:
            raise EmptyBody()

    def get_queryset(self) -> QuerySet:
        return self.filter_tenant_queryset(self.model.objects.for_tenant(self.tenant))

    def filter_tenant_queryset(self, queryset: QuerySet) -> QuerySet:
        return queryset


@contextlib.contextmanager
def service_errors(api_paths: Mapping[str, str]) -> Iterator[None]:
    """Around a service call: its ValidationError becomes a 400 under the API's field names."""
    try:
        yield
    except DjangoValidationError as error:
        raise api_validation_error(error, api_paths) from None


class ServiceWriteMixin:
    """POST, PUT and PATCH of a TenantScopedViewSet through the app's services, one path for all three.

    PUT changes only the fields sent, like PATCH (the reference design's Task 3 sends one field).
    Subclasses set `api_paths` (service field -> API path, for the service's errors) and implement
    `perform_write`; they may override `validated_serializer` (to report more than the serializer
    finds) and `written_response` (to re-read the row).
    """

    api_paths: ClassVar[Mapping[str, str]] = {}

    def perform_write(self, serializer: serializers.Serializer, instance: Model | None) -> Model:
        """Create (instance None) or update the row with the serializer's data, through a service."""
        raise NotImplementedError

    def validated_serializer(self, request: Request, instance: Model | None) -> serializers.Serializer:
        serializer = self.get_serializer(data=request.data, partial=instance is not None)  # type: ignore[attr-defined]
        serializer.is_valid(raise_exception=True)
        return serializer

    def written_response(self, instance: Model) -> Response:
        return Response(self.get_serializer(instance).data)  # type: ignore[attr-defined]

    def _write(self, request: Request, instance: Model | None) -> Response:
        serializer = self.validated_serializer(request, instance)
        with service_errors(self.api_paths):
            written = self.perform_write(serializer, instance)
        return self.written_response(written)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = self._write(request, None)
        response.status_code = status.HTTP_201_CREATED
        return response

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._write(request, self.get_object())  # type: ignore[attr-defined]

    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return self._write(request, self.get_object())  # type: ignore[attr-defined]


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


E164_PATTERN = r"^\+[1-9][0-9]{1,14}$"


@extend_schema_field({"type": "string", "pattern": E164_PATTERN, "example": "+14155550123"})
class E164Field(serializers.CharField):
    """A phone number the schema documents as E.164; the service layer normalizes and validates it."""


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every API error except field validation: what went wrong, and what to fix one line each.",
    "properties": {
        "detail": {"type": "string"},
        "problems": {"type": "array", "items": {"type": "string"}, "description": "Often empty."},
    },
    "required": ["detail"],
}
FIELD_ERRORS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        "Field validation errors: each key is a field the request sent (dotted fields nest, e.g. "
        '{"metadata": {"transferNumber": ["..."]}}) or `non_field_errors`; each value lists messages.'
    ),
    "additionalProperties": {},
}
_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_GENERIC_ERRORS: dict[str, str] = {
    "400": "Bad request: field errors, a malformed query parameter, or refused input (NUL, lone surrogate, "
    "JSON nested too deep).",
    "401": "No, malformed, unknown or revoked API key.",
    "403": "The API key may not do this.",
    "404": "No such object in this tenant, or a malformed id in the path.",
    "429": "Too many requests (e.g. failed API-key attempts from one address); retry after `Retry-After` seconds.",
}
_BODY_ERRORS: dict[str, str] = {
    "413": "The request body is larger than the server accepts.",
    "415": "The request body is not JSON (send `Content-Type: application/json`).",
}


def add_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: documents the shared error bodies on every operation."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas["FieldErrors"] = FIELD_ERRORS_SCHEMA
    for path_item in result.get("paths", {}).values():
        for operation in path_item.values():
            errors = _GENERIC_ERRORS | (_BODY_ERRORS if "requestBody" in operation else {})
            responses = operation.setdefault("responses", {})
            for code, description in errors.items():
                _document_error(responses, code, description)
    return result


def _document_error(responses: dict[str, Any], code: str, description: str) -> None:
    """Adds one error response, or gives an existing one without a body the shared Error body."""
    response = responses.setdefault(code, {"description": description})
    content = response.setdefault("content", {})
    own = content.get("application/json", {}).get("schema")
    if code == "400":
        options = [own] if own else []
        schema: dict[str, Any] = {"anyOf": [*options, _ERROR_REF, {"$ref": "#/components/schemas/FieldErrors"}]}
    else:
        schema = own or _ERROR_REF
    content["application/json"] = {**content.get("application/json", {}), "schema": schema}
    if code == "429":
        response.setdefault("headers", {})["Retry-After"] = {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "integer"},
        }
