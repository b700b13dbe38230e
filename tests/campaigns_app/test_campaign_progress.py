"""What the tenant sees of a running campaign: the campaign page's live partial (contacts by status,
attempts by outcome, calls in progress, skips and holds by rule, the dialer's error, the pace chart as
inline SVG) and the API's /progress and /attempts, in a bounded number of queries whatever the size."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from agents_app.validation import WEEKDAYS
from campaigns_app import selectors, services
from campaigns_app.dialer import pace
from campaigns_app.dialer.zones import classify_campaign_contacts
from campaigns_app.models import (
    AttemptOutcome,
    CallAttempt,
    Campaign,
    CampaignStatus,
    Contact,
    ContactStatus,
    DialerMode,
)
from telephony_app.models import Call, CallDirection
from telephony_app.services import call_create
from voiceplatform.actor import SYSTEM
from voiceplatform.models import Tenant
from voiceplatform.pagination import StrictCursorPagination

# When the module was imported: tests that need the current minute take timezone.now() themselves.
NOW = timezone.now()


def _contacts(tenant: Tenant, campaign: Campaign, statuses: dict[str, int], *, start: int = 0) -> list[Contact]:
    """Contacts in the given statuses (held ones with an unknown-zone reason, skipped ones on the DNC list)."""
    reasons = {
        ContactStatus.HELD: "zone: no time zone known for this number",
        ContactStatus.SKIPPED: "dnc: on the do-not-call list",
    }
    rows = []
    for status, count in statuses.items():
        for _ in range(count):
            rows.append(
                Contact(
                    tenant=tenant,
                    campaign=campaign,
                    number=f"+1212{start + len(rows):07d}",
                    status=status,
                    reason=reasons.get(status, ""),
                    dial_zone="US|America/New_York",
                )
            )
    return Contact.objects.bulk_create(rows)


def _attempt(
    contact: Contact,
    outcome: str,
    *,
    attempt_no: int = 1,
    at: datetime.datetime | None = None,
    first_words_ms: int | None = None,
    detail: str = "",
) -> CallAttempt:
    call = None
    if first_words_ms is not None or outcome == AttemptOutcome.ANSWERED:
        call = call_create(
            tenant=contact.tenant,
            direction=CallDirection.OUTBOUND,
            from_number="+14155550100",
            to_number=contact.number,
        )
        Call.objects.for_tenant(contact.tenant).filter(pk=call.pk).update(first_words_ms=first_words_ms)
    attempt = CallAttempt.objects.create(
        tenant=contact.tenant,
        campaign=contact.campaign,
        contact=contact,
        attempt_no=attempt_no,
        number=contact.number,
        outcome=outcome,
        detail=detail,
        call=call,
    )
    if at is not None:  # created_at is auto_now_add: moved afterwards
        CallAttempt.objects.for_tenant(contact.tenant).filter(pk=attempt.pk).update(created_at=at)
    return attempt


def _live(html: str) -> str:
    """The live partial's part of a page."""
    start = html.index('<div id="campaign-live"')
    return html[start:]


# --- The campaign page -------------------------------------------------------------------------------


def test_the_campaign_page_shows_contacts_by_status_attempts_by_outcome_and_calls_in_progress(
    tenant, campaign, owner, client_for
):
    contacts = _contacts(
        tenant,
        campaign,
        {"pending": 4, "dialing": 2, "completed": 3, "retry": 1, "exhausted": 1, "skipped": 2, "held": 1},
    )
    _attempt(contacts[4], "")  # the two dialing contacts: calls in progress
    _attempt(contacts[5], "")
    for contact in contacts[6:9]:
        _attempt(contact, AttemptOutcome.ANSWERED, first_words_ms=900)
    _attempt(contacts[9], AttemptOutcome.NO_ANSWER)
    _attempt(contacts[10], AttemptOutcome.BUSY)
    _attempt(contacts[0], AttemptOutcome.NOT_DIALED, detail="window: outside the calling window")

    page = client_for(owner).get(reverse("campaigns-campaign-detail", args=[campaign.code]))

    live = _live(page.text)
    for status, count in {"pending": 4, "dialing": 2, "completed": 3, "retry": 1, "exhausted": 1, "held": 1}.items():
        assert re.search(rf'data-status="{status}"><a [^>]*>{count}</a>', live), status
    for outcome, count in {"in_progress": 2, "answered": 3, "no_answer": 1, "busy": 1, "voicemail": 0}.items():
        assert f'data-outcome="{outcome}">{count}<' in live, outcome
    assert 'data-outcome="not_dialed">1<' in live
    # done = completed + exhausted + skipped = 6 of 14
    assert '<progress max="100" value="43"' in live
    assert "6 of 14 done" in live


