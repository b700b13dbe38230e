"""Portal forms for agents: they convert what a browser sends into agent_create/agent_update arguments.

Validation lives in the model and the services; these forms only check types and shapes, so the
portal and the API report the same messages.
"""

from __future__ import annotations

import datetime
import json
import zoneinfo
from typing import Any

from django import forms
from django.forms.fields import InvalidJSONInput
from django.urls import reverse

from agents_app import catalog
from agents_app.analysis import SCHEMA_EXAMPLE
from agents_app.models import RECORDING_NOT_ACTIVE, Agent, DialerType, Direction, VoicemailAction
from agents_app.validation import PROMPT_FIELD_MAX_CHARS, WEEKDAYS, HoursRange, business_hours_document

RANGES_PER_DAY = 3
# Model fields the form edits, in the order the service receives them.
MODEL_FIELDS = (
    "name", "description", "direction", "system_prompt", "personality", "greeting_message",
    "llm_provider", "llm_model", "temperature", "max_output_tokens",
    "tts_provider", "voice_id", "tts_model", "speaking_speed",
    "stt_provider", "stt_model", "stt_language",
    "allow_interruptions", "min_endpointing_delay", "max_endpointing_delay", "preemptive_generation",
    "timezone", "business_hours_enabled", "transfer_number", "fallback_number", "out_of_hours_message", "ivr_menu",
    "dialer_type", "max_retries", "retry_delay_minutes", "voicemail_action", "voicemail_message",
    "consent_required", "dnc_enabled",
    "max_concurrent_calls", "recording_enabled", "is_active",
    "analysis_enabled", "analysis_summary_prompt", "analysis_schema", "analysis_success_rubric",
)  # fmt: skip
DEFAULT_HOURS = {day: [{"start": "09:00", "end": "17:00"}] for day in WEEKDAYS[:5]}
IVR_EXAMPLE = json.dumps(
    {
        "prompt": "For sales press 1, for opening hours press 2.",
        "options": [
            {"digit": "1", "label": "Sales", "action": "transfer", "number": "+14155550123"},
            {"digit": "2", "label": "Hours", "action": "message", "message": "We are open 9 to 5, Monday to Friday."},
        ],
    },
    indent=2,
)
ANALYSIS_SCHEMA_EXAMPLE = json.dumps(SCHEMA_EXAMPLE, indent=2)


_BUDGET = (
    "with the personality and greeting, at most a quarter of the model's context window "
    "(about 4 characters a token), so the rest is left for the conversation."
)


def _timezone_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in sorted(zoneinfo.available_timezones())]


class MultilineField(forms.CharField):
    """Text from a <textarea>: browsers send CRLF, which would otherwise count as a prompt change."""

    widget = forms.Textarea

    def to_python(self, value: Any) -> str:
        return super().to_python(value).replace("\r\n", "\n")


