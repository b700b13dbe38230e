"""Portal forms for campaigns, contact imports and the ledgers: they turn what a browser sends into
service arguments. The rules live in campaigns_app.services (and the importer); these forms check
types and shapes only, so the portal and the API report the same messages."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from agents_app.forms import BusinessHoursField, MultilineField
from agents_app.models import Agent
from agents_app.validation import outbound_agent_problem
from campaigns_app.models import (
    Campaign,
    CampaignStatus,
    CampaignVoicemailAction,
    ConsentKind,
    ConsentSource,
    ContactStatus,
    DialerMode,
    DncHandling,
    ImportEncoding,
    ImportMode,
)
from campaigns_app.services import CAMPAIGN_FIELDS, DEFAULT_CALLING_WINDOW
from telephony_app.models import PhoneNumber

# The countries people most often pick for national-format numbers; any other list uses +country.
COUNTRY_CHOICES = [
    ("", "None: every number starts with +country"),
    ("US", "United States (+1)"),
    ("CA", "Canada (+1)"),
    ("GB", "United Kingdom (+44)"),
    ("IE", "Ireland (+353)"),
    ("AU", "Australia (+61)"),
    ("NZ", "New Zealand (+64)"),
    ("DE", "Germany (+49)"),
    ("FR", "France (+33)"),
    ("ES", "Spain (+34)"),
    ("IT", "Italy (+39)"),
    ("NL", "Netherlands (+31)"),
    ("MX", "Mexico (+52)"),
    ("BR", "Brazil (+55)"),
    ("IN", "India (+91)"),
    ("ZA", "South Africa (+27)"),
]
_DATE = forms.DateInput(format="%Y-%m-%d", attrs={"type": "date"})


class CodeChoiceField(forms.ModelChoiceField):
    """A menu of the tenant's rows by code: a malformed code is "not a choice", like a missing one."""

    def to_python(self, value: Any) -> Any:
        try:
            return super().to_python(value)
        except forms.ValidationError:
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice") from None


def _agent_label(agent: Agent) -> str:
    problem = outbound_agent_problem(name=agent.name, direction=agent.direction, is_active=agent.is_active)
    if problem is None:
        return agent.name
    return f"{agent.name} ({'switched off' if not agent.is_active else 'inbound-only'}: cannot place calls)"


def _number_label(number: PhoneNumber) -> str:
    text = f"{number.number} · {number.label}" if number.label else number.number
    return text if number.is_active else f"{text} (switched off)"


