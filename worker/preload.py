"""Set up Django once in the voice worker's forkserver, so every job process inherits it.

AgentServer(preload_modules=["worker.preload"]) imports this module in the forkserver before
any job process is forked. django.setup() runs here and not in setup_fnc: in a job process it
would run dictConfig after livekit installed the handler that forwards the job's log records to
the worker, and that handler would be silently dropped. No database or Redis connection is opened
here (a forked socket must not be shared between job processes); each job process opens its own.
"""

from __future__ import annotations

import importlib
import os
import signal

import django

# Only the forkserver imports this module. Python's forkserver ignores SIGINT but not SIGTERM, and
# it lives exactly as long as the worker anyway (it exits when the worker closes its end of the
# "alive" pipe). A process manager that stops the worker with SIGTERM to its whole process group
# (honcho under `make run`, systemd's default) killed it first; the worker could then no longer read
# its job processes' exit codes (multiprocessing reports 255) and livekit logged each idle process
# as ERROR "process exited with non-zero exit code 255". Job processes ignore SIGTERM too (livekit).
signal.signal(signal.SIGTERM, signal.SIG_IGN)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voiceplatform.settings")
django.setup()

# What every call imports, loaded once here instead of in each job: the entrypoint (which pulls
# in the models, the config loader and the agent) and the provider plugins.
from worker import entrypoint, factories  # noqa: E402, F401

factories.load_plugins()

# Modules imported lazily during a call's start (listed from a job process's sys.modules after
# its greeting; ~20 ms of imports otherwise paid by every call). Imports only: fork-safe.
LAZY_MODULES = (
    "anyio._backends._asyncio",
    "httpcore",  # imported by the first httpx pool a call builds (~7 ms)
    "httpcore._backends.anyio",
    "httpcore._backends.auto",
    "anyio._core._sockets",
    "anyio.streams.memory",
    "anyio.streams.stapled",
    "openai.pagination",
    "openai.resources.models",
    "openai.resources.audio.audio",
    "openai.resources.audio.speech",
    "openai.resources.audio.transcriptions",
    "openai.lib._parsing._audio",
    "openai.resources.chat",
    "livekit.agents.llm.async_toolset",
    "voiceplatform.crypto",  # provider keys are decrypted per call
    "cryptography.fernet",
    "cryptography.hazmat.primitives.kdf.hkdf",
)
for _module in LAZY_MODULES:
    try:
        importlib.import_module(_module)
    except ImportError:  # a library moved things around: the call imports it itself, nothing breaks
        pass
