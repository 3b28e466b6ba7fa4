"""`cofounder build --model anthropic:… / openai:…`: the real SDKs, through the whole engine and
sandbox, against the local fake wire server; spend is priced from the reported usage."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from cf_support import Backend, session_id_from
from fakes.llm_wire import FakeLLMServer, ToolCall, anthropic_turn, openai_turn, running


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with running() as server:
        yield server


def tiny_project(tmp_path: Path) -> Path:
    path = tmp_path / "cofounder.yaml"
    path.write_text(
        "name: Tiny\ngoal: Write hello.txt\nidea_brief: {what: greeting}\nunderstanding_qna: []\n"
    )
    return path


def test_anthropic_build_completes_with_caching_and_priced_spend(
    sqlite_backend: Backend, fake: FakeLLMServer, tmp_path: Path
) -> None:
    fake.script(
        anthropic_turn(
            text="Writing the file.",
            tool_calls=[ToolCall("write_file", {"path": "hello.txt", "content": "hi\n"})],
            input_tokens=1000,
            output_tokens=100,
            cache_write=2000,
        ),
        anthropic_turn(
            text="Done: hello.txt says hi.", input_tokens=50, output_tokens=20, cache_read=3000
        ),
    )
    result = sqlite_backend.cli(
        "build",
        str(tiny_project(tmp_path)),
        "--model",
        "anthropic:claude-sonnet-4-5",
        ANTHROPIC_BASE_URL=fake.anthropic_base_url,
        ANTHROPIC_API_KEY="test-key-not-real",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    session_id = session_id_from(result.stdout)
    status = json.loads(sqlite_backend.cli("status", session_id, "--json").stdout)
    assert status["outcome"] == "completed"
    assert status["input_tokens"] == 1050 and status["output_tokens"] == 120
    # claude-sonnet-4-5: $3 in, $15 out, $3.75 cache write, $0.30 cache read per MTok.
    expected = (
        1050 * 3_000_000 + 120 * 15_000_000 + 2000 * 3_750_000 + 3000 * 300_000 + 500_000
    ) // 1_000_000
    assert status["spend_microdollars"] == expected
    workspace = Path(sqlite_backend.cli("workspace", session_id).stdout.strip())
    assert (workspace / "hello.txt").read_text() == "hi\n"
    bodies = fake.bodies()
    assert len(bodies) == 2
    second = bodies[1]
    assert second["system"][-1]["cache_control"] == {"type": "ephemeral"}
    assert second["tools"][-1]["cache_control"] == {"type": "ephemeral"}
    assert second["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}


def test_openai_build_completes(
    sqlite_backend: Backend, fake: FakeLLMServer, tmp_path: Path
) -> None:
    fake.script(
        openai_turn(tool_calls=[ToolCall("bash", {"command": "echo hi > hello.txt"})]),
        openai_turn(text="Done."),
    )
    result = sqlite_backend.cli(
        "build",
        str(tiny_project(tmp_path)),
        "--model",
        "openai:gpt-4o-mini",
        OPENAI_BASE_URL=fake.openai_base_url,
        OPENAI_API_KEY="test-key-not-real",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    session_id = session_id_from(result.stdout)
    workspace = Path(sqlite_backend.cli("workspace", session_id).stdout.strip())
    assert (workspace / "hello.txt").read_text() == "hi\n"
    second = fake.bodies()[1]
    assert [m["role"] for m in second["messages"]][-2:] == ["assistant", "tool"]


def test_missing_key_and_unpriced_model_are_refused_before_the_build(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    no_key = sqlite_backend.cli(
        "build", str(tiny_project(tmp_path)), "--model", "anthropic:claude-sonnet-4-5"
    )
    assert no_key.returncode == 2 and "ANTHROPIC_API_KEY" in no_key.stderr
    unpriced = sqlite_backend.cli(
        "build",
        str(tiny_project(tmp_path)),
        "--model",
        "openai:mystery-model",
        OPENAI_API_KEY="test-key-not-real",
    )
    assert unpriced.returncode == 2 and "no price for openai:mystery-model" in unpriced.stderr
    assert not (sqlite_backend.home / "sessions").exists() or not any(
        (sqlite_backend.home / "sessions").iterdir()
    )
