"""A local fake of an OpenAI-compatible provider: the real HTTP protocol, scripted answers.

It is the tenant's LLM and TTS endpoint in the tests and in manage.py bench_call_start: the real
plugins are pointed at it through a credential's base_url, in this process or in job processes.

POST /v1/chat/completions with "stream": true answers as OpenAI does: `text/event-stream` over
HTTP/1.1 chunked transfer, one `data: {chat.completion.chunk}` event per delta, a last chunk
with the token usage (when `stream_options.include_usage` asks for it), then `data: [DONE]`.
Each request takes the next scripted answer: text, a tool call, or an HTTP error; with none left it
gets the default answer if one is set, else a 500, so an unexpected LLM call cannot pass unnoticed.
POST /v1/audio/speech answers 24 kHz 16-bit PCM (a quiet tone), or a 500 while `fail_speech` says so.
GET /v1/models answers with the models asked for so far: the openai plugin pre-warms its connection
with it when a session starts. Every request is recorded (method, path, headers, JSON body, arrival
time); `completions` are the chat completion requests.

    with FakeOpenAI() as server:
        server.add(text("Hello!"), tool_call("transfer_to_human"))
        ... base_url=server.base_url ...
        server.completions[0].body["messages"]
"""

from __future__ import annotations

import contextlib
import json
import math
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CHARS_PER_TOKEN = 4  # usage is estimated from text length, as no tokenizer is involved
SAMPLE_RATE = 24000  # what the OpenAI TTS plugin expects


@dataclass(frozen=True)
class Answer:
    """One scripted response to a chat completion request."""

    deltas: tuple[str, ...] = ()
    tool_calls: tuple[tuple[str, str], ...] = ()  # (name, JSON arguments)
    status: int = 200  # anything else: an OpenAI-style error body with this HTTP status
    error_message: str = ""
    delay: float = 0.0  # seconds the server waits before answering (time to first token, a slow provider)


def text(*deltas: str, delay: float = 0.0) -> Answer:
    """A text answer streamed as the given deltas (one string is split after each word)."""
    if len(deltas) == 1:
        words = deltas[0].split(" ")
        deltas = (*(f"{word} " for word in words[:-1]), words[-1])
    return Answer(deltas=deltas, delay=delay)


def tool_call(name: str, arguments: dict[str, Any] | None = None, *, say: str = "", delay: float = 0.0) -> Answer:
    """An answer calling one tool, optionally saying `say` first."""
    return Answer(deltas=(say,) if say else (), tool_calls=((name, json.dumps(arguments or {})),), delay=delay)


def error(status: int, message: str = "scripted provider failure") -> Answer:
    return Answer(status=status, error_message=message)


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    at: float = field(default_factory=time.time)  # when it arrived

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages") or []

    @property
    def system_text(self) -> str:
        """The system (or developer) message's text: the agent's instructions."""
        return "\n".join(
            _content_text(m.get("content")) for m in self.messages if m.get("role") in ("system", "developer")
        )

    @property
    def tool_names(self) -> list[str]:
        return [tool["function"]["name"] for tool in self.body.get("tools") or []]

    @property
    def speech_text(self) -> str:
        """What a TTS request asks to be spoken."""
        return str(self.body.get("input") or "")


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # [{"type": "text", "text": "..."}]
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def tone(seconds: float) -> bytes:
    """16-bit mono PCM of a quiet 440 Hz tone: what the fake TTS speaks."""
    frames = int(seconds * SAMPLE_RATE)
    return b"".join(struct.pack("<h", int(2000 * math.sin(2 * math.pi * 440 * i / SAMPLE_RATE))) for i in range(frames))


