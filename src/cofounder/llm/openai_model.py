"""OpenAIModel: the `openai:MODEL` provider, over the official SDK's chat-completions streaming.

One provider for every OpenAI-compatible server: api.openai.com, vLLM, Ollama, llama.cpp's
server, LiteLLM, OpenRouter — point `OPENAI_BASE_URL` at it. A base URL without a key is allowed
(local servers accept any key; a placeholder is sent).

Conversation mapping: assistant tool_use blocks -> `tool_calls`; user tool_result blocks ->
`role: tool` messages, in order, right after the assistant message that asked for them (the
API requires that); other user blocks follow as one user message. Chat completions has no
error flag on tool results, so a failed result's content is prefixed with "ERROR: ".

Malformed tool-call arguments (not JSON, or JSON that is not an object) raise ModelError rather
than becoming `{}`: an empty input would run the tool with arguments the model never gave, and
the recorded turn would misstate what the model said.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx2
import openai

from cofounder.llm.messages import (
    AssistantTurn,
    ContentBlock,
    ImageBlock,
    Message,
    StopReason,
    TextBlock,
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
    Usage,
)
from cofounder.llm.protocol import ModelError, ModelRequest, TextSink
from cofounder.llm.retry import Retry, RetryPolicy, call_with_retries, parse_retry_after

API_KEY_ENV = "OPENAI_API_KEY"
BASE_URL_ENV = "OPENAI_BASE_URL"
PLACEHOLDER_KEY = "not-needed"
ERROR_PREFIX = "ERROR: "

MaxTokensField = Literal["max_completion_tokens", "max_tokens"]

_RETRY_STATUSES = frozenset({408, 409, 429})
_FINISH_REASONS: dict[str, StopReason] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}


class IncompleteStreamError(Exception):
    """The stream ended without a finish_reason: retried."""


class OpenAIModel:
    """`openai:MODEL`. Needs OPENAI_API_KEY, or OPENAI_BASE_URL for a keyless local server.

    `max_tokens_field`: api.openai.com wants `max_completion_tokens` (newer models refuse
    `max_tokens`); many local servers only know `max_tokens`. Default: the former without a
    base URL, the latter with one.
    """

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 120.0,
        retry: RetryPolicy | None = None,
        max_tokens_field: MaxTokensField | None = None,
    ) -> None:
        url = base_url if base_url is not None else (os.environ.get(BASE_URL_ENV) or None)
        key = (api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")).strip()
        if not key:
            if url is None:
                raise ModelError(
                    f"model openai:{model} needs an API key: set {API_KEY_ENV}, or set"
                    f" {BASE_URL_ENV} to a local OpenAI-compatible server that needs none"
                )
            key = PLACEHOLDER_KEY
        self.model = model
        self.base_url = url
        self.retry = retry if retry is not None else RetryPolicy()
        self.max_tokens_field: MaxTokensField = max_tokens_field or (
            "max_completion_tokens" if url is None else "max_tokens"
        )
        self._client = openai.OpenAI(
            api_key=key,
            base_url=url,
            timeout=openai.Timeout(read_timeout_s, connect=connect_timeout_s),
            max_retries=0,
        )

    @property
    def spec(self) -> str:
        return f"openai:{self.model}"

    def request_params(self, request: ModelRequest) -> dict[str, Any]:
        """The exact keyword arguments given to `chat.completions.create`."""
        params: dict[str, Any] = {
            "model": self.model,
            "messages": to_openai_messages(request),
            "stream": True,
            "stream_options": {"include_usage": True},
            self.max_tokens_field: request.max_tokens,
        }
        if request.tools:
            params["tools"] = [_tool(t) for t in request.tools]
        return params

    def complete(self, request: ModelRequest, on_text: TextSink | None = None) -> AssistantTurn:
        params = self.request_params(request)

        def attempt() -> AssistantTurn:
            return self._stream_once(params, on_text)

        return call_with_retries(
            attempt, policy=self.retry, classify=classify_openai_error, what=self.spec
        )

    def _stream_once(self, params: dict[str, Any], on_text: TextSink | None) -> AssistantTurn:
        acc = _Accumulator()
        stream = self._client.chat.completions.create(**params)
        with stream:
            for chunk in stream:
                acc.add(chunk.model_dump(mode="json", exclude_unset=False), on_text)
        return acc.turn(fallback_model=self.model)


def classify_openai_error(exc: Exception) -> Retry | ModelError | None:
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status in _RETRY_STATUSES or status >= 500:
            return Retry(f"HTTP {status}: {exc.message}", parse_retry_after(exc.response.headers))
        return ModelError(f"openai rejected the request (HTTP {status}): {exc.message}")
    if isinstance(exc, openai.APITimeoutError):
        return Retry("timed out (no data within the read timeout)")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        return Retry(f"connection failed: {type(cause).__name__ if cause else exc.message}")
    if isinstance(exc, openai.APIResponseValidationError):
        return ModelError(f"openai-compatible server sent an invalid response: {exc.message}")
    if isinstance(exc, openai.APIError):  # an error object inside the stream
        return Retry(f"error mid-stream: {exc.message}")
    if isinstance(exc, httpx2.TimeoutException):
        return Retry(f"the stream stalled ({type(exc).__name__})")
    if isinstance(exc, httpx2.TransportError):
        return Retry(f"the stream broke ({type(exc).__name__}: {exc})")
    if isinstance(exc, IncompleteStreamError):
        return Retry(str(exc))
    if isinstance(exc, openai.OpenAIError):
        return ModelError(f"openai client error: {exc}")
    return None


# --- our request -> chat messages ----------------------------------------------------------------


def to_openai_messages(request: ModelRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if request.system:
        out.append({"role": "system", "content": request.system})
    for message in request.messages:
        out.extend(_assistant(message) if message.role == "assistant" else _user(message))
    return out


def _assistant(message: Message) -> list[dict[str, Any]]:
    text = "".join(b.text for b in message.content if isinstance(b, TextBlock))
    calls = [
        {
            "id": b.id,
            "type": "function",
            "function": {"name": b.name, "arguments": json.dumps(b.input, ensure_ascii=False)},
        }
        for b in message.content
        if isinstance(b, ToolUseBlock)
    ]
    entry: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        entry["tool_calls"] = calls
    return [entry]


def _user(message: Message) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in message.content:
        if isinstance(block, ToolResultBlock):
            content = ERROR_PREFIX + block.content if block.is_error else block.content
            out.append({"role": "tool", "tool_call_id": block.tool_use_id, "content": content})
        elif isinstance(block, TextBlock):
            if block.text:
                parts.append({"type": "text", "text": block.text})
        elif isinstance(block, ImageBlock):
            parts.append(_image(block))
        else:
            raise ModelError("a user message cannot contain tool_use blocks")
    if parts:
        if all(p["type"] == "text" for p in parts):
            out.append({"role": "user", "content": "\n\n".join(p["text"] for p in parts)})
        else:
            out.append({"role": "user", "content": parts})
    return out


def _image(block: ImageBlock) -> dict[str, Any]:
    if block.data is None:
        raise ModelError(
            f"an image block ({block.media_type}, ref {block.ref!r}) has no data: images are"
            " stored by reference and must be resolved to base64 data before a model call"
        )
    url = f"data:{block.media_type};base64,{block.data}"
    return {"type": "image_url", "image_url": {"url": url}}


def _tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": dict(tool.input_schema),
        },
    }


# --- streamed chunks -> our turn -----------------------------------------------------------------


@dataclass
class _Call:
    id: str = ""
    name: str = ""
    arguments: str = ""


@dataclass
class _Accumulator:
    text: list[str] = field(default_factory=list)
    calls: dict[int, _Call] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    model: str | None = None

    def add(self, chunk: dict[str, Any], on_text: TextSink | None) -> None:
        self.model = chunk.get("model") or self.model
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            content = delta.get("content")
            if content:
                self.text.append(content)
                if on_text is not None:
                    on_text(content)
            for call in delta.get("tool_calls") or []:
                slot = self.calls.setdefault(int(call.get("index") or 0), _Call())
                slot.id = call.get("id") or slot.id
                function = call.get("function") or {}
                slot.name = function.get("name") or slot.name
                slot.arguments += function.get("arguments") or ""
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]

    def turn(self, *, fallback_model: str) -> AssistantTurn:
        if self.finish_reason is None:
            raise IncompleteStreamError("the stream ended without a finish_reason")
        blocks: list[ContentBlock] = []
        text = "".join(self.text)
        if text:
            blocks.append(TextBlock(text=text))
        for index in sorted(self.calls):
            blocks.append(self._tool_use(index, self.calls[index]))
        stop = _FINISH_REASONS.get(self.finish_reason, "end_turn")
        if stop == "end_turn" and self.calls:
            stop = "tool_use"  # some local servers say "stop" after tool calls
        return AssistantTurn(
            blocks=blocks,
            stop_reason=stop,
            usage=_usage(self.usage),
            model=self.model or fallback_model,
        )

    @staticmethod
    def _tool_use(index: int, call: _Call) -> ToolUseBlock:
        if not call.name:
            raise ModelError(f"tool call #{index} in the stream has no function name")
        raw = call.arguments.strip()
        try:
            parsed: object = json.loads(raw) if raw else {}
        except json.JSONDecodeError as exc:
            raise ModelError(
                f"tool call {call.name!r} has arguments that are not valid JSON ({exc.msg} at"
                f" char {exc.pos}): {raw[:200]!r}"
            ) from None
        if not isinstance(parsed, dict):
            raise ModelError(
                f"tool call {call.name!r} arguments must be a JSON object, got {raw[:200]!r}"
            )
        return ToolUseBlock(id=call.id or f"call_{index}", name=call.name, input=parsed)


def _usage(raw: dict[str, Any] | None) -> Usage:
    """prompt_tokens includes cached (and cache-written) tokens; ours are disjoint counts."""
    if not raw:
        return Usage()
    details = raw.get("prompt_tokens_details") or {}
    cached = _count(details.get("cached_tokens"))
    written = _count(details.get("cache_write_tokens"))
    prompt = _count(raw.get("prompt_tokens"))
    return Usage(
        input_tokens=max(prompt - cached - written, 0),
        output_tokens=_count(raw.get("completion_tokens")),
        cache_read_tokens=cached,
        cache_write_tokens=written,
    )


def _count(value: object) -> int:
    return value if isinstance(value, int) and value > 0 else 0


__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "PLACEHOLDER_KEY",
    "OpenAIModel",
    "classify_openai_error",
    "to_openai_messages",
]
