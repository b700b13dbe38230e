"""Every table picks a side (tenant-owned or global); no endpoint reaches another tenant's rows."""

from __future__ import annotations

import io
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from rest_framework.test import APIClient

from agents_app.models import Agent
from agents_app.services import agent_create, agent_update
from campaigns_app.dialer import zones
from campaigns_app.importer import contact_import_create
from campaigns_app.models import Campaign, Contact, ContactImport
from campaigns_app.services import (
    campaign_create,
    campaign_pause,
    campaign_start,
    consent_grant,
    contacts_add,
    dnc_add,
)
from campaigns_app.tasks import import_contacts
from telephony_app.models import Call, CallDirection, CallStatus, PhoneNumber
from telephony_app.services import call_create, call_finish, phone_number_create
from tests.factories import MembershipFactory, ProviderCredentialFactory, UserFactory
from voiceplatform.actor import SYSTEM
from voiceplatform.devtools.fake_livekit import KEY as LIVEKIT_KEY
from voiceplatform.devtools.fake_livekit import SECRET as LIVEKIT_SECRET
from voiceplatform.devtools.fake_livekit import FakeLiveKit
from voiceplatform.models import (
    GLOBAL_MODELS,
    ApiKey,
    Invitation,
    Membership,
    ProviderCredential,
    Role,
    Tenant,
    TenantOwned,
)
from voiceplatform.services import api_key_create, credential_set
from voiceplatform.webhooks import services as webhook_services

# Parameterised URLs that are not tenant objects, each with the reason it needs no isolation case.
NOT_TENANT_OBJECT_URLS = {
    "password_reset_confirm": "a signed token for one user, checked by Django's token generator",
    "tenancy-invitation-accept": "a signed link for one invitation (tests/test_invitations.py), not a tenant's page",
    # A phone number is not an object: every tenant may list the same number. These answer only from
    # the key's tenant's ledger (tests/campaigns_app/test_api_ledgers.py: another tenant's rows are not seen).
    "api-dnc-detail": "a phone number, read from the key's tenant's do-not-call ledger only",
    "api-dnc-remove": "a phone number; writes a removal row in the key's tenant's ledger only",
    "api-consent-detail": "a phone number, read from the key's tenant's consent ledger only",
    "api-consent-revoke": "a phone number; writes a revocation row in the key's tenant's ledger only",
}
# The operator admin has its own scoping (TenantScopedAdmin), tested in tests/test_admin.py.
EXEMPT_NAMESPACES = {"admin"}


# Registry ------------------------------------------------------------------------------------


def test_every_model_is_tenant_owned_or_declared_global():
    undeclared = [
        model._meta.label
        for model in apps.get_models()
        if not issubclass(model, TenantOwned) and model._meta.label not in GLOBAL_MODELS
    ]

    assert undeclared == [], f"add these to TenantOwned or GLOBAL_MODELS: {undeclared}"


def test_global_models_list_names_only_existing_non_tenant_models():
    labels = {model._meta.label: model for model in apps.get_models()}

    assert GLOBAL_MODELS <= labels.keys()
    assert not [label for label in GLOBAL_MODELS if issubclass(labels[label], TenantOwned)]


def test_every_model_with_a_tenant_field_is_tenant_owned():
    with_tenant_field = [
        model for model in apps.get_models() if any(f.name == "tenant" for f in model._meta.get_fields())
    ]

    assert {ApiKey, Membership, ProviderCredential} <= set(with_tenant_field)
    assert [m._meta.label for m in with_tenant_field if not issubclass(m, TenantOwned)] == []


@pytest.mark.parametrize("model", [Membership, ApiKey, ProviderCredential, Call, PhoneNumber])
@pytest.mark.parametrize("bad_tenant", [None, "unsaved"], ids=["none", "unsaved"])
def test_for_tenant_refuses_a_missing_tenant(db, model, bad_tenant):
    tenant = Tenant(name="Unsaved", slug="unsaved") if bad_tenant == "unsaved" else None

    with pytest.raises(ValueError, match="saved Tenant"):
        model.objects.for_tenant(tenant)


def test_for_tenant_returns_only_that_tenants_rows(tenant, other_tenant, owner, outsider):
    assert list(Membership.objects.for_tenant(tenant).values_list("user", flat=True)) == [owner.pk]
    assert list(Membership.objects.for_tenant(other_tenant).values_list("user", flat=True)) == [outsider.pk]


# Cross-tenant isolation ----------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    method: str
    data: dict[str, Any] = field(default_factory=dict)
    htmx: bool = False

    def __str__(self) -> str:
        return f"{self.method}{'-htmx' if self.htmx else ''}"


@dataclass(frozen=True)
class ObjectUrl:
    """A URL that takes a tenant object's code, how to make such an object and how to call it."""

    url_name: str
    url_kwarg: str
    make: Callable[[Tenant], Model]
    attempts: tuple[Attempt, ...]
    api: bool = False
    changes_row: bool = True  # False for reads and for actions that create a new row (duplicate)
    # Other codes the URL takes: (URL kwarg, attribute of the object holding the parent), e.g. an
    # import's campaign. The other tenant's object comes with its own parent.
    parents: tuple[tuple[str, str], ...] = ()

    @property
    def url_kwargs(self) -> list[str]:
        return [self.url_kwarg, *(kwarg for kwarg, _attribute in self.parents)]

    def url(self, obj: Model) -> str:
        parents = {kwarg: getattr(obj, attribute).code for kwarg, attribute in self.parents}
        return reverse(self.url_name, kwargs={self.url_kwarg: obj.code, **parents})


def _make_membership(tenant: Tenant) -> Model:
    return MembershipFactory(tenant=tenant, user=UserFactory(username=f"member@{tenant.slug}.test"), role=Role.EDITOR)


def _make_invitation(tenant: Tenant) -> Model:
    expires_at = timezone.now() + timedelta(days=1)
    return Invitation.objects.create(tenant=tenant, email=f"invitee@{tenant.slug}.test", expires_at=expires_at)


def _make_api_key(tenant: Tenant) -> Model:
    return api_key_create(tenant=tenant, name=f"{tenant.slug} integration")[0]


