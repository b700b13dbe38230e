"""Call log writes: forward-only status, one terminal state and one duration, the worker's report."""

from __future__ import annotations

import datetime
import itertools
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from agents_app.services import agent_delete
from telephony_app.models import STATUS_RANK, TERMINAL_STATUSES, Call, CallDirection, CallStatus
from telephony_app.services import call_create, call_fail, call_finish, call_transition
from tests.telephony_app.conftest import T0, TRANSCRIPT, TURN_METRICS, USAGE, USAGE_COST

S = CallStatus


def _at(step: int) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=10 * step)


def _replay(tenant, call: Call, events: tuple[str, ...]) -> Call:
    for step, status in enumerate(events, start=1):
        call_transition(tenant=tenant, call=call, status=status, reason=f"reason {status}", at=_at(step))
    return Call.objects.get(pk=call.pk)


# Every order of these events: two competing terminal reports among the normal progression.
EVENTS = (S.RINGING, S.IN_PROGRESS, S.COMPLETED, S.FAILED, S.NO_ANSWER)


@pytest.mark.parametrize("events", list(itertools.permutations(EVENTS)), ids="-".join)
def test_any_order_of_reports_leaves_the_first_terminal_state_and_one_duration(tenant, make_call, events):
    call = make_call(tenant)
    first_terminal = next(i for i, status in enumerate(events) if status in TERMINAL_STATUSES)
    answered_step = events.index(S.IN_PROGRESS) + 1 if S.IN_PROGRESS in events[:first_terminal] else None

    call = _replay(tenant, call, events)
    again = _replay(tenant, call, events)  # the same reports delivered a second time change nothing

    assert call.status == events[first_terminal]
    assert call.end_reason == f"reason {events[first_terminal]}"
    assert call.ended_at == _at(first_terminal + 1)
    assert call.started_at == _at(1)
    if answered_step is None:
        assert call.answered_at is None
        assert call.duration_seconds == 0.0
    else:
        assert call.answered_at == _at(answered_step)
        assert call.duration_seconds == (call.ended_at - call.answered_at).total_seconds()
    assert (again.status, again.ended_at, again.duration_seconds, again.end_reason) == (
        call.status,
        call.ended_at,
        call.duration_seconds,
        call.end_reason,
    )


@pytest.mark.parametrize(
    ("current", "new"),
    [(a, b) for a in S.values for b in S.values if STATUS_RANK[b] <= STATUS_RANK[a]],
)
def test_a_same_or_backward_transition_returns_the_row_unchanged(tenant, make_call, current, new):
    call = make_call(tenant, status=current)
    before = Call.objects.filter(pk=call.pk).values().get()

    returned = call_transition(tenant=tenant, call=call, status=new, reason="late", at=_at(50))

    assert returned.status == current
    assert Call.objects.filter(pk=call.pk).values().get() == before


def test_forward_transitions_set_each_timestamp_once(tenant, make_call):
    call = make_call(tenant)

    call_transition(tenant=tenant, call=call, status=S.RINGING, at=_at(1))
    call_transition(tenant=tenant, call=call, status=S.IN_PROGRESS, at=_at(3))
    call = call_transition(tenant=tenant, call=call, status=S.COMPLETED, reason="caller hung up", at=_at(9))

    assert (call.started_at, call.answered_at, call.ended_at) == (_at(1), _at(3), _at(9))
    assert call.duration_seconds == 60.0
    assert call.end_reason == "caller hung up"


def test_a_reason_on_a_non_terminal_transition_is_not_an_end_reason(tenant, make_call):
    call = call_transition(tenant=tenant, call=make_call(tenant), status=S.RINGING, reason="dialing")

    assert call.end_reason == ""


def test_an_unknown_status_is_refused(tenant, make_call):
    call = make_call(tenant)

    with pytest.raises(ValidationError, match="Unknown call status"):
        call_transition(tenant=tenant, call=call, status="exploded")
    with pytest.raises(ValidationError):
        call_finish(tenant=tenant, call=call, status="done")


def test_another_tenants_call_cannot_be_moved(tenant, other_tenant, make_call):
    theirs = make_call(other_tenant)

    with pytest.raises(Call.DoesNotExist):
        call_transition(tenant=tenant, call=theirs, status=S.COMPLETED)
    with pytest.raises(Call.DoesNotExist):
        call_finish(tenant=tenant, call=theirs, status=S.COMPLETED, transcript=TRANSCRIPT)

    assert Call.objects.get(pk=theirs.pk).status == S.QUEUED