def test_skipped_and_held_contacts_are_shown_by_rule_and_zone_held_ones_with_their_reason(
    tenant, campaign, owner, client_for
):
    _contacts(tenant, campaign, {"pending": 1, "skipped": 3, "held": 2})

    live = _live(client_for(owner).get(reverse("campaigns-campaign-detail", args=[campaign.code])).text)

    assert "2 contacts held: time zone unknown." in live
    assert "zone: no time zone known for this number" in live
    rules = live[live.index('id="rules"') :]
    assert re.search(r"<td>Skipped</td><td>dnc</td>\s*<td><a [^>]*reason=dnc\">3</a>", rules)
    assert re.search(r"<td>Held</td><td>zone</td>\s*<td><a [^>]*reason=zone\">2</a>", rules)


def test_a_campaign_without_zone_held_contacts_has_no_zone_notice(tenant, campaign, owner, client_for):
    _contacts(tenant, campaign, {"pending": 2})

    live = _live(client_for(owner).get(reverse("campaigns-campaign-detail", args=[campaign.code])).text)

    assert 'id="zone-held"' not in live
    assert 'id="rules"' not in live


def test_the_dialer_error_is_an_alert_on_the_page_and_in_the_api(tenant, campaign, owner, client_for, api):
    at = NOW - datetime.timedelta(minutes=3)
    Campaign.objects.for_tenant(tenant).filter(pk=campaign.pk).update(
        dialer_error="LiveKit unreachable: connection refused", dialer_error_at=at
    )

    live = _live(client_for(owner).get(reverse("campaigns-campaign-detail", args=[campaign.code])).text)
    detail = api.get(f"/api/v1/campaigns/{campaign.code}").json()
    progress = api.get(f"/api/v1/campaigns/{campaign.code}/progress").json()

    assert re.search(r'<div class="message error dialer-error" role="alert">\s*<strong>', live)
    assert "LiveKit unreachable: connection refused" in live
    assert detail["dialerError"] == "LiveKit unreachable: connection refused"
    assert detail["dialerErrorAt"] == at.isoformat()
    assert progress["dialerError"] == {"message": "LiveKit unreachable: connection refused", "at": at.isoformat()}


def test_without_a_dialer_error_there_is_no_alert(tenant, campaign, owner, client_for, api):
    live = _live(client_for(owner).get(reverse("campaigns-campaign-detail", args=[campaign.code])).text)

    assert 'role="alert"' not in live
    assert api.get(f"/api/v1/campaigns/{campaign.code}").json()["dialerError"] is None


def test_the_partial_polls_while_the_campaign_runs_and_stops_once_nothing_can_change(
    tenant, campaign, owner, client_for
):
    url = reverse("campaigns-campaign-progress", args=[campaign.code])
    client = client_for(owner)
    contact = _contacts(tenant, campaign, {"dialing": 1})[0]
    Campaign.objects.for_tenant(tenant).filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)

    running = client.get(url, headers={"HX-Request": "true"})
    Campaign.objects.for_tenant(tenant).filter(pk=campaign.pk).update(status=CampaignStatus.CANCELLED)
    attempt = _attempt(contact, "")
    cancelled_with_a_call_on = client.get(url, headers={"HX-Request": "true"})
    CallAttempt.objects.for_tenant(tenant).filter(pk=attempt.pk).update(outcome=AttemptOutcome.ANSWERED)
    finished = client.get(url, headers={"HX-Request": "true"})

    assert running.status_code == 200
    assert f'hx-get="{url}" hx-trigger="every 5s"' in running.text
    assert running.text.lstrip().startswith("{#") is False and "<html" not in running.text
    assert 'hx-trigger="every 5s"' in cancelled_with_a_call_on.text  # the last call can still end
    assert "hx-trigger" not in finished.text
    assert 'data-outcome="answered">1<' in finished.text


