"""The text chat's service (telephony_app/chat.py) finds its event loop through a registry the worker
fills in its AppConfig.ready: the web never imports worker, and imports LiveKit only on the first chat."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from telephony_app import chat
from telephony_app.models import Call
from voiceplatform.actor import SYSTEM

_LOAD_THE_WEB = """
import sys
import django
django.setup()
from django.urls import get_resolver
get_resolver().url_patterns  # every view and API module of the URLconf imported
from telephony_app import chat
assert chat._runner_loader is not None, "the worker's AppConfig.ready did not register the runner"
print(sorted(name for name in ("livekit.agents", "worker.chat_runner") if name in sys.modules))
runner = chat._runner()
print(runner.__name__, "livekit.agents" in sys.modules)
"""


def test_the_web_loads_the_runner_and_livekit_only_when_a_chat_asks_for_it():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "voiceplatform.settings_test"}
    result = subprocess.run([sys.executable, "-c", _LOAD_THE_WEB], env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split("\n")[:2] == ["[]", "worker.chat_runner True"]


def test_without_a_registered_runner_a_chat_is_refused_before_any_row(tenant, agent, monkeypatch):
    monkeypatch.setattr(chat, "_runner_loader", None)

    with pytest.raises(chat.ChatError, match="not available"):
        chat.chat_start(tenant=tenant, agent=agent, actor=SYSTEM)

    assert not Call.objects.filter(tenant=tenant).exists()
