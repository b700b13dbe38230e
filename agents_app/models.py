"""The voice agent: a row, not code. Typed columns; JSON only for the free-shaped IVR menu."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models

from agents_app import catalog
from agents_app.analysis import analysis_schema_problems
from agents_app.references import agent_references
from agents_app.validation import (
    inbound_agent_problem,
    outbound_agent_problem,
    placeholder_problem,
    prompt_size_problems,
    validate_e164,
    validate_ivr_menu_shape,
)
from voiceplatform.models import TenantOwned, validate_timezone


class Direction(models.TextChoices):
    INBOUND = "inbound", "Inbound"
    OUTBOUND = "outbound", "Outbound"
    BOTH = "both", "Inbound and outbound"


class VoicemailAction(models.TextChoices):
    HANG_UP = "hang_up", "Hang up"
    LEAVE_MESSAGE = "leave_message", "Leave a message"


class DialerType(models.TextChoices):
    PROGRESSIVE = "progressive", "Progressive (one call per free agent slot)"
    PREDICTIVE = "predictive", "Predictive (over-dial by answer rate)"
    PREVIEW = "preview", "Preview (operator confirms each call)"
    AUTO = "auto", "Automatic (platform chooses; progressive for AI agents)"


class Weekday(models.IntegerChoices):
    MONDAY = 0, "Monday"
    TUESDAY = 1, "Tuesday"
    WEDNESDAY = 2, "Wednesday"
    THURSDAY = 3, "Thursday"
    FRIDAY = 4, "Friday"
    SATURDAY = 5, "Saturday"
    SUNDAY = 6, "Sunday"


PROMPT_FIELDS = ("system_prompt", "personality", "greeting_message")
# Settings that are stored but that nothing uses yet (issue 12, item 13): the portal form and detail
# page, the admin and the API docs say so, so no one believes they work.
RECORDING_NOT_ACTIVE = "calls are not recorded; the voice worker has no recording step yet. The choice is kept."
OUTBOUND_NOT_ACTIVE = (
    "campaigns can be set up with this agent and filled with contacts, but the dialer that places their calls "
    "is not built yet, so no call uses these settings. They are kept for when it arrives."
)
TEMPLATE_FIELDS = ("system_prompt", "personality", "greeting_message")  # the worker fills in their {{placeholders}}


class Agent(TenantOwned):
    # Identity
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True, validators=[MaxLengthValidator(2000)])
    system_prompt = models.TextField(blank=True)
    # Their limits follow the model (validation.prompt_size_problems, run by clean()).
    personality = models.TextField(blank=True)
    greeting_message = models.TextField(blank=True)
    # Language model
    llm_provider = models.CharField(max_length=32, default="openai")
    llm_model = models.CharField(max_length=100, default="gpt-4o-mini")
    temperature = models.FloatField(default=0.7, validators=[MinValueValidator(0.0), MaxValueValidator(2.0)])
    max_output_tokens = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Empty = the model's default."
    )
    # Voice
    tts_provider = models.CharField(max_length=32, default="openai")
    voice_id = models.CharField(max_length=128, default="alloy")
    tts_model = models.CharField(max_length=64, blank=True, help_text="Empty = the provider's default model.")
    speaking_speed = models.FloatField(default=1.0, validators=[MinValueValidator(0.5), MaxValueValidator(2.0)])
    # Speech to text
    stt_provider = models.CharField(max_length=32, default="deepgram")
    stt_model = models.CharField(max_length=64, blank=True, help_text="Empty = the provider's default model.")
    stt_language = models.CharField(max_length=16, default="en")
    # Turn taking
    allow_interruptions = models.BooleanField(default=True)
    min_endpointing_delay = models.FloatField(default=0.5, validators=[MinValueValidator(0.0), MaxValueValidator(10.0)])
    max_endpointing_delay = models.FloatField(default=3.0, validators=[MinValueValidator(0.1), MaxValueValidator(30.0)])
    preemptive_generation = models.BooleanField(default=False)
    # Direction and inbound
    direction = models.CharField(max_length=10, choices=Direction.choices, default=Direction.BOTH)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    business_hours_enabled = models.BooleanField(
        default=False, help_text="Off = always open. On = open only in the ranges below, closed on holidays."
    )
    transfer_number = models.CharField(max_length=16, blank=True, validators=[validate_e164])
    fallback_number = models.CharField(max_length=16, blank=True, validators=[validate_e164])
    out_of_hours_message = models.TextField(blank=True, validators=[MaxLengthValidator(1000)])
    ivr_menu = models.JSONField(default=dict, blank=True, validators=[validate_ivr_menu_shape])
    # Outbound
    dialer_type = models.CharField(max_length=12, choices=DialerType.choices, default=DialerType.PROGRESSIVE)
    max_retries = models.PositiveSmallIntegerField(default=2, validators=[MaxValueValidator(10)])
    retry_delay_minutes = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(1), MaxValueValidator(7 * 24 * 60)]
    )
    voicemail_action = models.CharField(max_length=16, choices=VoicemailAction.choices, default=VoicemailAction.HANG_UP)
    voicemail_message = models.TextField(blank=True, validators=[MaxLengthValidator(1000)])
    consent_required = models.BooleanField(default=True)
    dnc_enabled = models.BooleanField(default=True)
    # Operations
    max_concurrent_calls = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    recording_enabled = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    # Post-call analysis (agents_app/analysis.py; run by worker/analysis.py after each call)
    analysis_enabled = models.BooleanField(
        default=False, help_text="After each call, ask the agent's model for a summary, the data below and success."
    )
    analysis_summary_prompt = models.TextField(
        blank=True, validators=[MaxLengthValidator(4000)], help_text="Empty = a short summary of the call."
    )
    # JSON: the shape is the tenant's own (a JSON Schema subset, checked by analysis_schema_problems).
    analysis_schema = models.JSONField(default=dict, blank=True)
    analysis_success_rubric = models.TextField(
        blank=True, validators=[MaxLengthValidator(4000)], help_text="Empty = success is not judged."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["tenant", "is_active"]), models.Index(fields=["tenant", "name"])]

    def __str__(self) -> str:
        return self.name

    @property
    def effective_tts_model(self) -> str:
        provider = catalog.tts_provider(self.tts_provider)
        return self.tts_model or (provider.default_model if provider else "")

    @property
    def effective_stt_model(self) -> str:
        """The vendor's model id the worker should use (aliases resolved, default filled in)."""
        provider = catalog.stt_provider(self.stt_provider)
        return catalog.stt_model_id(self.stt_provider, self.stt_model) or (provider.default_model if provider else "")

    @property
    def is_custom_voice(self) -> bool:
        return catalog.voice(self.tts_provider, self.voice_id) is None

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}

        def add(field: str, message: str) -> None:
            errors.setdefault(field, []).append(message)

        self._clean_llm(add)
        self._clean_prompt_size(add)
        self._clean_voice(add)
        self._clean_stt(add)
        if self.min_endpointing_delay is not None and self.max_endpointing_delay is not None:
            if self.min_endpointing_delay > self.max_endpointing_delay:
                add("max_endpointing_delay", "Must be at least the minimum endpointing delay.")
        if self.voicemail_action == VoicemailAction.LEAVE_MESSAGE and not self.voicemail_message.strip():
            add("voicemail_message", "Write the message to leave on voicemail.")
        for field in TEMPLATE_FIELDS:
            if problem := placeholder_problem(getattr(self, field) or ""):
                add(field, problem)
        self._clean_ivr_targets(add)
        self._clean_direction(add)
        for problem in analysis_schema_problems(self.analysis_schema):
            add("analysis_schema", problem)
        if errors:
            raise ValidationError(errors)

    def direction_problems(self) -> dict[str, list[str]]:
        """What the references forbid of this agent's direction and on/off state, by field (see below)."""
        errors: dict[str, list[str]] = {}
        self._clean_direction(lambda field, message: errors.setdefault(field, []).append(message))
        return errors

    def _clean_direction(self, add: Callable[[str, str], None]) -> None:
        """An agent that answers a phone number must keep taking inbound calls (the same rule as the number
        forms), and one an open campaign calls with must stay outbound-capable and on; the registry names
        the numbers and campaigns, so agents_app imports neither telephony_app nor campaigns_app."""
        if self.pk is None or self.tenant_id is None:
            return
        name = self.name or "This agent"
        cannot_answer = inbound_agent_problem(name=name, direction=self.direction)
        cannot_call = outbound_agent_problem(name=name, direction=self.direction, is_active=self.is_active)
        if cannot_answer is None and cannot_call is None:
            return
        found = agent_references(tenant=self.tenant, agent=self)
        # The symmetric rule: an open campaign places its calls with the agent.
        calling = [ref.label for ref in found if ref.places_calls]
        if cannot_call and calling:
            field = "direction" if self.direction == Direction.INBOUND else "is_active"
            what = "become inbound-only" if field == "direction" else "be switched off"
            add(
                field,
                f"{name} places the calls of {', '.join(calling)}, so it cannot {what}. "
                "Cancel the campaign, or give it another agent, first.",
            )
        answering = [ref.label for ref in found if ref.answers_inbound]
        if cannot_answer and answering:
            add(
                "direction",
                f"{self.name} answers {', '.join(answering)}, so it cannot become outbound-only. "
                "Give the number to another agent first, or keep the direction inbound or both.",
            )

    def _clean_prompt_size(self, add: Callable[[str, str], None]) -> None:
        model = catalog.llm_model(self.llm_provider, self.llm_model)
        reply = self.max_output_tokens if isinstance(self.max_output_tokens, int) else None
        if model and model.max_output_tokens:
            # An over-limit max_output_tokens is reported by _clean_llm; clamping keeps the prompt from being blamed.
            reply = min(reply or model.max_output_tokens, model.max_output_tokens)
        problems = prompt_size_problems(
            texts={field: getattr(self, field) or "" for field in PROMPT_FIELDS},
            context_window=model.context_window if model else 0,
            max_output_tokens=reply,
            model_name=model.name if model else self.llm_model,
        )
        for field, message in problems.items():
            add(field, message)

    def _clean_ivr_targets(self, add: Callable[[str, str], None]) -> None:
        """IVR options that hand the call to an agent must name another agent of this tenant."""
        if not isinstance(self.ivr_menu, dict) or self.tenant_id is None:
            return
        options = self.ivr_menu.get("options")
        if not isinstance(options, list):  # a wrong shape is reported by validate_ivr_menu_shape
            return
        for index, option in enumerate(options):
            if not isinstance(option, dict) or option.get("action") != "agent":
                continue
            target = str(option.get("agentId", ""))
            try:
                target_code = uuid.UUID(target)
            except ValueError:
                add("ivr_menu", f"ivrMenu.options[{index}].agentId: {target!r} is not an agent id.")
                continue
            others = Agent.objects.for_tenant(self.tenant).filter(code=target_code)
            if self.pk:
                others = others.exclude(pk=self.pk)
            if not others.exists():
                add("ivr_menu", f"ivrMenu.options[{index}].agentId: no other agent {target} in this tenant.")

    def _clean_llm(self, add: Callable[[str, str], None]) -> None:
        provider = catalog.llm_provider(self.llm_provider)
        if provider is None:
            add(
                "llm_provider",
                f"Unknown LLM provider {self.llm_provider!r}; choose one of {', '.join(catalog.LLM_PROVIDERS)}.",
            )
            return
        model = catalog.llm_model(self.llm_provider, self.llm_model)
        if model is None:
            offered = ", ".join(m.id for m in provider.models) or "a model name"
            add("llm_model", f"{provider.name} does not offer {self.llm_model!r}; choose one of {offered}.")
            return
        if model.max_output_tokens and self.max_output_tokens and self.max_output_tokens > model.max_output_tokens:
            add("max_output_tokens", f"{model.name} writes at most {model.max_output_tokens} tokens per reply.")

    def _clean_voice(self, add: Callable[[str, str], None]) -> None:
        """The voice rules of agents_app.catalog, each on the field to change."""
        provider = catalog.tts_provider(self.tts_provider)
        if provider is None:
            add(
                "tts_provider",
                f"Unknown voice provider {self.tts_provider!r}; choose one of {', '.join(catalog.TTS_PROVIDERS)}.",
            )
            return
        model_problem = catalog.tts_model_problem(self.tts_provider, self.effective_tts_model)
        if self.tts_model and model_problem:
            add("tts_model", f"{model_problem}; choose one of {', '.join(m.id for m in provider.models)}.")
        if problem := catalog.voice_problem(self.tts_provider, self.voice_id):
            add("voice_id", f"{problem}.")
        elif model_problem is None and (
            problem := catalog.voice_model_problem(self.tts_provider, self.voice_id, self.effective_tts_model)
        ):
            required = catalog.required_tts_model(self.tts_provider, self.voice_id)
            add("voice_id", f"{problem}: choose the voice model {required} or another voice.")

    def _clean_stt(self, add: Callable[[str, str], None]) -> None:
        provider = catalog.stt_provider(self.stt_provider)
        if provider is None:
            add(
                "stt_provider",
                f"Unknown speech-to-text provider {self.stt_provider!r}; "
                f"choose one of {', '.join(catalog.STT_PROVIDERS)}.",
            )
            return
        model_id = self.effective_stt_model
        if catalog.stt_model(self.stt_provider, model_id) is None:
            offered = ", ".join(m.id for m in provider.models)
            add("stt_model", f"{provider.name} has no model {model_id!r}; choose one of {offered}.")
        elif not catalog.stt_supports_language(self.stt_provider, model_id, self.stt_language):
            add("stt_language", f"{provider.name} {model_id} does not transcribe {self.stt_language!r}.")


