"""LocalProviderServer: an OpenAI-compatible HTTP server on 127.0.0.1 speaking the real protocol
(streamed chat completions, PCM speech), so the real plugins can be pointed at it through a
tenant credential's base_url, in this process or in job processes.
"""

from __future__ import annotations

import json
import math
import secrets
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SAMPLE_RATE = 24000  # what the OpenAI TTS plugin expects


@dataclass(frozen=True)
class Reply:
    """One scripted chat completion: streamed text, tool calls, or an HTTP error status."""

    text: str = ""
    tool_calls: tuple[tuple[str, dict[str, Any]], ...] = ()
    status: int = 200
    delay: float = 0.0  # seconds before the first chunk (time to first token)


@dataclass(frozen=True)
class ProviderRequest:
    at: float  # time.time() when the request arrived
    path: str
    body: dict[str, Any]

    @property
    def speech_text(self) -> str:
        return str(self.body.get("input") or "")


@dataclass
class _Script:
    replies: deque[Reply] = field(default_factory=deque)
    default: Reply = field(default_factory=lambda: Reply(text="All right."))
    requests: list[ProviderRequest] = field(default_factory=list)
    speech_failures: int = 0  # the next this-many TTS requests answer 500
    changed: threading.Condition = field(default_factory=threading.Condition)


def tone(seconds: float) -> bytes:
    """16-bit mono PCM of a quiet 440 Hz tone: what the fake TTS speaks."""
    frames = int(seconds * SAMPLE_RATE)
    return b"".join(struct.pack("<h", int(2000 * math.sin(2 * math.pi * 440 * i / SAMPLE_RATE))) for i in range(frames))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProviderHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # the plugins' connection prewarm: any quick answer will do
        script = self.server.script
        with script.changed:
            script.requests.append(ProviderRequest(at=time.time(), path=self.path, body={}))
            script.changed.notify_all()
        self._send(404, "application/json", b'{"error": {"message": "not found"}}')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            body = {}
        script = self.server.script
        with script.changed:
            script.requests.append(ProviderRequest(at=time.time(), path=self.path, body=body))
            reply = script.replies.popleft() if self.path.endswith("/chat/completions") and script.replies else None
            fail_speech = self.path.endswith("/audio/speech") and script.speech_failures > 0
            if fail_speech:
                script.speech_failures -= 1
            script.changed.notify_all()
        if fail_speech:
            error = {"error": {"message": "scripted TTS failure", "type": "server_error", "code": None}}
            self._send(500, "application/json", json.dumps(error).encode())
            return
        if self.path.endswith("/audio/speech"):
            self._send(200, "audio/pcm", self.server.speech_audio)
        elif self.path.endswith("/chat/completions"):
            self._chat(reply or script.default, model=str(body.get("model") or "scripted"))
        else:
            self._send(404, "application/json", b'{"error": {"message": "not found"}}')

    def _send(self, status: int, content_type: str, payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _chat(self, reply: Reply, *, model: str) -> None:
        if reply.delay:
            time.sleep(reply.delay)
        if reply.status != 200:
            error = {"error": {"message": "scripted provider failure", "type": "server_error", "code": None}}
            self._send(reply.status, "application/json", json.dumps(error).encode())
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunks: list[dict[str, Any]] = []
        for word in reply.text.split(" ") if reply.text else []:
            chunks.append({"delta": {"role": "assistant", "content": word + " "}, "finish_reason": None})
        for index, (name, arguments) in enumerate(reply.tool_calls):
            call = {"index": index, "id": f"call_{secrets.token_hex(4)}", "type": "function"}
            call["function"] = {"name": name, "arguments": json.dumps(arguments)}
            chunks.append({"delta": {"role": "assistant", "tool_calls": [call]}, "finish_reason": None})
        chunks.append({"delta": {}, "finish_reason": "tool_calls" if reply.tool_calls else "stop"})
        for choice in chunks:
            self._event({"choices": [{"index": 0, **choice}]}, model)
        usage = {"prompt_tokens": 50, "completion_tokens": max(1, len(reply.text) // 4), "total_tokens": 0}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        self._event({"choices": [], "usage": usage}, model)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    def _event(self, chunk: dict[str, Any], model: str) -> None:
        payload = {"id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0, "model": model, **chunk}
        self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())


class _ProviderHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    script: _Script
    speech_audio: bytes


class LocalProviderServer:
    """An OpenAI-compatible LLM (/v1/chat/completions, SSE) and TTS (/v1/audio/speech, PCM) on 127.0.0.1.

    Replies are scripted in order (reply(), then the default); every request is recorded with its
    arrival time, so a test or the benchmark can wait for "the greeting reached the TTS".
    """

    def __init__(self, *, speech_seconds: float = 0.2) -> None:
        self._httpd = _ProviderHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.script = _Script()
        self._httpd.speech_audio = tone(speech_seconds)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="local-provider", daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    @property
    def script(self) -> _Script:
        return self._httpd.script

    def start(self) -> LocalProviderServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def reply(self, *replies: Reply) -> None:
        with self.script.changed:
            self.script.replies.extend(replies)

    def fail_speech(self, times: int = 1) -> None:
        """The next `times` TTS requests fail with a server error."""
        with self.script.changed:
            self.script.speech_failures = times

    def reset(self, *, default: Reply | None = None) -> None:
        with self.script.changed:
            self.script.replies.clear()
            self.script.requests.clear()
            self.script.speech_failures = 0
            if default is not None:
                self.script.default = default

    def requests(self, path_suffix: str = "") -> list[ProviderRequest]:
        with self.script.changed:
            return [r for r in self.script.requests if r.path.endswith(path_suffix)]

    def wait_for_speech(self, text: str, *, after: float = 0.0, timeout: float = 20.0) -> ProviderRequest | None:
        """The first TTS request since `after` whose input contains `text`, waiting up to `timeout` seconds."""

        def found() -> ProviderRequest | None:
            for request in self.script.requests:
                if request.at >= after and request.path.endswith("/audio/speech") and text in request.speech_text:
                    return request
            return None

        with self.script.changed:
            self.script.changed.wait_for(lambda: found() is not None, timeout=timeout)
            return found()
