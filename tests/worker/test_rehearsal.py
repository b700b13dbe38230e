"""The call-start rehearsal each idle job process runs (worker.rehearsal): it leaves no trace.

It runs here in the test process, as setup_process runs it in a job process: a real AgentSession
with the OpenAI plugins pointed at a refusing loopback port, livekit's mock room, and the call's
reads against the real PostgreSQL and Redis. The whole-worker tests (test_worker_process.py) run it
in every job process they start, before the calls they check.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import connections
from livekit.agents import JobProcess
from livekit.agents.job import JobExecutorType

from agents_app.runtime_config import loader
from agents_app.services import agent_create
from telephony_app.models import Call, CallDirection
from telephony_app.services import call_create
from voiceplatform.actor import SYSTEM
from voiceplatform.models import Tenant
from worker import entrypoint, factories, rehearsal
from worker.call_state import CallPlan, CallState

pytestmark = pytest.mark.django_db(transaction=True)  # the rehearsal reads in the ORM's own thread


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def proc() -> Iterator[JobProcess]:
    from livekit.plugins import silero

    factories.load_plugins()
    process = JobProcess(executor_type=JobExecutorType.THREAD, user_arguments=None, http_proxy=None)
    process.userdata["vad"] = silero.VAD.load()
    yield process
    asyncio.run(sync_to_async(connections.close_all)())  # the ORM thread's connection, before the flush


@pytest.fixture
def records() -> Iterator[_Records]:
    handler = _Records()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


def _redis_keys() -> set[bytes]:
    return set(loader.client.keys("*"))


def test_rehearsal_writes_nothing_and_says_nothing(proc: JobProcess, tenant: Tenant, records: _Records) -> None:
    agent = agent_create(tenant=tenant, actor=SYSTEM, fields={"name": "Reception", "greeting_message": "Hello."})
    call_create(tenant=tenant, agent=agent, direction=CallDirection.INBOUND, room_name="room-rehearsal")
    before = Call.objects.values_list("code", "status", "updated_at", "error")
    before_rows, keys_before = list(before), _redis_keys()

    assert rehearsal.rehearse(proc) is True

    # The newest Call was read (its own lookup), never written; no Call was created.
    assert list(Call.objects.values_list("code", "status", "updated_at", "error")) == before_rows
    # No config cached for the synthetic agent, no metric counted, nothing else in Redis.
    assert _redis_keys() == keys_before
    # The refused provider connections are expected: the rehearsal logged none of them.
    assert [r for r in records.records if r.levelno >= logging.WARNING] == []
    assert logging.root.manager.disable == logging.NOTSET  # logging is back on for the call


def test_rehearsal_on_an_empty_database(proc: JobProcess, records: _Records) -> None:
    """A fresh install has no Call to look up: the rehearsal still succeeds."""
    assert not Call.objects.exists()
    assert rehearsal.rehearse(proc) is True
    assert [r for r in records.records if r.levelno >= logging.WARNING] == []


def test_a_rehearsal_that_overruns_is_one_warning_and_the_process_goes_on(
    proc: JobProcess, records: _Records, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rehearsal, "TIMEOUT", 0.001)

    assert rehearsal.rehearse(proc) is False

    warnings = [r.getMessage() for r in records.records if r.levelno >= logging.WARNING]
    assert warnings == ["job process: call-start rehearsal failed (TimeoutError: ); calls start slower"]
    assert logging.root.manager.disable == logging.NOTSET


def test_the_rehearsal_config_is_a_real_agents_config() -> None:
    """The rehearsed agent has the fields a call reads, with every model on OpenAI."""
    config = rehearsal.rehearsal_config()
    assert config.is_active is True and config.is_default is False
    assert (config.llm_provider, config.tts_provider, config.stt_provider) == ("openai", "openai", "openai")
    assert config.inbound.business_hours == () and config.inbound.holidays == ()
    assert config.to_document()["inbound"]["business_hours"]["monday"] == []
    assert "{{caller_number}}" in config.system_prompt


def test_the_rehearsal_runs_the_calls_own_start(proc: JobProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a copy of its steps: entrypoint.run_call itself, with the rehearsal's plan, up to a started session."""
    started: list[CallState] = []
    real_run_call = entrypoint.run_call

    async def recording_run_call(ctx: Any, **kwargs: Any) -> None:
        await real_run_call(ctx, **kwargs)
        assert isinstance(kwargs["rehearsal"], CallPlan)
        started.append(ctx.proc.userdata[entrypoint.STATE_KEY])

    monkeypatch.setattr(entrypoint, "run_call", recording_run_call)

    assert rehearsal.rehearse(proc) is True

    [state] = started
    assert state.context is not None and state.context.call_type == "test"
    assert {"prepared", "built", "session started"} <= set(state.stages)
    assert state.session is not None and state.call is None  # no Call was looked up or created


def test_a_rehearsed_start_that_fails_raises_instead_of_refusing_a_call(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real call's failure is refused (logged, Call failed, room left); the rehearsal's is its own to log."""
    from livekit.agents.testing import fake_job_context

    from worker.context import InvalidCallContext

    refused: list[Any] = []
    monkeypatch.setattr(entrypoint, "_refuse", lambda *args, **kwargs: refused.append(args))
    nothing = factories.Credentials(llm=None, tts=None, stt=None)
    plan = CallPlan(config=rehearsal.rehearsal_config(), credentials=nothing)

    async def scenario() -> None:
        with fake_job_context(job_id="rehearsal", job_metadata="not json") as job_ctx:
            await entrypoint.run_call(job_ctx, rehearsal=plan)

    with pytest.raises(InvalidCallContext):
        asyncio.run(scenario())
    assert refused == []
