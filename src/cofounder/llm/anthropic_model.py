"""AnthropicModel: the `anthropic:MODEL` provider, over the official SDK's Messages streaming API.

- Text deltas reach `on_text` as they arrive; the final message is converted to our own
  `AssistantTurn` (no SDK object leaves this module).
- Prompt caching: up to four `cache_control` breakpoints, the API's maximum — the last tool
  and the system prompt (the stable prefix), the last block of the last message (this turn's
  moving end, written to the cache), and the last block of the previous request's last message
  (so this turn reads what the previous turn wrote, however many blocks were added since).
- Our own retries (see `retry.py`); the SDK's are off, since they miss mid-stream failures.
"""

from __future__ import annotations

import os
from typing import Any

import anthropic
import httpx2

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

API_KEY_ENV = "ANTHROPIC_API_KEY"
BASE_URL_ENV = "ANTHROPIC_BASE_URL"
EPHEMERAL: dict[str, str] = {"type": "ephemeral"}

# HTTP statuses worth another try: rate limited, overloaded, server-side trouble.
_RETRY_STATUSES = frozenset({408, 409, 429, 529})
# `error` events mid-stream that no retry can fix.
_PERMANENT_STREAM_ERRORS = frozenset(
    {
        "invalid_request_error",
        "authentication_error",
        "permission_error",
        "not_found_error",
        "request_too_large",
        "billing_error",
    }
)
_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "stop_sequence": "stop_sequence",
    "refusal": "refusal",
    "model_context_window_exceeded": "max_tokens",
    "pause_turn": "end_turn",
}


class IncompleteStreamError(Exception):
    """The stream ended cleanly but before `message_stop` (no stop reason): retried."""


class AnthropicModel:
    """`anthropic:MODEL`. The key is required at construction, so a build refuses at start."""

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        connect_timeout_s: float = 10.0,
        read_timeout_s: float = 120.0,
        retry: RetryPolicy | None = None,
        prompt_caching: bool = True,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV, "")
        if not key.strip():
            raise ModelError(
                f"model anthropic:{model} needs an API key: set {API_KEY_ENV}"
                f" (and {BASE_URL_ENV} to use another endpoint)"
            )
        url = base_url if base_url is not None else (os.environ.get(BASE_URL_ENV) or None)
        self.model = model
        self.base_url = url
        self.retry = retry if retry is not None else RetryPolicy()
        self.prompt_caching = prompt_caching
        self._client = anthropic.Anthropic(
            api_key=key.strip(),
            base_url=url,
            timeout=anthropic.Timeout(read_timeout_s, connect=connect_timeout_s),
            max_retries=0,
        )

    @property
    def spec(self) -> str:
        return f"anthropic:{self.model}"

    def request_params(self, request: ModelRequest) -> dict[str, Any]:
        """The exact keyword arguments given to `messages.stream` (public for tests/benchmarks)."""
        return to_anthropic_params(self.model, request, prompt_caching=self.prompt_caching)

    def complete(self, request: ModelRequest, on_text: TextSink | None = None) -> AssistantTurn:
        params = self.request_params(request)

        def attempt() -> AssistantTurn:
            return self._stream_once(params, on_text)

        return call_with_retries(
            attempt, policy=self.retry, classify=classify_anthropic_error, what=self.spec
        )

    def _stream_once(self, params: dict[str, Any], on_text: TextSink | None) -> AssistantTurn:
        try:
            with self._client.messages.stream(**params) as stream:
                for event in stream:
                    if event.type == "text" and on_text is not None and event.text:
                        on_text(event.text)
                final = stream.get_final_message()
        except ValueError as exc:
            if "tool parameter JSON" in str(exc):
                raise ModelError(f"{self.spec} sent malformed tool input: {exc}") from exc
            raise
        return from_anthropic_message(final.model_dump(mode="json"), fallback_model=self.model)


def classify_anthropic_error(exc: Exception) -> Retry | ModelError | None:
    """Transient (Retry) vs permanent (ModelError) for everything one streamed call can raise."""
    if isinstance(exc, anthropic.APIStatusError):
        status = exc.status_code
        detail = exc.api_message or exc.message
        if status == 200:  # an `event: error` after the stream began
            kind = exc.type or "error"
            if kind in _PERMANENT_STREAM_ERRORS:
                return ModelError(f"anthropic refused the request mid-stream ({kind}): {detail}")
            return Retry(f"error event mid-stream ({kind}): {detail}")
        if status in _RETRY_STATUSES or status >= 500:
            return Retry(f"HTTP {status}: {detail}", parse_retry_after(exc.response.headers))
        return ModelError(f"anthropic rejected the request (HTTP {status}): {detail}")
    if isinstance(exc, anthropic.APITimeoutError):
        return Retry(f"timed out: {exc.message}")
    if isinstance(exc, anthropic.APIConnectionError):
        return Retry(f"connection failed: {_cause(exc)}")
    if isinstance(exc, httpx2.TimeoutException):
        return Retry(f"the stream stalled ({type(exc).__name__})")
    if isinstance(exc, httpx2.TransportError):
        return Retry(f"the stream broke ({type(exc).__name__}: {exc})")
    if isinstance(exc, IncompleteStreamError):
        return Retry(str(exc))
    if isinstance(exc, anthropic.AnthropicError):
        return ModelError(f"anthropic client error: {exc}")
    return None


