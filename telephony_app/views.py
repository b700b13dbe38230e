"""Portal pages of the call log (the list with filters and live refresh, one call's report) and of
the tenant's phone numbers (list, add, edit/assign, delete)."""

from __future__ import annotations

import datetime
import statistics
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.views.decorators.http import require_GET

from agents_app.models import Agent
from agents_app.selectors import agent_list
from agents_app.validation import inbound_agent_problem, normalize_e164
from telephony_app import costs, livekit_client, provisioning, selectors, services
from telephony_app.models import (
    SEARCH_MAX_CHARS,
    AnalysisStatus,
    Call,
    CallDirection,
    CallStatus,
    NumberProvider,
    PhoneNumber,
    SipTransport,
    call_search_problem,
)
from telephony_app.number_references import number_references
from voiceplatform.cursor import BadCursor, CursorPage
from voiceplatform.models import Membership, Tenant
from voiceplatform.portal import apply_errors, portal_view

CALLS_PER_PAGE = 50
POLL_TARGET = "call-results"  # the element the list's htmx polling and filters replace


def _number_input() -> forms.TextInput:
    return forms.TextInput(attrs={"type": "tel", "placeholder": "+14155550123", "autocomplete": "off"})


class CallFilterForm(forms.Form):
    agent = forms.ModelChoiceField(
        queryset=Agent.objects.none(), required=False, to_field_name="code", empty_label="Any agent"
    )
    direction = forms.ChoiceField(required=False, choices=[("", "Any direction"), *CallDirection.choices])
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *CallStatus.choices])
    date_from = forms.DateField(
        label="From", required=False, widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label="To", required=False, widget=forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})
    )
    from_number = forms.CharField(label="Caller", required=False, max_length=40, widget=_number_input())
    to_number = forms.CharField(label="Callee", required=False, max_length=40, widget=_number_input())
    end_reason = forms.CharField(
        label="End reason", required=False, max_length=Call._meta.get_field("end_reason").max_length
    )
    q = forms.CharField(
        label="Search transcripts",
        required=False,
        max_length=SEARCH_MAX_CHARS,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": 'words, "a phrase", -not'}),
    )

    def __init__(self, data: Any, *, tenant: Tenant) -> None:
        super().__init__(data)
        self.fields["agent"].queryset = agent_list(tenant=tenant)  # only this tenant's agents can be chosen

    def _clean_number(self, name: str) -> str:
        try:
            return normalize_e164(self.cleaned_data[name])
        except ValidationError as error:
            raise ValidationError(error.messages) from None

    def clean_from_number(self) -> str:
        return self._clean_number("from_number")

    def clean_to_number(self) -> str:
        return self._clean_number("to_number")

    def clean_q(self) -> str:
        query = self.cleaned_data["q"].strip()
        if problem := call_search_problem(query):
            raise ValidationError(problem)
        return query

    def selector_kwargs(self) -> dict[str, Any]:
        """Filters for selectors.call_list; an invalid filter is shown with its error and not applied."""
        self.is_valid()
        data = self.cleaned_data
        return {
            "agent": data.get("agent"),
            "direction": data.get("direction", ""),
            "status": data.get("status", ""),
            "end_reason": data.get("end_reason", ""),
            "from_number": data.get("from_number", ""),
            "to_number": data.get("to_number", ""),
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
            "query": data.get("q", ""),
        }


# Presentation ---------------------------------------------------------------------------------


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return ""
    whole = round(seconds)
    minutes, secs = divmod(whole, 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


@dataclass(frozen=True)
class Turn:
    """One line of the conversation as the page shows it."""

    role: str  # user | assistant | system | tool | other
    speaker: str
    text: str
    at: datetime.datetime | None
    interrupted: bool

    @property
    def is_note(self) -> bool:
        return self.role not in ("user", "assistant")


def _parse_time(value: Any) -> datetime.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, datetime.UTC)


def conversation(call: Call) -> list[Turn]:
    """The transcript as speech bubbles; rows of an unexpected shape still show, never break the page."""
    is_phone = call.direction in (CallDirection.INBOUND, CallDirection.OUTBOUND)
    speakers = {
        "user": "Caller" if is_phone else "User",
        "assistant": call.agent_name or "Agent",
        "system": "System",
        "tool": "Tool",
    }
    turns = []
    for row in call.transcript if isinstance(call.transcript, list) else []:
        if not isinstance(row, dict):
            continue
        role = row.get("role") if row.get("role") in speakers else "other"
        turns.append(
            Turn(
                role=role,
                speaker=speakers.get(role, str(row.get("role", "?"))),
                text=str(row.get("text", "")),
                at=_parse_time(row.get("at")),
                interrupted=row.get("interrupted") is True,
            )
        )
    return turns


