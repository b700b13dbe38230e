"""Agents API: /api/v1/agents in the reference design's camelCase vocabulary (serializers in
agents_app/serializers.py, OpenAPI examples in agents_app/api_examples.py; an agent's chat and
test-session actions are telephony_app/agent_api.py's)."""

from __future__ import annotations

import json
from typing import Any

from django.db.models import Max, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from agents_app import api_examples, selectors, services
from agents_app.models import Agent, Direction
from agents_app.readiness import readiness
from agents_app.references import dangling_ivr_problems, references_json
from agents_app.runtime_config import loader
from agents_app.serializers import (
    MODEL_TO_PATH,
    AgentDeleteConflictResponse,
    AgentSerializer,
    PromptVersionSerializer,
    RuntimeConfigResponse,
)
from voiceplatform.actor import Actor
from voiceplatform.api_base import ServiceWriteMixin, TenantScopedViewSet

_BOOL_PARAM = {"true": True, "1": True, "false": False, "0": False}


def _has_path(errors: Any, path: str) -> bool:
    """Whether the serializer's errors cover this dotted path (an error on a parent covers it too)."""
    node = errors
    for part in path.split("."):
        if not isinstance(node, dict):
            return True
        if part not in node:
            return False
        node = node[part]
    return True


def _without(data: Any, errors: Any) -> Any:
    """The request body minus every value the serializer refused."""
    if not isinstance(data, dict) or not isinstance(errors, dict):
        return data
    kept = dict(data)
    for key, error in errors.items():
        if key in kept and isinstance(error, dict) and isinstance(kept[key], dict):
            kept[key] = _without(kept[key], error)
        else:
            kept.pop(key, None)
    return kept


def _every_problem(*, tenant: Any, agent: Agent | None, data: Any, errors: Any) -> dict[str, Any]:
    """The serializer's errors plus what the service finds in the fields that did read."""
    merged: dict[str, Any] = json.loads(json.dumps(errors))  # plain dicts and strings, safe to extend
    if not isinstance(data, dict) or "non_field_errors" in merged:
        return merged
    readable = AgentSerializer(data=_without(data, merged), partial=True)
    if not readable.is_valid():
        return merged
    unreadable = {field for field, path in MODEL_TO_PATH.items() if _has_path(merged, path)}
    problems = services.agent_check(tenant=tenant, agent=agent, unreadable=unreadable, **readable.to_service_kwargs())
    for field, messages in problems.items():
        path = MODEL_TO_PATH.get(field, "non_field_errors" if field == "__all__" else field).split(".")
        node = merged
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node.setdefault(path[-1], []).extend(messages)
    return merged


def _dangling_problems(*, tenant: Any, code: str) -> list[str]:
    """IVR options naming a deleted agent: the readiness list shows them (the config leaves them out)."""
    agent = Agent.objects.for_tenant(tenant).filter(code=code).first()
    return dangling_ivr_problems(tenant=tenant, agent=agent) if agent is not None else []