def _make_credential(tenant: Tenant) -> Model:
    return ProviderCredentialFactory(tenant=tenant, provider="openai", secret=f"sk-{tenant.slug}-secret-0000wxyz")


def _make_agent(tenant: Tenant) -> Model:
    return agent_create(
        tenant=tenant, actor=SYSTEM, fields={"name": f"{tenant.slug} agent", "system_prompt": "Be helpful."}
    )


def _make_inactive_agent(tenant: Tenant) -> Model:
    return agent_update(tenant=tenant, agent=_make_agent(tenant), actor=SYSTEM, fields={"is_active": False})


def _make_ready_agent(tenant: Tenant) -> Model:
    """An agent whose test session can start: the tenant's OpenAI key covers its model, voice and transcriber."""
    credential_set(tenant=tenant, provider="openai", secret=f"sk-{tenant.slug}-openai-0000wxyz")
    return agent_create(tenant=tenant, actor=SYSTEM, fields={"name": f"{tenant.slug} agent", "stt_provider": "openai"})


def _make_agent_with_two_prompts(tenant: Tenant) -> Model:
    return agent_update(tenant=tenant, agent=_make_agent(tenant), actor=SYSTEM, fields={"system_prompt": "Be brief."})


def _make_chat_agent(tenant: Tenant) -> Model:
    """An agent whose chat can start: a greeting (no model call) and a self-hosted model's base URL."""
    credential_set(tenant=tenant, provider="openai_compatible", base_url="http://127.0.0.1:9/v1")
    return agent_create(
        tenant=tenant,
        actor=SYSTEM,
        fields={
            "name": f"{tenant.slug} chat agent",
            "llm_provider": "openai_compatible",
            "llm_model": "local-model",
            "greeting_message": "Hello!",
        },
    )


def _make_call(tenant: Tenant) -> Model:
    call = call_create(
        tenant=tenant, agent=_make_agent(tenant), direction=CallDirection.INBOUND, from_number="+14155550100"
    )
    return call_finish(
        tenant=tenant,
        call=call,
        status=CallStatus.COMPLETED,
        transcript=[{"role": "user", "text": f"secret of {tenant.slug}", "at": "2026-11-20T14:00:00+00:00"}],
    )


def _make_phone_number(tenant: Tenant) -> Model:
    # Numbers are unique across the platform: each tenant gets its own.
    number = "+14155550101" if tenant.slug == "acme" else "+14155550102"
    return phone_number_create(tenant=tenant, number=number, label=f"{tenant.slug} line", agent=_make_agent(tenant))


def _make_sip_phone_number(tenant: Tenant) -> Model:
    """A SIP number: provisioning it makes its LiveKit trunk and rule and stores their ids on the row."""
    number = "+14155550111" if tenant.slug == "acme" else "+14155550112"
    return phone_number_create(tenant=tenant, number=number, provider="sip", agent=_make_agent(tenant))


_ANOTHER_SECRET = {"provider": "openai", "secret": "sk-attacker-replacement-1234"}
# A complete, valid agent form (agents_app.forms.AgentForm), as the portal's edit page posts it.
_AGENT_FORM = {
    "name": "Hijacked",
    "direction": "both",
    "system_prompt": "Hijacked prompt",
    "llm_provider": "openai",
    "llm_model": "gpt-4o-mini",
    "temperature": "0.7",
    "tts_provider": "openai",
    "voice_id": "alloy",
    "speaking_speed": "1.0",
    "stt_provider": "deepgram",
    "stt_language": "en",
    "min_endpointing_delay": "0.5",
    "max_endpointing_delay": "3.0",
    "timezone": "UTC",
    "dialer_type": "progressive",
    "max_retries": "2",
    "retry_delay_minutes": "60",
    "voicemail_action": "hang_up",
    "max_concurrent_calls": "5",
}

# Campaigns: acme's agent and caller ID have fixed codes, so the edit form below can name them.
_CAMPAIGN_AGENT_CODE = "6f1c2b0e-6a53-4c4e-9d1e-0a3c5e7b9d11"
_CAMPAIGN_NUMBER_CODE = "6f1c2b0e-6a53-4c4e-9d1e-0a3c5e7b9d12"


def _make_campaign(tenant: Tenant) -> Campaign:
    is_acme = tenant.slug == "acme"
    agent = agent_create(
        tenant=tenant,
        actor=SYSTEM,
        fields={"name": f"{tenant.slug} caller", "direction": "outbound", "system_prompt": "Remind {{first_name}}."},
    )
    number = phone_number_create(
        tenant=tenant, number="+14155550111" if is_acme else "+14155550112", outbound_trunk_id="ST_outboundTest1"
    )
    if is_acme:
        Agent.objects.for_tenant(tenant).filter(pk=agent.pk).update(code=_CAMPAIGN_AGENT_CODE)
        PhoneNumber.objects.for_tenant(tenant).filter(pk=number.pk).update(code=_CAMPAIGN_NUMBER_CODE)
        agent.refresh_from_db()
        number.refresh_from_db()
    return campaign_create(
        tenant=tenant, fields={"name": f"{tenant.slug} campaign", "agent": agent, "caller_id": number}
    )


def _make_campaign_with_a_contact(tenant: Tenant) -> Campaign:
    campaign = _make_campaign(tenant)
    contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": "+12125550100", "name": "Ada"}])
    return campaign


def _make_running_campaign(tenant: Tenant) -> Campaign:
    return campaign_start(tenant=tenant, campaign=_make_campaign_with_a_contact(tenant))


def _make_paused_campaign(tenant: Tenant) -> Campaign:
    return campaign_pause(tenant=tenant, campaign=_make_running_campaign(tenant))


def _make_preview_contact(tenant: Tenant) -> Model:
    """A contact of a running preview campaign (the operator's Dial button takes the campaign and the contact)."""
    campaign = _make_running_campaign(tenant)
    Campaign.objects.for_tenant(tenant).filter(pk=campaign.pk).update(dialer_mode="preview")
    return Contact.objects.for_tenant(tenant).select_related("campaign").get(campaign=campaign)


