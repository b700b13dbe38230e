"""The analytics filter (period, agent, campaign): one form for the page, the CSV and the API, so a bad
parameter gets the same message everywhere (a form error on the page, a 400 in the API)."""

from __future__ import annotations

import uuid
from typing import Any

from django import forms

from agents_app.selectors import agent_list
from telephony_app.analytics.campaigns import campaign_choices
from telephony_app.analytics.selectors import DEFAULT_PERIOD, PERIODS
from voiceplatform.models import Tenant


class AnalyticsFilterForm(forms.Form):
    period = forms.TypedChoiceField(
        choices=[(str(days), f"Last {days} days") for days in PERIODS],
        coerce=int,
        required=False,
        empty_value=DEFAULT_PERIOD,
    )
    agent = forms.ModelChoiceField(
        queryset=None, required=False, to_field_name="code", empty_label="Every agent", label="Agent"
    )
    campaign = forms.TypedChoiceField(coerce=uuid.UUID, required=False, empty_value=None, label="Campaign")

    def __init__(self, data: Any, *, tenant: Tenant) -> None:
        super().__init__(data)
        # Only this tenant's agents and campaigns can be chosen: another tenant's code is "not a choice".
        self.fields["agent"].queryset = agent_list(tenant=tenant).order_by("name", "id")
        campaigns = [(str(choice.code), choice.name) for choice in campaign_choices(tenant=tenant)]
        self.fields["campaign"].choices = [("", "Every campaign"), *campaigns]

    def filters(self) -> dict[str, Any]:
        """selectors.analytics_for's keyword arguments (call after is_valid())."""
        data = self.cleaned_data
        return {"period": data["period"], "agent": data["agent"], "campaign_code": data["campaign"]}
