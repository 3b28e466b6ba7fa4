"""Fake model servers that speak the real wire protocols, for the official SDKs to talk to.

One Starlette app, served by uvicorn on 127.0.0.1 (a free port) in a background thread, answers

- `POST /v1/messages` with Anthropic's Messages streaming protocol (SSE: message_start,
  content_block_start/delta/stop, ping, message_delta, message_stop, error), and
- `POST /v1/chat/completions` with OpenAI's chat-completions streaming protocol (`data:` chunks,
  a usage chunk, `data: [DONE]`).

Each test scripts the responses it wants, in order (`server.script(...)`): a stream of frames,
with an optional hold (a stall, until the test releases it) or an error event part-way, or a
plain HTTP error with headers.
Every request is recorded (path, headers, JSON body), so tests can assert what was sent.
Point the SDKs at `server.anthropic_base_url` / `server.openai_base_url`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from cofounder.llm import AssistantTurn, ModelRequest, RetryNotice
from cofounder.llm.anthropic_model import AnthropicModel
from cofounder.llm.openai_model import OpenAIModel

# --- what a test scripts ----------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One server-sent event. `data` is JSON-encoded unless it is already a string."""

    data: Any
    event: str | None = None

    def encode(self) -> bytes:
        payload = self.data if isinstance(self.data, str) else json.dumps(self.data)
        head = f"event: {self.event}\n" if self.event else ""
        return f"{head}data: {payload}\n\n".encode()


@dataclass(frozen=True)
class Hold:
    """Send nothing until `release` is set (or the server stops): a stalled stream that stays
    stalled however long a loaded machine takes, or a pause that ends when the test says so,
    where a pause of fixed seconds could end before the client had read what came first."""

    release: threading.Event = field(default_factory=threading.Event, compare=False)