@pytest.mark.django_db(transaction=True)
def test_concurrent_terminal_reports_leave_one_terminal_state(tenant, make_call):
    """Two processes report different endings at the same moment; the row lock serialises them."""
    call = make_call(tenant)
    call_transition(tenant=tenant, call=call, status=S.IN_PROGRESS, at=_at(1))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def report(status: str, step: int) -> None:
        try:
            barrier.wait()
            call_transition(tenant=tenant, call=call, status=status, reason=status, at=_at(step))
        except BaseException as exc:  # pragma: no cover - surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=report, args=(status, step)) for step, status in ((5, S.COMPLETED), (6, S.BUSY))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    call.refresh_from_db()
    assert errors == []
    assert call.status in (S.COMPLETED, S.BUSY)
    assert call.end_reason == call.status
    assert call.ended_at == (_at(5) if call.status == S.COMPLETED else _at(6))
    assert call.duration_seconds == (call.ended_at - call.answered_at).total_seconds()


# call_create ---------------------------------------------------------------------------------


def test_call_create_snapshots_the_agent_name_which_survives_deleting_the_agent(tenant, agent, make_call):
    call = make_call(tenant, agent=agent, room_name="call-room-1", context={"call_type": "inbound"})

    agent_delete(tenant=tenant, agent=agent)
    call.refresh_from_db()

    assert call.agent is None
    assert call.agent_name == "Front desk"
    assert call.context == {"call_type": "inbound"}
    assert call.status == S.QUEUED
    assert call.started_at is None


def test_call_create_refuses_another_tenants_agent(tenant, other_tenant, make_agent):
    theirs = make_agent(other_tenant, name="Globex desk")

    with pytest.raises(ValidationError, match="No such agent"):
        call_create(tenant=tenant, agent=theirs, direction=CallDirection.INBOUND)
    assert not Call.objects.exists()


def test_call_create_already_in_progress_is_started_and_answered(tenant, make_call):
    call = make_call(tenant, direction=CallDirection.CHAT, status=S.IN_PROGRESS)

    assert call.started_at is not None
    assert call.answered_at == call.started_at


def test_call_create_refuses_an_unknown_direction(tenant):
    with pytest.raises(ValidationError):
        call_create(tenant=tenant, direction="sideways")


# call_finish and call_fail -------------------------------------------------------------------


def test_call_finish_writes_the_report_and_the_estimated_cost(tenant, agent, make_call):
    call = make_call(tenant, agent=agent)
    call_transition(tenant=tenant, call=call, status=S.IN_PROGRESS, at=_at(1))

    call = call_finish(
        tenant=tenant,
        call=call,
        status=S.COMPLETED,
        end_reason="agent ended the call",
        transcript=TRANSCRIPT,
        turn_metrics=TURN_METRICS,
        usage=USAGE,
        config_source="cache",
        ended_at=_at(10),
    )
    stored = Call.objects.get(pk=call.pk)

    assert stored.status == S.COMPLETED
    assert stored.end_reason == "agent ended the call"
    assert stored.transcript == TRANSCRIPT
    assert stored.turn_metrics == TURN_METRICS
    assert stored.usage == USAGE
    assert stored.config_source == "cache"
    assert stored.estimated_cost_usd == Decimal(USAGE_COST)
    assert stored.ended_at == _at(10)
    assert stored.duration_seconds == 90.0
    assert stored.error == ""


def test_the_workers_report_is_kept_when_a_status_callback_ended_the_call_first(tenant, make_call):
    call = make_call(tenant)
    call_transition(tenant=tenant, call=call, status=S.IN_PROGRESS, at=_at(1))
    call_transition(tenant=tenant, call=call, status=S.TRANSFERRED, reason="transferred to +14155550123", at=_at(4))

    call_finish(
        tenant=tenant,
        call=call,
        status=S.COMPLETED,
        end_reason="session closed",
        transcript=TRANSCRIPT,
        usage=USAGE,
        config_source="database",
        error="tts timed out once",
        ended_at=_at(8),
    )
    stored = Call.objects.get(pk=call.pk)

    assert stored.status == S.TRANSFERRED
    assert stored.end_reason == "transferred to +14155550123"
    assert stored.ended_at == _at(4)
    assert stored.duration_seconds == 30.0
    assert stored.transcript == TRANSCRIPT
    assert stored.estimated_cost_usd == Decimal(USAGE_COST)
    assert stored.config_source == "database"
    assert stored.error == "tts timed out once"


def test_a_second_report_replaces_the_first_reports_fields_but_not_the_ending(tenant, make_call):
    call = make_call(tenant, status=S.IN_PROGRESS)
    call_finish(tenant=tenant, call=call, status=S.COMPLETED, end_reason="first", transcript=TRANSCRIPT[:1])
    first = Call.objects.get(pk=call.pk)

    call_finish(tenant=tenant, call=call, status=S.FAILED, end_reason="second", transcript=TRANSCRIPT)
    second = Call.objects.get(pk=call.pk)

    assert (second.status, second.end_reason, second.ended_at, second.duration_seconds) == (
        S.COMPLETED,
        "first",
        first.ended_at,
        first.duration_seconds,
    )
    assert second.transcript == TRANSCRIPT