class BusinessHours(TenantOwned):
    """One opening range of an agent, starting on a weekday (agents_app.validation.HoursRange has the
    rules: an end before the start runs into the next day); a day may have several, none = closed."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="business_hours")
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices)
    start = models.TimeField()
    end = models.TimeField()

    class Meta:
        ordering = ["weekday", "start"]
        verbose_name_plural = "business hours"
        constraints = [
            # end < start is an overnight range (into the next day); end 00:00 is the day's midnight
            models.CheckConstraint(
                condition=~models.Q(start=models.F("end")) | models.Q(end=datetime.time(0, 0)),
                name="business_hours_start_is_not_end",
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}-{self.end:%H:%M}"


class Holiday(TenantOwned):
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["agent", "date"], name="holiday_unique_date_per_agent")]

    def __str__(self) -> str:
        return f"{self.date} {self.name}".strip()


class PromptVersion(TenantOwned):
    """A snapshot of the three prompt texts, written whenever one of them changes."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="prompt_versions")
    version = models.PositiveIntegerField()
    system_prompt = models.TextField(blank=True)
    personality = models.TextField(blank=True)
    greeting_message = models.TextField(blank=True)
    author_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_api_key = models.ForeignKey(
        "voiceplatform.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    author_label = models.CharField(
        max_length=200, blank=True, help_text="Who made the change, kept if the author is deleted."
    )
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [models.UniqueConstraint(fields=["agent", "version"], name="prompt_version_unique_per_agent")]

    def __str__(self) -> str:
        return f"{self.agent} v{self.version}"