class CampaignForm(forms.Form):
    """A campaign's settings in the form's sections; service_fields() gives campaign_create/update's `fields`."""

    # Basics
    name = forms.CharField(max_length=Campaign._meta.get_field("name").max_length)
    objective = MultilineField(
        required=False, widget=forms.Textarea(attrs={"rows": 3}), help_text="What the calls are for (for your team)."
    )
    # Who calls
    agent = CodeChoiceField(
        queryset=Agent.objects.none(),
        to_field_name="code",
        empty_label="Choose an agent",
        error_messages={"invalid_choice": "Choose one of your agents."},
        help_text="Active agents that place calls (direction outbound or both).",
    )
    caller_id = CodeChoiceField(
        label="Caller ID",
        queryset=PhoneNumber.objects.none(),
        to_field_name="code",
        empty_label="Choose a number",
        error_messages={"invalid_choice": "Choose one of your phone numbers as the caller ID."},
        help_text="The number callees see: one of your active numbers.",
    )
    # When
    calling_window = BusinessHoursField(
        label="Calling window",
        help_text=(
            "In each callee's local time. Up to three ranges per day; a day without ranges has no calls. "
            "A range ends on the day it starts. The dialer also keeps to the legal hours (08:00-21:00)."
        ),
    )
    start_date = forms.DateField(required=False, widget=_DATE, help_text="Empty = as soon as it starts.")
    end_date = forms.DateField(required=False, widget=_DATE, help_text="Empty = until every contact is called.")
    # Pace
    dialer_mode = forms.ChoiceField(choices=DialerMode.choices)
    max_calls_per_second = forms.DecimalField(
        label="Max calls per second", max_digits=6, decimal_places=2, widget=forms.NumberInput(attrs={"step": "0.1"})
    )
    max_concurrent_calls = forms.IntegerField(label="Max concurrent calls", min_value=1, max_value=2_147_483_647)
    max_attempts = forms.IntegerField(
        label="Attempts per contact", min_value=1, max_value=32_767, help_text="The first call included, 1 to 10."
    )
    retry_backoff_minutes = forms.IntegerField(
        label="Retry after (minutes)", min_value=1, max_value=2_147_483_647, help_text="Up to a week (10080)."
    )
    # Compliance
    requires_consent = forms.BooleanField(
        label="Requires recorded consent",
        required=False,
        help_text="Dial only numbers with unrevoked consent in the consent ledger (AI voices: TCPA, FCC 24-17).",
    )
    voicemail_action = forms.ChoiceField(label="On voicemail", choices=CampaignVoicemailAction.choices)
    voicemail_message = MultilineField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    recording_notice = MultilineField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Said at the start of each call when the agent records calls.",
    )

    def __init__(
        self,
        data: Any,
        *,
        agents: QuerySet[Agent],
        numbers: QuerySet[PhoneNumber],
        current: Campaign | None = None,
        initial: dict[str, Any] | None = None,
    ) -> None:
        """`agents`/`numbers`: all the tenant's (so a posted code must be the tenant's); the menus
        list only those that can be chosen, plus the campaign's current ones (marked as unusable)."""
        super().__init__(data, initial=initial)
        self.fields["agent"].queryset = agents
        self.fields["caller_id"].queryset = numbers
        keep_agent = current.agent_id if current else None
        keep_number = current.caller_id_id if current else None
        self.fields["agent"].widget.choices = [
            ("", "Choose an agent"),
            *(
                (agent.code, _agent_label(agent))
                for agent in agents
                if agent.pk == keep_agent
                or not outbound_agent_problem(name=agent.name, direction=agent.direction, is_active=agent.is_active)
            ),
        ]
        self.fields["caller_id"].widget.choices = [
            ("", "Choose a number"),
            *(
                (number.code, _number_label(number))
                for number in numbers
                if number.pk == keep_number or number.is_active
            ),
        ]

    @staticmethod
    def initial_for(campaign: Campaign | None) -> dict[str, Any]:
        """The form's initial data: a campaign's settings, or a new campaign's defaults."""
        if campaign is None:
            model = Campaign()
            initial = {name: getattr(model, name) for name in CAMPAIGN_FIELDS if name not in ("agent", "caller_id")}
            initial["calling_window"] = DEFAULT_CALLING_WINDOW
            return initial
        initial = {name: getattr(campaign, name) for name in CAMPAIGN_FIELDS}
        # None only on a finished campaign whose agent or number was deleted (such a one is not edited).
        initial["agent"] = campaign.agent.code if campaign.agent else None
        initial["caller_id"] = campaign.caller_id.code if campaign.caller_id else None
        return initial

    def service_fields(self) -> dict[str, Any]:
        """Cleaned data as the `fields` of campaign_create / campaign_update."""
        return {name: self.cleaned_data[name] for name in CAMPAIGN_FIELDS}


class CampaignFilterForm(forms.Form):
    q = forms.CharField(label="Name", required=False, max_length=120)
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *CampaignStatus.choices])

    def selector_kwargs(self) -> dict[str, str]:
        """Filters for selectors.campaign_list; an invalid filter is not applied."""
        self.is_valid()
        return {"search": self.cleaned_data.get("q", "").strip(), "status": self.cleaned_data.get("status", "")}


class ContactFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *ContactStatus.choices])
    reason = forms.CharField(
        label="Reason starts with", required=False, max_length=60, widget=forms.TextInput(attrs={"placeholder": "dnc"})
    )
    q = forms.CharField(
        label="Number or name",
        required=False,
        max_length=60,
        widget=forms.TextInput(attrs={"placeholder": "+1415… or a name"}),
    )

    def selector_kwargs(self) -> dict[str, str]:
        """Filters for selectors.contact_list; an invalid filter shows its error and is not applied."""
        self.is_valid()
        data = self.cleaned_data
        return {
            "status": data.get("status", ""),
            "reason": data.get("reason", "").strip(),
            "search": data.get("q", "").strip(),
        }


