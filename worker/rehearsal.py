"""A rehearsal of a call's start in every idle job process, before its call arrives.

Every call runs in a fresh job process forked from the forkserver, and everything a call's start
does for the first time in a process is slow: pydantic builds the chat and OpenAI request models'
schemas on first use, livekit's session, RoomIO and agent activity take their first paths, Django
turns its first rows into models, OpenSSL derives its first key, and every page of the
forkserver's memory that is touched is copied on first write. Measured with `manage.py
bench_call_start`: a warm call started in 105 ms (p50) with all of that on the caller's time,
55 ms after this rehearsal.

rehearse(proc) runs in setup_process, while the process waits for its call. It runs the call's own
start, worker.entrypoint.run_call with a rehearsal plan (its metadata parsed, the session built
and started with the VoiceAgent), in livekit's fake job context with its mock room, for an agent
that is not in the database (the agents' own defaults) and whose LLM, TTS and STT are the OpenAI
plugins pointed at a loopback port that refuses connections; the plan stands in for the call's
database part, which is rehearsed next on its own: the lookups a call runs (matching nothing, plus
the newest Call's own lookup, read-only), the config loader's miss path, and a decryption under a
key that belongs to no tenant. Nothing is written to the database or Redis, no metric is counted,
nothing leaves the machine, and the rehearsal's own log records are muted. A rehearsal that fails
or overruns costs only speed: it is logged once and the call pays those first uses itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

from asgiref.sync import sync_to_async
from livekit.agents import JobProcess

from agents_app.models import Agent
from agents_app.readiness import Credentials
from agents_app.runtime_config import RuntimeConfig, build_runtime_config, loader
from voiceplatform.models import Tenant
from voiceplatform.selectors import ResolvedCredential
from worker import entrypoint, livekit_compat, transport
from worker.call_state import CallPlan, CallState

logger = logging.getLogger(__name__)

TIMEOUT = 5.0  # seconds; AgentServer gives a process INITIALIZE_PROCESS_TIMEOUT to initialise
# How long the rehearsed session runs once its greeting has been tried, before it is closed: its
# RoomIO and the plugins' prewarm tasks run in the background of session.start, and they are part
# of what a call's start pays.
SETTLE_SECONDS = 0.05
GREETING = "Thank you for calling, how can I help you today?"


def rehearse(proc: JobProcess) -> bool:
    """Rehearse a call's start in this (idle) job process; False if it failed (logged, harmless)."""
    started = time.perf_counter()
    try:
        with _refusing_port() as base_url, _muted_logs():
            asyncio.run(asyncio.wait_for(_rehearse(proc, base_url), timeout=TIMEOUT))
    except Exception as exc:  # any failure only means the call pays its first uses itself
        logger.warning("job process: call-start rehearsal failed (%s: %s); calls start slower", type(exc).__name__, exc)
        return False
    logger.debug("job process: call start rehearsed in %.0f ms", (time.perf_counter() - started) * 1000)
    return True


@contextlib.contextmanager
def _refusing_port() -> Iterator[str]:
    """A loopback base URL whose port is bound and never listened on: every connection is refused at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        sock.close()


@contextlib.contextmanager
def _muted_logs() -> Iterator[None]:
    """The rehearsal's provider errors (refused connections) are expected: keep them out of the log.

    Safe because nothing else runs in a job process before its call: setup_process is the only
    code running, and the rehearsal is its last step."""
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


async def _rehearse(proc: JobProcess, base_url: str) -> None:
    await _rehearse_session(proc, base_url)
    await sync_to_async(_rehearse_database)()  # the ORM's thread, where the process's connection is


def rehearsal_config() -> RuntimeConfig:
    """A runtime config of an unsaved agent with the agents' defaults, OpenAI for all three models."""
    tenant = Tenant(code=uuid.uuid4(), name="Rehearsal", timezone="UTC")
    agent = Agent(
        tenant=tenant,
        code=uuid.uuid4(),
        name="Rehearsal",
        system_prompt="You answer calls for {{caller_number}}. Keep answers short.",
        greeting_message=GREETING,
        llm_provider="openai",
        tts_provider="openai",
        stt_provider="openai",
        updated_at=datetime.now(UTC),
    )
    return build_runtime_config(agent, is_saved=False)


async def _rehearse_session(proc: JobProcess, base_url: str) -> None:
    from livekit.agents.testing import fake_job_context

    config = rehearsal_config()
    # A placeholder key: the port it is sent to refuses every connection. "environment": the worker's
    # own loopback URL, not tenant input, so it rides the shared pool most calls use (not the guarded one).
    fields = {"provider": "openai", "base_url": base_url, "account_id": "", "source": "environment"}
    key = ResolvedCredential(secret="rehearsal", **fields)  # noqa: S106
    plan = CallPlan(config=config, credentials=Credentials(llm=key, tts=key, stt=key))
    metadata = {
        "agent_id": config.agent_id,
        "tenant_id": config.tenant_id,
        "call_type": "test",
        "caller_number": "+15550100",
    }
    room = livekit_compat.mock_room()
    with fake_job_context(room=room, job_id="rehearsal", job_metadata=json.dumps(metadata)) as job_ctx:
        job_ctx.proc.userdata[entrypoint.VAD_KEY] = proc.userdata.get(entrypoint.VAD_KEY)
        try:
            await entrypoint.run_call(job_ctx, rehearsal=plan)  # the call's own start, with this plan
            state: CallState = job_ctx.proc.userdata[entrypoint.STATE_KEY]
            # The greeting's synthesis fails at once (refused); the agent then says it the ordinary
            # way. Close only after that, so the agent is never asked to speak into a closing session.
            while state.opening is not None and state.opening.pending:
                await asyncio.sleep(0.005)
            await asyncio.sleep(SETTLE_SECONDS)
        finally:
            started: CallState | None = job_ctx.proc.userdata.get(entrypoint.STATE_KEY)
            if started is not None and started.session is not None:
                await started.session.aclose()
            if started is not None and started.opening is not None:
                await started.opening.aclose()
            await transport.http_client().aclose()  # the pool is bound to this rehearsal's loop


def _rehearse_database() -> None:
    """The call's reads in their first-use shapes; nothing written, no metric counted."""
    from telephony_app.models import Call
    from telephony_app.selectors import call_for_job
    from voiceplatform import crypto
    from voiceplatform.selectors import credentials_resolve

    nobody = uuid.uuid4()
    call_for_job(tenant_code=nobody, call_code=nobody)
    calls = Call.objects.across_tenants(reason="the call-start rehearsal: the newest call's lookup, read-only")
    newest = calls.select_related("tenant").only("code", "tenant__code").order_by("-id").first()
    if newest is not None:  # a lookup that finds a row: its row-to-model path too (read-only, dropped)
        call_for_job(tenant_code=newest.tenant.code, call_code=newest.code)
    Tenant.objects.filter(code=nobody).first()
    absent = Tenant(pk=0, code=nobody)  # never saved: filters on it match no row
    Call.objects.for_tenant(absent).select_related("agent").filter(code=nobody).first()
    credentials_resolve(tenant=absent, providers=["-", "--"])
    token = crypto.encrypt_for_tenant(tenant_id=0, plaintext="rehearsal")  # tenant 0 does not exist
    crypto.decrypt_for_tenant(tenant_id=0, token=token)
    loader.get(tenant_code=nobody, agent_code=nobody, count=False)  # Redis miss, database miss