class _Upload(io.BytesIO):
    """A CSV file the test client can send more than once (it reads the file on every request)."""

    def __init__(self, data: bytes, name: str = "contacts.csv") -> None:
        super().__init__(data)
        self.name = name

    def read(self, size: int | None = -1) -> bytes:
        # Only a whole read starts over: storage copies the file in chunks, which must reach its end
        # (seeking back on every chunk wrote an endless file and filled the disk).
        if size is None or size < 0:
            self.seek(0)
        return super().read(size)


def _make_contact_import(tenant: Tenant) -> ContactImport:
    """A finished import with one refused row (so it has an error report to download)."""
    upload = _Upload(b"phone,name\n+12125550100,Ada\nnonsense,Bob\n")
    upload.size = len(upload.getvalue())
    made = contact_import_create(
        tenant=tenant, campaign=_make_campaign(tenant), upload=upload, mode="valid_rows", actor=SYSTEM
    )
    import_contacts(made.pk)
    made.refresh_from_db()
    return made


_CAMPAIGN_FORM = {
    "name": "Hijacked",
    "agent": _CAMPAIGN_AGENT_CODE,
    "caller_id": _CAMPAIGN_NUMBER_CODE,
    "dialer_mode": "progressive",
    "max_calls_per_second": "1",
    "max_concurrent_calls": "5",
    "max_attempts": "3",
    "retry_backoff_minutes": "60",
    "voicemail_action": "inherit",
    "calling_window_monday_0_start": "09:00",
    "calling_window_monday_0_end": "12:00",
}
_IMPORT_FORM = {
    "file": _Upload(b"phone,name\n+13125550100,Grace\n"),
    "default_country": "US",
    "mode": "all_or_nothing",
    "dnc_handling": "skip",
    "encoding": "auto",
}


def _api_agent_and_caller_id(tenant: Tenant) -> Model:
    """An outbound agent, carrying a caller ID of the tenant (numbers are unique across tenants)."""
    agent = agent_create(
        tenant=tenant,
        actor=SYSTEM,
        fields={"name": f"{tenant.slug} API caller", "direction": "outbound", "system_prompt": "Hi {{first_name}}."},
    )
    number = "+14155550121" if tenant.slug == "acme" else "+14155550122"
    agent.api_caller_id = phone_number_create(tenant=tenant, number=number, outbound_trunk_id="ST_outboundTest1")
    return agent


def _api_caller_without_consent(tenant: Tenant) -> Model:
    """An outbound agent (with its caller ID) that does not require consent: its calls need no ledger row."""
    agent = _api_agent_and_caller_id(tenant)
    Agent.objects.for_tenant(tenant).filter(pk=agent.pk).update(consent_required=False)
    agent.consent_required = False
    return agent


def _callee_in_calling_hours() -> str:
    """A number whose callee's local time is 10:00-18:59 now (the single-call API checks the legal window)."""
    now = timezone.now()
    # One time zone each, round the clock: Honolulu, New York, Berlin, Dubai, Singapore, Tokyo.
    for number in ("+18085550123", "+12015550123", "+4915123456789", "+971501234567", "+6581234567", "+819012345678"):
        (zone,) = zones.parse_key(zones.dial_zone_for(number) or "")[1]
        if 10 <= now.astimezone(zoneinfo.ZoneInfo(zone)).hour < 19:
            return number
    raise AssertionError(f"no test number in calling hours at {now}")


def _api_campaign(tenant: Tenant) -> Model:
    agent = _api_agent_and_caller_id(tenant)
    fields = {"name": f"{tenant.slug} API campaign", "agent": agent, "caller_id": agent.api_caller_id}
    return campaign_create(tenant=tenant, fields=fields)


def _api_campaign_with_a_contact(tenant: Tenant) -> Model:
    campaign = _api_campaign(tenant)
    contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": "+12125550100", "name": "Ada Lovelace"}])
    return campaign


def _api_running_campaign(tenant: Tenant) -> Model:
    return campaign_start(tenant=tenant, campaign=_api_campaign_with_a_contact(tenant))


def _api_paused_campaign(tenant: Tenant) -> Model:
    return campaign_pause(tenant=tenant, campaign=_api_running_campaign(tenant))


def _api_contact_import(tenant: Tenant) -> Model:
    """A finished import with one refused row, so it has an error report."""
    upload = SimpleUploadedFile("contacts.csv", b"phone,name\n+12125550100,Ada\nnonsense,Bob\n")
    made = contact_import_create(
        tenant=tenant, campaign=_api_campaign(tenant), upload=upload, mode="valid_rows", actor=SYSTEM
    )
    import_contacts(made.pk)
    made.refresh_from_db()
    return made


def _make_webhook_endpoint(tenant: Tenant) -> Model:
    # A public address literal: saved without a DNS lookup, never requested by these tests.
    return webhook_services.endpoint_create(
        tenant=tenant, url=f"https://93.184.216.34/hooks/{tenant.slug}", event_types=["call.ended"]
    )[0]


def _make_webhook_delivery(tenant: Tenant) -> Model:
    """A queued test event (its enqueue waits for a commit that never comes in these tests)."""
    return webhook_services.delivery_send_test(tenant=tenant, endpoint=_make_webhook_endpoint(tenant))


_WEBHOOK_FORM = {"url": "https://93.184.216.35/hijacked", "event_types": ["call.started"], "is_enabled": "on"}