def test_the_live_partial_has_no_inline_script_or_style(tenant, campaign, owner, client_for):
    contact = _contacts(tenant, campaign, {"completed": 1})[0]
    _attempt(contact, AttemptOutcome.ANSWERED, at=NOW, first_words_ms=2500)

    html = client_for(owner).get(reverse("campaigns-campaign-progress", args=[campaign.code])).text

    assert "<script" not in html
    assert "style=" not in html
    assert not re.search(r"\son[a-z]+\s*=", html)


# --- The pace chart ----------------------------------------------------------------------------------


def test_the_pace_chart_draws_one_bar_per_minute_with_dials_and_the_configured_pace(
    tenant, campaign, owner, client_for
):
    Campaign.objects.for_tenant(tenant).filter(pk=campaign.pk).update(max_calls_per_second=2)
    contacts = _contacts(tenant, campaign, {"completed": 7})
    minute = NOW.replace(second=30, microsecond=0)
    # In claim order, as the dialer writes them (ids grow with time).
    _attempt(contacts[6], AttemptOutcome.FAILED, at=minute - datetime.timedelta(minutes=90))  # before the hour
    for contact in contacts[3:5]:
        _attempt(contact, AttemptOutcome.BUSY, at=minute - datetime.timedelta(minutes=20))
    _attempt(contacts[5], AttemptOutcome.NOT_DIALED, at=minute - datetime.timedelta(minutes=20))  # not a dial
    for contact in contacts[:3]:
        _attempt(contact, AttemptOutcome.NO_ANSWER, at=minute - datetime.timedelta(minutes=5))

    html = client_for(owner).get(reverse("campaigns-campaign-progress", args=[campaign.code])).text

    chart = html[html.index('<svg class="pace-chart"') : html.index("</svg>")]
    bars = re.findall(r'<rect class="bar" [^>]*><title>([^<]*)</title>', chart)
    assert [title.split(": ")[1] for title in bars] == ["2 dials", "3 dials"]
    heights = [float(h) for h in re.findall(r'<rect class="bar" [^>]*height="([0-9.]+)"', chart)]
    assert heights[1] == pytest.approx(heights[0] * 3 / 2, abs=0.2)
    assert 'class="pace-line"' in chart
    assert "configured 120/min" in chart
    assert "5 dials in the last 60 minutes" in chart


def test_answer_and_abandon_rates_per_ten_minutes(tenant, campaign):
    contacts = _contacts(tenant, campaign, {"completed": 8})
    now = NOW.replace(second=10, microsecond=0)
    recent = now - datetime.timedelta(minutes=2)
    _attempt(contacts[0], AttemptOutcome.ANSWERED, at=recent, first_words_ms=800)
    _attempt(contacts[1], AttemptOutcome.ANSWERED, at=recent, first_words_ms=2600)  # abandoned: over 2 s
    _attempt(contacts[2], AttemptOutcome.ANSWERED, at=recent, first_words_ms=2000)  # exactly 2 s: not abandoned
    _attempt(contacts[3], AttemptOutcome.NO_ANSWER, at=recent)
    _attempt(contacts[4], AttemptOutcome.VOICEMAIL, at=recent)
    _attempt(contacts[5], AttemptOutcome.BUSY, at=recent)
    _attempt(contacts[6], "", at=recent)  # still ringing: not counted yet
    _attempt(contacts[7], AttemptOutcome.NOT_DIALED, at=recent)  # never dialed

    pace = selectors.campaign_pace(tenant=tenant, campaign=campaign, now=now)

    last = pace.buckets[-1]
    assert (last.finished, last.answered, last.abandoned) == (6, 3, 1)
    assert last.answer_rate == pytest.approx(0.5)
    assert last.abandon_rate == pytest.approx(1 / 3)
    assert [bucket.answer_rate for bucket in pace.buckets[:-1]] == [None] * 5
    assert pace.minutes[-3].dialed == 7 and pace.dialed == 7
    assert len(pace.minutes) == 60 and pace.minutes[-1].start == now.replace(second=0)


def test_the_rates_chart_draws_both_lines_and_the_abandon_limit(tenant, campaign, owner, client_for):
    contacts = _contacts(tenant, campaign, {"completed": 4})
    for index, contact in enumerate(contacts):
        at = NOW - datetime.timedelta(minutes=25 if index < 2 else 1)
        _attempt(contact, AttemptOutcome.ANSWERED, at=at, first_words_ms=3000 if index == 3 else 500)

    html = client_for(owner).get(reverse("campaigns-campaign-progress", args=[campaign.code])).text

    chart = html[html.index('<svg class="rate-chart"') :]
    assert len(re.findall(r'<circle class="answer-point"', chart)) == 2
    assert "answered 100% (2 of 2 dialed)" in chart
    assert "abandoned 50% (1 of 2 answered)" in chart
    assert 'class="limit-line"' in chart
    # Two buckets with figures, but not next to each other: the empty bucket between breaks the lines.
    assert len(re.findall(r'<polyline class="answer-line"', chart)) == 2


