"""The check right before dialing (dial_refusal): each rule refuses with its name and what the contact
becomes, the consent relied on is returned, and a refusal recorded on a claim shows the user the
rule; consent_grant gives contacts held for want of consent back to the queue."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django.utils import timezone

from campaigns_app import services
from campaigns_app.dialer.eligibility import dial_refusal
from campaigns_app.dialer.outcome import attempt_not_dialed
from campaigns_app.models import (
    AttemptOutcome,
    CallAttempt,
    Campaign,
    CampaignStatus,
    Contact,
    ContactStatus,
)
from voiceplatform.actor import SYSTEM

pytestmark = pytest.mark.django_db

UTC = datetime.UTC
NEW_YORK = "US|America/New_York"
FLORIDA = "US-FL|America/New_York"
NY_NUMBER = "+12125550100"
FL_NUMBER = "+13055550100"
NINE_TO_FIVE = {
    **{day: [{"start": "09:00", "end": "17:00"}] for day in ("monday", "tuesday", "wednesday", "thursday", "friday")},
    "saturday": [],
    "sunday": [],
}
# Monday 7 December 2026, 12:00 in New York: inside every window.
NOON = datetime.datetime(2026, 12, 7, 17, 0, tzinfo=UTC)


def refusal(tenant, number=NY_NUMBER, dial_zone=NEW_YORK, **options):
    options.setdefault("window", NINE_TO_FIVE)
    options.setdefault("requires_consent", False)
    options.setdefault("campaign", None)
    options.setdefault("now", NOON)
    return dial_refusal(tenant=tenant, number=number, dial_zone=dial_zone, **options)


def test_an_eligible_number_is_not_refused(tenant):
    assert refusal(tenant) == (None, None)


def test_a_number_on_the_dnc_list_is_skipped_naming_the_entry(tenant):
    services.dnc_add(tenant=tenant, number=NY_NUMBER, actor=SYSTEM)

    refused, consent = refusal(tenant)

    assert (refused.rule, refused.status, consent) == ("dnc", ContactStatus.SKIPPED, None)
    assert refused.reason.startswith("on the do-not-call list since ")


def test_a_number_taken_off_the_dnc_list_may_be_called_again(tenant):
    services.dnc_add(tenant=tenant, number=NY_NUMBER, actor=SYSTEM)
    services.dnc_remove(tenant=tenant, number=NY_NUMBER, reason="asked for calls again", actor=SYSTEM)

    assert refusal(tenant) == (None, None)


def test_another_tenants_dnc_entry_does_not_block(tenant, other_tenant):
    services.dnc_add(tenant=other_tenant, number=NY_NUMBER, actor=SYSTEM)

    assert refusal(tenant) == (None, None)


def test_consent_when_required_is_returned_and_its_absence_holds(tenant):
    refused, _ = refusal(tenant, requires_consent=True)
    assert (refused.rule, refused.reason, refused.status) == (
        "consent",
        "no recorded consent for this number",
        ContactStatus.HELD,
    )

    grant = services.consent_grant(tenant=tenant, number=NY_NUMBER, evidence="web form #12", actor=SYSTEM)
    assert refusal(tenant, requires_consent=True) == (None, grant)
    assert refusal(tenant, requires_consent=False) == (None, None)

    revoked_at = datetime.datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    services.consent_revoke(tenant=tenant, number=NY_NUMBER, actor=SYSTEM, revoked_at=revoked_at)
    refused, consent = refusal(tenant, requires_consent=True)
    assert (refused.rule, refused.reason, consent) == ("consent", "revoked on 2026-12-05", None)


def test_an_unknown_zone_is_held(tenant):
    for unknown in (None, "", "US|"):
        refused, _ = refusal(tenant, dial_zone=unknown)
        assert (refused.rule, refused.status) == ("zone", ContactStatus.HELD)
        assert refused.reason == "the number's time zone is unknown; give the contact a timezone"


def test_outside_the_legal_hours_waits_for_them_to_open(tenant):
    # 21:00 in New York (02:00 UTC Tuesday); no campaign window: the legal window alone.
    refused, _ = refusal(tenant, window=None, now=datetime.datetime(2026, 12, 8, 2, 0, tzinfo=UTC))

    assert (refused.rule, refused.status) == ("legal_window", ContactStatus.PENDING)
    assert "08:00-21:00" in refused.reason
    assert refused.retry_at == datetime.datetime(2026, 12, 8, 13, 0, tzinfo=UTC)  # 08:00 in New York


def test_outside_the_campaign_window_waits_for_it_to_open(tenant):
    # 08:30 in New York: legal, but the campaign calls from 09:00.
    refused, _ = refusal(tenant, now=datetime.datetime(2026, 12, 7, 13, 30, tzinfo=UTC))

    assert (refused.rule, refused.status) == ("window", ContactStatus.PENDING)
    assert refused.retry_at == datetime.datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


def test_florida_gets_its_stricter_evening(tenant):
    # 20:30 in Florida and New York (01:30 UTC): legal in New York, not in Florida.
    late = datetime.datetime(2026, 12, 8, 1, 30, tzinfo=UTC)
    assert refusal(tenant, window=None, now=late) == (None, None)
    refused, _ = refusal(tenant, FL_NUMBER, FLORIDA, window=None, now=late)
    assert refused.rule == "legal_window" and "08:00-20:00" in refused.reason


def _attempts(tenant, campaign, number, ages_hours, outcome=AttemptOutcome.NO_ANSWER):
    """CallAttempts to `number`, made `ages_hours` before NOON."""
    contact, _ = Contact.objects.get_or_create(
        tenant=tenant, campaign=campaign, number=number, defaults={"name": "Ada"}
    )
    made = []
    for age in ages_hours:
        attempt = CallAttempt.objects.create(
            tenant=tenant,
            campaign=campaign,
            contact=contact,
            attempt_no=CallAttempt.objects.filter(contact=contact).count() + 1,
            number=number,
            outcome=outcome,
        )
        CallAttempt.objects.filter(pk=attempt.pk).update(created_at=NOON - datetime.timedelta(hours=age))
        made.append(attempt)
    return made


def test_florida_numbers_get_at_most_three_calls_in_24_hours(tenant, campaign, make_campaign):
    second = make_campaign(tenant, name="Second campaign")
    _attempts(tenant, campaign, FL_NUMBER, [20, 30])  # the 30-hour-old one no longer counts
    _attempts(tenant, second, FL_NUMBER, [5])
    _attempts(tenant, second, FL_NUMBER, [1], outcome=AttemptOutcome.NOT_DIALED)  # no call was made
    assert refusal(tenant, FL_NUMBER, FLORIDA) == (None, None)

    [third] = _attempts(tenant, campaign, FL_NUMBER, [2])
    refused, _ = refusal(tenant, FL_NUMBER, FLORIDA)

    assert (refused.rule, refused.status) == ("florida_24h", ContactStatus.PENDING)
    assert refused.reason == "3 calls to this number in the last 24 h (at most 3)"
    assert refused.retry_at == NOON + datetime.timedelta(hours=4)  # the 20-hour-old call turns 24 h old
    # The claim being placed is not counted against its own call; New York has no such limit.
    assert refusal(tenant, FL_NUMBER, FLORIDA, attempt_id=third.pk) == (None, None)
    _attempts(tenant, campaign, NY_NUMBER, [1, 2, 3, 4])
    assert refusal(tenant) == (None, None)


def test_another_tenants_calls_do_not_count_against_the_limit(tenant, other_tenant, other_campaign):
    _attempts(other_tenant, other_campaign, FL_NUMBER, [1, 2, 3])

    assert refusal(tenant, FL_NUMBER, FLORIDA) == (None, None)


def _running(tenant, campaign) -> Campaign:
    services.contacts_add(tenant=tenant, campaign=campaign, rows=[{"number": "+13125550199", "name": "Grace"}])
    return services.campaign_start(tenant=tenant, campaign=campaign)


def test_a_campaign_that_is_not_running_dials_nothing(tenant, campaign):
    campaign = _running(tenant, campaign)
    assert refusal(tenant, campaign=campaign) == (None, None)

    paused = services.campaign_pause(tenant=tenant, campaign=campaign)
    refused, _ = refusal(tenant, campaign=paused)
    assert (refused.rule, refused.reason, refused.status, refused.retry_at) == (
        "campaign",
        "the campaign is paused",
        ContactStatus.PENDING,
        None,
    )
    cancelled = services.campaign_cancel(tenant=tenant, campaign=paused)
    assert refusal(tenant, campaign=cancelled)[0].reason == "the campaign is cancelled"


def test_outside_the_campaign_dates_in_the_tenants_time_zone(tenant, campaign):
    tenant.timezone = "Asia/Tokyo"
    tenant.save(update_fields=["timezone"])
    campaign = _running(tenant, campaign)
    # NOON is 02:00 on Tuesday 8 December in Tokyo.
    Campaign.objects.filter(pk=campaign.pk).update(start_date=datetime.date(2026, 12, 9))
    campaign.refresh_from_db()

    refused, _ = refusal(tenant, campaign=campaign)
    assert (refused.rule, refused.reason) == ("dates", "the campaign starts on 2026-12-09")
    assert refused.retry_at == datetime.datetime(2026, 12, 9, tzinfo=zoneinfo.ZoneInfo("Asia/Tokyo"))

    Campaign.objects.filter(pk=campaign.pk).update(start_date=None, end_date=datetime.date(2026, 12, 7))
    campaign.refresh_from_db()
    refused, _ = refusal(tenant, campaign=campaign)
    assert (refused.rule, refused.reason) == ("dates", "the campaign ended on 2026-12-07")

    Campaign.objects.filter(pk=campaign.pk).update(end_date=datetime.date(2026, 12, 8))
    campaign.refresh_from_db()
    assert refusal(tenant, campaign=campaign) == (None, None)


def test_a_refused_claim_shows_the_rule_on_the_contact_and_the_attempt(tenant, campaign):
    contact = Contact.objects.create(
        tenant=tenant, campaign=campaign, number=NY_NUMBER, name="Ada", status=ContactStatus.DIALING, attempts=1
    )
    attempt = CallAttempt.objects.create(
        tenant=tenant, campaign=campaign, contact=contact, attempt_no=1, number=NY_NUMBER
    )
    refused, _ = refusal(tenant, requires_consent=True)

    assert attempt_not_dialed(attempt_id=attempt.pk, refusal=refused)

    contact.refresh_from_db()
    attempt.refresh_from_db()
    assert (contact.status, contact.reason, contact.attempts) == (
        ContactStatus.HELD,
        "consent: no recorded consent for this number",
        0,
    )
    assert (attempt.outcome, attempt.detail) == (
        AttemptOutcome.NOT_DIALED,
        "consent: no recorded consent for this number",
    )


def test_granting_consent_gives_consent_held_contacts_back_to_the_queue(
    tenant, other_tenant, campaign, other_campaign, make_campaign
):
    def held(tenant, campaign, number, reason):
        return Contact.objects.create(
            tenant=tenant,
            campaign=campaign,
            number=number,
            name="Ada",
            status=ContactStatus.HELD,
            reason=reason,
            next_attempt_at=None,
        )

    consent_held = held(tenant, campaign, NY_NUMBER, "consent: no recorded consent for this number")
    zone_held = held(tenant, make_campaign(tenant, name="Zones"), NY_NUMBER, "zone: unknown")
    finished = make_campaign(tenant, name="Finished")
    finished_held = held(tenant, finished, NY_NUMBER, "consent: revoked on 2026-12-01")
    Campaign.objects.filter(pk=finished.pk).update(status=CampaignStatus.CANCELLED)
    other_number = held(tenant, make_campaign(tenant, name="Other"), "+13125550100", "consent: revoked on 2026-12-01")
    other_tenants = held(other_tenant, other_campaign, NY_NUMBER, "consent: no recorded consent for this number")
    before = timezone.now()

    services.consent_grant(tenant=tenant, number="+1 212 555 0100", evidence="signed form", actor=SYSTEM)

    consent_held.refresh_from_db()
    assert (consent_held.status, consent_held.reason) == (ContactStatus.PENDING, "")
    assert consent_held.next_attempt_at >= before
    for unchanged in (zone_held, finished_held, other_number, other_tenants):
        status_before = unchanged.status
        unchanged.refresh_from_db()
        assert unchanged.status == status_before == ContactStatus.HELD, unchanged.campaign.name
