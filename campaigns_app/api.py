"""Campaigns API: /api/v1/campaigns with their status actions, contacts, imports and audit export (the
ledgers' /api/v1/dnc and /api/v1/consents are campaigns_app/ledger_api.py). Serializers in
campaigns_app/serializers.py, OpenAPI examples in campaigns_app/api_examples.py; every write goes
through campaigns_app.services (or the importer)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from django.db.models import QuerySet
from django.http import FileResponse, StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
    inline_serializer,
)
from rest_framework import exceptions, mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from campaigns_app import api_examples, audit, importer, selectors, services
from campaigns_app.ledger_api import number_search
from campaigns_app.models import (
    Campaign,
    CampaignStatus,
    ContactStatus,
    ImportMode,
)
from campaigns_app.progress_api import CampaignLiveActions
from campaigns_app.serializers import (
    MODEL_TO_PATH,
    CampaignSerializer,
    ContactImportCreateSerializer,
    ContactImportSerializer,
    ContactsAddedResponse,
    ContactsAddSerializer,
    ContactSerializer,
    ContactsRefusedResponse,
)
from voiceplatform.actor import Actor
from voiceplatform.api_base import ServiceWriteMixin, TenantScopedViewSet, service_errors
from voiceplatform.pagination import StrictCursorPagination

ConflictResponse = inline_serializer(
    "CampaignConflict",
    fields={
        "detail": serializers.CharField(),
        "problems": serializers.ListField(child=serializers.CharField(), help_text="What to do, one line each."),
    },
)
_CONFLICT = OpenApiResponse(ConflictResponse, description="The campaign's status does not allow this.")


def _paginated(name: str, item: Any) -> Any:
    """The schema of a cursor-paginated list (no count: the table is never counted)."""
    return inline_serializer(
        name,
        fields={
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item(many=True),
        },
    )


_CURSOR_PARAM = OpenApiParameter(
    "cursor", OpenApiTypes.STR, description="The `next` or `previous` link's cursor (opaque)."
)


class Conflict(exceptions.APIException):
    """409 {detail, problems}: the service refused because of the campaign's status."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"

    def __init__(self, detail: str, problems: list[str]) -> None:
        super().__init__(detail)
        self.problems = problems


@contextlib.contextmanager
def _campaign_service(api_paths: Mapping[str, str] = MODEL_TO_PATH) -> Iterator[None]:
    """Around a campaign service: field errors become 400 under the API's names, state conflicts 409."""
    try:
        with service_errors(api_paths):
            yield
    except services.CampaignStateConflict as conflict:
        raise Conflict(conflict.message, conflict.problems) from None


class CsvDownloadNegotiation(DefaultContentNegotiation):
    """The CSV downloads answer whatever the client accepts (a browser's or curl's text/csv included):
    the file is streamed as it is, and an error is the API's JSON."""

    def select_renderer(self, request: Request, renderers: list[Any], format_suffix: str | None = None) -> Any:
        return renderers[0], renderers[0].media_type


def _choice_param(request: Request, name: str, choices: list[str]) -> str:
    value = request.query_params.get(name, "")
    if value and value not in choices:
        raise serializers.ValidationError({name: [f"Use one of {', '.join(choices)}."]})
    return value


