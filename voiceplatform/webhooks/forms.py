from __future__ import annotations

from django import forms

from voiceplatform.webhooks.events import EVENT_TYPES, event_choices


class WebhookEndpointForm(forms.Form):
    url = forms.URLField(
        label="URL",
        max_length=2000,
        assume_scheme="https",
        help_text="An https address on the public internet (a server on a private network must be allowed by the "
        "operator). The platform POSTs each event there, signed.",
    )
    description = forms.CharField(max_length=200, required=False, help_text="What receives it, e.g. 'CRM sync'.")
    event_types = forms.MultipleChoiceField(
        label="Events", choices=event_choices, widget=forms.CheckboxSelectMultiple, help_text="At least one."
    )
    is_enabled = forms.BooleanField(label="Enabled", required=False, initial=True)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        descriptions = {name: event.description for name, event in EVENT_TYPES.items()}
        self.fields["event_types"].choices = [
            (name, f"{name} — {descriptions[name]}") for name, _label in event_choices()
        ]