class FakeOpenAI:
    """Start with start() or use as a context manager; `base_url` is what a credential's base_url takes."""

    def __init__(self, *, default: Answer | None = None, speech_seconds: float = 0.2) -> None:
        self.answers: deque[Answer] = deque()
        self.default = default  # the answer when none is scripted; None: a 500
        self.requests: list[Request] = []
        self.speech_failures = 0  # the next this-many TTS requests answer 500
        self.speech_audio = tone(speech_seconds)
        self._changed = threading.Condition()  # guards the above; notified on every request
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- scripting and inspection ---------------------------------------------------------

    def add(self, *answers: Answer) -> None:
        with self._changed:
            self.answers.extend(answers)

    def fail_speech(self, times: int = 1) -> None:
        """The next `times` TTS requests fail with a server error."""
        with self._changed:
            self.speech_failures = times

    def reset(self, *, default: Answer | None = None) -> None:
        """Forget the scripted answers, the recorded requests and the TTS failures; `default` replaces the default."""
        with self._changed:
            self.answers.clear()
            self.requests.clear()
            self.speech_failures = 0
            if default is not None:
                self.default = default

    def requests_to(self, path_suffix: str = "") -> list[Request]:
        """The recorded requests whose path ends with `path_suffix`."""
        with self._changed:
            return [r for r in self.requests if r.path.endswith(path_suffix)]

    @property
    def completions(self) -> list[Request]:
        with self._changed:
            return [r for r in self.requests if r.method == "POST" and r.path.rstrip("/") == "/v1/chat/completions"]

    def wait_for_speech(self, text: str, *, after: float = 0.0, timeout: float = 20.0) -> Request | None:
        """The first TTS request since `after` whose input contains `text`, waiting up to `timeout` seconds."""

        def found() -> Request | None:
            for request in self.requests:
                if request.at >= after and request.path.endswith("/audio/speech") and text in request.speech_text:
                    return request
            return None

        with self._changed:
            self._changed.wait_for(lambda: found() is not None, timeout=timeout)
            return found()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    # --- what the handler calls -----------------------------------------------------------

    def record(self, request: Request) -> None:
        with self._changed:
            self.requests.append(request)
            self._changed.notify_all()

    def next_answer(self) -> Answer | None:
        with self._changed:
            return self.answers.popleft() if self.answers else self.default

    def take_speech_failure(self) -> bool:
        with self._changed:
            if self.speech_failures <= 0:
                return False
            self.speech_failures -= 1
            return True

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> FakeOpenAI:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, as the real API
    server_fake: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:  # quiet test output
        pass

    def handle(self) -> None:
        # A client may hang up mid-answer: a session that closes cancels the plugin's pre-warm GET.
        with contextlib.suppress(ConnectionError):
            super().handle()

    def do_GET(self) -> None:
        fake = self.server_fake
        fake.record(Request("GET", self.path, {k.lower(): v for k, v in self.headers.items()}, {}))
        if self.path.rstrip("/") != "/v1/models":
            self._json(HTTPStatus.NOT_FOUND, _error_body(f"no route {self.path}", "invalid_request_error"))
            return
        models = {r.body.get("model") for r in fake.completions} - {None}
        data = [{"id": model, "object": "model", "created": 0, "owned_by": "fake"} for model in sorted(models)]
        self._json(HTTPStatus.OK, {"object": "list", "data": data})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            self._json(HTTPStatus.BAD_REQUEST, _error_body("the body is not JSON", "invalid_request_error"))
            return
        fake = self.server_fake
        fake.record(Request("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        route = self.path.rstrip("/")
        if route == "/v1/audio/speech":
            self._speech()
            return
        if route != "/v1/chat/completions":
            self._json(HTTPStatus.NOT_FOUND, _error_body(f"no route {self.path}", "invalid_request_error"))
            return
        answer = fake.next_answer()
        if answer is None:
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, _error_body("no scripted answer left", "server_error"))
            return
        time.sleep(answer.delay)
        if answer.status != 200:
            self._json(answer.status, _error_body(answer.error_message, "api_error"))
            return
        if not body.get("stream"):
            self._json(HTTPStatus.BAD_REQUEST, _error_body("this fake only streams", "invalid_request_error"))
            return
        self._stream(body, answer)

    def _speech(self) -> None:
        if self.server_fake.take_speech_failure():
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR, _error_body("scripted TTS failure", "server_error"))
            return
        audio = self.server_fake.speech_audio
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "audio/pcm")
        self.send_header("Content-Length", str(len(audio)))
        self.end_headers()
        self.wfile.write(audio)

    def _json(self, status: int, document: dict[str, Any]) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _stream(self, body: dict[str, Any], answer: Answer) -> None:
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        completion_id = f"chatcmpl-fake{time.monotonic_ns()}"
        model = body.get("model", "")

        def chunk(choices: list[dict[str, Any]], usage: dict[str, int] | None = None) -> dict[str, Any]:
            document = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": choices,
            }
            if usage is not None:
                document["usage"] = usage
            return document

        self._event(chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]))
        for delta in answer.deltas:
            self._event(chunk([{"index": 0, "delta": {"content": delta}, "finish_reason": None}]))
        for index, (name, arguments) in enumerate(answer.tool_calls):
            call_id = f"call_fake{time.monotonic_ns()}"
            opening = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
            self._event(chunk([{"index": 0, "delta": {"tool_calls": [opening]}, "finish_reason": None}]))
            rest = {"index": index, "function": {"arguments": arguments}}
            self._event(chunk([{"index": 0, "delta": {"tool_calls": [rest]}, "finish_reason": None}]))
        finish = "tool_calls" if answer.tool_calls else "stop"
        self._event(chunk([{"index": 0, "delta": {}, "finish_reason": finish}]))
        if (body.get("stream_options") or {}).get("include_usage"):
            self._event(chunk([], usage=_usage(body, answer)))
        self._send_chunk(b"data: [DONE]\n\n")
        self._send_chunk(b"")  # the terminating zero-length chunk

    def _event(self, document: dict[str, Any]) -> None:
        self._send_chunk(f"data: {json.dumps(document)}\n\n".encode())

    def _send_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _error_body(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _usage(body: dict[str, Any], answer: Answer) -> dict[str, int]:
    prompt_chars = sum(len(_content_text(m.get("content"))) for m in body.get("messages") or [])
    completion_chars = sum(map(len, answer.deltas)) + sum(len(n) + len(a) for n, a in answer.tool_calls)
    prompt, completion = prompt_chars // CHARS_PER_TOKEN + 1, completion_chars // CHARS_PER_TOKEN + 1
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