@extend_schema_view(
    list=extend_schema(
        summary="List campaigns",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=CampaignStatus.values),
            OpenApiParameter("search", OpenApiTypes.STR, description="name contains (case-insensitive)"),
        ],
    ),
    create=extend_schema(summary="Create a campaign (a draft)", examples=[api_examples.CAMPAIGN_CREATE_EXAMPLE]),
    retrieve=extend_schema(summary="Get a campaign"),
    update=extend_schema(
        summary="Update a campaign",
        description="PUT changes only the fields sent, like PATCH. A running campaign must be paused first (409).",
        responses={200: CampaignSerializer, 409: _CONFLICT},
    ),
    partial_update=extend_schema(
        summary="Update some fields of a campaign", responses={200: CampaignSerializer, 409: _CONFLICT}
    ),
    destroy=extend_schema(
        summary="Delete a campaign that never started",
        description="A campaign that has started is kept for its record of calls: cancel it instead (409).",
        responses={204: None, 409: _CONFLICT},
        examples=[api_examples.DELETE_CONFLICT_EXAMPLE],
    ),
)
class CampaignViewSet(
    CampaignLiveActions,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    ServiceWriteMixin,
    TenantScopedViewSet,
):
    model = Campaign
    serializer_class = CampaignSerializer
    api_paths = MODEL_TO_PATH

    def filter_tenant_queryset(self, queryset: QuerySet[Campaign]) -> QuerySet[Campaign]:
        queryset = queryset.select_related("agent", "caller_id").order_by("-created_at", "-id")
        if self.action != "list":
            return queryset
        if status_filter := _choice_param(self.request, "status", CampaignStatus.values):
            queryset = queryset.filter(status=status_filter)
        if search := self.request.query_params.get("search", "").strip():
            queryset = queryset.filter(name__icontains=search)
        return queryset

    def _data(self, campaigns: list[Campaign], *, many: bool) -> Any:
        counts = selectors.contact_counts(tenant=self.tenant, campaigns=campaigns)
        serializer = CampaignSerializer(campaigns if many else campaigns[0], many=many, context={"counts": counts})
        return serializer.data

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(self._data(list(page), many=True))

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(self._data([self.get_object()], many=False))

    def perform_write(self, serializer: CampaignSerializer, instance: Campaign | None) -> Campaign:
        fields = serializer.to_service_fields()
        with _campaign_service():
            if instance is None:
                return services.campaign_create(tenant=self.tenant, fields=fields)
            return services.campaign_update(tenant=self.tenant, campaign=instance, fields=fields)

    def written_response(self, instance: Campaign) -> Response:
        return Response(self._data([self.get_queryset().get(pk=instance.pk)], many=False))

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        with _campaign_service():
            services.campaign_delete(tenant=self.tenant, campaign=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    # --- Status ------------------------------------------------------------------------------------

    def _transition(self, move: Any) -> Response:
        with _campaign_service():
            campaign = move(tenant=self.tenant, campaign=self.get_object())
        return self.written_response(campaign)

    @extend_schema(
        summary="Start a draft campaign",
        description="Draft -> running, or scheduled when its start date is ahead. 409 lists what stops it.",
        request=None,
        responses={200: CampaignSerializer, 409: _CONFLICT},
        examples=[api_examples.START_CONFLICT_EXAMPLE],
    )
    @action(detail=True, methods=["post"])
    def start(self, request: Request, id: str) -> Response:
        return self._transition(services.campaign_start)

    @extend_schema(
        summary="Pause a running or scheduled campaign",
        request=None,
        responses={200: CampaignSerializer, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def pause(self, request: Request, id: str) -> Response:
        return self._transition(services.campaign_pause)

    @extend_schema(
        summary="Resume a paused campaign", request=None, responses={200: CampaignSerializer, 409: _CONFLICT}
    )
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, id: str) -> Response:
        return self._transition(services.campaign_resume)

    @extend_schema(
        summary="Cancel a campaign for good",
        description="No further call; the campaign and its record stay.",
        request=None,
        responses={200: CampaignSerializer, 409: _CONFLICT},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, id: str) -> Response:
        return self._transition(services.campaign_cancel)

    # --- Contacts ----------------------------------------------------------------------------------

    @extend_schema(
        methods=["GET"],
        summary="List a campaign's contacts",
        description="Cursor-paginated in id order: follow `next`; the table is never counted.",
        parameters=[
            OpenApiParameter("status", OpenApiTypes.STR, enum=ContactStatus.values),
            OpenApiParameter("reason", OpenApiTypes.STR, description='reason starts with, e.g. "dnc"'),
            OpenApiParameter(
                "search", OpenApiTypes.STR, description="a number's start (+1415...) or a name (contains)"
            ),
            _CURSOR_PARAM,
        ],
        request=None,
        responses=_paginated("PaginatedContactList", ContactSerializer),
    )
    @extend_schema(
        methods=["POST"],
        summary="Add contacts (JSON)",
        description=(
            "Up to 1,000 contacts with the importer's rules (numbers normalised, duplicates and DNC numbers "
            "handled). all_or_nothing (default): any refused row adds nothing and answers 400 with every row's "
            "error. valid_rows: the valid rows are added, the others listed in `errors`."
        ),
        request=ContactsAddSerializer,
        responses={201: ContactsAddedResponse, 400: ContactsRefusedResponse, 409: _CONFLICT},
        examples=[api_examples.CONTACTS_ADD_EXAMPLE, api_examples.CONTACTS_REFUSED_EXAMPLE],
    )
    @action(detail=True, methods=["get", "post"])
    def contacts(self, request: Request, id: str) -> Response:
        campaign = self.get_object()
        if request.method == "POST":
            return self._contacts_add(request, campaign)
        queryset = selectors.contact_list(
            tenant=self.tenant,
            campaign=campaign,
            status=_choice_param(request, "status", ContactStatus.values),
            reason=request.query_params.get("reason", "").strip(),
            search=number_search(request.query_params.get("search", "").strip()),
        )
        paginator = StrictCursorPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(ContactSerializer(page, many=True).data)

    def _contacts_add(self, request: Request, campaign: Campaign) -> Response:
        serializer = ContactsAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        all_or_nothing = data["mode"] == ImportMode.ALL_OR_NOTHING
        with _campaign_service():
            result = services.contacts_add(
                tenant=self.tenant,
                campaign=campaign,
                rows=data["contacts"],
                default_country=data.get("defaultCountry", "").upper(),
                dnc_handling=data["dncHandling"],
                all_or_nothing=all_or_nothing,
            )
        errors = [{**error, "value": str(error["value"])} for error in result.errors]
        if errors and all_or_nothing:
            body = {
                "detail": f"No contact was added: {len(errors)} of {len(data['contacts'])} rows were refused.",
                "problems": [f"contacts[{e['index']}].{e['field']}: {e['reason']}" for e in errors],
                "errors": errors,
            }
            return Response(body, status=status.HTTP_400_BAD_REQUEST)
        body = {"created": len(result.created), "skippedDnc": result.skipped_dnc, "errors": errors}
        return Response(body, status=status.HTTP_201_CREATED)

    # --- Imports -----------------------------------------------------------------------------------

    @extend_schema(
        methods=["GET"],
        summary="List a campaign's contact imports",
        request=None,
        responses=ContactImportSerializer(many=True),
    )
    @extend_schema(
        methods=["POST"],
        summary="Import contacts from a CSV file",
        description=(
            "Queues the import and answers 202 at once; follow its progress at "
            "GET /api/v1/campaigns/{id}/imports/{importId}. The refused rows are in its error report."
        ),
        request={"multipart/form-data": ContactImportCreateSerializer},
        responses={202: ContactImportSerializer, 409: _CONFLICT},
    )
    @action(detail=True, methods=["get", "post"], parser_classes=[MultiPartParser], pagination_class=None)
    def imports(self, request: Request, id: str) -> Response:
        campaign = self.get_object()
        if request.method == "GET":
            rows = selectors.import_list(tenant=self.tenant, campaign=campaign).select_related("campaign")[:100]
            return Response(ContactImportSerializer(rows, many=True).data)
        serializer = ContactImportCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        paths = {"default_country": "defaultCountry", "column_map": "columnMap", "dnc_handling": "dncHandling"}
        with _campaign_service(paths):
            upload = importer.contact_import_create(
                tenant=self.tenant,
                campaign=campaign,
                upload=data["file"],
                default_country=data.get("defaultCountry", ""),
                mode=data["mode"],
                dnc_handling=data["dncHandling"],
                encoding=data["encoding"],
                column_map=data.get("columnMap") or {},
                actor=Actor.from_request(request),
            )
        return Response(ContactImportSerializer(upload).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="An import's progress",
        request=None,
        responses=ContactImportSerializer,
        examples=[api_examples.IMPORT_PROGRESS_EXAMPLE],
    )
    @action(detail=True, methods=["get"], url_path="imports/<uuid:importId>", url_name="import-detail")
    def import_detail(self, request: Request, id: str, importId: str) -> Response:
        upload = selectors.import_get(tenant=self.tenant, campaign=self.get_object(), code=importId)
        return Response(ContactImportSerializer(upload).data)

    @extend_schema(
        summary="An import's error report (CSV: line, value, reason)",
        operation_id="v1_campaigns_imports_errors_csv",
        request=None,
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="The refused rows.")},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="imports/<uuid:importId>/errors.csv",
        url_name="import-errors",
        content_negotiation_class=CsvDownloadNegotiation,
    )
    def import_errors(self, request: Request, id: str, importId: str) -> FileResponse:
        upload = selectors.import_get(tenant=self.tenant, campaign=self.get_object(), code=importId)
        if not upload.error_report:
            raise exceptions.NotFound("This import has no error report: no row was refused (or it has not finished).")
        return FileResponse(
            upload.error_report.open("rb"),
            as_attachment=True,
            filename=f"import-{upload.code}-errors.csv",
            content_type="text/csv; charset=utf-8",
        )

    # --- Audit -------------------------------------------------------------------------------------

    @extend_schema(
        summary="Audit export (CSV)",
        operation_id="v1_campaigns_audit_csv",
        description="Every contact with its status and reason, one row per call attempt (outcome, call, consent "
        "relied on, times). Why a contact was or was not called: reason_rule (the rule of a skip or hold: dnc, "
        "consent, zone...), attempt_rule (the rule that refused a not_dialed attempt), attempt_number (the number "
        "dialed), consent_granted_at, call_answered_at, call_first_words_ms (over 2000: abandoned) and "
        "call_amd_result. Streamed: any size of campaign.",
        request=None,
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="The audit CSV.")},
    )
    @action(
        detail=True,
        methods=["get"],
        url_path="audit.csv",
        url_name="audit",
        content_negotiation_class=CsvDownloadNegotiation,
    )
    def audit_csv(self, request: Request, id: str) -> StreamingHttpResponse:
        campaign = self.get_object()
        response = StreamingHttpResponse(
            audit.audit_csv_stream(tenant=self.tenant, campaign=campaign), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{audit.audit_filename(campaign)}"'
        return response
