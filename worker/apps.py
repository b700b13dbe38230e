from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from telephony_app.chat import ChatRunner


class WorkerConfig(AppConfig):
    name = "worker"
    verbose_name = "Voice worker"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from telephony_app.chat import register_chat_runner

        register_chat_runner(_load_chat_runner)


def _load_chat_runner() -> ChatRunner:
    """The text chat's event loop, imported on the first chat: it loads LiveKit, which a web process
    that never chats does not need."""
    from worker import chat_runner

    return chat_runner  # type: ignore[return-value]  (a module with prepare() and run())
