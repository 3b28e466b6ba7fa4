"""AnthropicModel through the real `anthropic` SDK against a fake Messages streaming server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cofounder.llm import (
    ImageBlock,
    Message,
    ModelError,
    ModelRequest,
    ModelUnavailableError,
    RetryNotice,
    RetryPolicy,
    TextBlock,
    ToolResultBlock,
    ToolSpec,
    ToolUseBlock,
    load_model,
)
from cofounder.llm.anthropic_model import AnthropicModel
from fakes.llm_wire import (
    FakeLLMServer,
    Hold,
    Stream,
    ToolCall,
    anthropic_error_frame,
    anthropic_http_error,
    anthropic_turn,
    complete_through_a_stall,
    running,
)

TOOLS = [
    ToolSpec(name="read_file", description="Read a file", input_schema={"type": "object"}),
    ToolSpec(name="write_file", description="Write a file", input_schema={"type": "object"}),
]


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with running() as fake:
        yield fake


class Waits:
    """Records the retry waits instead of sleeping; jitter always picks its ceiling."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self.notices: list[RetryNotice] = []

    def policy(self, **overrides: float) -> RetryPolicy:
        return RetryPolicy(
            sleep=self.sleeps.append,
            rng=lambda low, high: high,
            on_retry=self.notices.append,
            **overrides,  # type: ignore[arg-type]
        )


@pytest.fixture
def waits() -> Waits:
    return Waits()


# A read timeout no answer of the fake server runs into by being slow (a timeout would be a
# retry the script has no answer for); the stall tests' short one is complete_through_a_stall's.
READ_TIMEOUT_S = 60.0


def model(server: FakeLLMServer, waits: Waits, **kwargs: object) -> AnthropicModel:
    options: dict[str, object] = {"read_timeout_s": READ_TIMEOUT_S, **kwargs}
    return AnthropicModel(
        "claude-test",
        api_key="test-key",
        base_url=server.anthropic_base_url,
        retry=waits.policy(),
        **options,  # type: ignore[arg-type]
    )


def ask(text: str = "Build me a habit tracker") -> ModelRequest:
    return ModelRequest(
        system="You are Cofounder.",
        messages=[Message(role="user", content=[TextBlock(text=text)])],
        tools=TOOLS,
        max_tokens=1024,
    )


def test_text_reaches_on_text_in_order_as_it_arrives(server: FakeLLMServer, waits: Waits) -> None:
    frames = anthropic_turn(text="Let me start by planning.", text_chunks=4)
    first_delta = next(i for i, f in enumerate(frames) if f.event == "content_block_delta")
    hold = Hold()  # the server sends the rest only once the first text has reached us
    server.script(Stream([*frames[: first_delta + 1], hold, *frames[first_delta + 1 :]]))
    seen: list[tuple[str, int, bool]] = []

    def on_text(text: str) -> None:
        seen.append((text, server.frames_sent, hold.release.is_set()))
        hold.release.set()

    turn = model(server, waits).complete(ask(), on_text)

    assert "".join(t for t, _, _ in seen) == turn.text == "Let me start by planning."
    assert len(seen) == 4
    # The first delta reached us while the server was still holding the rest back (a client
    # that kept it until more came would wait out its read timeout and fail), and the next
    # only after the hold.
    # The server's counter only bounds it: it counts a frame once written, which can be after
    # the client has read it.
    assert seen[0][1] <= first_delta + 1 and not seen[0][2]
    assert all(released for _, _, released in seen[1:])
    assert turn.stop_reason == "end_turn"
    assert turn.model == "claude-test"


def test_tool_use_input_is_parsed_from_chunked_json(server: FakeLLMServer, waits: Waits) -> None:
    tool_input = {
        "path": "app/main.py",
        "content": 'print("héllo, wörld")\n' * 3,
        "options": {"mode": 0o644, "tags": ["a", "b"], "overwrite": True},
    }
    server.script(
        anthropic_turn(
            text="Writing the entry point.",
            tool_calls=[
                ToolCall("write_file", tool_input, id="toolu_A"),
                ToolCall("read_file", {"path": "README.md"}, id="toolu_B"),
            ],
            json_chunk=4,
        )
    )

    turn = model(server, waits).complete(ask())

    assert turn.stop_reason == "tool_use"
    assert turn.blocks[0] == TextBlock(text="Writing the entry point.")
    assert turn.tool_uses == [
        ToolUseBlock(id="toolu_A", name="write_file", input=tool_input),
        ToolUseBlock(id="toolu_B", name="read_file", input={"path": "README.md"}),
    ]
    # plain data only: the turn round-trips through JSON
    assert type(turn).model_validate_json(turn.model_dump_json()) == turn


def test_malformed_tool_input_is_a_clear_error_and_not_retried(
    server: FakeLLMServer, waits: Waits
) -> None:
    server.script(
        anthropic_turn(tool_calls=[ToolCall("write_file", {})], raw_inputs=['{"path": ]'])
    )
    with pytest.raises(ModelError, match="malformed tool input") as caught:
        model(server, waits).complete(ask())
    assert not isinstance(caught.value, ModelUnavailableError)
    assert len(server.requests) == 1