OBJECT_URLS = [
    ObjectUrl(
        "tenancy-member-role",
        "code",
        _make_membership,
        (Attempt("post", {"role": Role.OWNER}), Attempt("post", {"role": Role.VIEWER}, htmx=True)),
    ),
    ObjectUrl("tenancy-member-remove", "code", _make_membership, (Attempt("post"), Attempt("post", htmx=True))),
    ObjectUrl("tenancy-invitation-revoke", "code", _make_invitation, (Attempt("post"),)),
    ObjectUrl("tenancy-apikey-revoke", "code", _make_api_key, (Attempt("post"), Attempt("post", htmx=True))),
    ObjectUrl("tenancy-credential-delete", "code", _make_credential, (Attempt("post"),)),
    ObjectUrl(
        "api-credential-detail",
        "id",
        _make_credential,
        (
            Attempt("get"),
            Attempt("put", _ANOTHER_SECRET),
            Attempt("patch", {"secret": "sk-attacker-replacement-1234", "baseUrl": "https://evil.example/v1"}),
            Attempt("delete"),
        ),
        api=True,
    ),
    ObjectUrl(
        "api-agent-detail",
        "id",
        _make_agent,
        (
            Attempt("get"),
            Attempt("put", {"systemPrompt": "Hijacked prompt"}),
            Attempt("patch", {"name": "Hijacked", "isActive": False}),
            Attempt("delete"),
        ),
        api=True,
    ),
    ObjectUrl("api-agent-duplicate", "id", _make_agent, (Attempt("post"),), api=True, changes_row=False),
    ObjectUrl("api-agent-runtime-config", "id", _make_agent, (Attempt("get"),), api=True, changes_row=False),
    # Needs a reachable LiveKit to succeed at home: the _fake_livekit fixture below points at one.
    ObjectUrl("api-agent-test-session", "id", _make_ready_agent, (Attempt("post"),), api=True, changes_row=False),
    ObjectUrl("api-agent-prompt-history", "id", _make_agent, (Attempt("get"),), api=True, changes_row=False),
    ObjectUrl("agents-agent-detail", "code", _make_agent, (Attempt("get"),), changes_row=False),
    ObjectUrl("agents-agent-edit", "code", _make_agent, (Attempt("get"), Attempt("post", _AGENT_FORM))),
    ObjectUrl("agents-agent-duplicate", "code", _make_agent, (Attempt("post"),), changes_row=False),
    ObjectUrl("agents-agent-activate", "code", _make_inactive_agent, (Attempt("post", htmx=True), Attempt("post"))),
    ObjectUrl("agents-agent-deactivate", "code", _make_agent, (Attempt("post", htmx=True), Attempt("post"))),
    ObjectUrl("agents-agent-delete", "code", _make_agent, (Attempt("get"), Attempt("post"))),
    ObjectUrl("agents-prompt-list", "code", _make_agent, (Attempt("get"),), changes_row=False),
    # Starting a chat writes a Call, not the agent: tests/worker/test_chat.py checks that none is written.
    ObjectUrl(
        "api-agent-chat", "id", _make_chat_agent, (Attempt("post", {"action": "start"}),), api=True, changes_row=False
    ),
    ObjectUrl(
        "agents-agent-chat",
        "code",
        _make_chat_agent,
        (
            Attempt("get"),
            Attempt("post", {"action": "send", "chat": "00000000-0000-4000-8000-000000000000", "message": "Hi"}),
            Attempt("post", {"action": "end"}, htmx=True),
            Attempt("post", {"action": "start"}, htmx=True),
            Attempt("post", {"action": "start"}),
        ),
        changes_row=False,
    ),
    ObjectUrl("agents-prompt-revert", "code", _make_agent_with_two_prompts, (Attempt("post", {"version": 1}),)),
    # The "Test agent" page and its token request; like the API's test session, it needs the fake LiveKit below.
    ObjectUrl("agents-agent-test", "code", _make_ready_agent, (Attempt("get"),), changes_row=False),
    ObjectUrl("agents-agent-test-session", "code", _make_ready_agent, (Attempt("post"),), changes_row=False),
    ObjectUrl("api-call-detail", "id", _make_call, (Attempt("get"),), api=True, changes_row=False),
    ObjectUrl("calls-call-detail", "code", _make_call, (Attempt("get"), Attempt("get", htmx=True)), changes_row=False),
    ObjectUrl(
        "api-phone-number-detail",
        "id",
        _make_phone_number,
        (
            Attempt("get"),
            Attempt("put", {"label": "Hijacked", "isActive": False}),
            Attempt("patch", {"agentId": None, "sipTrunkId": "ST_hijack"}),
            Attempt("delete"),
        ),
        api=True,
    ),
    ObjectUrl(
        "api-phone-number-assign-agent", "id", _make_phone_number, (Attempt("post", {"agentId": None}),), api=True
    ),
    # LiveKit SIP provisioning (the fake LiveKit below answers): GET compares, POST writes the ids.
    ObjectUrl("api-phone-number-provision", "id", _make_sip_phone_number, (Attempt("get"), Attempt("post")), api=True),
    ObjectUrl("numbers-number-provision", "code", _make_sip_phone_number, (Attempt("get"), Attempt("post"))),
    ObjectUrl(
        "numbers-number-edit",
        "code",
        _make_phone_number,
        (Attempt("get"), Attempt("post", {"number": "+14155550199", "label": "Hijacked", "provider": "sip"})),
    ),
    ObjectUrl("numbers-number-delete", "code", _make_phone_number, (Attempt("get"), Attempt("post"))),
    ObjectUrl("campaigns-campaign-detail", "code", _make_campaign, (Attempt("get"),), changes_row=False),
    ObjectUrl("campaigns-campaign-edit", "code", _make_campaign, (Attempt("get"), Attempt("post", _CAMPAIGN_FORM))),
    ObjectUrl("campaigns-campaign-start", "code", _make_campaign_with_a_contact, (Attempt("post"),)),
    ObjectUrl("campaigns-campaign-pause", "code", _make_running_campaign, (Attempt("post"),)),
    ObjectUrl("campaigns-campaign-resume", "code", _make_paused_campaign, (Attempt("post"),)),
    ObjectUrl("campaigns-campaign-cancel", "code", _make_campaign, (Attempt("post"),)),
    ObjectUrl("campaigns-campaign-delete", "code", _make_campaign, (Attempt("get"), Attempt("post"))),
    ObjectUrl("campaigns-contact-list", "code", _make_campaign_with_a_contact, (Attempt("get"),), changes_row=False),
    ObjectUrl("campaigns-campaign-audit", "code", _make_campaign_with_a_contact, (Attempt("get"),), changes_row=False),
    ObjectUrl(
        "campaigns-campaign-progress",
        "code",
        _make_running_campaign,
        (Attempt("get", htmx=True),),
        changes_row=False,
    ),
    # Whether the dial goes out depends on the hour in the contact's zone: the 404 is what is checked.
    ObjectUrl(
        "campaigns-preview-dial",
        "contact_code",
        _make_preview_contact,
        (Attempt("post"), Attempt("post", htmx=True)),
        changes_row=False,
        parents=(("code", "campaign"),),
    ),
    # An upload writes a ContactImport, not the campaign.
    ObjectUrl(
        "campaigns-import-create",
        "code",
        _make_campaign,
        (Attempt("get"), Attempt("post", _IMPORT_FORM)),
        changes_row=False,
    ),
    ObjectUrl("campaigns-import-detail", "code", _make_contact_import, (Attempt("get"),), changes_row=False),
    ObjectUrl(
        "campaigns-import-progress",
        "code",
        _make_contact_import,
        (Attempt("get", htmx=True),),
        changes_row=False,
    ),
    ObjectUrl("campaigns-import-errors", "code", _make_contact_import, (Attempt("get"),), changes_row=False),
    ObjectUrl(
        "api-campaign-detail",
        "id",
        _api_campaign,
        (
            Attempt("get"),
            Attempt("put", {"name": "Hijacked"}),
            Attempt("patch", {"maxAttempts": 9, "callingWindow": {"sunday": {"start": "08:00", "end": "20:00"}}}),
            Attempt("delete"),
        ),
        api=True,
    ),
    ObjectUrl("api-campaign-start", "id", _api_campaign_with_a_contact, (Attempt("post"),), api=True),
    ObjectUrl("api-campaign-pause", "id", _api_running_campaign, (Attempt("post"),), api=True),
    ObjectUrl("api-campaign-resume", "id", _api_paused_campaign, (Attempt("post"),), api=True),
    ObjectUrl("api-campaign-cancel", "id", _api_campaign, (Attempt("post"),), api=True),
    # Adding contacts writes Contact rows, not the campaign.
    ObjectUrl(
        "api-campaign-contacts",
        "id",
        _api_campaign,
        (Attempt("get"), Attempt("post", {"contacts": [{"number": "+13125550100", "name": "Grace Hopper"}]})),
        api=True,
        changes_row=False,
    ),
    # POST takes multipart (tests/campaigns_app/test_api_imports.py); JSON is refused, after the 404.
    ObjectUrl(
        "api-campaign-imports",
        "id",
        _api_campaign,
        (Attempt("post", {"mode": "valid_rows"}), Attempt("get")),
        api=True,
        changes_row=False,
    ),
    ObjectUrl("api-campaign-audit", "id", _api_campaign_with_a_contact, (Attempt("get"),), api=True, changes_row=False),
    ObjectUrl("api-campaign-progress", "id", _api_running_campaign, (Attempt("get"),), api=True, changes_row=False),
    ObjectUrl("api-campaign-attempts", "id", _api_running_campaign, (Attempt("get"),), api=True, changes_row=False),
    ObjectUrl(
        "api-campaign-import-detail",
        "importId",
        _api_contact_import,
        (Attempt("get"),),
        api=True,
        changes_row=False,
        parents=(("id", "campaign"),),
    ),
    ObjectUrl(
        "api-campaign-import-errors",
        "importId",
        _api_contact_import,
        (Attempt("get"),),
        api=True,
        changes_row=False,
        parents=(("id", "campaign"),),
    ),
    ObjectUrl(
        "api-webhook-endpoint-detail",
        "id",
        _make_webhook_endpoint,
        (
            Attempt("get"),
            Attempt("put", {"url": "https://93.184.216.35/hijacked"}),
            Attempt("patch", {"isEnabled": False, "eventTypes": ["call.started"]}),
            Attempt("delete"),
        ),
        api=True,
    ),
    ObjectUrl("api-webhook-endpoint-rotate-secret", "id", _make_webhook_endpoint, (Attempt("post"),), api=True),
    # A test event writes a delivery, not the endpoint.
    ObjectUrl(
        "api-webhook-endpoint-test", "id", _make_webhook_endpoint, (Attempt("post"),), api=True, changes_row=False
    ),
    ObjectUrl(
        "api-webhook-delivery-detail", "id", _make_webhook_delivery, (Attempt("get"),), api=True, changes_row=False
    ),
    # A redelivery is a new delivery row.
    ObjectUrl(
        "api-webhook-delivery-redeliver", "id", _make_webhook_delivery, (Attempt("post"),), api=True, changes_row=False
    ),
    ObjectUrl("tenancy-webhook-detail", "code", _make_webhook_endpoint, (Attempt("get"),), changes_row=False),
    ObjectUrl("tenancy-webhook-edit", "code", _make_webhook_endpoint, (Attempt("get"), Attempt("post", _WEBHOOK_FORM))),
    ObjectUrl("tenancy-webhook-delete", "code", _make_webhook_endpoint, (Attempt("post"),)),
    ObjectUrl("tenancy-webhook-rotate", "code", _make_webhook_endpoint, (Attempt("post"),)),
    ObjectUrl("tenancy-webhook-test", "code", _make_webhook_endpoint, (Attempt("post"),), changes_row=False),
    ObjectUrl("tenancy-webhook-delivery-detail", "code", _make_webhook_delivery, (Attempt("get"),), changes_row=False),
    ObjectUrl("tenancy-webhook-redeliver", "code", _make_webhook_delivery, (Attempt("post"),), changes_row=False),
]
_BY_NAME = {case.url_name: case for case in OBJECT_URLS}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:
    """Uploaded contact lists and their reports go to a temporary directory."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _fake_livekit(settings) -> Iterator[None]:
    """A local LiveKit (voiceplatform/devtools/fake_livekit.py), so that a test session can start at home."""
    with FakeLiveKit() as fake:
        settings.LIVEKIT_URL, settings.LIVEKIT_API_KEY, settings.LIVEKIT_API_SECRET = (
            fake.url,
            LIVEKIT_KEY,
            LIVEKIT_SECRET,
        )
        yield


def _walk(patterns: list, namespace: str | None = None) -> Iterator[tuple[str | None, URLPattern]]:
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, pattern.namespace or namespace)
        else:
            yield namespace, pattern


def _object_url_patterns() -> dict[str | None, URLPattern]:
    """Every non-admin URL pattern that takes a parameter, by URL name."""
    found = {}
    for namespace, pattern in _walk(get_resolver().url_patterns):
        if namespace in EXEMPT_NAMESPACES or not pattern.pattern.regex.groupindex:
            continue
        if pattern.name in NOT_TENANT_OBJECT_URLS:
            continue
        found[pattern.name] = pattern
    return found


def test_every_url_taking_an_object_code_has_an_isolation_case():
    patterns = _object_url_patterns()

    uncovered = sorted(set(patterns) - set(_BY_NAME), key=str)
    assert uncovered == [], f"add these URLs to OBJECT_URLS (or a reason to NOT_TENANT_OBJECT_URLS): {uncovered}"
    assert sorted(set(_BY_NAME) - set(patterns)) == [], "OBJECT_URLS names a URL that no longer exists"
    for name, pattern in patterns.items():
        assert sorted(pattern.pattern.regex.groupindex) == sorted(_BY_NAME[name].url_kwargs), name


def test_every_api_method_on_an_object_has_an_isolation_case():
    for name, pattern in _object_url_patterns().items():
        actions = getattr(pattern.callback, "actions", None)
        if actions is None or name not in _BY_NAME:  # an uncovered URL fails the test above
            continue
        assert _BY_NAME[name].api, name
        methods = set(actions) - {"head"}  # DRF answers HEAD with the GET handler
        assert methods == {attempt.method for attempt in _BY_NAME[name].attempts}, name


def _row(obj: Model) -> dict[str, Any] | None:
    return type(obj).objects.filter(pk=obj.pk).values().first()


def _isolation_cases() -> Iterator[Any]:
    for case in OBJECT_URLS:
        for attempt in case.attempts:
            yield pytest.param(case, attempt, id=f"{case.url_name}-{attempt}")


def _send(case: ObjectUrl, attempt: Attempt, url: str, *, client: Any) -> Any:
    if case.api:
        return getattr(client, attempt.method)(url, attempt.data, format="json")
    headers = {"HX-Request": "true"} if attempt.htmx else {}
    return getattr(client, attempt.method)(url, attempt.data, headers=headers)


@pytest.mark.parametrize(("case", "attempt"), list(_isolation_cases()))
def test_an_owner_gets_404_for_another_tenants_object_and_it_is_unchanged(
    case, attempt, tenant, other_tenant, owner, client_for, api_client_for
):
    their_object = case.make(other_tenant)
    before = _row(their_object)
    url = case.url(their_object)
    client = api_client_for(tenant) if case.api else client_for(owner)

    response = _send(case, attempt, url, client=client)

    assert response.status_code == 404
    assert before is not None
    assert _row(their_object) == before


@pytest.mark.parametrize("case", OBJECT_URLS, ids=lambda case: case.url_name)
def test_the_same_request_works_on_an_own_object(case, tenant, owner, client_for, api_client_for):
    """Guards the 404 test above: its requests succeed (and change the row, where they should) at home."""
    my_object = case.make(tenant)
    before = _row(my_object)
    url = case.url(my_object)
    client = api_client_for(tenant) if case.api else client_for(owner)

    response = _send(case, case.attempts[-1], url, client=client)

    assert response.status_code in (200, 201, 202, 204, 302)  # 202: queued (a webhook test event)
    if case.changes_row:
        assert _row(my_object) != before


# Lists ---------------------------------------------------------------------------------------


@pytest.fixture
def rows_in_both_tenants(tenant, other_tenant):
    return {
        tenant: (_make_membership(tenant), _make_api_key(tenant), _make_credential(tenant)),
        other_tenant: (_make_membership(other_tenant), _make_api_key(other_tenant), _make_credential(other_tenant)),
    }


def test_members_page_lists_only_own_members(rows_in_both_tenants, tenant, other_tenant, owner, client_for):
    mine, theirs = rows_in_both_tenants[tenant][0], rows_in_both_tenants[other_tenant][0]

    response = client_for(owner).get(reverse("tenancy-member-list"))

    assert response.status_code == 200
    assert mine.user.email in response.text
    assert str(mine.code) in response.text
    assert theirs.user.email not in response.text
    assert str(theirs.code) not in response.text


def test_api_keys_page_lists_only_own_keys(rows_in_both_tenants, tenant, other_tenant, owner, client_for):
    mine, theirs = rows_in_both_tenants[tenant][1], rows_in_both_tenants[other_tenant][1]

    response = client_for(owner).get(reverse("tenancy-apikey-list"))

    assert response.status_code == 200
    assert mine.display in response.text
    assert "acme integration" in response.text
    assert theirs.display not in response.text
    assert "globex integration" not in response.text


def test_credentials_page_lists_only_own_credentials(rows_in_both_tenants, tenant, other_tenant, owner, client_for):
    mine, theirs = rows_in_both_tenants[tenant][2], rows_in_both_tenants[other_tenant][2]

    response = client_for(owner).get(reverse("tenancy-credential-list"))

    assert response.status_code == 200
    assert f"credential-{mine.code}" in response.text
    assert f"credential-{theirs.code}" not in response.text


def test_api_lists_only_own_credentials(rows_in_both_tenants, tenant, other_tenant, api_client_for):
    mine, theirs = rows_in_both_tenants[tenant][2], rows_in_both_tenants[other_tenant][2]

    response = api_client_for(tenant).get(reverse("api-credential-list"))

    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [str(mine.code)]
    assert str(theirs.code) not in response.text


# Viewers ---------------------------------------------------------------------------------------
# A viewer (Membership role viewer) reads but never writes. The portal answers each of their writes
# with 403. The API knows no users, only API keys (which only owners and admins create, in the
# portal): a viewer's logged-in session is no API credential, so the API answers 401. Either way
# nothing is written. The write URLs come from the URL resolver (the API's from its views' methods),
# so a new one that no case here covers fails test_every_write_url_has_a_viewer_case.


@dataclass(frozen=True)
class CollectionWrite:
    """A write URL that takes no object code, and a request that the tenant's owner can make to it."""

    url_name: str
    data: Callable[[Any], dict[str, Any]]  # given what `make` made (or None)
    make: Callable[[Tenant], Model] | None = None
    api: bool = False
    method: str = "post"
    kwargs: Callable[[Any], dict[str, Any]] | None = None  # URL kwargs, given what `make` made
    format: str = "json"  # the API's body: json, or multipart for an upload

    def url(self, made: Any) -> str:
        return reverse(self.url_name, kwargs=self.kwargs(made) if self.kwargs else None)


