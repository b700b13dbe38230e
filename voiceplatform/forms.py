from __future__ import annotations

from django import forms

from voiceplatform.models import ApiKey, Provider, Role


class InviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.EDITOR)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        max_length=ApiKey._meta.get_field("name").max_length, help_text="What uses this key, e.g. 'CRM sync'."
    )

    def clean_name(self) -> str:
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the key a name.")
        return name


class CredentialForm(forms.Form):
    provider = forms.ChoiceField(choices=Provider.choices)
    secret = forms.CharField(
        label="API key / auth token",
        required=False,
        max_length=4096,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text="Write-only. Leave empty when replacing to keep the stored secret.",
    )
    base_url = forms.URLField(
        label="Base URL",
        required=False,
        assume_scheme="https",
        help_text="Self-hosted OpenAI-compatible servers only: an https address the platform can reach publicly "
        "(a server on a private network must be allowed by the operator).",
    )
    account_id = forms.CharField(label="Account ID", required=False, max_length=64, help_text="Twilio Account SID.")
