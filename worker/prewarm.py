"""The call's opening line, synthesized while the session starts.

A call's first words are known before the AgentSession exists: the greeting, with its placeholders
filled from the call context. Handing them to the TTS as soon as the plugins are built, instead of
after the session has started and the agent entered, overlaps the vendor's time to first byte with
the session's start, so the caller hears the greeting sooner. The VoiceAgent then speaks it with
`session.say(text, audio=...)`; if the synthesis failed before its first frame, it says the text
the ordinary way (through its TTS node, with the session's retries and error handling).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from livekit import rtc
from livekit.agents import APIConnectOptions
from livekit.agents import tts as agents_tts

from worker import livekit_compat

logger = logging.getLogger(__name__)


class PrefetchedSpeech:
    """One text being synthesized by a TTS plugin in the background; its audio is claimed once."""

    def __init__(self, text: str, tts: agents_tts.TTS, *, on_started: Callable[[], None] | None = None) -> None:
        self.text = text
        self.error: BaseException | None = None
        self._frames: asyncio.Queue[rtc.AudioFrame | None] = asyncio.Queue()
        self._first = asyncio.Event()  # set at the first frame, or when the synthesis ended without one
        self._claimed = False
        # No retries here: a failure falls back at once to the ordinary path, which has its own.
        self._stream = tts.synthesize(text, conn_options=APIConnectOptions(max_retry=0))
        if on_started is not None:
            on_started()
        self._task = asyncio.create_task(self._run(), name="prefetch-opening-line")

    @property
    def pending(self) -> bool:
        """Still synthesizing (a TTS error reported now comes from this synthesis)."""
        return not self._task.done()

    async def _run(self) -> None:
        try:
            async with self._stream as stream:
                async for chunk in stream:
                    self._frames.put_nowait(chunk.frame)
                    self._first.set()
        except Exception as exc:  # the vendor failed: the agent falls back to its TTS node
            self.error = exc
            logger.warning("the opening line could not be synthesized ahead: %s", exc)
        finally:
            self._frames.put_nowait(None)
            self._first.set()

    async def claim(self, text: str) -> AsyncIterator[rtc.AudioFrame] | None:
        """The audio for `text`, once: None if the text differs, it was claimed, or it failed before
        producing any audio (then the caller synthesizes it the ordinary way)."""
        if self._claimed or text != self.text:
            return None
        self._claimed = True
        await self._first.wait()
        if self._frames.qsize() == 1 and self.error is not None:  # only the end marker: nothing to play
            return None
        return self._audio()

    async def _audio(self) -> AsyncIterator[rtc.AudioFrame]:
        while (frame := await self._frames.get()) is not None:
            yield frame

    async def aclose(self) -> None:
        """Stop the synthesis (the call ended, or the line was never spoken)."""
        if not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task


class HeldPrewarms:
    """The plugins' connection prewarms, held while the session starts and run once it has.

    AgentSession asks every plugin to prewarm (open its connection ahead) as it is built and as the
    agent enters: for the OpenAI plugins that is a request built and sent on the event loop in the
    middle of session.start(), which the caller's first words wait for. The TTS needs none when the
    opening line is already being synthesized (that request opened its connection), and the LLM's
    first request comes after the greeting has been spoken and the caller has answered, so its
    prewarm can wait until the session has started. The STT streams nothing before the caller
    speaks, and its prewarm is held the same way."""

    def __init__(self, *, llm: object | None, tts: object | None, stt: object | None, tts_is_warm: bool) -> None:
        self._held = [plugin for plugin in (llm, tts, stt) if plugin is not None and hasattr(plugin, "prewarm")]
        self._skipped = {id(tts)} if tts is not None and tts_is_warm else set()
        for plugin in self._held:
            livekit_compat.prewarm_hold(plugin)

    def release(self) -> None:
        """Give the plugins their prewarm back and run it now (idempotent)."""
        held, self._held = self._held, []
        for plugin in held:
            livekit_compat.prewarm_release(plugin)
            if id(plugin) not in self._skipped:
                plugin.prewarm()  # type: ignore[attr-defined]
