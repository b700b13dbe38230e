"""Webhooks over the API: /api/v1/webhook-endpoints (secrets shown once, on create and rotate) and
/api/v1/webhook-deliveries (the delivery log, by cursor, with each delivery's attempts)."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from voiceplatform.api_base import ServiceWriteMixin, TenantScopedViewSet, api_validation_error
from voiceplatform.pagination import NewestFirstCursorPagination
from voiceplatform.webhooks import selectors, services
from voiceplatform.webhooks.events import event_choices
from voiceplatform.webhooks.models import WebhookDelivery, WebhookEndpoint


class WebhookEndpointSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="code", read_only=True)
    url = serializers.URLField(
        max_length=2000,
        help_text="https (http only where the operator allows it). An address that is or resolves to a loopback, "
        "private, link-local or reserved network is refused (400) unless the operator allow-lists it "
        "(WEBHOOK_URL_ALLOWED_HOSTS); checked again on every delivery.",
    )
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    eventTypes = serializers.ListField(
        source="event_types",
        child=serializers.ChoiceField(choices=event_choices()),
        allow_empty=False,
        max_length=services.MAX_EVENT_TYPES,
        help_text="The events this endpoint receives.",
    )
    isEnabled = serializers.BooleanField(source="is_enabled", required=False, default=True)
    disabledAt = serializers.DateTimeField(source="disabled_at", read_only=True, allow_null=True)
    disabledReason = serializers.CharField(
        source="disabled_reason", read_only=True, help_text="Why the platform disabled it (after failed events)."
    )
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "eventTypes",
            "isEnabled",
            "disabledAt",
            "disabledReason",
            "createdAt",
            "updatedAt",
        ]


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    secret = serializers.SerializerMethodField(
        help_text="The signing secret (Standard Webhooks, whsec_…). Shown only in this answer: store it now."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]

    def get_secret(self, endpoint: WebhookEndpoint) -> str:
        return self.context["secret"]


class WebhookAttemptSerializer(serializers.Serializer):
    number = serializers.IntegerField(help_text="1 for the first try.")
    succeeded = serializers.BooleanField(source="is_success")
    responseCode = serializers.IntegerField(source="response_code", allow_null=True)
    latencyMs = serializers.IntegerField(source="latency_ms")
    errorClass = serializers.CharField(
        source="error_class",
        help_text="Empty on success; else timeout, connect_error, destination_refused, http_status, redirect, "
        "protocol_error or request_error. The receiver's answer itself is never kept.",
    )
    at = serializers.DateTimeField(source="created_at")


class WebhookDeliverySerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="code", read_only=True)
    endpointId = serializers.UUIDField(source="endpoint.code", read_only=True)
    eventType = serializers.CharField(source="event_type", read_only=True)
    messageId = serializers.CharField(source="message_id", read_only=True, help_text="The `webhook-id` header.")
    # Plain text in the schema: an enum named "status" would collide with the calls' StatusEnum.
    status = serializers.CharField(read_only=True, help_text="pending, delivered or failed.")
    attempts = serializers.IntegerField(read_only=True)
    nextAttemptAt = serializers.DateTimeField(source="next_attempt_at", read_only=True, allow_null=True)
    lastResponseCode = serializers.IntegerField(source="last_response_code", read_only=True, allow_null=True)
    lastErrorClass = serializers.CharField(source="last_error_class", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    deliveredAt = serializers.DateTimeField(source="delivered_at", read_only=True, allow_null=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpointId",
            "eventType",
            "messageId",
            "status",
            "attempts",
            "nextAttemptAt",
            "lastResponseCode",
            "lastErrorClass",
            "createdAt",
            "deliveredAt",
        ]


class WebhookDeliveryDetailSerializer(WebhookDeliverySerializer):
    payload = serializers.SerializerMethodField(help_text="The body sent: {type, timestamp, data}.")
    attemptLog = serializers.SerializerMethodField()

    class Meta(WebhookDeliverySerializer.Meta):
        fields = [*WebhookDeliverySerializer.Meta.fields, "payload", "attemptLog"]

    def get_payload(self, delivery: WebhookDelivery) -> dict[str, Any]:
        return json.loads(delivery.body)

    @extend_schema_field(WebhookAttemptSerializer(many=True))
    def get_attemptLog(self, delivery: WebhookDelivery) -> list[dict[str, Any]]:
        attempts = selectors.attempt_list(tenant=delivery.tenant, delivery=delivery)
        return WebhookAttemptSerializer(attempts, many=True).data


_ENDPOINT_EXAMPLE = OpenApiExample(
    "CRM endpoint",
    request_only=True,
    value={"url": "https://crm.example.com/hooks/voice", "eventTypes": ["call.ended", "call.analyzed"]},
)
_API_PATHS = {"url": "url", "event_types": "eventTypes", "description": "description", "is_enabled": "isEnabled"}


@extend_schema_view(
    list=extend_schema(summary="List webhook endpoints"),
    retrieve=extend_schema(summary="Get a webhook endpoint"),
    create=extend_schema(
        summary="Add a webhook endpoint",
        description="The answer carries the endpoint's signing secret, the only time it is shown.",
        examples=[_ENDPOINT_EXAMPLE],
        responses={201: WebhookEndpointWithSecretSerializer},
    ),
    update=extend_schema(summary="Change a webhook endpoint (the fields sent)"),
    partial_update=extend_schema(summary="Change part of a webhook endpoint"),
    destroy=extend_schema(summary="Delete a webhook endpoint and its delivery log"),
)
class WebhookEndpointViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    ServiceWriteMixin,
    TenantScopedViewSet,
):
    model = WebhookEndpoint
    serializer_class = WebhookEndpointSerializer
    api_paths = _API_PATHS

    def perform_write(self, serializer: serializers.Serializer, instance: Any) -> WebhookEndpoint:
        data = serializer.validated_data
        if instance is None:
            endpoint, self._secret = services.endpoint_create(tenant=self.tenant, **data)
            return endpoint
        return services.endpoint_update(tenant=self.tenant, endpoint=instance, **data)

    def written_response(self, instance: WebhookEndpoint) -> Response:
        secret = getattr(self, "_secret", None)
        if secret is None:
            return Response(WebhookEndpointSerializer(instance).data)
        response = Response(WebhookEndpointWithSecretSerializer(instance, context={"secret": secret}).data)
        response["Cache-Control"] = "no-store"
        return response

    def perform_destroy(self, instance: WebhookEndpoint) -> None:
        services.endpoint_delete(tenant=self.tenant, endpoint=instance)

    @extend_schema(
        summary="Rotate the signing secret",
        description="A new secret, shown only in this answer. The previous one also signs (a second "
        "`v1,` signature) for 24 hours, so receivers can switch without losing deliveries.",
        request=None,
        responses={200: WebhookEndpointWithSecretSerializer},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret", url_name="rotate-secret")
    def rotate_secret(self, request: Request, id: str) -> Response:
        endpoint, self._secret = services.endpoint_rotate_secret(tenant=self.tenant, endpoint=self.get_object())
        return self.written_response(endpoint)

    @extend_schema(
        summary="Send a test event",
        description="Queues a `webhook.test` event to this endpoint (even a disabled one); follow it in its "
        "delivery log.",
        request=None,
        responses={202: WebhookDeliverySerializer},
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, id: str) -> Response:
        delivery = services.delivery_send_test(tenant=self.tenant, endpoint=self.get_object())
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)


@extend_schema_view(
    list=extend_schema(
        summary="List webhook deliveries, newest first",
        parameters=[
            OpenApiParameter("endpoint", OpenApiTypes.UUID, description="Only this endpoint's deliveries (its id).")
        ],
    ),
    retrieve=extend_schema(summary="Get a webhook delivery with its body and attempts"),
)
class WebhookDeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantScopedViewSet):
    model = WebhookDelivery
    serializer_class = WebhookDeliverySerializer
    pagination_class = NewestFirstCursorPagination

    def get_serializer_class(self) -> type[serializers.Serializer]:
        return WebhookDeliveryDetailSerializer if self.action == "retrieve" else WebhookDeliverySerializer

    def filter_tenant_queryset(self, queryset: Any) -> Any:
        queryset = queryset.select_related("endpoint", "tenant")
        if self.action == "list" and "endpoint" in self.request.query_params:
            raw = self.request.query_params["endpoint"]
            try:
                endpoint = selectors.endpoint_get(tenant=self.tenant, code=raw)
            except Http404:  # an unknown, another tenant's, or a malformed id: the same answer
                raise serializers.ValidationError({"endpoint": [f"No such webhook endpoint: {raw[:40]!r}."]}) from None
            queryset = queryset.filter(endpoint=endpoint)
        return queryset

    @extend_schema(
        summary="Redeliver",
        description="Sends the same event (same body and `webhook-id`) to its endpoint again, as a new delivery.",
        request=None,
        responses={202: WebhookDeliverySerializer},
    )
    @action(detail=True, methods=["post"])
    def redeliver(self, request: Request, id: str) -> Response:
        try:
            delivery = services.delivery_redeliver(tenant=self.tenant, delivery=self.get_object())
        except DjangoValidationError as error:
            raise api_validation_error(error, {}) from None
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