class PrettyJSONField(forms.JSONField):
    """A JSON textarea that shows the stored object indented and an empty object as an empty box."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, InvalidJSONInput):
            return value
        if value in (None, {}, ""):
            return ""
        return json.dumps(value, indent=2, ensure_ascii=False)


class BusinessHoursWidget(forms.MultiWidget):
    """A week grid: per day a 'closed' box and up to three start/end pairs."""

    template_name = "agents_app/_business_hours_widget.html"

    def __init__(self) -> None:
        widgets: dict[str, forms.Widget] = {}
        for day in WEEKDAYS:
            widgets[f"{day}_closed"] = forms.CheckboxInput(attrs={"aria-label": f"{day.title()} closed"})
            for index in range(RANGES_PER_DAY):
                for end in ("start", "end"):
                    attrs = {"type": "time", "aria-label": f"{day.title()} range {index + 1} {end}"}
                    widgets[f"{day}_{index}_{end}"] = forms.TimeInput(attrs=attrs, format="%H:%M")
        super().__init__(widgets)

    def decompress(self, value: Any) -> list[Any]:
        """{"monday": [{"start": "09:00", "end": "17:00"}], ...} -> the flat list of sub-widget values."""
        value = value if isinstance(value, dict) else {}
        flat: list[Any] = []
        for day in WEEKDAYS:
            ranges = value.get(day) or []
            flat.append(not ranges)
            for index in range(RANGES_PER_DAY):
                item = ranges[index] if index < len(ranges) else {}
                flat.extend([item.get("start"), item.get("end")])
        return flat

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        subwidgets = context["widget"]["subwidgets"]
        per_day = 1 + 2 * RANGES_PER_DAY
        context["days"] = [
            {
                "name": day.title(),
                "closed": subwidgets[i * per_day],
                "ranges": [
                    (subwidgets[i * per_day + 1 + 2 * r], subwidgets[i * per_day + 2 + 2 * r])
                    for r in range(RANGES_PER_DAY)
                ],
            }
            for i, day in enumerate(WEEKDAYS)
        ]
        return context


class BusinessHoursField(forms.MultiValueField):
    """Returns the document parse_business_hours() accepts; range checks stay in the service."""

    widget = BusinessHoursWidget

    def __init__(self, **kwargs: Any) -> None:
        fields: list[forms.Field] = []
        for _day in WEEKDAYS:
            fields.append(forms.BooleanField(required=False))
            fields.extend(forms.TimeField(required=False) for _ in range(2 * RANGES_PER_DAY))
        super().__init__(fields, require_all_fields=False, required=False, **kwargs)

    def compress(self, data_list: list[Any]) -> dict[str, list[dict[str, str]]]:
        if not data_list:
            return {day: [] for day in WEEKDAYS}
        per_day = 1 + 2 * RANGES_PER_DAY
        document: dict[str, list[dict[str, str]]] = {}
        problems = []
        for i, day in enumerate(WEEKDAYS):
            closed, *times = data_list[i * per_day : (i + 1) * per_day]
            document[day] = []
            if closed:
                if any(time is not None for time in times):  # never drop times someone typed without a word
                    problems.append(f"{day}: marked closed but has opening times; untick closed or clear them.")
                continue
            for start, end in zip(times[::2], times[1::2], strict=True):
                if (start is None) != (end is None):
                    problems.append(f"{day}: give both a start and an end time.")
                elif start is not None:
                    document[day].append({"start": _hhmm(start), "end": _hhmm(end)})
        if problems:
            raise forms.ValidationError(problems)
        return document


def _hhmm(value: datetime.time) -> str:
    return value.strftime("%H:%M")


class AgentForm(forms.Form):
    # Identity & prompt
    name = forms.CharField(max_length=Agent._meta.get_field("name").max_length)
    description = MultilineField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    direction = forms.ChoiceField(choices=Direction.choices, help_text="Which calls this agent takes or makes.")
    system_prompt = MultilineField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text=f"What the agent does. At most {PROMPT_FIELD_MAX_CHARS['system_prompt']:,} characters; {_BUDGET}",
    )
    personality = MultilineField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=f"How it sounds. At most {PROMPT_FIELD_MAX_CHARS['personality']:,} characters.",
    )
    greeting_message = MultilineField(
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="The first sentence on every call; empty = the agent starts from the prompt. "
        f"At most {PROMPT_FIELD_MAX_CHARS['greeting_message']:,} characters.",
    )
    # Language model
    llm_provider = forms.ChoiceField(label="LLM provider", choices=[])
    llm_model = forms.CharField(label="Model", max_length=Agent._meta.get_field("llm_model").max_length)
    temperature = forms.FloatField(widget=forms.NumberInput(attrs={"step": "0.1"}), help_text="0 = focused, 2 = loose.")
    max_output_tokens = forms.IntegerField(
        label="Max output tokens", required=False, help_text="Empty = the model's default."
    )
    # Voice
    tts_provider = forms.ChoiceField(label="Voice provider", choices=[])
    voice_id = forms.CharField(label="Voice", required=False, max_length=128)
    custom_voice_id = forms.CharField(label="Custom / cloned voice id", required=False, max_length=128)
    tts_model = forms.CharField(label="Voice model", required=False, max_length=64)
    speaking_speed = forms.FloatField(widget=forms.NumberInput(attrs={"step": "0.05"}), help_text="0.5 to 2.0.")
    # Speech to text
    stt_provider = forms.ChoiceField(label="Speech-to-text provider", choices=[])
    stt_model = forms.CharField(label="Speech-to-text model", required=False, max_length=64)
    stt_language = forms.CharField(
        label="Language", max_length=16, help_text="A code the model takes, e.g. en, en-GB, es; multi = detect."
    )
    # Turn taking
    allow_interruptions = forms.BooleanField(required=False, help_text="The caller may talk over the agent.")
    min_endpointing_delay = forms.FloatField(
        label="Min endpointing delay (s)", widget=forms.NumberInput(attrs={"step": "0.1"})
    )
    max_endpointing_delay = forms.FloatField(
        label="Max endpointing delay (s)", widget=forms.NumberInput(attrs={"step": "0.1"})
    )
    preemptive_generation = forms.BooleanField(
        required=False, help_text="Start thinking before the caller's turn has surely ended (faster, costs more)."
    )
    # Inbound
    timezone = forms.ChoiceField(label="Time zone", choices=_timezone_choices)
    business_hours_enabled = forms.BooleanField(
        label="Business hours enabled", required=False, help_text="Off = always open."
    )
    business_hours = BusinessHoursField(
        label="Opening hours",
        help_text=(
            "Up to three ranges per day; a day without ranges is closed. An end before the start runs "
            "into the next day (22:00-06:00); 00:00 as an end is midnight."
        ),
    )
    holidays = MultilineField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "placeholder": "2026-12-25 Christmas Day"}),
        help_text="Closed all day. One per line: <code>YYYY-MM-DD Name</code> (the name is optional).",
    )
    transfer_number = forms.CharField(
        required=False, max_length=40, help_text="E.164, e.g. +14155550123: where 'talk to a person' goes."
    )
    fallback_number = forms.CharField(
        required=False, max_length=40, help_text="E.164: where calls go when the agent cannot run."
    )
    out_of_hours_message = MultilineField(label="Out-of-hours message", required=False)
    ivr_menu = PrettyJSONField(
        label="IVR menu (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "code"}),
        help_text="Empty = no menu. Actions: transfer (number), agent (agentId), message (message).",
    )
    # Outbound
    dialer_type = forms.ChoiceField(choices=DialerType.choices)
    max_retries = forms.IntegerField(help_text="Attempts after the first one, 0 to 10.")
    retry_delay_minutes = forms.IntegerField(label="Retry delay (minutes)")
    voicemail_action = forms.ChoiceField(label="On voicemail", choices=VoicemailAction.choices)
    voicemail_message = MultilineField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    consent_required = forms.BooleanField(required=False, help_text="Call only contacts that agreed to be called.")
    dnc_enabled = forms.BooleanField(label="Honour Do-Not-Call lists", required=False)
    # Operations
    max_concurrent_calls = forms.IntegerField(
        help_text="1 to 1000. An inbound call over the limit goes to the transfer number (else the fallback "
        "number), or hears the out-of-hours message."
    )
    recording_enabled = forms.BooleanField(
        label="Record calls",
        required=False,
        help_text=f"<strong>Not active yet:</strong> {RECORDING_NOT_ACTIVE}",
    )
    is_active = forms.BooleanField(label="Active", required=False, help_text="Inactive agents take no calls.")
    # Post-call analysis
    analysis_enabled = forms.BooleanField(
        label="Analyse calls",
        required=False,
        help_text="After each call, the agent's language model writes a summary, fills in the data below and "
        "judges success (with the tenant's key; its tokens are added to the call's analysis cost).",
    )
    analysis_summary_prompt = MultilineField(
        label="Summary prompt",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="What the summary should say. Empty = who called, what they wanted, what was agreed.",
    )
    analysis_schema = PrettyJSONField(
        label="Data to extract (JSON Schema)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 8, "spellcheck": "false", "class": "code"}),
        help_text="Empty = none. An object of fields, each string, number, integer, boolean or array, with a "
        "description; strings and numbers may list their choices in enum.",
    )
    analysis_success_rubric = MultilineField(
        label="Success rubric",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="When a call counts as a success, e.g. 'a table was booked'. Empty = success is not judged.",
    )
    note = forms.CharField(
        label="Change note",
        required=False,
        max_length=300,
        help_text="Optional; kept with the prompt version when a prompt text changes.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["llm_provider"].choices = [(p.id, p.name) for p in catalog.LLM_PROVIDERS.values()]
        self.fields["tts_provider"].choices = [(p.id, p.name) for p in catalog.TTS_PROVIDERS.values()]
        self.fields["stt_provider"].choices = [(p.id, p.name) for p in catalog.STT_PROVIDERS.values()]
        # The provider selects re-render the selects that depend on them (see the _*_field.html partials).
        for name, url_name, target in (
            ("llm_provider", "agents-llm-options", "#llm-model-field"),
            ("tts_provider", "agents-voice-options", "#voice-fields"),
            ("stt_provider", "agents-stt-options", "#stt-model-field"),
        ):
            self.fields[name].widget.attrs.update(
                {"hx-get": reverse(url_name), "hx-target": target, "hx-swap": "outerHTML", "hx-trigger": "change"}
            )
        self.fields["stt_language"].widget.attrs["list"] = "stt-languages"

    @classmethod
    def initial_for(
        cls, agent: Agent, *, ranges: list[HoursRange] | None, holidays: list[tuple[datetime.date, str]]
    ) -> dict[str, Any]:
        """The form's initial data for an agent; ranges=None gives a new agent's suggested hours."""
        initial = {name: getattr(agent, name) for name in MODEL_FIELDS}
        initial["business_hours"] = DEFAULT_HOURS if ranges is None else business_hours_document(ranges)
        initial["holidays"] = "\n".join(f"{day.isoformat()} {name}".strip() for day, name in holidays)
        return initial

    def clean_holidays(self) -> list[dict[str, str]]:
        result = []
        for line in self.cleaned_data["holidays"].splitlines():
            if line.strip():
                day, _, name = line.strip().partition(" ")
                result.append({"date": day, "name": name.strip()})
        return result

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        custom = (data.get("custom_voice_id") or "").strip()
        if custom:
            data["voice_id"] = custom
        elif "voice_id" in data and not data["voice_id"]:
            self.add_error("voice_id", "Choose a voice, or enter a custom voice id.")
        return data

    def service_kwargs(self) -> dict[str, Any]:
        """Cleaned data as keyword arguments for agent_create / agent_update."""
        data = self.cleaned_data
        fields = {name: data[name] for name in MODEL_FIELDS}
        fields["ivr_menu"] = fields["ivr_menu"] or {}
        fields["analysis_schema"] = fields["analysis_schema"] or {}
        return {
            "fields": fields,
            "business_hours": data["business_hours"],
            "holidays": data["holidays"],
            "note": data["note"],
        }

    def readable_service_kwargs(self) -> tuple[dict[str, Any], set[str]]:
        """For a form that failed: agent_check arguments from the fields that did clean, and the names of
        those that did not (so the service checks the rest now, not in a second round)."""
        unreadable = set(self.errors) | ({"voice_id"} if "custom_voice_id" in self.errors else set())
        data = self.cleaned_data
        fields = {name: data[name] for name in MODEL_FIELDS if name in data and name not in unreadable}
        for json_field in ("ivr_menu", "analysis_schema"):
            if json_field in fields:
                fields[json_field] = fields[json_field] or {}
        kwargs: dict[str, Any] = {"fields": fields}
        for name in ("business_hours", "holidays"):
            if name in data and name not in unreadable:
                kwargs[name] = data[name]
        return kwargs, unreadable


class AgentFilterForm(forms.Form):
    q = forms.CharField(label="Name", required=False, max_length=120)
    status = forms.ChoiceField(
        required=False, choices=[("", "Any status"), ("active", "Active"), ("inactive", "Inactive")]
    )
    direction = forms.ChoiceField(required=False, choices=[("", "Any direction"), *Direction.choices])

    def selector_kwargs(self) -> dict[str, Any]:
        """Filters for selectors.agent_list; an invalid filter is ignored rather than failing the page."""
        self.is_valid()  # an invalid value drops out of cleaned_data; the valid filters still apply
        data = self.cleaned_data
        status = data.get("status", "")
        return {
            "search": data.get("q", "").strip(),
            "is_active": {"active": True, "inactive": False}.get(status),
            "direction": data.get("direction", ""),
        }


class RevertForm(forms.Form):
    version = forms.IntegerField(min_value=1)