class ContactImportForm(forms.Form):
    file = forms.FileField(label="CSV file", help_text="A header row, then one contact a line.")
    default_country = forms.ChoiceField(
        label="Country of national numbers",
        choices=COUNTRY_CHOICES,
        required=False,
        help_text="For numbers written without +country, e.g. (415) 555-0123.",
    )
    mode = forms.ChoiceField(choices=ImportMode.choices, initial=ImportMode.ALL_OR_NOTHING)
    dnc_handling = forms.ChoiceField(
        label="Numbers on your do-not-call list", choices=DncHandling.choices, initial=DncHandling.SKIP
    )
    encoding = forms.ChoiceField(choices=ImportEncoding.choices, initial=ImportEncoding.AUTO)
    number_column = forms.CharField(
        label="Number column", required=False, max_length=100, help_text="Empty = guessed (phone, number, mobile…)."
    )
    name_column = forms.CharField(label="Name column", required=False, max_length=100)
    timezone_column = forms.CharField(label="Time zone column", required=False, max_length=100)

    def importer_kwargs(self) -> dict[str, Any]:
        """Cleaned data as contact_import_create's keyword arguments (tenant, campaign, actor aside)."""
        data = self.cleaned_data
        column_map = {
            field: data[f"{field}_column"].strip()
            for field in ("number", "name", "timezone")
            if data[f"{field}_column"].strip()
        }
        return {
            "upload": data["file"],
            "default_country": data["default_country"],
            "mode": data["mode"],
            "dnc_handling": data["dnc_handling"],
            "encoding": data["encoding"],
            "column_map": column_map,
        }


# --- The ledgers -----------------------------------------------------------------------------------


class LedgerForm(forms.Form):
    """A form of a ledger page, which shows several at once: each gets its own element ids."""

    id_prefix = "ledger"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", f"{self.id_prefix}_%s")
        super().__init__(*args, **kwargs)


class NumberSearchForm(LedgerForm):
    id_prefix = "search"

    number = forms.CharField(max_length=40, widget=forms.TextInput(attrs={"placeholder": "+14155550123"}))
    country = forms.ChoiceField(label="Country", choices=COUNTRY_CHOICES, required=False)


class DncAddForm(LedgerForm):
    id_prefix = "dnc_add"
    number = forms.CharField(max_length=40, help_text="+country, or national with the country below.")
    country = forms.ChoiceField(label="Country", choices=COUNTRY_CHOICES, required=False)
    reason = forms.CharField(
        max_length=500, required=False, help_text="Why (e.g. asked not to be called on 2026-11-20)."
    )


class DncRemoveForm(LedgerForm):
    id_prefix = "dnc_remove"
    number = forms.CharField(max_length=40)
    reason = forms.CharField(
        max_length=500, help_text="Why the number may be called again (required; it stays in the history)."
    )


class DncUploadForm(LedgerForm):
    id_prefix = "dnc_upload"
    file = forms.FileField(label="CSV file", help_text="One number a line (a header row is fine).")
    default_country = forms.ChoiceField(label="Country of national numbers", choices=COUNTRY_CHOICES, required=False)
    reason = forms.CharField(max_length=500, required=False)


class ConsentGrantForm(LedgerForm):
    id_prefix = "consent_grant"
    number = forms.CharField(max_length=40, help_text="+country, or national with the country below.")
    country = forms.ChoiceField(label="Country", choices=COUNTRY_CHOICES, required=False)
    kind = forms.ChoiceField(choices=ConsentKind.choices, initial=ConsentKind.PRIOR_EXPRESS_WRITTEN)
    source = forms.ChoiceField(
        choices=[(value, label) for value, label in ConsentSource.choices if value != ConsentSource.API],
        initial=ConsentSource.MANUAL,
    )
    evidence = MultilineField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Where the proof is: the form's URL, a document reference, the recorded call.",
    )
    granted_at = forms.DateTimeField(
        label="Granted at",
        required=False,
        widget=forms.DateTimeInput(format="%Y-%m-%dT%H:%M", attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"],
        help_text="In your tenant's time zone; empty = now.",
    )


class ConsentRevokeForm(LedgerForm):
    id_prefix = "consent_revoke"
    number = forms.CharField(max_length=40)
    evidence = forms.CharField(
        label="Note", max_length=2000, required=False, help_text="How the person withdrew consent (optional)."
    )