def _cause(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    return f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)


# --- our request -> SDK params ----------------------------------------------------------------


def to_anthropic_params(
    model: str, request: ModelRequest, *, prompt_caching: bool = True
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "model": model,
        "max_tokens": request.max_tokens,
        "messages": [_message(m) for m in request.messages],
    }
    if request.system:
        system: dict[str, Any] = {"type": "text", "text": request.system}
        if prompt_caching:
            system["cache_control"] = dict(EPHEMERAL)
        params["system"] = [system]
    if request.tools:
        tools = [_tool(t) for t in request.tools]
        if prompt_caching:
            tools[-1]["cache_control"] = dict(EPHEMERAL)
        params["tools"] = tools
    if prompt_caching:
        _mark_moving_end(params["messages"])
    return params


def _mark_moving_end(messages: list[dict[str, Any]]) -> None:
    """Breakpoints on the last message and on the last message of the previous request.

    The previous request ended with the user message just before the latest assistant message;
    marking it again makes this request read exactly the prefix the previous one wrote.
    """
    if not messages:
        return
    marks = [len(messages) - 1]
    last_assistant = max(
        (i for i, m in enumerate(messages) if m["role"] == "assistant"), default=None
    )
    if last_assistant is not None and last_assistant > 0:
        marks.append(last_assistant - 1)
    for index in marks:
        content = messages[index]["content"]
        if content:
            content[-1]["cache_control"] = dict(EPHEMERAL)


def _tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "name": tool.name,
        "description": tool.description,
        "input_schema": dict(tool.input_schema),
    }


def _message(message: Message) -> dict[str, Any]:
    blocks = [b for b in (_block(block) for block in message.content) if b is not None]
    return {"role": message.role, "content": blocks}


def _block(block: ContentBlock) -> dict[str, Any] | None:
    if isinstance(block, TextBlock):
        # The API rejects empty text blocks; an empty one carries nothing anyway.
        return {"type": "text", "text": block.text} if block.text else None
    if isinstance(block, ToolUseBlock):
        return {"type": "tool_use", "id": block.id, "name": block.name, "input": block.input}
    if isinstance(block, ToolResultBlock):
        result: dict[str, Any] = {
            "type": "tool_result",
            "tool_use_id": block.tool_use_id,
            "content": block.content,
        }
        if block.is_error:
            result["is_error"] = True
        return result
    return _image(block)


def _image(block: ImageBlock) -> dict[str, Any]:
    if block.data is None:
        raise ModelError(
            f"an image block ({block.media_type}, ref {block.ref!r}) has no data: images are"
            " stored by reference and must be resolved to base64 data before a model call"
        )
    return {
        "type": "image",
        "source": {"type": "base64", "media_type": block.media_type, "data": block.data},
    }


# --- SDK final message -> our turn -------------------------------------------------------------


def from_anthropic_message(message: dict[str, Any], *, fallback_model: str) -> AssistantTurn:
    """Convert a final Message (as plain JSON data) to an AssistantTurn."""
    raw_stop = message.get("stop_reason")
    if raw_stop is None:
        raise IncompleteStreamError("the stream ended before message_stop (no stop reason)")
    blocks: list[ContentBlock] = []
    for block in message.get("content") or []:
        kind = block.get("type")
        if kind == "text" and block.get("text"):
            blocks.append(TextBlock(text=block["text"]))
        elif kind == "tool_use":
            tool_input = block.get("input")
            if not isinstance(tool_input, dict):
                raise ModelError(
                    f"tool_use {block.get('name')!r} input is not a JSON object: {tool_input!r}"
                )
            blocks.append(ToolUseBlock(id=block["id"], name=block["name"], input=tool_input))
        # thinking, server-tool and other block kinds are not part of our conversation model.
    usage = message.get("usage") or {}
    stop_reason = _STOP_REASONS.get(str(raw_stop), "end_turn")
    return AssistantTurn(
        blocks=blocks,
        stop_reason=stop_reason,
        usage=Usage(
            input_tokens=_count(usage.get("input_tokens")),
            output_tokens=_count(usage.get("output_tokens")),
            cache_write_tokens=_count(usage.get("cache_creation_input_tokens")),
            cache_read_tokens=_count(usage.get("cache_read_input_tokens")),
        ),
        model=str(message.get("model") or fallback_model),
    )


def _count(value: object) -> int:
    return value if isinstance(value, int) and value > 0 else 0


__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "AnthropicModel",
    "IncompleteStreamError",
    "classify_anthropic_error",
    "from_anthropic_message",
    "to_anthropic_params",
]