@dataclass(frozen=True)
class Stream:
    """A 200 text/event-stream response made of frames and holds."""

    items: Sequence[Frame | Hold]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HttpError:
    """A non-2xx JSON response, e.g. 429 with `retry-after`."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


Scripted = Stream | HttpError


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: Any
    at: float


# --- Anthropic frames -------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolCall:
    name: str
    input: dict[str, Any]
    id: str = ""


def anthropic_turn(
    *,
    text: str | None = None,
    tool_calls: Sequence[ToolCall] = (),
    input_tokens: int = 10,
    output_tokens: int = 5,
    cache_write: int = 0,
    cache_read: int = 0,
    stop_reason: str | None = None,
    model: str = "claude-test",
    text_chunks: int = 3,
    json_chunk: int = 9,
    pings: bool = True,
    raw_inputs: Sequence[str] | None = None,
) -> list[Frame]:
    """The full frame sequence of one streamed assistant message.

    `raw_inputs` replaces each tool call's JSON text (to send malformed input)."""
    frames = [
        Frame(
            {
                "type": "message_start",
                "message": {
                    "id": "msg_fake",
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": input_tokens,
                        "output_tokens": 1,
                        "cache_creation_input_tokens": cache_write,
                        "cache_read_input_tokens": cache_read,
                    },
                },
            },
            "message_start",
        )
    ]
    if pings:
        frames.append(Frame({"type": "ping"}, "ping"))
    index = 0
    if text:
        frames.append(_block_start(index, {"type": "text", "text": ""}))
        for piece in _split(text, max(1, -(-len(text) // text_chunks))):
            frames.append(_delta(index, {"type": "text_delta", "text": piece}))
        frames.append(Frame({"type": "content_block_stop", "index": index}, "content_block_stop"))
        index += 1
    for n, call in enumerate(tool_calls):
        call_id = call.id or f"toolu_fake_{n}"
        frames.append(
            _block_start(index, {"type": "tool_use", "id": call_id, "name": call.name, "input": {}})
        )
        if pings and n == 0:
            frames.append(Frame({"type": "ping"}, "ping"))
        raw = raw_inputs[n] if raw_inputs is not None else json.dumps(call.input)
        for piece in _split(raw, json_chunk):
            frames.append(_delta(index, {"type": "input_json_delta", "partial_json": piece}))
        frames.append(Frame({"type": "content_block_stop", "index": index}, "content_block_stop"))
        index += 1
    reason = stop_reason or ("tool_use" if tool_calls else "end_turn")
    frames.append(
        Frame(
            {
                "type": "message_delta",
                "delta": {"stop_reason": reason, "stop_sequence": None},
                "usage": {"output_tokens": output_tokens},
            },
            "message_delta",
        )
    )
    frames.append(Frame({"type": "message_stop"}, "message_stop"))
    return frames


def anthropic_error_frame(kind: str = "overloaded_error", message: str = "Overloaded") -> Frame:
    return Frame({"type": "error", "error": {"type": kind, "message": message}}, "error")


def anthropic_http_error(
    status: int, kind: str, message: str, headers: dict[str, str] | None = None
) -> HttpError:
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return HttpError(status, body, dict(headers or {}))


def _block_start(index: int, block: dict[str, Any]) -> Frame:
    return Frame(
        {"type": "content_block_start", "index": index, "content_block": block},
        "content_block_start",
    )


def _delta(index: int, delta: dict[str, Any]) -> Frame:
    return Frame(
        {"type": "content_block_delta", "index": index, "delta": delta}, "content_block_delta"
    )


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


# --- OpenAI frames ----------------------------------------------------------------------------


def openai_turn(
    *,
    text: str | None = None,
    tool_calls: Sequence[ToolCall] = (),
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    cached_tokens: int | None = None,
    finish_reason: str | None = None,
    model: str = "gpt-test",
    text_chunks: int = 3,
    arg_chunk: int = 7,
    include_usage: bool = True,
    raw_arguments: Sequence[str] | None = None,
) -> list[Frame]:
    """Chunks of one streamed chat completion; `raw_arguments` overrides each call's JSON."""

    def chunk(delta: dict[str, Any], finish: str | None = None) -> Frame:
        return Frame(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion.chunk",
                "created": 1700000000,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }
        )

    frames = [chunk({"role": "assistant", "content": ""})]
    if text:
        for piece in _split(text, max(1, -(-len(text) // text_chunks))):
            frames.append(chunk({"content": piece}))
    for n, call in enumerate(tool_calls):
        head = {"index": n, "id": call.id or f"call_fake_{n}", "type": "function"}
        frames.append(
            chunk({"tool_calls": [{**head, "function": {"name": call.name, "arguments": ""}}]})
        )
        arguments = raw_arguments[n] if raw_arguments is not None else json.dumps(call.input)
        for piece in _split(arguments, arg_chunk):
            frames.append(chunk({"tool_calls": [{"index": n, "function": {"arguments": piece}}]}))
    frames.append(chunk({}, finish_reason or ("tool_calls" if tool_calls else "stop")))
    if include_usage:
        usage: dict[str, Any] = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        if cached_tokens is not None:
            usage["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
        frames.append(
            Frame(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 1700000000,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
            )
        )
    frames.append(Frame("[DONE]"))
    return frames


def openai_http_error(
    status: int, message: str, headers: dict[str, str] | None = None
) -> HttpError:
    body = {"error": {"message": message, "type": "server_error", "code": None}}
    return HttpError(status, body, dict(headers or {}))


# --- the server -------------------------------------------------------------------------------


class FakeLLMServer:
    """Scripted responses in, recorded requests out. Use `running()` to start and stop it."""

    def __init__(self) -> None:
        self._queue: deque[Scripted] = deque()
        # Answers a request when nothing is queued (e.g. a replay of a whole trajectory).
        self.responder: Callable[[str, Any], Scripted] | None = None
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.frames_sent = 0  # SSE frames written so far, over all responses
        self._stopping = threading.Event()  # ends every hold, so the server can stop
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.app = Starlette(
            routes=[
                Route("/v1/messages", self._handle, methods=["POST"]),
                Route("/v1/chat/completions", self._handle, methods=["POST"]),
            ]
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def anthropic_base_url(self) -> str:
        return self.base_url

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    def script(self, *responses: Scripted | Sequence[Frame | Hold]) -> None:
        """Queue responses; a bare list of frames means `Stream(frames)`."""
        with self._lock:
            for response in responses:
                if isinstance(response, Stream | HttpError):
                    self._queue.append(response)
                else:
                    self._queue.append(Stream(list(response)))

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._queue)

    def _frame_sent(self) -> None:
        with self._lock:
            self.frames_sent += 1

    def bodies(self) -> list[Any]:
        return [r.body for r in self.requests]

    async def _handle(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        with self._lock:
            self.requests.append(
                RecordedRequest(request.url.path, dict(request.headers), body, time.monotonic())
            )
            response = self._queue.popleft() if self._queue else None
            if response is None and self.responder is not None:
                response = self.responder(request.url.path, body)
        if response is None:
            # 418: not retryable, so a test that under-scripts fails fast and says why.
            message = "fake server: no scripted response left"
            return JSONResponse(
                {"type": "error", "error": {"type": "invalid_request_error", "message": message}},
                status_code=418,
            )
        if isinstance(response, HttpError):
            return JSONResponse(response.body, response.status, headers=response.headers)
        return StreamingResponse(
            _emit(response.items, self._stopping, self._frame_sent),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", **response.headers},
        )

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._socket = sock
        config = uvicorn.Config(
            self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.run(sockets=[sock]), name="fake-llm-server", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 60  # only bounds the wait: it starts at once
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake LLM server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._socket is not None:
            self._socket.close()


async def _emit(
    items: Sequence[Frame | Hold], stopping: threading.Event, sent: Callable[[], None] | None = None
) -> AsyncIterator[bytes]:
    for item in items:
        if isinstance(item, Hold):
            while not (item.release.is_set() or stopping.is_set()):
                await asyncio.sleep(0.01)
        else:
            yield item.encode()
            if sent is not None:
                sent()


@contextmanager
def running() -> Iterator[FakeLLMServer]:
    server = FakeLLMServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- a stall the client must notice -----------------------------------------------------------

SLOWEST_STALL_TIMEOUT_S = 16.0


class _TooSlow(Exception):
    """The stall's short read timeout ran out before the client had read what came first."""


@dataclass(frozen=True)
class ThroughAStall:
    """What `complete_through_a_stall` saw in the round that reached the stall."""

    turn: AssistantTurn
    streamed: list[str]
    requests: list[RecordedRequest]


def streamed_text(frames: Sequence[Frame]) -> str:
    """The text deltas among Anthropic or OpenAI frames, joined: what a client streams."""
    pieces: list[str] = []
    for frame in frames:
        data = frame.data if isinstance(frame.data, dict) else {}
        delta = data.get("delta", {})
        if data.get("type") == "content_block_delta" and delta.get("type") == "text_delta":
            pieces.append(delta["text"])
        for choice in data.get("choices", []):
            pieces.append(choice.get("delta", {}).get("content") or "")
    return "".join(pieces)


def complete_through_a_stall(
    open_model: Callable[[FakeLLMServer, float], AnthropicModel | OpenAIModel],
    request: ModelRequest,
    stalled: Sequence[Frame],
    answer: Sequence[Frame],
    *,
    stall_timeout_s: float = 0.5,
    read_timeout_s: float = 60.0,
) -> ThroughAStall:
    """`complete` on a model (`open_model(server, read timeout)`) whose first answer sends
    `stalled` and then nothing until the server stops, and whose retry gets `answer`.

    The short timeout must run out during the stall: that is what is tested. On a loaded
    machine it can run out earlier, while the server thread (in this process) has yet to send
    what comes first; the client has then not streamed all of it when the retry is due, and
    the round is dropped (with its server, whose late answers could go to the next round)
    and run again with twice the timeout. Before the retry the short timeout gives way to
    `read_timeout_s`, so the retry's answer cannot look like a second stall either. The retry
    runs inside `complete`: hence `on_retry` and the model's own client."""

    def one_round(timeout_s: float) -> ThroughAStall:
        with running() as server:
            server.script(Stream([*stalled, Hold()]), answer)
            model = open_model(server, timeout_s)
            streamed: list[str] = []
            told = model.retry.on_retry

            def before_retry(notice: RetryNotice) -> None:
                if "".join(streamed) != streamed_text(stalled):
                    raise _TooSlow
                if told is not None:
                    told(notice)
                model._client = model._client.with_options(timeout=read_timeout_s)

            model.retry = dataclasses.replace(model.retry, on_retry=before_retry)
            turn = model.complete(request, streamed.append)
            return ThroughAStall(turn, streamed, list(server.requests))

    while True:
        try:
            return one_round(stall_timeout_s)
        except _TooSlow:
            if stall_timeout_s >= SLOWEST_STALL_TIMEOUT_S:
                raise AssertionError(
                    f"the stream never reached its stall within {stall_timeout_s:g} s"
                ) from None
            stall_timeout_s *= 2
