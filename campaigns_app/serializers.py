"""The campaigns API's serializers: a campaign, its contacts, imports and the DNC and consent ledgers
in camelCase (like agents_app/serializers.py). They read and shape data only; every rule is a service's."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema_field, inline_serializer
from rest_framework import serializers

from campaigns_app.importer import import_percent
from campaigns_app.models import (
    Campaign,
    CampaignStatus,
    CampaignVoicemailAction,
    Consent,
    ConsentKind,
    ConsentSource,
    Contact,
    ContactImport,
    ContactStatus,
    DialerMode,
    DncEntry,
    DncHandling,
    ImportEncoding,
    ImportMode,
    ImportStatus,
)
from campaigns_app.selectors import ContactCounts
from voiceplatform.api_base import E164Field

# (API field, service field): reads requests and names fields in the service's 400 errors.
FIELD_PATHS: tuple[tuple[str, str], ...] = (
    ("name", "name"),
    ("objective", "objective"),
    ("agentId", "agent"),
    ("callerId", "caller_id"),
    ("callingWindow", "calling_window"),
    ("startDate", "start_date"),
    ("endDate", "end_date"),
    ("dialerMode", "dialer_mode"),
    ("maxCallsPerSecond", "max_calls_per_second"),
    ("maxConcurrentCalls", "max_concurrent_calls"),
    ("maxAttempts", "max_attempts"),
    ("retryBackoffMinutes", "retry_backoff_minutes"),
    ("requiresConsent", "requires_consent"),
    ("voicemailAction", "voicemail_action"),
    ("voicemailMessage", "voicemail_message"),
    ("recordingNotice", "recording_notice"),
)
MODEL_TO_PATH = {model: path for path, model in FIELD_PATHS}
# A number far beyond any real setting but inside PostgreSQL's integer: bigger is a field error, not a 500.
_INT_MAX = 2_147_483_647
MAX_CONTACTS_PER_REQUEST = 1000


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


@extend_schema_field(
    {
        "type": "object",
        "description": "Contacts by status, and their total.",
        "properties": {name: {"type": "integer"} for name in ("total", *ContactStatus.values)},
        "required": ["total", *ContactStatus.values],
    }
)
class ContactCountsField(serializers.Field):
    """Read-only: a campaign's contacts by status (given in the serializer's context, one query a page)."""


class HeldUUIDField(serializers.UUIDField):
    """A required id on writes that reads as null once a finished campaign's agent or number was deleted."""


class HeldUUIDFieldExtension(OpenApiSerializerFieldExtension):
    """Documents HeldUUIDField: a plain uuid in requests (null is refused), nullable in responses."""

    target_class = HeldUUIDField

    def map_serializer_field(self, auto_schema: AutoSchema, direction: str) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "format": "uuid"}
        if direction == "response":
            schema["nullable"] = True
        return schema


class CampaignSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="code", read_only=True)
    name = serializers.CharField(max_length=120)
    objective = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    agentId = HeldUUIDField(
        help_text="An outbound-capable agent of yours (agent id). Read as null only on a completed or cancelled "
        "campaign whose agent was deleted since (agentName keeps its name)."
    )
    agentName = serializers.CharField(
        read_only=True, help_text="The agent's name (its last known name once the agent was deleted)."
    )
    callerId = HeldUUIDField(
        help_text="One of your active phone numbers (phone number id), shown to callees. Read as null only on a "
        "completed or cancelled campaign whose number was deleted since (callerIdNumber keeps it)."
    )
    callerIdNumber = serializers.CharField(
        read_only=True, help_text="The caller ID's number (its last known number once the number was deleted)."
    )
    callingWindow = serializers.JSONField(
        required=False,
        help_text='When calls may go out, in the callee\'s local time: {"monday": [{"start": "09:00", "end": '
        '"17:00"}], ...}; a day also takes one {"start", "end"} object, or null/[] for no calls. '
        "Default: weekdays 09:00-17:00.",
    )
    startDate = serializers.DateField(required=False, allow_null=True)
    endDate = serializers.DateField(required=False, allow_null=True)
    dialerMode = serializers.ChoiceField(choices=DialerMode.choices, required=False)
    maxCallsPerSecond = serializers.DecimalField(
        max_digits=6, decimal_places=2, coerce_to_string=False, required=False, help_text="Pace: more than 0."
    )
    maxConcurrentCalls = serializers.IntegerField(required=False, min_value=1, max_value=_INT_MAX)
    maxAttempts = serializers.IntegerField(
        required=False, min_value=1, max_value=10, help_text="Calls per contact, first included."
    )
    retryBackoffMinutes = serializers.IntegerField(required=False, min_value=1, max_value=_INT_MAX)
    requiresConsent = serializers.BooleanField(required=False)
    voicemailAction = serializers.ChoiceField(choices=CampaignVoicemailAction.choices, required=False)
    voicemailMessage = serializers.CharField(required=False, allow_blank=True, max_length=1000)
    recordingNotice = serializers.CharField(required=False, allow_blank=True, max_length=500)
    status = serializers.CharField(read_only=True, help_text=f"One of {', '.join(CampaignStatus.values)}.")
    statusChangedAt = serializers.DateTimeField(read_only=True, allow_null=True)
    startedAt = serializers.DateTimeField(read_only=True, allow_null=True)
    finishedAt = serializers.DateTimeField(read_only=True, allow_null=True)
    dialerError = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="Why the dialer cannot make progress on this campaign now (e.g. LiveKit unreachable); null when "
        "it can. Contacts stay queued meanwhile.",
    )
    dialerErrorAt = serializers.DateTimeField(read_only=True, allow_null=True)
    createdAt = serializers.DateTimeField(read_only=True)
    updatedAt = serializers.DateTimeField(read_only=True)
    contacts = ContactCountsField(read_only=True)

    def to_representation(self, campaign: Campaign) -> dict[str, Any]:
        counts: ContactCounts | None = self.context.get("counts", {}).get(campaign.pk)
        by_status = counts.by_status if counts else {status: 0 for status in ContactStatus.values}
        return {
            "id": str(campaign.code),
            "name": campaign.name,
            "objective": campaign.objective,
            # A finished campaign may have let go of its agent or number (deleted since): its snapshots.
            "agentId": str(campaign.agent.code) if campaign.agent else None,
            "agentName": campaign.agent.name if campaign.agent else campaign.agent_name,
            "callerId": str(campaign.caller_id.code) if campaign.caller_id else None,
            "callerIdNumber": campaign.caller_id.number if campaign.caller_id else campaign.caller_id_number,
            "callingWindow": campaign.calling_window,
            "startDate": _iso(campaign.start_date),
            "endDate": _iso(campaign.end_date),
            "dialerMode": campaign.dialer_mode,
            "maxCallsPerSecond": float(campaign.max_calls_per_second),
            "maxConcurrentCalls": campaign.max_concurrent_calls,
            "maxAttempts": campaign.max_attempts,
            "retryBackoffMinutes": campaign.retry_backoff_minutes,
            "requiresConsent": campaign.requires_consent,
            "voicemailAction": campaign.voicemail_action,
            "voicemailMessage": campaign.voicemail_message,
            "recordingNotice": campaign.recording_notice,
            "status": campaign.status,
            "statusChangedAt": _iso(campaign.status_changed_at),
            "startedAt": _iso(campaign.started_at),
            "finishedAt": _iso(campaign.finished_at),
            "dialerError": campaign.dialer_error or None,
            "dialerErrorAt": _iso(campaign.dialer_error_at) if campaign.dialer_error else None,
            "createdAt": campaign.created_at.isoformat(),
            "updatedAt": campaign.updated_at.isoformat(),
            "contacts": {"total": sum(by_status.values()), **by_status},
        }

    def to_service_fields(self) -> dict[str, Any]:
        """Validated request data as campaign_create/campaign_update `fields` (codes resolved by the service)."""
        return {model: self.validated_data[path] for path, model in FIELD_PATHS if path in self.validated_data}


class ContactSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="code")
    number = serializers.CharField()
    name = serializers.CharField()
    timezone = serializers.CharField(help_text="Empty: taken from the number.")
    variables = serializers.DictField(child=serializers.CharField())
    # Plain strings, values listed: a "status" enum here would collide with the calls' in the schema's names.
    status = serializers.CharField(help_text=f"One of {', '.join(ContactStatus.values)}.")
    attempts = serializers.IntegerField()
    nextAttemptAt = serializers.DateTimeField(source="next_attempt_at", allow_null=True)
    lastOutcome = serializers.CharField(source="last_outcome")
    reason = serializers.CharField(help_text='Why the contact is skipped or held (e.g. "dnc: ...").')
    createdAt = serializers.DateTimeField(source="created_at")

    def to_representation(self, contact: Contact) -> dict[str, Any]:
        return {
            "id": str(contact.code),
            "number": contact.number,
            "name": contact.name,
            "timezone": contact.timezone,
            "variables": {str(key): str(value) for key, value in (contact.variables or {}).items()},
            "status": contact.status,
            "attempts": contact.attempts,
            "nextAttemptAt": _iso(contact.next_attempt_at),
            "lastOutcome": contact.last_outcome,
            "reason": contact.reason,
            "createdAt": contact.created_at.isoformat(),
        }


class ContactRowSerializer(serializers.Serializer):
    number = serializers.CharField(max_length=64, help_text="E.164, or national with defaultCountry.")
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    timezone = serializers.CharField(required=False, allow_blank=True, max_length=64)
    variables = serializers.DictField(required=False, help_text="Values for the agent's {{placeholders}}.")


