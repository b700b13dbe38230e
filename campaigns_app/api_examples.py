"""The campaigns API's OpenAPI examples: a campaign, contacts added and refused, an import's progress,
a refused start, and the ledgers' answers."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample

CAMPAIGN_CREATE_EXAMPLE = OpenApiExample(
    "Appointment reminders",
    request_only=True,
    value={
        "name": "November reminders",
        "objective": "Remind patients of their appointment and offer to reschedule.",
        "agentId": "0b8e6a52-2f0e-4c8f-9a53-1f1d2b7c9e10",
        "callerId": "3f6b2a9e-8c41-4d7a-b0e5-6a2f1c9d8e47",
        "callingWindow": {
            "monday": {"start": "09:00", "end": "17:00"},
            "tuesday": [{"start": "09:00", "end": "12:00"}, {"start": "14:00", "end": "18:00"}],
            "wednesday": {"start": "09:00", "end": "17:00"},
        },
        "startDate": "2026-11-02",
        "endDate": "2026-11-30",
        "dialerMode": "progressive",
        "maxCallsPerSecond": 1,
        "maxConcurrentCalls": 5,
        "maxAttempts": 3,
        "retryBackoffMinutes": 120,
        "requiresConsent": True,
        "voicemailAction": "leave_message",
        "voicemailMessage": "This is Acme Dental with a reminder of your appointment. Please call us back.",
    },
)
DELETE_CONFLICT_EXAMPLE = OpenApiExample(
    "Started (409)",
    response_only=True,
    status_codes=["409"],
    value={
        "detail": "A campaign that has started is kept for its record of calls.",
        "problems": ["Cancel it instead."],
    },
)
START_CONFLICT_EXAMPLE = OpenApiExample(
    "Cannot start yet (409)",
    response_only=True,
    status_codes=["409"],
    value={
        "detail": "The campaign cannot start yet.",
        "problems": ["The campaign has no contact left to call; import contacts first."],
    },
)
CONTACTS_ADD_EXAMPLE = OpenApiExample(
    "Two contacts, valid rows only",
    request_only=True,
    value={
        "contacts": [
            {"number": "+14155550123", "name": "Ann Lee", "variables": {"first_name": "Ann"}},
            {
                "number": "(212) 555-0100",
                "name": "Bo Chen",
                "timezone": "America/New_York",
                "variables": {"first_name": "Bo"},
            },
        ],
        "defaultCountry": "US",
        "mode": "valid_rows",
        "dncHandling": "skip",
    },
)
CONTACTS_REFUSED_EXAMPLE = OpenApiExample(
    "All or nothing, one row refused (400)",
    response_only=True,
    status_codes=["400"],
    value={
        "detail": "No contact was added: 1 of 2 rows were refused.",
        "problems": ["contacts[1].number: not a phone number"],
        "errors": [{"index": 1, "field": "number", "value": "12", "reason": "not a phone number"}],
    },
)
IMPORT_PROGRESS_EXAMPLE = OpenApiExample(
    "Half-way",
    response_only=True,
    value={
        "id": "6a1f0c2e-4b7d-4e91-8f3a-2c5d7e9b1a40",
        "campaignId": "9d2c4e6f-1a3b-4c5d-8e7f-0a1b2c3d4e5f",
        "fileName": "november.csv",
        "sizeBytes": 4200000,
        "encoding": "auto",
        "detectedEncoding": "utf-8",
        "defaultCountry": "US",
        "mode": "valid_rows",
        "dncHandling": "skip",
        "status": "running",
        "percent": 50,
        "rowsRead": 50000,
        "rowsImported": 48900,
        "rowsSkipped": 500,
        "rowsRefused": 600,
        "error": "",
        "errorReportUrl": None,
        "createdBy": "API key CRM sync (vp_3kf9…)",
        "createdAt": "2026-11-25T17:20:00+00:00",
        "startedAt": "2026-11-25T17:20:01+00:00",
        "finishedAt": None,
    },
)
DNC_ADD_EXAMPLE = OpenApiExample(
    "Opt-out from the CRM", request_only=True, value={"number": "+14155550123", "reason": "Asked by email"}
)
DNC_STATUS_EXAMPLE = OpenApiExample(
    "On the list",
    response_only=True,
    value={
        "number": "+14155550123",
        "blocked": True,
        "decidingEntry": {
            "id": "1c9e3f5a-7b2d-4e6f-8a0b-c1d2e3f4a5b6",
            "number": "+14155550123",
            "action": "add",
            "source": "api",
            "reason": "Asked by email",
            "actor": "API key CRM sync (vp_3kf9…)",
            "callId": None,
            "createdAt": "2026-11-25T17:20:00+00:00",
        },
        "history": [
            {
                "id": "1c9e3f5a-7b2d-4e6f-8a0b-c1d2e3f4a5b6",
                "number": "+14155550123",
                "action": "add",
                "source": "api",
                "reason": "Asked by email",
                "actor": "API key CRM sync (vp_3kf9…)",
                "callId": None,
                "createdAt": "2026-11-25T17:20:00+00:00",
            }
        ],
    },
)
CONSENT_GRANT_EXAMPLE = OpenApiExample(
    "Web form consent",
    request_only=True,
    value={
        "number": "+14155550123",
        "kind": "prior_express_written",
        "source": "web_form",
        "evidence": "https://crm.example.com/forms/8812 (signed 2026-11-01, IP 203.0.113.7)",
        "grantedAt": "2026-11-01T15:04:00Z",
    },
)