METRIC_COLUMNS = (
    ("end_of_turn_delay", "End of turn"),
    ("transcription_delay", "Transcription"),
    ("llm_ttft", "LLM first token"),
    ("tts_ttfb", "TTS first byte"),
    ("e2e_latency", "End to end"),
)


@dataclass(frozen=True)
class LatencyRow:
    turn: str
    milliseconds: list[int | None]  # in METRIC_COLUMNS order


def _ms(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return round(value * 1000)


def latency_rows(call: Call) -> list[LatencyRow]:
    rows = []
    for index, row in enumerate(call.turn_metrics if isinstance(call.turn_metrics, list) else [], start=1):
        if isinstance(row, dict):
            rows.append(LatencyRow(str(row.get("turn", index)), [_ms(row.get(key)) for key, _ in METRIC_COLUMNS]))
    return rows


def latency_summary(rows: list[LatencyRow]) -> dict[str, int] | None:
    """Median and worst end-to-end latency in ms, the number a caller feels."""
    e2e = [row.milliseconds[-1] for row in rows if row.milliseconds[-1] is not None]
    if not e2e:
        return None
    return {"median": round(statistics.median(e2e)), "worst": max(e2e), "turns": len(e2e)}


@dataclass(frozen=True)
class UsageRow:
    kind: str
    provider: str
    model: str
    amount: str
    cost_usd: Decimal | None
    note: str


def _amount(row: dict[str, Any]) -> str:
    parts = []
    for key, unit in (
        ("input_tokens", "input tokens"),
        ("output_tokens", "output tokens"),
        ("characters", "characters"),
    ):
        value = row.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value:
            parts.append(f"{value:,} {unit}")
    seconds = row.get("audio_seconds")
    if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds:
        parts.append(f"{seconds:,.1f} s audio")
    return ", ".join(parts) or "—"


def usage_rows(call: Call) -> tuple[list[UsageRow], costs.CostEstimate]:
    usage = call.usage if isinstance(call.usage, list) else []
    estimate = costs.estimate_cost(usage, on=(call.ended_at or call.created_at).date())
    rows = [
        UsageRow(
            line.kind,
            line.provider,
            line.model,
            _amount(row) if isinstance(row, dict) else "—",
            line.cost_usd,
            line.note,
        )
        for row, line in zip(usage, estimate.lines, strict=True)
    ]
    return rows, estimate


@dataclass(frozen=True)
class ExtractedRow:
    name: str
    description: str
    value: str  # as shown: lists joined, booleans yes/no, "—" for a field the call did not fill


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_shown(item) for item in value) or "—"
    return str(value)


def extracted_rows(call: Call) -> list[ExtractedRow]:
    """The call's extracted data in the order of the agent's schema (its other keys after, as stored)."""
    extracted = call.extracted if isinstance(call.extracted, dict) else {}
    schema = call.agent.analysis_schema if call.agent is not None else {}
    fields = schema.get("properties") if isinstance(schema, dict) else None
    fields = fields if isinstance(fields, dict) else {}
    names = [name for name in fields if name in extracted] + [name for name in extracted if name not in fields]
    return [
        ExtractedRow(name, str((fields.get(name) or {}).get("description", "")), _shown(extracted.get(name)))
        for name in names
    ]


def count_text(calls: QuerySet[Call], page: CursorPage) -> str:
    """ "12 calls" when one page holds them all, else "about 1,200,000 calls" from PostgreSQL's estimate
    (two significant digits: it is an estimate), never a COUNT(*) of the tenant's calls."""
    if not page.has_other_pages:
        return f"{len(page.rows)} call{pluralize(len(page.rows))}"
    estimate = max(selectors.call_count_estimate(calls), len(page.rows))
    if estimate >= 100:
        estimate = round(estimate, 2 - len(str(estimate)))
    return f"about {estimate:,} call{pluralize(estimate)}"


# Views --------------------------------------------------------------------------------------


@require_GET
@portal_view()
def call_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    tenant = membership.tenant
    filters = CallFilterForm(request.GET, tenant=tenant)
    criteria = filters.selector_kwargs()
    calls = selectors.call_list(tenant=tenant, **criteria)
    try:
        page = selectors.call_page(calls, cursor=request.GET.get("cursor", ""), size=CALLS_PER_PAGE)
    except BadCursor:  # an edited or stale link: the newest page rather than an error
        page = selectors.call_page(calls, cursor="", size=CALLS_PER_PAGE)
    query = request.GET.copy()
    query.pop("cursor", None)
    context = {
        "filters": filters,
        "page": page,
        "is_first_page": page.previous_cursor is None,
        "count_text": count_text(calls, page),
        "calls": [(call, duration_text(call.duration_seconds)) for call in page.rows],
        "is_filtered": any(value not in (None, "") for value in criteria.values()),
        "query": query.urlencode(),
        "poll_target": POLL_TARGET,
        "tenant_zone": tenant.timezone,
    }
    is_poll = request.headers.get("HX-Request") and request.headers.get("HX-Target") == POLL_TARGET
    template = "telephony_app/_call_results.html" if is_poll else "telephony_app/call_list.html"
    with timezone.override(tenant.timezone):  # times in the tenant's zone, as the date filters are
        return render(request, template, context)