def test_usage_includes_cache_fields(server: FakeLLMServer, waits: Waits) -> None:
    server.script(
        anthropic_turn(text="ok", input_tokens=42, output_tokens=37, cache_write=10, cache_read=30)
    )
    usage = model(server, waits).complete(ask()).usage
    assert (usage.input_tokens, usage.output_tokens) == (42, 37)
    assert (usage.cache_write_tokens, usage.cache_read_tokens) == (10, 30)


def _conversation() -> list[Message]:
    return [
        Message(role="user", content=[TextBlock(text="Build me a habit tracker")]),
        Message(
            role="assistant",
            content=[
                TextBlock(text="Looking around."),
                ToolUseBlock(id="t1", name="read_file", input={"path": "a"}),
                ToolUseBlock(id="t2", name="read_file", input={"path": "b"}),
            ],
        ),
        Message(
            role="user",
            content=[
                ToolResultBlock(tool_use_id="t1", content="A"),
                ToolResultBlock(tool_use_id="t2", content="no such file", is_error=True),
            ],
        ),
        Message(
            role="assistant",
            content=[ToolUseBlock(id="t3", name="write_file", input={"path": "c"})],
        ),
        Message(role="user", content=[ToolResultBlock(tool_use_id="t3", content="written")]),
    ]


def _marked(body: Any) -> list[str]:
    """Where cache_control breakpoints are, as readable paths."""
    places: list[str] = []
    for i, tool in enumerate(body.get("tools", [])):
        if "cache_control" in tool:
            places.append(f"tools[{i}]")
    for i, block in enumerate(body.get("system", [])):
        if "cache_control" in block:
            places.append(f"system[{i}]")
    for m, message in enumerate(body["messages"]):
        for b, block in enumerate(message["content"]):
            if "cache_control" in block:
                places.append(f"messages[{m}].content[{b}]")
    return places


def test_cache_breakpoints_on_stable_prefix_and_moving_end(
    server: FakeLLMServer, waits: Waits
) -> None:
    server.script(anthropic_turn(text="first"), anthropic_turn(text="second"))
    m = model(server, waits)
    m.complete(ask())
    m.complete(ModelRequest(system="You are Cofounder.", messages=_conversation(), tools=TOOLS))

    first, second = server.bodies()
    assert _marked(first) == ["tools[1]", "system[0]", "messages[0].content[0]"]
    # the previous request ended at messages[2]; marking it makes this request read that prefix
    assert _marked(second) == [
        "tools[1]",
        "system[0]",
        "messages[2].content[1]",
        "messages[4].content[0]",
    ]
    assert second["system"] == [
        {"type": "text", "text": "You are Cofounder.", "cache_control": {"type": "ephemeral"}}
    ]
    # the wire form of our conversation
    assert second["messages"][1]["content"][1] == {
        "type": "tool_use",
        "id": "t1",
        "name": "read_file",
        "input": {"path": "a"},
    }
    assert second["messages"][2]["content"][1] == {
        "type": "tool_result",
        "tool_use_id": "t2",
        "content": "no such file",
        "is_error": True,
        "cache_control": {"type": "ephemeral"},
    }
    assert second["max_tokens"] == 8192 and second["stream"] is True


def test_caching_can_be_switched_off(server: FakeLLMServer, waits: Waits) -> None:
    server.script(anthropic_turn(text="ok"))
    model(server, waits, prompt_caching=False).complete(ask())
    assert "cache_control" not in str(server.bodies()[0])


def test_credentials_and_headers(server: FakeLLMServer, waits: Waits) -> None:
    server.script(anthropic_turn(text="ok"))
    model(server, waits).complete(ask())
    headers = server.requests[0].headers
    # anthropic 2.14 sends the API key as a bearer token (older SDKs used x-api-key)
    assert headers["authorization"] == "Bearer test-key"
    assert headers["x-stainless-retry-count"] == "0"
    assert "anthropic-version" in headers
    assert server.requests[0].path == "/v1/messages"


def test_529_twice_then_success(server: FakeLLMServer, waits: Waits) -> None:
    overloaded = anthropic_http_error(529, "overloaded_error", "Overloaded")
    server.script(overloaded, overloaded, anthropic_turn(text="finally"))

    turn = model(server, waits).complete(ask())

    assert turn.text == "finally"
    assert len(server.requests) == 3
    assert waits.sleeps == [1.0, 2.0]  # full jitter ceilings: base * 2**(n-1)
    assert [n.attempt for n in waits.notices] == [1, 2]
    assert "HTTP 529" in waits.notices[0].reason


def test_429_honours_retry_after(server: FakeLLMServer, waits: Waits) -> None:
    limited = anthropic_http_error(429, "rate_limit_error", "slow down", {"retry-after": "7"})
    server.script(limited, anthropic_turn(text="ok"))
    assert model(server, waits).complete(ask()).text == "ok"
    assert waits.sleeps == [7.0]
    assert len(server.requests) == 2