class ContactsAddSerializer(serializers.Serializer):
    contacts = serializers.ListField(
        child=ContactRowSerializer(),
        allow_empty=False,
        help_text=f"At most {MAX_CONTACTS_PER_REQUEST} a request; larger lists go through an import (CSV).",
    )
    defaultCountry = serializers.RegexField(
        r"^[A-Za-z]{2}$", required=False, allow_blank=True, help_text="ISO 3166 code for national numbers, e.g. US."
    )
    mode = serializers.ChoiceField(choices=ImportMode.choices, default=ImportMode.ALL_OR_NOTHING)
    dncHandling = serializers.ChoiceField(choices=DncHandling.choices, default=DncHandling.SKIP)

    def to_internal_value(self, data: Any) -> Any:
        # Counted before each row is validated: a 100,000-row body is refused in one line, not 100,000.
        if isinstance(data, dict) and isinstance(data.get("contacts"), list):
            if len(data["contacts"]) > MAX_CONTACTS_PER_REQUEST:
                raise serializers.ValidationError(
                    {
                        "contacts": [
                            f"At most {MAX_CONTACTS_PER_REQUEST} contacts a request (got {len(data['contacts'])}); "
                            "upload larger lists as a CSV import (POST /api/v1/campaigns/{id}/imports)."
                        ]
                    }
                )
        return super().to_internal_value(data)


class ContactRowErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="The row's position in `contacts`, from 0.")
    field = serializers.CharField()
    value = serializers.CharField()
    reason = serializers.CharField()


ContactsAddedResponse = inline_serializer(
    "ContactsAdded",
    fields={
        "created": serializers.IntegerField(),
        "skippedDnc": serializers.IntegerField(help_text="Numbers on the do-not-call list (skipped or left out)."),
        "errors": ContactRowErrorSerializer(many=True),
    },
)
ContactsRefusedResponse = inline_serializer(
    "ContactsRefused",
    fields={
        "detail": serializers.CharField(),
        "problems": serializers.ListField(child=serializers.CharField()),
        "errors": ContactRowErrorSerializer(many=True),
    },
)


class ContactImportSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="code")
    campaignId = serializers.UUIDField()
    fileName = serializers.CharField()
    sizeBytes = serializers.IntegerField()
    encoding = serializers.ChoiceField(choices=ImportEncoding.choices)
    detectedEncoding = serializers.CharField()
    defaultCountry = serializers.CharField()
    mode = serializers.ChoiceField(choices=ImportMode.choices)
    dncHandling = serializers.ChoiceField(choices=DncHandling.choices)
    status = serializers.CharField(help_text=f"One of {', '.join(ImportStatus.values)}.")
    percent = serializers.IntegerField(help_text="How far into the file the import is (0-100).")
    rowsRead = serializers.IntegerField()
    rowsImported = serializers.IntegerField()
    rowsSkipped = serializers.IntegerField(help_text="Imported as skipped (on the do-not-call list).")
    rowsRefused = serializers.IntegerField(help_text="Rows in the error report.")
    error = serializers.CharField(help_text="Why the whole import failed.")
    errorReportUrl = serializers.CharField(allow_null=True, help_text="The refused rows as CSV, when there are any.")
    createdBy = serializers.CharField()
    createdAt = serializers.DateTimeField()
    startedAt = serializers.DateTimeField(allow_null=True)
    finishedAt = serializers.DateTimeField(allow_null=True)

    def to_representation(self, upload: ContactImport) -> dict[str, Any]:
        report = None
        if upload.error_report:
            report = reverse("api-campaign-import-errors", kwargs={"id": upload.campaign.code, "importId": upload.code})
        return {
            "id": str(upload.code),
            "campaignId": str(upload.campaign.code),
            "fileName": upload.original_name,
            "sizeBytes": upload.size_bytes,
            "encoding": upload.encoding,
            "detectedEncoding": upload.detected_encoding,
            "defaultCountry": upload.default_country,
            "mode": upload.mode,
            "dncHandling": upload.dnc_handling,
            "status": upload.status,
            "percent": import_percent(upload),
            "rowsRead": upload.rows_read,
            "rowsImported": upload.rows_imported,
            "rowsSkipped": upload.rows_skipped,
            "rowsRefused": upload.rows_refused,
            "error": upload.error,
            "errorReportUrl": report,
            "createdBy": upload.created_by,
            "createdAt": upload.created_at.isoformat(),
            "startedAt": _iso(upload.started_at),
            "finishedAt": _iso(upload.finished_at),
        }


class ContactImportCreateSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="The contact list (CSV with a header row).")
    defaultCountry = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, allow_blank=True)
    mode = serializers.ChoiceField(choices=ImportMode.choices, default=ImportMode.ALL_OR_NOTHING)
    dncHandling = serializers.ChoiceField(choices=DncHandling.choices, default=DncHandling.SKIP)
    encoding = serializers.ChoiceField(choices=ImportEncoding.choices, default=ImportEncoding.AUTO)
    columnMap = serializers.JSONField(
        required=False,
        help_text='JSON object: {"number": "Phone", "name": "Full name", "timezone": ""}: the CSV header of each '
        "field (empty: guessed). Every other column becomes a variable.",
    )

    def validate_columnMap(self, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            raise serializers.ValidationError('Give a JSON object of header names, e.g. {"number": "Phone"}.')
        return value


# --- The ledgers ---------------------------------------------------------------------------------


class DncEntrySerializer(serializers.Serializer):
    id = serializers.UUIDField(source="code")
    number = serializers.CharField()
    action = serializers.ChoiceField(choices=["add", "remove"])
    source = serializers.CharField()
    reason = serializers.CharField()
    actor = serializers.CharField()
    callId = serializers.UUIDField(allow_null=True, help_text="The call in which the person opted out.")
    createdAt = serializers.DateTimeField()

    def to_representation(self, entry: DncEntry) -> dict[str, Any]:
        return {
            "id": str(entry.code),
            "number": entry.number,
            "action": entry.action,
            "source": entry.source,
            "reason": entry.reason,
            "actor": entry.actor,
            "callId": str(entry.call.code) if entry.call_id else None,
            "createdAt": entry.created_at.isoformat(),
        }


class DncAddSerializer(serializers.Serializer):
    number = E164Field(max_length=64)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class DncRemoveSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="Why the number may be called again.")


class DncStatusSerializer(serializers.Serializer):
    number = serializers.CharField()
    blocked = serializers.BooleanField()
    decidingEntry = DncEntrySerializer(allow_null=True, help_text="The entry that puts the number on the list now.")
    history = DncEntrySerializer(many=True, help_text="Every event of the number, newest first.")


DncUploadResponse = inline_serializer(
    "DncUploadResult",
    fields={
        "added": serializers.IntegerField(help_text="Numbers newly on the list."),
        "alreadyListed": serializers.IntegerField(),
        "errorsTotal": serializers.IntegerField(help_text="Refused lines; `errors` lists the first 1,000."),
        "errors": inline_serializer(
            "DncUploadRowError",
            many=True,
            fields={
                "line": serializers.IntegerField(),
                "value": serializers.CharField(),
                "reason": serializers.CharField(),
            },
        ),
    },
)


class DncUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV: a `number` column (or one column of numbers), optional `reason`.")
    defaultCountry = serializers.RegexField(r"^[A-Za-z]{2}$", required=False, allow_blank=True)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=500)


class ConsentSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="code")
    number = serializers.CharField()
    action = serializers.ChoiceField(choices=["grant", "revoke"])
    kind = serializers.CharField(help_text="Empty on a revocation.")
    source = serializers.CharField()
    evidence = serializers.CharField()
    grantedAt = serializers.DateTimeField(allow_null=True)
    revokedAt = serializers.DateTimeField(allow_null=True)
    actor = serializers.CharField()
    createdAt = serializers.DateTimeField()

    def to_representation(self, consent: Consent) -> dict[str, Any]:
        return {
            "id": str(consent.code),
            "number": consent.number,
            "action": consent.action,
            "kind": consent.kind,
            "source": consent.source,
            "evidence": consent.evidence,
            "grantedAt": _iso(consent.granted_at),
            "revokedAt": _iso(consent.revoked_at),
            "actor": consent.actor,
            "createdAt": consent.created_at.isoformat(),
        }


class ConsentGrantSerializer(serializers.Serializer):
    number = E164Field(max_length=64)
    kind = serializers.ChoiceField(choices=ConsentKind.choices, default=ConsentKind.PRIOR_EXPRESS_WRITTEN)
    source = serializers.ChoiceField(choices=ConsentSource.choices, default=ConsentSource.API)
    evidence = serializers.CharField(max_length=2000, help_text="Where the proof is: text, a URL, a reference.")
    grantedAt = serializers.DateTimeField(required=False, help_text="When the person consented (default: now).")


class ConsentRevokeSerializer(serializers.Serializer):
    evidence = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    revokedAt = serializers.DateTimeField(required=False, help_text="When the person withdrew it (default: now).")


class ConsentStatusSerializer(serializers.Serializer):
    number = serializers.CharField()
    consented = serializers.BooleanField()
    decidingConsent = ConsentSerializer(allow_null=True, help_text="The grant that makes the number consented now.")
    history = ConsentSerializer(many=True, help_text="Every event of the number, newest first.")
