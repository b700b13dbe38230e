"""Post-call analysis through a real Celery worker process: the call-end hook queues the task by name,
the worker's autodiscovery knows it, a prefork child builds the agent's model (the real openai plugin
against the local fake OpenAI-compatible server of this process) and stores the result; a repeated
message for the same call calls no model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from agents_app.services import agent_create
from telephony_app.analysis import ANALYSIS_TASK
from telephony_app.models import AnalysisStatus, Call, CallDirection, CallStatus
from telephony_app.services import call_create, call_finish
from tests.campaigns_app.conftest import _live_database_url
from tests.worker.test_call_analysis import GOOD, RUBRIC, SCHEMA, TRANSCRIPT
from voiceplatform.actor import SYSTEM
from voiceplatform.celery import app as celery_app
from voiceplatform.devtools.fake_openai import FakeOpenAI, text
from voiceplatform.models import PROVIDER_ENV
from voiceplatform.services import credential_set

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_provider_keys_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for names in PROVIDER_ENV.values():
        for name in names.values():
            monkeypatch.delenv(name, raising=False)


def _purge() -> None:
    with celery_app.connection_for_write() as conn:
        conn.default_channel.queue_purge(celery_app.conf.task_default_queue)


@pytest.fixture
def worker() -> Iterator[Path]:
    """One Celery worker process (prefork, one child) on this test's database and broker; its log's path."""
    _purge()
    log_path = Path(tempfile.mkdtemp(prefix="analysis-worker-")) / "worker.log"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "voiceplatform.settings",
        "DATABASE_URL": _live_database_url(),
        "REDIS_URL": settings.CELERY_BROKER_URL,
        "LOG_LEVEL": "warning",
    }
    command = [sys.executable, "-m", "celery", "-A", "voiceplatform", "worker", "--pool", "prefork"]
    command += ["--concurrency", "1", "--loglevel", "warning", "--without-gossip", "--without-mingle"]
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command, cwd=Path(settings.BASE_DIR), env=env, stdout=log, stderr=subprocess.STDOUT, text=True
        )
    yield log_path
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    _purge()


def _wait_for(call: Call, status: str, log_path: Path, timeout: float = 90.0) -> Call:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        call.refresh_from_db()
        if call.analysis_status == status:
            return call
        time.sleep(0.2)
    raise AssertionError(f"analysis {call.analysis_status!r}, not {status!r}; worker log:\n{log_path.read_text()}")


def _ended_chat(tenant, agent) -> Call:
    chat = call_create(tenant=tenant, agent=agent, direction=CallDirection.CHAT, status=CallStatus.IN_PROGRESS)
    # Committed at once (a transactional test): the call-end hook queues the task by name.
    return call_finish(tenant=tenant, call=chat, status=CallStatus.COMPLETED, transcript=TRANSCRIPT)


def test_a_real_celery_worker_analyses_an_ended_chat_once(tenant, worker):
    with FakeOpenAI() as fake:
        credential_set(tenant=tenant, provider="openai_compatible", secret="sk-local", base_url=fake.base_url)
        agent = agent_create(
            tenant=tenant,
            actor=SYSTEM,
            fields={
                "name": "Maya",
                "llm_provider": "openai_compatible",
                "llm_model": "llama-3.1-8b-local",
                "analysis_enabled": True,
                "analysis_schema": SCHEMA,
                "analysis_success_rubric": RUBRIC,
            },
        )
        fake.add(text(json.dumps(GOOD)))

        first = _ended_chat(tenant, agent)
        first = _wait_for(first, AnalysisStatus.DONE, worker)
        assert (first.summary, first.extracted, first.success) == (GOOD["summary"], GOOD["extracted"], True)

        # The first call's message again (a redelivery), then a second call's, with no answer scripted
        # (the fake answers 500): one child takes them in order, so once the second has failed the
        # repeated message has been handled, and it asked the model nothing.
        celery_app.send_task(ANALYSIS_TASK, args=[first.pk])
        second = _wait_for(_ended_chat(tenant, agent), AnalysisStatus.FAILED, worker)

        assert "HTTP 500" in second.analysis_error
        assert len(fake.completions) == 2  # the first call's answer and the second call's failure
        first.refresh_from_db()
        assert first.summary == GOOD["summary"]