COLLECTION_WRITES = [
    CollectionWrite("agents-agent-create", lambda _: {**_AGENT_FORM, "name": "New desk"}),
    CollectionWrite("numbers-number-create", lambda _: {"number": "+14155550177", "label": "New", "provider": "sip"}),
    CollectionWrite("tenancy-member-list", lambda _: {"email": "newcomer@acme.test", "role": Role.EDITOR}),
    CollectionWrite("tenancy-apikey-list", lambda _: {"name": "CI"}),
    CollectionWrite("tenancy-credential-list", lambda _: {"provider": "openai", "secret": "sk-new-secret-0000wxyz"}),
    CollectionWrite("api-agent-list", lambda _: {"name": "New desk", "systemPrompt": "Be helpful."}, api=True),
    CollectionWrite(
        "api-credential-list", lambda _: {"provider": "openai", "secret": "sk-new-secret-0000wxyz"}, api=True
    ),
    CollectionWrite("api-phone-number-list", lambda _: {"number": "+14155550178"}, api=True),
    CollectionWrite(
        "api-campaign-list",
        lambda agent: {"name": "New campaign", "agentId": str(agent.code), "callerId": str(agent.api_caller_id.code)},
        make=_api_agent_and_caller_id,
        api=True,
    ),
    CollectionWrite("api-dnc-list", lambda _: {"number": "+14155550123", "reason": "asked"}, api=True),
    CollectionWrite(
        "api-dnc-remove",
        lambda _: {"reason": "asked to be called again"},
        make=lambda tenant: dnc_add(tenant=tenant, number="+14155550123", actor=SYSTEM).entry,
        kwargs=lambda entry: {"number": entry.number},
        api=True,
    ),
    CollectionWrite(
        "api-dnc-upload",
        lambda _: {"file": SimpleUploadedFile("dnc.csv", b"number\n+14155550123\n", content_type="text/csv")},
        api=True,
        format="multipart",
    ),
    CollectionWrite("api-consent-list", lambda _: {"number": "+14155550123", "evidence": "web form 7"}, api=True),
    CollectionWrite(
        "api-consent-revoke",
        lambda _: {"evidence": "said stop"},
        make=lambda tenant: consent_grant(tenant=tenant, number="+14155550123", evidence="form", actor=SYSTEM),
        kwargs=lambda consent: {"number": consent.number},
        api=True,
    ),
    CollectionWrite(
        "campaigns-campaign-create",
        lambda campaign: {**_CAMPAIGN_FORM, "name": "Second campaign"},
        make=_make_campaign,
    ),
    CollectionWrite("dnc-entry-add", lambda _: {"number": "+14155550123", "reason": "asked"}),
    CollectionWrite(
        "dnc-entry-remove",
        lambda _: {"number": "+14155550123", "reason": "asked to be called again"},
        make=lambda tenant: dnc_add(tenant=tenant, number="+14155550123", actor=SYSTEM).entry,
    ),
    CollectionWrite("dnc-entry-upload", lambda _: {"file": _Upload(b"phone\n+14155550123\n", "dnc.csv")}),
    CollectionWrite(
        "consents-consent-grant",
        lambda _: {"number": "+14155550123", "kind": "prior_express_written", "source": "manual", "evidence": "form"},
    ),
    CollectionWrite(
        "consents-consent-revoke",
        lambda _: {"number": "+14155550123"},
        make=lambda tenant: consent_grant(tenant=tenant, number="+14155550123", evidence="form", actor=SYSTEM),
    ),
    CollectionWrite("tenancy-webhook-create", lambda _: {**_WEBHOOK_FORM, "url": "https://93.184.216.36/new"}),
    CollectionWrite(
        "api-webhook-endpoint-list",
        lambda _: {"url": "https://93.184.216.36/new", "eventTypes": ["call.ended"]},
        api=True,
    ),
    # Places one outbound call now (fake LiveKit), which writes the Call.
    CollectionWrite(
        "api-call-list",
        lambda agent: {
            "agentId": str(agent.code),
            "from": agent.api_caller_id.number,
            "to": _callee_in_calling_hours(),
            "variables": {"first_name": "Ada"},
        },
        make=_api_caller_without_consent,
        api=True,
    ),
    # Routes a call to one of the tenant's numbers, which writes the Call.
    CollectionWrite(
        "api-phone-number-handle-call",
        lambda number: {"from": "+14155550100", "to": number.number},
        make=_make_phone_number,
        api=True,
    ),
]
# URLs outside the portal's and the API's role checks, each with the reason a viewer may call them.
NOT_VIEWER_WRITE_URLS = {
    "health": "the health check: no tenant, no session",
    "metrics": "Prometheus's scrape target: GET only, a bearer token (METRICS_TOKEN), no tenant, no session",
    "favicon": "a redirect to a static file",
    "login": "signs a user in",
    "logout": "signs the viewer's own session out",
    "password_reset_confirm": "a signed token for one user, checked by Django's token generator",
    "tenancy-invitation-accept": "a signed link for one invitation (tests/test_invitations.py)",
    "tenancy-tenant-switch": "chooses which of the viewer's own tenants they look at: their session only",
    "telephony-twilio-voice": "Twilio's webhook, authenticated by its signature, not a session",
    "telephony-twilio-status": "Twilio's webhook, authenticated by its signature, not a session",
    "telephony-twilio-refer": "Twilio's webhook, authenticated by its signature, not a session",
    "telephony-livekit-webhook": "LiveKit's webhook, authenticated by its signature, not a session",
}
# Portal pages that only read; a viewer's POST to them is refused all the same (405 where the view
# takes GET only, else 403 from portal_view, which counts every unsafe method as a write).
READ_ONLY_PORTAL_URLS = {
    "portal-dashboard",
    "agents-agent-list",
    "agents-llm-options",
    "agents-voice-options",
    "agents-stt-options",
    "agents-agent-detail",
    "agents-prompt-list",
    "agents-agent-test",
    "calls-call-list",
    "calls-call-detail",
    "numbers-number-list",
    "campaigns-campaign-list",
    "campaigns-campaign-detail",
    "campaigns-contact-list",
    "campaigns-campaign-audit",
    "campaigns-campaign-progress",
    "campaigns-import-detail",
    "campaigns-import-progress",
    "campaigns-import-errors",
    "dnc-entry-list",
    "consents-consent-list",
    "analytics-dashboard",
    "analytics-export",
    "tenancy-webhook-list",
    "tenancy-webhook-detail",
    "tenancy-webhook-delivery-detail",
}
_WRITE_METHODS = ("post", "put", "patch", "delete")