@extend_schema_view(
    list=extend_schema(
        summary="List agents",
        parameters=[
            OpenApiParameter("isActive", OpenApiTypes.BOOL, description="only active (true) or inactive (false)"),
            OpenApiParameter("direction", OpenApiTypes.STR, enum=Direction.values),
            OpenApiParameter("search", OpenApiTypes.STR, description="name contains (case-insensitive)"),
        ],
    ),
    create=extend_schema(summary="Create an agent", examples=[api_examples.TASK1_EXAMPLE]),
    retrieve=extend_schema(summary="Get an agent"),
    update=extend_schema(
        summary="Update an agent",
        description="Like the reference design, PUT changes only the fields sent (Task 3 sends only systemPrompt).",
        examples=[api_examples.TASK3_EXAMPLE],
    ),
    partial_update=extend_schema(summary="Update some fields of an agent", examples=[api_examples.ANALYSIS_EXAMPLE]),
    destroy=extend_schema(
        summary="Delete an agent",
        description=(
            "Deletes the agent with its hours, holidays and prompt history. When something still refers to it "
            "(another agent's IVR option, a phone number it answers, an open campaign), the answer is 409 with the "
            "`references` and nothing changes; repeat with `?detach=true` to detach them (IVR options removed, "
            "numbers left with no agent) and delete in one transaction."
        ),
        parameters=[
            OpenApiParameter(
                "detach",
                OpenApiTypes.BOOL,
                description="true: detach whatever refers to the agent and delete it; false (default): refuse (409)",
            )
        ],
        responses={204: None, 409: AgentDeleteConflictResponse},
        examples=[api_examples.DELETE_CONFLICT_EXAMPLE],
    ),
)
class AgentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    ServiceWriteMixin,
    TenantScopedViewSet,
):
    model = Agent
    serializer_class = AgentSerializer
    api_paths = MODEL_TO_PATH

    def filter_tenant_queryset(self, queryset: QuerySet[Agent]) -> QuerySet[Agent]:
        queryset = queryset.select_related("tenant").prefetch_related("business_hours", "holidays")
        queryset = queryset.annotate(prompt_version=Max("prompt_versions__version")).order_by("name", "id")
        if self.action != "list":
            return queryset
        params = self.request.query_params
        raw_active = params.get("isActive", params.get("is_active"))
        if raw_active is not None:
            if raw_active.lower() not in _BOOL_PARAM:
                raise serializers.ValidationError({"isActive": "Use true or false."})
            queryset = queryset.filter(is_active=_BOOL_PARAM[raw_active.lower()])
        if direction := params.get("direction"):
            if direction not in Direction.values:
                raise serializers.ValidationError({"direction": f"Use one of {', '.join(Direction.values)}."})
            queryset = queryset.filter(direction=direction)
        if search := params.get("search", "").strip():
            queryset = queryset.filter(name__icontains=search)
        return queryset

    def validated_serializer(self, request: Request, instance: Agent | None) -> AgentSerializer:
        serializer = self.get_serializer(data=request.data, partial=instance is not None)
        if not serializer.is_valid():  # the service still checks what did read: every mistake in one answer
            raise serializers.ValidationError(
                _every_problem(tenant=self.tenant, agent=instance, data=request.data, errors=serializer.errors)
            )
        return serializer

    def perform_write(self, serializer: AgentSerializer, instance: Agent | None) -> Agent:
        kwargs = serializer.to_service_kwargs()
        actor = Actor.from_request(self.request)
        if instance is None:
            return services.agent_create(tenant=self.tenant, actor=actor, **kwargs)
        return services.agent_update(tenant=self.tenant, agent=instance, actor=actor, **kwargs)

    def written_response(self, instance: Agent) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=instance.pk)).data, status=status.HTTP_200_OK)

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        raw = request.query_params.get("detach", "false").lower()
        if raw not in _BOOL_PARAM:
            raise serializers.ValidationError({"detach": "Use true or false."})
        try:
            services.agent_delete(tenant=self.tenant, agent=self.get_object(), detach=_BOOL_PARAM[raw])
        except services.AgentInUse as in_use:
            hint = "" if in_use.blocking else " Repeat with ?detach=true to detach them and delete the agent."
            body = {
                "detail": f"{in_use}{hint}",
                "problems": [ref.as_text() for ref in in_use.references],
                "references": references_json(in_use.references),
            }
            return Response(body, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Duplicate an agent", request=None, responses={201: AgentSerializer})
    @action(detail=True, methods=["post"])
    def duplicate(self, request: Request, id: str) -> Response:
        copy = services.agent_duplicate(tenant=self.tenant, agent=self.get_object(), actor=Actor.from_request(request))
        return Response(self.get_serializer(self.get_queryset().get(pk=copy.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Runtime config (what the voice worker sees)",
        description="Served from Redis; an edit is visible on the next read. `source` says where it came from.",
        responses=RuntimeConfigResponse,
        examples=[api_examples.RUNTIME_CONFIG_EXAMPLE],
    )
    @action(detail=True, methods=["get"], url_path="runtime-config")
    def runtime_config(self, request: Request, id: str) -> Response:
        loaded = loader.get(tenant_code=self.tenant.code, agent_code=id)
        if loaded.config is None:
            return Response({"detail": "No Agent matches the given query."}, status=status.HTTP_404_NOT_FOUND)
        verdict = readiness(tenant=self.tenant, config=loaded.config)
        problems = [*verdict.problems, *_dangling_problems(tenant=self.tenant, code=id)]
        return Response(
            {
                "success": loaded.source != "default",
                "config": loaded.config.to_document(),
                "source": loaded.source,
                "cached_until": loaded.cached_until.isoformat() if loaded.cached_until else None,
                "timestamp": timezone.now().isoformat(),
                "readiness": {"ready": not problems, "problems": problems},
            }
        )

    @extend_schema(summary="Prompt history, newest first", responses=PromptVersionSerializer(many=True))
    @action(detail=True, methods=["get"], url_path="prompt-history")
    def prompt_history(self, request: Request, id: str) -> Response:
        versions = selectors.prompt_version_list(tenant=self.tenant, agent=self.get_object())
        page = self.paginate_queryset(versions)
        return self.get_paginated_response(PromptVersionSerializer(page, many=True).data)
