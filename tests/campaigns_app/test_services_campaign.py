"""Campaign services: every rule of a campaign's settings, every status transition allowed and refused,
and what start, update and delete require."""

from __future__ import annotations

import datetime
import zoneinfo
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import timezone

from agents_app.models import Agent
from agents_app.services import agent_create, agent_set_active
from campaigns_app import services
from campaigns_app.models import CAMPAIGN_TRANSITIONS, Campaign, CampaignStatus, Contact
from campaigns_app.services import CampaignStateConflict
from voiceplatform.actor import SYSTEM


def _errors(tenant, **fields) -> dict[str, list[str]]:
    """The field errors campaign_create reports for these fields (none: the campaign was created)."""
    try:
        services.campaign_create(tenant=tenant, fields=fields)
    except ValidationError as error:
        return error.message_dict
    return {}


@pytest.fixture
def valid(tenant, make_outbound_agent, make_caller_id) -> dict:
    return {"name": "Renewals", "agent": make_outbound_agent(tenant), "caller_id": make_caller_id(tenant)}


def _add_contact(tenant, campaign, number="+12125550143") -> None:
    services.contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": number, "name": "Olivia Bennett"}])


# Rules ---------------------------------------------------------------------------------------


def test_a_valid_campaign_is_a_draft_with_the_default_window(tenant, valid):
    campaign = services.campaign_create(tenant=tenant, fields=valid)

    assert campaign.status == CampaignStatus.DRAFT and campaign.started_at is None
    assert campaign.calling_window == services.DEFAULT_CALLING_WINDOW


def test_another_tenants_agent_or_caller_id_reads_as_missing(tenant, other_tenant, valid, make_outbound_agent):
    theirs = make_outbound_agent(other_tenant)

    by_code = _errors(tenant, **{**valid, "agent": theirs.code})
    by_row = _errors(tenant, **{**valid, "agent": theirs})
    unknown = _errors(tenant, **{**valid, "caller_id": "5b0c3b7e-0000-4000-8000-000000000000"})

    not_a_code = _errors(tenant, **{**valid, "agent": "not-a-uuid", "caller_id": "12"})

    assert not_a_code == {"agent": ["No such agent."], "caller_id": ["No such phone number."]}
    assert by_code == {"agent": ["No such agent."]}
    assert by_row == {"agent": ["Choose one of your agents."]}
    assert unknown == {"caller_id": ["No such phone number."]}


def test_an_inbound_only_or_switched_off_agent_cannot_call(tenant, valid):
    inbound = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Desk", "direction": "inbound"})
    off = agent_set_active(tenant=tenant, agent=valid["agent"], is_active=False)

    assert "Desk is inbound-only" in _errors(tenant, **{**valid, "agent": inbound})["agent"][0]
    assert _errors(tenant, **{**valid, "agent": off})["agent"] == [
        "Reminder caller is switched off. Switch it on, or choose another agent."
    ]


def test_the_caller_id_must_be_this_tenants_active_number(tenant, other_tenant, valid, make_caller_id):
    theirs = make_caller_id(other_tenant)
    off = make_caller_id(tenant, is_active=False)

    assert _errors(tenant, **{**valid, "caller_id": theirs}) == {
        "caller_id": ["Choose one of your phone numbers as the caller ID."]
    }
    assert "is switched off; calls cannot present it" in _errors(tenant, **{**valid, "caller_id": off})["caller_id"][0]


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        ({"monday": [{"start": "17:00", "end": "09:00"}]}, "ends before it starts; a calling window ends on the day"),
        ({"monday": [{"start": "22:00", "end": "02:00"}]}, "ends before it starts"),
        ({}, "Give at least one day a calling window"),
        ({day: [] for day in ("monday", "tuesday")}, "Give at least one day a calling window"),
    ],
)
def test_the_window_must_end_after_it_starts_and_not_be_empty(tenant, valid, window, expected):
    errors = _errors(tenant, **valid, calling_window=window)

    assert any(expected in message for message in errors["calling_window"])


@pytest.mark.parametrize(
    ("pace", "expected"),
    [
        (0, "The pace must be more than 0 calls per second (e.g. 1)."),
        (-1, "The pace must be more than 0 calls per second (e.g. 1)."),
        ("NaN", "The pace must be more than 0 calls per second (e.g. 1)."),
        ("Infinity", "The pace must be more than 0 calls per second (e.g. 1)."),
        ("fast", "The pace must be more than 0 calls per second (e.g. 1)."),
        (21, "At most 20 calls per second on this platform."),
    ],
)
@override_settings(CAMPAIGN_MAX_CALLS_PER_SECOND=20)
def test_the_pace_is_above_zero_and_at_most_the_platform_maximum(tenant, valid, pace, expected):
    errors = _errors(tenant, **valid, max_calls_per_second=pace)

    assert expected in errors["max_calls_per_second"]