def test_call_finish_fills_a_missing_end_reason_of_an_ended_call(tenant, make_call):
    call = make_call(tenant, status=S.IN_PROGRESS)
    call_transition(tenant=tenant, call=call, status=S.COMPLETED)

    call = call_finish(tenant=tenant, call=call, status=S.COMPLETED, end_reason="caller said goodbye")

    assert call.end_reason == "caller said goodbye"


def test_call_finish_without_usage_keeps_the_cost(tenant, make_call):
    call = make_call(tenant, status=S.IN_PROGRESS)
    call_finish(tenant=tenant, call=call, status=S.COMPLETED, usage=USAGE)

    call = call_finish(tenant=tenant, call=call, status=S.COMPLETED, error="late note")

    assert call.estimated_cost_usd == Decimal(USAGE_COST)
    assert call.usage == USAGE


def test_call_finish_with_only_unknown_models_stores_no_cost(tenant, make_call):
    usage = [{"kind": "llm", "provider": "openai_compatible", "model": "llama3.1:8b", "input_tokens": 900}]

    call = call_finish(tenant=tenant, call=make_call(tenant), status=S.COMPLETED, usage=usage)

    assert call.estimated_cost_usd is None
    assert call.usage == usage


def test_call_finish_stores_datetimes_in_the_transcript_as_iso_text(tenant, make_call):
    transcript = [{"role": "user", "text": "Hello?", "at": _at(2)}]

    call_finish(tenant=tenant, call=make_call(tenant), status=S.COMPLETED, transcript=transcript)

    assert Call.objects.get().transcript == [{"role": "user", "text": "Hello?", "at": "2026-11-20T14:00:20Z"}]


def test_call_finish_clips_an_overlong_label_instead_of_losing_the_report(tenant, make_call):
    call = call_finish(
        tenant=tenant,
        call=make_call(tenant),
        status=S.FAILED,
        end_reason="x" * 500,
        config_source="fallback_to_default",
        transcript=TRANSCRIPT,
    )

    stored = Call.objects.get(pk=call.pk)
    assert stored.transcript == TRANSCRIPT
    assert stored.config_source == "fallback_to_defa"
    assert len(stored.end_reason) == 200


def test_call_fail_records_the_reason_as_error_and_end_reason(tenant, make_call):
    call = call_fail(tenant=tenant, call=make_call(tenant), reason="agent 1234 is not active")

    stored = Call.objects.get(pk=call.pk)
    assert stored.status == S.FAILED
    assert stored.error == "agent 1234 is not active"
    assert stored.end_reason == "agent 1234 is not active"
    assert stored.duration_seconds == 0.0
    assert stored.ended_at is not None


def test_call_fail_after_the_call_ended_keeps_its_ending_and_records_the_error(tenant, make_call):
    call = make_call(tenant, status=S.IN_PROGRESS)
    call_transition(tenant=tenant, call=call, status=S.COMPLETED, reason="caller hung up")

    call = call_fail(tenant=tenant, call=call, reason="could not write the recording")

    assert call.status == S.COMPLETED
    assert call.end_reason == "caller hung up"
    assert call.error == "could not write the recording"


@pytest.mark.parametrize("status", [S.QUEUED, S.RINGING, S.COMPLETED])
def test_a_new_call_is_stored_exactly_as_model_save_would_store_it(tenant, make_agent, status):
    """call_create writes new rows with a prebuilt INSERT; it must store what Model.save() stores."""
    agent = make_agent(tenant)
    fields = {
        "tenant": tenant, "agent": agent, "direction": CallDirection.INBOUND, "from_number": "+12125550100",
        "to_number": "+14155550100", "room_name": "in-room", "provider_call_id": "CA" + "1" * 32,
        "context": {"source": "twilio", "twilio": {"FromCity": "NEW YORK"}, "n": [1, 2.5, None, True]},
        "status": status,
    }  # fmt: skip
    created = call_create(**fields)
    # The same call through Django's own save, for comparison.
    saved = Call(**{**fields, "provider_call_id": "CA" + "2" * 32, "agent_name": agent.name})
    saved.started_at, saved.ended_at = created.started_at, created.ended_at
    saved.answered_at, saved.duration_seconds = created.answered_at, created.duration_seconds
    saved.end_reason, saved.is_rolled_up = created.end_reason, created.is_rolled_up
    saved.save()

    mine, theirs = Call.objects.get(pk=created.pk), Call.objects.get(pk=saved.pk)
    differing = {"id", "code", "provider_call_id", "created_at", "updated_at"}
    for field in Call._meta.concrete_fields:
        if field.name not in differing:
            assert getattr(mine, field.attname) == getattr(theirs, field.attname), field.name
        assert getattr(mine, field.attname) == getattr(created, field.attname) or field.generated, field.name
    assert not created._state.adding and created.pk == mine.pk
    assert mine.created_at == created.created_at and mine.updated_at == created.updated_at