def _write_urls() -> set[tuple[str | None, str]]:
    """(URL name, method) of every write: each API view's write methods, each portal page's POST."""
    found = set()
    for namespace, pattern in _walk(get_resolver().url_patterns):
        if namespace in EXEMPT_NAMESPACES or pattern.name in NOT_VIEWER_WRITE_URLS:
            continue
        callback = pattern.callback
        if hasattr(callback, "cls"):  # a DRF view: a viewset's actions, or an APIView's handlers
            actions = getattr(callback, "actions", None) or {m: m for m in _WRITE_METHODS if hasattr(callback.cls, m)}
            found |= {(pattern.name, method) for method in actions if method in _WRITE_METHODS}
        elif pattern.name not in READ_ONLY_PORTAL_URLS:
            found.add((pattern.name, "post"))
    return found


def _object_writes() -> list[tuple[ObjectUrl, Attempt]]:
    return [(case, attempt) for case in OBJECT_URLS for attempt in case.attempts if attempt.method in _WRITE_METHODS]


def test_every_write_url_has_a_viewer_case():
    covered = {(case.url_name, attempt.method) for case, attempt in _object_writes()}
    covered |= {(case.url_name, case.method) for case in COLLECTION_WRITES}
    names = {pattern.name for namespace, pattern in _walk(get_resolver().url_patterns)}

    uncovered = sorted(_write_urls() - covered, key=str)
    assert uncovered == [], (
        f"add these writes to OBJECT_URLS or COLLECTION_WRITES (or a reason to NOT_VIEWER_WRITE_URLS): {uncovered}"
    )
    assert sorted(covered - _write_urls(), key=str) == [], "a viewer case names a write that no longer exists"
    assert sorted((set(NOT_VIEWER_WRITE_URLS) | READ_ONLY_PORTAL_URLS) - names) == [], "a URL that no longer exists"


