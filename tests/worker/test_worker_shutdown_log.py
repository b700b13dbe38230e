"""`manage.py run_voice_worker` stopped as a process manager stops it logs no ERROR line, and leaves
no process behind: a clean shutdown is not an error.

honcho (`make run`) and systemd signal the whole process group, so the worker's forkserver and its
idle job processes get the signal too, not only the worker (see worker/preload.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.worker.test_worker_process import BASE_DIR, command_env, job_environment, job_provider

__all__ = ["job_environment", "job_provider"]

pytestmark = pytest.mark.django_db(transaction=True)  # the job processes' warm-up reads the test database


def _group_is_gone(pgid: int, *, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_the_process_group_stops_the_worker_with_no_error_line(job_environment, signum):
    # A closed port: the worker keeps retrying to register (WARNING lines), as while LiveKit is down.
    env = command_env(
        LIVEKIT_URL="ws://127.0.0.1:9",
        LIVEKIT_API_KEY="devkey",
        LIVEKIT_API_SECRET="a-secret-of-at-least-32-bytes-for-hs256",
        WORKER_HEALTH_PORT="0",
    )
    process = subprocess.Popen(
        [sys.executable, "manage.py", "run_voice_worker", "--concurrency", "2"],  # idle processes kept warm
        cwd=BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as honcho starts it
    )
    try:
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            seen.append(line)
            if "voice worker running" in line or not line:
                break
        time.sleep(1)  # the idle job processes are up
        os.killpg(process.pid, signum)
        rest, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    log = "".join(seen) + rest

    assert process.returncode == 0, log
    assert "voice worker stopped" in log
    assert [line for line in log.splitlines() if " ERROR " in line or "Traceback" in line] == [], log
    assert _group_is_gone(process.pid), "a process of the worker's group outlived it"