@require_GET
@portal_view()
def call_detail(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    tenant = membership.tenant
    call = selectors.call_get(tenant=tenant, code=code)
    latency = latency_rows(call)
    usage, estimate = usage_rows(call)
    context = {
        "call": call,
        "duration": duration_text(call.duration_seconds),
        "turns": conversation(call),
        "metric_columns": [label for _, label in METRIC_COLUMNS],
        "latency": latency,
        "latency_summary": latency_summary(latency),
        "usage": usage,
        "estimate": estimate,
        "rates_compiled_on": costs.RATES_COMPILED_ON,
        "tenant_zone": tenant.timezone,
        "extracted": extracted_rows(call),
        "analysis_open": call.analysis_status in (AnalysisStatus.PENDING, AnalysisStatus.RUNNING),
    }
    with timezone.override(tenant.timezone):
        return render(request, "telephony_app/call_detail.html", context)


# Phone numbers ------------------------------------------------------------------------------


class PhoneNumberForm(forms.Form):
    number = forms.CharField(
        max_length=40, help_text="International format, e.g. +14155550123 (spaces, dashes and brackets are fine)."
    )
    label = forms.CharField(max_length=120, required=False)
    provider = forms.ChoiceField(choices=NumberProvider.choices)
    agent = forms.ModelChoiceField(
        queryset=Agent.objects.none(),
        required=False,
        to_field_name="code",
        empty_label="No agent (calls are not answered)",
        label="Answered by",
    )
    is_active = forms.BooleanField(required=False, initial=True, label="Active")
    sip_trunk_id = forms.CharField(
        max_length=128,
        required=False,
        label="LiveKit SIP trunk id",
        help_text=(
            "The LiveKit inbound trunk (ST_...) the number arrives on, for SIP numbers. When set, calls "
            "to this number through any other trunk are refused."
        ),
    )
    outbound_trunk_id = forms.CharField(
        max_length=128,
        required=False,
        label="LiveKit outbound trunk id",
        help_text=(
            "The LiveKit outbound trunk (ST_...) calls from this number go out through. Campaigns and the "
            "calls API can present the number as caller ID only when it is set."
        ),
    )
    outbound_cps = forms.DecimalField(
        max_digits=7,
        decimal_places=2,
        required=False,
        initial=1,
        label="Outbound calls per second",
        help_text="What the carrier accepts from this trunk (Twilio: 1); empty = 1. The dialer never goes faster.",
        widget=forms.NumberInput(attrs={"step": "0.1"}),
    )
    outbound_address = forms.CharField(
        max_length=255,
        required=False,
        label="Carrier SIP address",
        help_text=(
            "For LiveKit SIP provisioning: the carrier's SIP host (and port) calls from this number go to, "
            "e.g. sip.telnyx.com. Empty: provisioning makes no outbound trunk."
        ),
    )
    outbound_transport = forms.ChoiceField(
        choices=SipTransport.choices, initial=SipTransport.AUTO, required=False, label="Transport"
    )
    outbound_auth_username = forms.CharField(
        max_length=128, required=False, label="Carrier username", help_text="Empty removes the credentials."
    )
    outbound_auth_password = forms.CharField(
        max_length=255,
        required=False,
        label="Carrier password",
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Stored encrypted and never shown again; leave blank to keep the stored one.",
    )

    def __init__(self, data: Any, *, tenant: Tenant, initial: dict[str, Any] | None = None) -> None:
        super().__init__(data, initial=initial)
        self.fields["agent"].queryset = agent_list(tenant=tenant)  # only this tenant's agents can be chosen
        self.fields["agent"].label_from_instance = _agent_choice_label

    def clean_agent(self) -> Agent | None:
        agent = self.cleaned_data["agent"]
        if agent is not None and (problem := inbound_agent_problem(name=agent.name, direction=agent.direction)):
            raise forms.ValidationError(problem)
        return agent

    def clean_outbound_transport(self) -> str:
        return self.cleaned_data["outbound_transport"] or SipTransport.AUTO

    def clean_outbound_cps(self) -> Decimal:
        value = self.cleaned_data["outbound_cps"]
        return Decimal(1) if value is None else value

    @staticmethod
    def initial_for(phone_number: PhoneNumber) -> dict[str, Any]:
        return {
            "number": phone_number.number,
            "label": phone_number.label,
            "provider": phone_number.provider,
            "agent": phone_number.agent.code if phone_number.agent else None,
            "is_active": phone_number.is_active,
            "sip_trunk_id": phone_number.sip_trunk_id,
            "outbound_trunk_id": phone_number.outbound_trunk_id,
            "outbound_cps": phone_number.outbound_cps,
            "outbound_address": phone_number.outbound_address,
            "outbound_transport": phone_number.outbound_transport,
            "outbound_auth_username": phone_number.outbound_auth_username,
        }


def _agent_choice_label(agent: Agent) -> str:
    """An outbound-only agent stays listed (the form says why it cannot be chosen), marked as such."""
    if inbound_agent_problem(name=agent.name, direction=agent.direction):
        return f"{agent.name} (outbound-only: cannot answer)"
    return agent.name


def _number_form_page(request: HttpRequest, form: PhoneNumberForm, phone_number: PhoneNumber | None) -> HttpResponse:
    return render(request, "telephony_app/phone_number_form.html", {"form": form, "phone_number": phone_number})


def _save_number(form: PhoneNumberForm, save: Any) -> PhoneNumber | None:
    """Run the service with the form's data; its errors land on the form's fields."""
    try:
        return save(**form.cleaned_data)
    except ValidationError as error:
        apply_errors(form, error)
        return None


@require_GET
@portal_view()
def number_list(request: HttpRequest, membership: Membership) -> HttpResponse:
    numbers = selectors.phone_number_list(tenant=membership.tenant)
    return render(request, "telephony_app/phone_number_list.html", {"numbers": numbers})


@portal_view(write=True)
def number_create(request: HttpRequest, membership: Membership) -> HttpResponse:
    tenant = membership.tenant
    form = PhoneNumberForm(request.POST if request.method == "POST" else None, tenant=tenant)
    if form.is_bound and form.is_valid():
        created = _save_number(form, lambda **fields: services.phone_number_create(tenant=tenant, **fields))
        if created is not None:
            messages.success(request, f"{created.number} was added.")
            return redirect("numbers-number-list")
    return _number_form_page(request, form, None)


@portal_view(write=True)
def number_edit(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    tenant = membership.tenant
    phone_number = selectors.phone_number_get(tenant=tenant, code=code)
    form = PhoneNumberForm(
        request.POST if request.method == "POST" else None,
        tenant=tenant,
        initial=PhoneNumberForm.initial_for(phone_number),
    )
    if form.is_bound and form.is_valid():
        saved = _save_number(
            form,
            lambda **fields: services.phone_number_update(tenant=tenant, phone_number=phone_number, **fields),
        )
        if saved is not None:
            messages.success(request, f"{saved.number} was saved.")
            return redirect("numbers-number-list")
    return _number_form_page(request, form, phone_number)


@portal_view(write=True)
def number_delete(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    """GET asks for confirmation; POST deletes the number (its calls stay in the call log)."""
    phone_number = selectors.phone_number_get(tenant=membership.tenant, code=code)
    held_by = number_references(tenant=membership.tenant, phone_number=phone_number)
    if request.method == "POST" and not held_by:
        try:
            services.phone_number_delete(tenant=membership.tenant, phone_number=phone_number)
        except ValidationError:  # a campaign took it as caller ID after the check above
            held_by = number_references(tenant=membership.tenant, phone_number=phone_number)
        else:
            messages.success(request, f"{phone_number.number} was deleted.")
            return redirect("numbers-number-list")
    context = {"phone_number": phone_number, "held_by": held_by}
    status = 409 if request.method == "POST" else 200
    return render(request, "telephony_app/phone_number_confirm_delete.html", context, status=status)


@portal_view(write=True)
def number_provision(request: HttpRequest, membership: Membership, code: str) -> HttpResponse:
    """GET: what LiveKit has for the number and what differs; POST: provision it, then show the result."""
    phone_number = selectors.phone_number_get(tenant=membership.tenant, code=code)
    deadline = provisioning.request_deadline()
    report: provisioning.ProvisionReport | None = None
    error = ""
    status = 200
    try:
        if request.method == "POST":
            report = provisioning.provision(phone_number=phone_number, deadline=deadline)
            if not report.refused:
                (messages.success if report.changes else messages.info)(request, report.summary)
                return redirect("numbers-number-provision", code=phone_number.code)
            status = 409
        else:
            report = provisioning.provision_plan(phone_number=phone_number, deadline=deadline)
    except livekit_client.LiveKitNotConfigured as exc:
        error, status = str(exc), 503
    except livekit_client.LiveKitError as exc:
        error, status = f"LiveKit could not be provisioned: {exc}", 502
    except provisioning.ProvisionBusy as exc:
        error, status = str(exc), 409
    context = {"phone_number": phone_number, "report": report, "error": error}
    return render(request, "telephony_app/phone_number_provision.html", context, status=status)