def _tenant_rows(tenant: Tenant) -> dict[str, int]:
    """How many rows the tenant has in each tenant-owned table."""
    return {
        model._meta.label: model.objects.for_tenant(tenant).count()
        for model in apps.get_models()
        if issubclass(model, TenantOwned)
    }


def _viewer_client(viewer: Any, *, api: bool) -> Any:
    """The viewer's logged-in session; an APIClient for the API (JSON bodies), carrying no API key."""
    client = APIClient() if api else Client()
    client.force_login(viewer)
    return client


@pytest.mark.parametrize(("case", "attempt"), [pytest.param(c, a, id=f"{c.url_name}-{a}") for c, a in _object_writes()])
def test_a_viewer_cannot_write_an_object_of_their_tenant(case, attempt, tenant, viewer):
    my_object = case.make(tenant)
    before, rows_before = _row(my_object), _tenant_rows(tenant)
    url = case.url(my_object)

    response = _send(case, attempt, url, client=_viewer_client(viewer, api=case.api))

    assert response.status_code == (401 if case.api else 403)
    assert _row(my_object) == before
    assert _tenant_rows(tenant) == rows_before


def _send_collection(case: CollectionWrite, url: str, data: dict[str, Any], *, client: Any) -> Any:
    if case.api:
        return getattr(client, case.method)(url, data, format=case.format)
    return getattr(client, case.method)(url, data)