def test_the_pace_reads_only_the_hours_attempts_of_a_long_campaign(tenant, campaign, django_assert_max_num_queries):
    contacts = _contacts(tenant, campaign, {"completed": 300})
    old = [
        CallAttempt(tenant=tenant, campaign=campaign, contact=c, attempt_no=1, outcome="no_answer") for c in contacts
    ]
    CallAttempt.objects.bulk_create(old)
    CallAttempt.objects.for_tenant(tenant).update(created_at=NOW - datetime.timedelta(days=1))
    _attempt(contacts[0], AttemptOutcome.ANSWERED, attempt_no=2, at=NOW, first_words_ms=100)

    with django_assert_max_num_queries(1):
        pace = selectors.campaign_pace(tenant=tenant, campaign=campaign, now=NOW)

    assert pace.dialed == 1


# --- Query counts on a big campaign ------------------------------------------------------------------


@pytest.fixture
def big_campaign(tenant, campaign) -> Campaign:
    statuses = {"pending": 1500, "dialing": 20, "completed": 600, "retry": 200, "exhausted": 100, "skipped": 50}
    contacts = _contacts(tenant, campaign, {**statuses, "held": 30})
    outcomes = ["answered", "no_answer", "busy", "voicemail", "rejected", "failed", "not_dialed", ""]
    CallAttempt.objects.bulk_create(
        CallAttempt(
            tenant=tenant,
            campaign=campaign,
            contact=contact,
            attempt_no=1,
            number=contact.number,
            outcome=outcomes[index % len(outcomes)],
        )
        for index, contact in enumerate(contacts[1500:2500])
    )
    Campaign.objects.for_tenant(tenant).filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)
    return campaign