def test_500_is_retried(server: FakeLLMServer, waits: Waits) -> None:
    server.script(anthropic_http_error(500, "api_error", "boom"), anthropic_turn(text="ok"))
    assert model(server, waits).complete(ask()).text == "ok"
    assert len(server.requests) == 2


def test_a_stream_that_stalls_mid_message_is_retried(waits: Waits) -> None:
    frames = anthropic_turn(text="partial answer", tool_calls=[ToolCall("read_file", {"p": 1})])

    def stalling(fake: FakeLLMServer, read_timeout_s: float) -> AnthropicModel:
        return model(fake, waits, read_timeout_s=read_timeout_s)

    seen = complete_through_a_stall(stalling, ask(), frames[:5], frames)  # a 0.5 s stall timeout

    assert seen.turn.tool_uses[0].input == {"p": 1}
    assert len(seen.requests) == 2
    assert "stalled" in waits.notices[0].reason
    # text already streamed by the failed attempt is streamed again by the retry
    assert "".join(seen.streamed) == "partial an" + "partial answer"


def test_an_error_event_mid_stream_is_retried(server: FakeLLMServer, waits: Waits) -> None:
    frames = anthropic_turn(text="half")
    server.script(Stream([*frames[:4], anthropic_error_frame()]), anthropic_turn(text="whole"))

    turn = model(server, waits).complete(ask())

    assert turn.text == "whole"
    assert len(server.requests) == 2
    assert "overloaded_error" in waits.notices[0].reason


def test_a_permanent_error_event_mid_stream_is_not_retried(
    server: FakeLLMServer, waits: Waits
) -> None:
    frames = anthropic_turn(text="half")
    server.script(
        Stream([*frames[:2], anthropic_error_frame("invalid_request_error", "bad block")])
    )
    with pytest.raises(ModelError, match="bad block") as caught:
        model(server, waits).complete(ask())
    assert not isinstance(caught.value, ModelUnavailableError)
    assert len(server.requests) == 1


def test_exhausted_retries_raise_model_unavailable(server: FakeLLMServer, waits: Waits) -> None:
    server.script(*[anthropic_http_error(529, "overloaded_error", "Overloaded")] * 5)
    with pytest.raises(ModelUnavailableError) as caught:
        model(server, waits).complete(ask())
    message = str(caught.value)
    assert "anthropic:claude-test" in message
    assert "gave up after 5 attempts" in message
    assert "HTTP 529" in message and "Overloaded" in message
    assert len(server.requests) == 5
    assert waits.sleeps == [1.0, 2.0, 4.0, 8.0]


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
    ],
)
def test_client_errors_are_not_retried(
    server: FakeLLMServer, waits: Waits, status: int, kind: str
) -> None:
    server.script(anthropic_http_error(status, kind, f"provider says {kind}"))
    with pytest.raises(ModelError, match=f"HTTP {status}.*provider says {kind}") as caught:
        model(server, waits).complete(ask())
    assert not isinstance(caught.value, ModelUnavailableError)
    assert len(server.requests) == 1
    assert waits.sleeps == []


def test_image_blocks_without_data_are_refused(server: FakeLLMServer, waits: Waits) -> None:
    request = ModelRequest(
        system="s",
        messages=[
            Message(role="user", content=[ImageBlock(media_type="image/png", ref="blob:abc")])
        ],
        tools=[],
    )
    with pytest.raises(ModelError, match=r"blob:abc.*must be resolved"):
        model(server, waits).complete(request)
    assert server.requests == []


def test_image_blocks_with_data_are_sent_inline(server: FakeLLMServer, waits: Waits) -> None:
    server.script(anthropic_turn(text="nice"))
    image = ImageBlock(media_type="image/png", data="aGVsbG8=", ref="blob:abc")
    request = ModelRequest(system="s", messages=[Message(role="user", content=[image])], tools=[])
    model(server, waits).complete(request)
    block = server.bodies()[0]["messages"][0]["content"][0]
    assert block["source"] == {"type": "base64", "media_type": "image/png", "data": "aGVsbG8="}


def test_load_model_without_a_key_refuses_at_load(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(ModelError, match=r"anthropic:claude-x needs an API key.*ANTHROPIC_API_KEY"):
        load_model("anthropic:claude-x", base_dir=tmp_path)


def test_load_model_honours_key_and_base_url_from_the_environment(
    server: FakeLLMServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "env-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", server.anthropic_base_url)
    server.script(anthropic_turn(text="from env"))

    loaded = load_model("anthropic:claude-x", base_dir=tmp_path)

    assert loaded.spec == "anthropic:claude-x"
    assert loaded.complete(ask()).text == "from env"
    assert server.requests[0].headers["authorization"] == "Bearer env-key"
    assert server.bodies()[0]["model"] == "claude-x"