@override_settings(CAMPAIGN_MAX_CALLS_PER_SECOND=20, CAMPAIGN_MAX_CONCURRENT_CALLS=50)
def test_the_maxima_themselves_are_allowed_and_concurrency_above_is_refused(tenant, valid):
    at_max = services.campaign_create(tenant=tenant, fields={**valid, "max_calls_per_second": Decimal("20")})
    errors = _errors(tenant, **valid, max_concurrent_calls=51)

    assert at_max.max_calls_per_second == 20
    assert errors == {"max_concurrent_calls": ["At most 50 calls at once on this platform."]}


def test_dates_must_be_in_order(tenant, valid):
    errors = _errors(tenant, **valid, start_date=datetime.date(2027, 3, 2), end_date=datetime.date(2027, 3, 1))

    assert errors == {"end_date": ["The end date is before the start date."]}


def test_leave_message_needs_its_text(tenant, valid):
    errors = _errors(tenant, **valid, voicemail_action="leave_message", voicemail_message="  ")

    assert errors == {"voicemail_message": ["Write the message to leave on voicemail."]}


def test_every_bad_field_is_reported_at_once(tenant, other_tenant, valid, make_caller_id):
    errors = _errors(
        tenant,
        name="",
        agent=agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Desk", "direction": "inbound"}),
        caller_id=make_caller_id(other_tenant),
        calling_window={"monday": [{"start": "17:00", "end": "09:00"}]},
        max_calls_per_second=0,
        start_date=datetime.date(2027, 3, 2),
        end_date=datetime.date(2027, 3, 1),
        voicemail_action="leave_message",
    )

    assert set(errors) == {
        "name",
        "agent",
        "caller_id",
        "calling_window",
        "max_calls_per_second",
        "end_date",
        "voicemail_message",
    }
    assert not Campaign.objects.exists()


# Transitions ---------------------------------------------------------------------------------

SERVICE_FOR = {
    CampaignStatus.PAUSED: services.campaign_pause,
    CampaignStatus.CANCELLED: services.campaign_cancel,
    CampaignStatus.COMPLETED: services.campaign_complete,
}


def _put(campaign: Campaign, status: str) -> Campaign:
    """Set a campaign's status directly (test setup: the allowed paths are what is under test)."""
    Campaign.objects.for_tenant(campaign.tenant).filter(pk=campaign.pk).update(
        status=status, started_at=None if status == CampaignStatus.DRAFT else timezone.now(), start_date=None
    )
    campaign.refresh_from_db()
    return campaign


def _try(tenant, campaign: Campaign, to: str) -> str:
    """Ask the service that leads to `to` (start for running/scheduled, resume from paused)."""
    if to == CampaignStatus.RUNNING or to == CampaignStatus.SCHEDULED:
        service = services.campaign_resume if campaign.status == CampaignStatus.PAUSED else services.campaign_start
        if to == CampaignStatus.SCHEDULED:
            future = timezone.now().date() + datetime.timedelta(days=7)
            Campaign.objects.for_tenant(tenant).filter(pk=campaign.pk).update(start_date=future)
        if campaign.status in (CampaignStatus.SCHEDULED, CampaignStatus.RUNNING):
            raise CampaignStateConflict("no service moves between scheduled and running: the dialer does")
    elif to == CampaignStatus.DRAFT:
        raise CampaignStateConflict("nothing moves back to draft")
    else:
        service = SERVICE_FOR[to]
    return service(tenant=tenant, campaign=campaign).status


@pytest.mark.parametrize("source", list(CampaignStatus))
def test_every_transition_is_allowed_or_refused_as_the_table_says(tenant, campaign, source):
    _add_contact(tenant, campaign)
    for target in CampaignStatus:
        if target == source:
            continue
        _put(campaign, source)
        try:
            reached = _try(tenant, campaign, target)
        except CampaignStateConflict:
            reached = None
        campaign.refresh_from_db()
        allowed = target in CAMPAIGN_TRANSITIONS[source]
        # scheduled <-> running is the dialer's move (on the start date), not a service's
        dialer_only = {source, target} == {CampaignStatus.SCHEDULED, CampaignStatus.RUNNING}
        if allowed and not dialer_only:
            assert reached == target, f"{source} -> {target} should be allowed"
        else:
            assert reached is None and campaign.status == source, f"{source} -> {target} should be refused"


def test_start_needs_a_contact_to_call(tenant, campaign):
    with pytest.raises(CampaignStateConflict) as refused:
        services.campaign_start(tenant=tenant, campaign=campaign)

    assert refused.value.problems == ["The campaign has no contact left to call; import contacts first."]
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT and campaign.started_at is None


def test_start_is_scheduled_when_the_start_date_is_ahead_in_the_tenants_zone(tenant, campaign):
    # 23:30 UTC on 1 March is already 2 March in Tokyo: a campaign starting on 2 March starts now there.
    tenant.timezone = "Asia/Tokyo"
    tenant.save(update_fields=["timezone"])
    now = datetime.datetime(2027, 3, 1, 23, 30, tzinfo=datetime.UTC)
    _add_contact(tenant, campaign)
    services.campaign_update(tenant=tenant, campaign=campaign, fields={"start_date": datetime.date(2027, 3, 2)})

    started = services.campaign_start(tenant=tenant, campaign=campaign, now=now)

    assert started.status == CampaignStatus.RUNNING
    assert now.astimezone(zoneinfo.ZoneInfo("Asia/Tokyo")).date() == datetime.date(2027, 3, 2)


