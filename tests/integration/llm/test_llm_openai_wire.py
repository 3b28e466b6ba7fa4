"""OpenAIModel through the real `openai` SDK against a fake chat-completions streaming server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cofounder.llm import (
    Message,
    ModelError,
    ModelRequest,
    ModelUnavailableError,
    RetryPolicy,
    TextBlock,
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
    load_model,
)
from cofounder.llm.openai_model import OpenAIModel
from fakes.llm_wire import (
    FakeLLMServer,
    ToolCall,
    complete_through_a_stall,
    openai_http_error,
    openai_turn,
    running,
)

TOOLS = [
    ToolSpec(
        name="write_file",
        description="Write a file",
        input_schema={"type": "object", "properties": {"path": {"type": "string"}}},
    )
]


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with running() as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    return []


# A read timeout no answer of the fake server runs into by being slow (a timeout would be a
# retry the script has no answer for); the stall test's short one is complete_through_a_stall's.
READ_TIMEOUT_S = 60.0


def model(
    server: FakeLLMServer,
    sleeps: list[float],
    retry: RetryPolicy | None = None,
    read_timeout_s: float = READ_TIMEOUT_S,
) -> OpenAIModel:
    return OpenAIModel(
        "gpt-test",
        api_key="sk-test",
        base_url=server.openai_base_url,
        read_timeout_s=read_timeout_s,
        retry=retry or RetryPolicy(sleep=sleeps.append, rng=lambda low, high: high),
    )


def ask() -> ModelRequest:
    return ModelRequest(
        system="You are Cofounder.",
        messages=[Message(role="user", content=[TextBlock(text="Build it")])],
        tools=TOOLS,
        max_tokens=2048,
    )


def test_text_streams_and_tool_calls_accumulate(server: FakeLLMServer, sleeps: list[float]) -> None:
    big = {"path": "app/main.py", "content": "x = {'a': [1, 2]}\n" * 4}
    server.script(
        openai_turn(
            text="Two files.",
            tool_calls=[
                ToolCall("write_file", big, id="call_1"),
                ToolCall("write_file", {"path": "b"}, id="call_2"),
            ],
            arg_chunk=3,
        )
    )
    seen: list[str] = []

    turn = model(server, sleeps).complete(ask(), seen.append)

    assert "".join(seen) == turn.text == "Two files."
    assert len(seen) == 3
    assert turn.stop_reason == "tool_use"
    assert turn.tool_uses == [
        ToolUseBlock(id="call_1", name="write_file", input=big),
        ToolUseBlock(id="call_2", name="write_file", input={"path": "b"}),
    ]
    body = server.bodies()[0]
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "write_file",
                "description": "Write a file",
                "parameters": TOOLS[0].input_schema,
            },
        }
    ]
    assert body["max_tokens"] == 2048  # a base URL means a compatible server: plain max_tokens
    assert server.requests[0].headers["authorization"] == "Bearer sk-test"


def test_usage_with_cached_tokens(server: FakeLLMServer, sleeps: list[float]) -> None:
    server.script(openai_turn(text="ok", prompt_tokens=100, completion_tokens=7, cached_tokens=64))
    usage = model(server, sleeps).complete(ask()).usage
    assert (usage.input_tokens, usage.cache_read_tokens) == (36, 64)
    assert (usage.output_tokens, usage.cache_write_tokens) == (7, 0)


def test_conversation_maps_to_tool_calls_and_tool_messages(
    server: FakeLLMServer, sleeps: list[float]
) -> None:
    server.script(openai_turn(text="done", finish_reason="stop"))
    conversation = [
        Message(role="user", content=[TextBlock(text="Build it")]),
        Message(
            role="assistant",
            content=[
                TextBlock(text="Writing."),
                ToolUseBlock(id="c1", name="write_file", input={"path": "a", "n": 1}),
                ToolUseBlock(id="c2", name="write_file", input={"path": "é"}),
            ],
        ),
        Message(
            role="user",
            content=[
                ToolResultBlock(tool_use_id="c1", content="wrote a"),
                ToolResultBlock(tool_use_id="c2", content="disk full", is_error=True),
                TextBlock(text="Also add tests."),
            ],
        ),
    ]
    turn = model(server, sleeps).complete(
        ModelRequest(system="sys", messages=conversation, tools=TOOLS)
    )
    assert turn.stop_reason == "end_turn"

    messages = server.bodies()[0]["messages"]
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "tool", "user"]
    assistant = messages[2]
    assert assistant["content"] == "Writing."
    assert [c["id"] for c in assistant["tool_calls"]] == ["c1", "c2"]
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"path": "a", "n": 1}
    assert assistant["tool_calls"][1]["function"]["name"] == "write_file"
    assert messages[3] == {"role": "tool", "tool_call_id": "c1", "content": "wrote a"}
    assert messages[4] == {"role": "tool", "tool_call_id": "c2", "content": "ERROR: disk full"}
    assert messages[5] == {"role": "user", "content": "Also add tests."}


def test_429_with_retry_after_then_503_then_success(
    server: FakeLLMServer, sleeps: list[float]
) -> None:
    server.script(
        openai_http_error(429, "rate limited", {"retry-after": "3"}),
        openai_http_error(503, "unavailable"),
        openai_turn(text="ok"),
    )
    assert model(server, sleeps).complete(ask()).text == "ok"
    assert len(server.requests) == 3
    assert sleeps == [3.0, 2.0]


def test_a_stalled_stream_is_retried(sleeps: list[float]) -> None:
    frames = openai_turn(text="slow answer")

    def stalling(fake: FakeLLMServer, read_timeout_s: float) -> OpenAIModel:
        return model(fake, sleeps, read_timeout_s=read_timeout_s)

    seen = complete_through_a_stall(stalling, ask(), frames[:2], frames)  # a 0.5 s stall timeout
    assert seen.turn.text == "slow answer"
    assert len(seen.requests) == 2


def test_exhaustion_raises_model_unavailable(server: FakeLLMServer, sleeps: list[float]) -> None:
    server.script(*[openai_http_error(503, "unavailable")] * 3)
    policy = RetryPolicy(max_attempts=3, sleep=sleeps.append, rng=lambda low, high: high)
    with pytest.raises(ModelUnavailableError, match=r"gave up after 3 attempts.*HTTP 503"):
        model(server, sleeps, retry=policy).complete(ask())
    assert len(server.requests) == 3


@pytest.mark.parametrize("status", [400, 401])
def test_client_errors_are_not_retried(
    server: FakeLLMServer, sleeps: list[float], status: int
) -> None:
    server.script(openai_http_error(status, "you did something wrong"))
    with pytest.raises(ModelError, match=f"HTTP {status}.*you did something wrong") as caught:
        model(server, sleeps).complete(ask())
    assert not isinstance(caught.value, ModelUnavailableError)
    assert len(server.requests) == 1


def test_invalid_tool_arguments_are_a_clear_error(
    server: FakeLLMServer, sleeps: list[float]
) -> None:
    server.script(
        openai_turn(tool_calls=[ToolCall("write_file", {})], raw_arguments=['{"path": "a",'])
    )
    with pytest.raises(ModelError, match="'write_file' has arguments that are not valid JSON"):
        model(server, sleeps).complete(ask())
    assert len(server.requests) == 1


def test_keyless_local_server_gets_a_placeholder_key(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
    server.script(openai_turn(text="local", include_usage=False))

    loaded = load_model("openai:qwen2.5-coder", base_dir=tmp_path)
    turn = loaded.complete(ask())

    assert turn.text == "local"
    assert turn.usage.input_tokens == 0  # the server sent no usage chunk
    assert server.requests[0].headers["authorization"] == "Bearer not-needed"
    assert server.bodies()[0]["model"] == "qwen2.5-coder"


def test_no_key_and_no_base_url_refuses_at_load(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ModelError, match=r"openai:gpt-4o needs an API key.*OPENAI_API_KEY"):
        load_model("openai:gpt-4o", base_dir=tmp_path)


def test_official_endpoint_uses_max_completion_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    params = OpenAIModel("gpt-5", api_key="sk-x").request_params(ask())
    assert params["max_completion_tokens"] == 2048 and "max_tokens" not in params