def test_the_live_partial_takes_a_fixed_number_of_queries(
    big_campaign, owner, client_for, django_assert_max_num_queries
):
    client = client_for(owner)
    url = reverse("campaigns-campaign-progress", args=[big_campaign.code])
    client.get(url)  # the session's first-request queries out of the way

    # session, user, memberships, the campaign; then contacts by status and rule, attempts by outcome, the pace
    with django_assert_max_num_queries(7):
        response = client.get(url, headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert 'data-status="pending"><a' in response.text and ">1500</a>" in response.text
    assert 'data-outcome="in_progress">125<' in response.text


def test_the_api_progress_takes_a_fixed_number_of_queries(big_campaign, api, django_assert_max_num_queries):
    url = f"/api/v1/campaigns/{big_campaign.code}/progress"
    api.get(url)

    # the API key and its tenant, the campaign; then the same three grouped queries
    with django_assert_max_num_queries(5):
        body = api.get(url).json()

    assert body["contacts"]["total"] == 2500
    assert body["contacts"]["pending"] == 1500
    assert body["callsInProgress"] == 125


# --- The API -----------------------------------------------------------------------------------------


def test_the_progress_api_answers_the_pages_figures_in_camel_case(tenant, campaign, api):
    Campaign.objects.for_tenant(tenant).filter(pk=campaign.pk).update(max_calls_per_second="0.5")
    contacts = _contacts(tenant, campaign, {"completed": 2, "exhausted": 1, "held": 1, "pending": 1, "dialing": 1})
    now = timezone.now()  # this minute (the module's NOW may be minutes old by now)
    _attempt(contacts[0], AttemptOutcome.ANSWERED, at=now, first_words_ms=2500)
    _attempt(contacts[1], AttemptOutcome.ANSWERED, at=now, first_words_ms=300)
    _attempt(contacts[2], AttemptOutcome.NO_ANSWER, at=now)
    _attempt(contacts[4], AttemptOutcome.NOT_DIALED, at=now, detail="dnc: on the do-not-call list")
    _attempt(contacts[5], "", at=now)

    response = api.get(f"/api/v1/campaigns/{campaign.code}/progress")

    assert response.status_code == 200
    body = response.json()
    assert body["campaignId"] == str(campaign.code)
    assert body["contacts"] == {
        "total": 6,
        "done": 3,
        "percentDone": 50,
        "pending": 1,
        "dialing": 1,
        "completed": 2,
        "retry": 0,
        "exhausted": 1,
        "skipped": 0,
        "held": 1,
    }
    assert body["attempts"] == {
        "total": 5,
        "answered": 2,
        "noAnswer": 1,
        "busy": 0,
        "voicemail": 0,
        "rejected": 0,
        "failed": 0,
        "notDialed": 1,
    }
    assert body["callsInProgress"] == 1
    assert body["notCalled"] == [
        {"status": "held", "rule": "zone", "count": 1, "example": "zone: no time zone known for this number"}
    ]
    assert body["zoneHeld"] == {"count": 1, "reason": "zone: no time zone known for this number"}
    assert body["dialerError"] is None
    assert body["pace"]["configuredPerMinute"] == 30.0
    assert len(body["pace"]["minutes"]) == 60
    assert [m["dialed"] for m in body["pace"]["minutes"][-2:]] in ([0, 4], [4, 0])  # this minute (or the last)
    assert body["pace"]["rates"][-1] == {
        "start": body["pace"]["minutes"][50]["start"],
        "finished": 3,
        "answered": 2,
        "abandoned": 1,
        "answerRate": 0.6667,
        "abandonRate": 0.5,
    }


def test_the_attempts_api_lists_every_attempt_cursor_paginated(tenant, campaign, api, monkeypatch):
    monkeypatch.setattr(StrictCursorPagination, "page_size", 2)
    contacts = _contacts(tenant, campaign, {"completed": 2, "skipped": 1})
    first = _attempt(contacts[0], AttemptOutcome.NO_ANSWER, detail="no answer after 30 s")
    second = _attempt(contacts[0], AttemptOutcome.ANSWERED, attempt_no=2, first_words_ms=700)
    _attempt(contacts[2], AttemptOutcome.NOT_DIALED, detail="dnc: on the do-not-call list")

    page1 = api.get(f"/api/v1/campaigns/{campaign.code}/attempts").json()
    page2 = api.get(page1["next"]).json()

    assert set(page1) == {"next", "previous", "results"}
    rows = page1["results"] + page2["results"]
    assert [(r["number"], r["attemptNo"], r["outcome"]) for r in rows] == [
        (contacts[0].number, 1, "no_answer"),
        (contacts[0].number, 2, "answered"),
        (contacts[2].number, 1, "not_dialed"),
    ]
    assert rows[0]["id"] == str(first.code) and rows[0]["contactId"] == str(contacts[0].code)
    assert rows[0]["detail"] == "no answer after 30 s" and rows[0]["callId"] is None
    assert rows[1]["callId"] == str(second.call.code)
    assert rows[2]["detail"] == "dnc: on the do-not-call list"
    assert page2["next"] is None
    assert set(rows[0]) == {
        "id",
        "contactId",
        "number",
        "attemptNo",
        "outcome",
        "detail",
        "callId",
        "consentId",
        "createdAt",
        "startedAt",
        "endedAt",
    }


def test_the_attempts_api_filters_by_outcome_and_refuses_an_unknown_one(tenant, campaign, api):
    contacts = _contacts(tenant, campaign, {"completed": 2})
    _attempt(contacts[0], AttemptOutcome.BUSY)
    _attempt(contacts[1], "")

    busy = api.get(f"/api/v1/campaigns/{campaign.code}/attempts?outcome=busy").json()["results"]
    ringing = api.get(f"/api/v1/campaigns/{campaign.code}/attempts?outcome=in_progress").json()["results"]
    bad = api.get(f"/api/v1/campaigns/{campaign.code}/attempts?outcome=exploded")

    assert [row["outcome"] for row in busy] == ["busy"]
    assert [row["number"] for row in ringing] == [contacts[1].number]
    assert bad.status_code == 400 and "outcome" in bad.json()


def test_a_bad_attempts_cursor_is_a_400(campaign, api):
    response = api.get(f"/api/v1/campaigns/{campaign.code}/attempts?cursor=not-a-cursor")

    assert response.status_code == 400
    assert "cursor" in response.json()


# --- Another tenant's campaign --------------------------------------------------------------------------


def test_another_tenants_campaign_figures_are_404(tenant, other_tenant, other_campaign, owner, client_for, api):
    contact = _contacts(other_tenant, other_campaign, {"completed": 1})[0]
    _attempt(contact, AttemptOutcome.ANSWERED, first_words_ms=100)

    portal = client_for(owner).get(reverse("campaigns-campaign-progress", args=[other_campaign.code]))
    progress = api.get(f"/api/v1/campaigns/{other_campaign.code}/progress")
    attempts = api.get(f"/api/v1/campaigns/{other_campaign.code}/attempts")

    assert (portal.status_code, progress.status_code, attempts.status_code) == (404, 404, 404)
    assert contact.number not in attempts.text


def test_a_viewer_sees_the_figures(tenant, campaign, viewer, client_for):
    response = client_for(viewer).get(reverse("campaigns-campaign-progress", args=[campaign.code]))

    assert response.status_code == 200
    assert 'id="campaign-live"' in response.text


# --- Preview mode: the operator confirms each call ----------------------------------------------------


def _midday_zone() -> str:
    """A fixed-offset zone where it is 14:00 now, so the legal window (08:00-21:00) is open whatever the hour."""
    offset = 14 - timezone.now().astimezone(datetime.UTC).hour
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


@pytest.fixture
def preview_campaign(tenant, make_campaign, settings) -> Campaign:
    """A running preview campaign with three contacts in an open zone and one whose zone is closed now."""
    settings.DIALER_VOICE_CAPACITY = 100
    always = {day: [{"start": "00:00", "end": "23:59"}] for day in WEEKDAYS}
    campaign = make_campaign(
        tenant, dialer_mode=DialerMode.PREVIEW, calling_window=always, requires_consent=False, max_calls_per_second=5
    )
    open_zone = _midday_zone()
    offset = 14 - timezone.now().astimezone(datetime.UTC).hour
    closed_zone = f"Etc/GMT{-(offset - 12) if offset > 0 else -(offset + 12):+d}"  # 02:00 there
    rows = [{"number": f"+1212555010{i}", "name": f"Person {i}", "timezone": open_zone} for i in range(3)]
    rows.append({"number": "+12125550109", "name": "Night owl", "timezone": closed_zone})
    assert not services.contacts_add(tenant=tenant, campaign=campaign, rows=rows).errors
    classify_campaign_contacts(campaign.pk)
    Campaign.objects.for_tenant(tenant).filter(pk=campaign.pk).update(status=CampaignStatus.RUNNING)
    campaign.refresh_from_db()
    pace.forget_idle(now=timezone.now().timestamp() + 10**7)
    return campaign


def test_a_preview_campaign_page_lists_the_next_due_contacts_with_a_dial_button(
    tenant, preview_campaign, owner, client_for
):
    page = client_for(owner).get(reverse("campaigns-campaign-detail", args=[preview_campaign.code])).text

    queue = page[page.index('id="preview-queue"') :]
    contacts = Contact.objects.for_tenant(tenant).filter(campaign=preview_campaign).order_by("id")
    for contact in contacts[:3]:
        dial = reverse("campaigns-preview-dial", args=[preview_campaign.code, contact.code])
        assert f'hx-post="{dial}"' in queue
    assert "Night owl" not in queue  # its window is closed now
    assert queue.count(">Dial</button>") == 3


def test_dial_claims_the_contact_and_shows_the_attempt(tenant, preview_campaign, owner, client_for):
    contact = Contact.objects.for_tenant(tenant).filter(campaign=preview_campaign).order_by("id").first()
    url = reverse("campaigns-preview-dial", args=[preview_campaign.code, contact.code])

    response = client_for(owner).post(url, headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert f"Dialing {contact.number} (attempt 1)." in response.text
    contact.refresh_from_db()
    assert contact.status == ContactStatus.DIALING
    attempt = CallAttempt.objects.for_tenant(tenant).get(contact=contact)
    assert (attempt.attempt_no, attempt.outcome) == (1, "")
    assert f"preview-{contact.code}" not in response.text  # no longer due: gone from the queue


def test_a_refused_dial_names_the_rule_and_claims_nothing(tenant, preview_campaign, owner, client_for):
    contact = Contact.objects.for_tenant(tenant).filter(campaign=preview_campaign).order_by("id").first()
    services.dnc_add(tenant=tenant, number=contact.number, reason="asked by email", actor=SYSTEM)
    url = reverse("campaigns-preview-dial", args=[preview_campaign.code, contact.code])

    response = client_for(owner).post(url, headers={"HX-Request": "true"})

    assert response.status_code == 200
    assert f"{contact.number} was not dialed. dnc:" in response.text
    assert not CallAttempt.objects.for_tenant(tenant).filter(contact=contact).exists()


def test_a_dial_without_htmx_goes_back_to_the_page_with_the_verdict(tenant, preview_campaign, owner, client_for):
    contact = Contact.objects.for_tenant(tenant).filter(campaign=preview_campaign).order_by("id").first()
    client = client_for(owner)
    url = reverse("campaigns-preview-dial", args=[preview_campaign.code, contact.code])

    response = client.post(url, follow=True)

    assert response.redirect_chain[-1][0] == reverse("campaigns-campaign-detail", args=[preview_campaign.code])
    assert f"Dialing {contact.number} (attempt 1)." in response.text
    assert client.post(url, follow=True).text.count("was not dialed. contact:") == 1  # already dialing


def test_a_paused_preview_campaign_shows_its_queue_without_dial_buttons(tenant, preview_campaign, owner, client_for):
    Campaign.objects.for_tenant(tenant).filter(pk=preview_campaign.pk).update(status=CampaignStatus.PAUSED)

    page = client_for(owner).get(reverse("campaigns-campaign-detail", args=[preview_campaign.code])).text

    assert "Start or resume the campaign to dial." in page
    assert ">Dial</button>" not in page


def test_a_progressive_campaign_has_no_preview_queue_and_refuses_a_dial(tenant, campaign, owner, client_for):
    contact = _contacts(tenant, campaign, {"pending": 1})[0]
    client = client_for(owner)

    page = client.get(reverse("campaigns-campaign-detail", args=[campaign.code])).text
    response = client.post(
        reverse("campaigns-preview-dial", args=[campaign.code, contact.code]), headers={"HX-Request": "true"}
    )

    assert 'id="preview-queue"' not in page
    assert "was not dialed. mode:" in response.text
    assert not CallAttempt.objects.for_tenant(tenant).exists()


def test_a_viewer_cannot_dial(tenant, preview_campaign, viewer, client_for):
    contact = Contact.objects.for_tenant(tenant).filter(campaign=preview_campaign).first()
    client = client_for(viewer)

    page = client.get(reverse("campaigns-campaign-detail", args=[preview_campaign.code])).text
    response = client.post(reverse("campaigns-preview-dial", args=[preview_campaign.code, contact.code]))

    assert ">Dial</button>" not in page
    assert response.status_code == 403
    assert not CallAttempt.objects.for_tenant(tenant).exists()


def test_dialing_another_tenants_contact_is_404(
    tenant, other_tenant, preview_campaign, other_campaign, owner, client_for
):
    theirs = _contacts(other_tenant, other_campaign, {"pending": 1}, start=500)[0]
    mine = Contact.objects.for_tenant(tenant).filter(campaign=preview_campaign).first()
    client = client_for(owner)

    their_campaign = client.post(reverse("campaigns-preview-dial", args=[other_campaign.code, theirs.code]))
    their_contact_in_my_campaign = client.post(
        reverse("campaigns-preview-dial", args=[preview_campaign.code, theirs.code])
    )
    my_contact_in_their_campaign = client.post(reverse("campaigns-preview-dial", args=[other_campaign.code, mine.code]))

    assert their_campaign.status_code == their_contact_in_my_campaign.status_code == 404
    assert my_contact_in_their_campaign.status_code == 404
    assert not CallAttempt.objects.across_tenants(reason="the test checks no tenant got an attempt").exists()


def test_the_campaign_list_flags_a_campaign_whose_dialer_is_stuck(tenant, campaign, make_campaign, owner, client_for):
    fine = make_campaign(tenant, name="Fine")
    Campaign.objects.for_tenant(tenant).filter(pk=campaign.pk).update(
        dialer_error="No voice worker is connected", dialer_error_at=NOW
    )

    page = client_for(owner).get(reverse("campaigns-campaign-list")).text

    stuck_row = page[page.index(f'id="campaign-{campaign.code}"') :].split("</tr>")[0]
    fine_row = page[page.index(f'id="campaign-{fine.code}"') :].split("</tr>")[0]
    assert 'title="No voice worker is connected">Dialer error</span>' in stuck_row
    assert "Dialer error" not in fine_row