def test_start_with_a_later_start_date_is_scheduled(tenant, campaign):
    tenant.timezone = "America/Los_Angeles"
    tenant.save(update_fields=["timezone"])
    now = datetime.datetime(2027, 3, 2, 5, 0, tzinfo=datetime.UTC)  # still 1 March in Los Angeles
    _add_contact(tenant, campaign)
    services.campaign_update(tenant=tenant, campaign=campaign, fields={"start_date": datetime.date(2027, 3, 2)})

    started = services.campaign_start(tenant=tenant, campaign=campaign, now=now)

    assert started.status == CampaignStatus.SCHEDULED and started.started_at == now


def test_start_refuses_a_passed_end_date_naming_it(tenant, campaign):
    _add_contact(tenant, campaign)
    services.campaign_update(
        tenant=tenant,
        campaign=campaign,
        fields={"start_date": datetime.date(2020, 1, 1), "end_date": datetime.date(2020, 1, 31)},
    )

    with pytest.raises(CampaignStateConflict) as refused:
        services.campaign_start(tenant=tenant, campaign=campaign)

    assert "The end date (2020-01-31) has passed; move it later." in refused.value.problems


def test_start_refuses_when_the_agent_was_switched_off_since(tenant, campaign):
    """agent_set_active refuses this (test_references.py); the start checks again all the same."""
    _add_contact(tenant, campaign)
    Agent.objects.for_tenant(tenant).filter(pk=campaign.agent_id).update(is_active=False)

    with pytest.raises(CampaignStateConflict) as refused:
        services.campaign_start(tenant=tenant, campaign=campaign)

    assert "Reminder caller is switched off. Switch it on, or choose another agent." in refused.value.problems


def test_only_a_never_started_campaign_is_deleted(tenant, campaign, make_campaign):
    _add_contact(tenant, campaign)
    services.campaign_start(tenant=tenant, campaign=campaign)
    services.campaign_pause(tenant=tenant, campaign=campaign)
    draft = make_campaign(tenant, name="Draft")
    _add_contact(tenant, draft)

    with pytest.raises(CampaignStateConflict) as refused:
        services.campaign_delete(tenant=tenant, campaign=campaign)
    services.campaign_delete(tenant=tenant, campaign=draft)

    assert refused.value.problems == ["Cancel it instead."]
    assert Campaign.objects.filter(pk=campaign.pk).exists()
    assert not Campaign.objects.filter(pk=draft.pk).exists()
    assert not Contact.objects.filter(campaign_id=draft.pk).exists()


def test_a_cancelled_campaign_that_never_started_is_not_deleted_either(tenant, campaign):
    services.campaign_cancel(tenant=tenant, campaign=campaign)

    with pytest.raises(CampaignStateConflict):
        services.campaign_delete(tenant=tenant, campaign=campaign)


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (CampaignStatus.RUNNING, "Pause the campaign first."),
        (CampaignStatus.COMPLETED, "Create a new campaign."),
        (CampaignStatus.CANCELLED, "Create a new campaign."),
    ],
)
def test_update_is_refused_while_running_and_after_the_end(tenant, campaign, status, hint):
    _put(campaign, status)

    with pytest.raises(CampaignStateConflict) as refused:
        services.campaign_update(tenant=tenant, campaign=campaign, fields={"name": "Renamed"})

    assert refused.value.problems == [hint]
    campaign.refresh_from_db()
    assert campaign.name == "November reminders"


@pytest.mark.parametrize("status", [CampaignStatus.DRAFT, CampaignStatus.SCHEDULED, CampaignStatus.PAUSED])
def test_update_is_allowed_in_draft_scheduled_and_paused(tenant, campaign, status):
    _put(campaign, status)

    updated = services.campaign_update(tenant=tenant, campaign=campaign, fields={"name": "Renamed"})

    assert updated.name == "Renamed"


def test_update_reports_the_rules_and_changes_nothing(tenant, campaign):
    with pytest.raises(ValidationError) as refused:
        services.campaign_update(tenant=tenant, campaign=campaign, fields={"max_calls_per_second": 0, "name": "X"})

    assert "max_calls_per_second" in refused.value.message_dict
    campaign.refresh_from_db()
    assert campaign.name == "November reminders"


def test_a_status_change_records_when_and_a_finish_records_the_end(tenant, campaign):
    _add_contact(tenant, campaign)
    start = datetime.datetime(2027, 3, 2, 15, 0, tzinfo=datetime.UTC)

    services.campaign_start(tenant=tenant, campaign=campaign, now=start)
    services.campaign_pause(tenant=tenant, campaign=campaign, now=start + datetime.timedelta(hours=1))
    resumed = services.campaign_resume(tenant=tenant, campaign=campaign, now=start + datetime.timedelta(hours=2))
    done = services.campaign_complete(tenant=tenant, campaign=campaign, now=start + datetime.timedelta(hours=3))

    assert resumed.started_at == start  # the first start stays
    assert done.status == CampaignStatus.COMPLETED and done.finished_at == start + datetime.timedelta(hours=3)