@pytest.mark.parametrize("case", COLLECTION_WRITES, ids=lambda case: case.url_name)
def test_a_viewer_cannot_write_through_a_url_without_an_object(case, tenant, viewer):
    made = case.make(tenant) if case.make else None
    data = case.data(made)
    rows_before = _tenant_rows(tenant)

    response = _send_collection(case, case.url(made), data, client=_viewer_client(viewer, api=case.api))

    assert response.status_code == (401 if case.api else 403)
    assert _tenant_rows(tenant) == rows_before


@pytest.mark.parametrize("case", COLLECTION_WRITES, ids=lambda case: case.url_name)
def test_the_same_write_works_for_an_owner(case, tenant, owner, client_for, api_client_for, settings):
    """Guards the viewer test above: its requests succeed, and write, at home."""
    settings.LIVEKIT_SIP_HOST = "sip.example.test"  # handle-call bridges the caller to a LiveKit SIP URI
    made = case.make(tenant) if case.make else None
    data = case.data(made)
    rows_before = _tenant_rows(tenant)
    client = api_client_for(tenant) if case.api else client_for(owner)

    response = _send_collection(case, case.url(made), data, client=client)

    assert response.status_code in (200, 201, 202, 204, 302)  # 202: queued (a webhook test event)
    assert _tenant_rows(tenant) != rows_before


@pytest.mark.parametrize("url_name", sorted(READ_ONLY_PORTAL_URLS))
def test_a_viewer_post_to_a_read_only_page_is_refused_too(url_name, tenant, viewer):
    case = _BY_NAME.get(url_name)
    url = case.url(case.make(tenant)) if case else reverse(url_name)
    rows_before = _tenant_rows(tenant)

    response = _viewer_client(viewer, api=False).post(url, {})

    assert response.status_code in (403, 405)
    assert _tenant_rows(tenant) == rows_before
