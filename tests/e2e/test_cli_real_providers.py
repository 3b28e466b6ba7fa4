"""`cofounder build --model anthropic:… / openai:…`: the real SDKs, through the whole engine and
sandbox, against the local fake wire server; spend is priced from the reported usage."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from cf_support import EXAMPLE, Backend, app_db_url, session_id_from
from cofounder.llm.script import load_script
from cofounder.storage import Database
from fakes.llm_replay import TrajectoryReplayer
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
    db = Database(app_db_url(sqlite_backend))
    try:
        with db.transaction() as session:
            rows = session.execute(
                text(
                    "SELECT cost_microdollars, input_tokens, cache_read_tokens FROM ledger_entries"
                )
            ).all()
    finally:
        db.close()
    # One ledger entry per model call, equal to what the server reported, to the microdollar.
    assert sum(r[0] for r in rows) == expected and len(rows) == 2
    assert sorted((r[1], r[2]) for r in rows) == [(50, 3000), (1000, 0)]
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
    # The tool results, then the budget note as a user message.
    roles = [m["role"] for m in second["messages"]]
    assert roles[-3:] == ["assistant", "tool", "user"]
    assert second["messages"][-1]["content"].startswith("[Budget]")


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


def _request_images(body: dict[str, Any]) -> int:
    """How many PNG images (base64, as both SDKs send them) the request carries."""
    found = 0
    for message in body["messages"]:
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            source = block.get("source", {})
            data = source.get("data", "") if source.get("media_type") == "image/png" else ""
            url = block.get("image_url", {}).get("url", "")
            png = "iVBORw0KGgo"  # base64 of the PNG signature
            found += data.startswith(png) or url.startswith(f"data:image/png;base64,{png}")
    return found


def _files(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not {"__pycache__", ".pytest_cache"} & set(p.parts)
    }


@pytest.fixture(scope="module")
def scripted_reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The example's workspace as the scripted model builds it (once for both SDKs)."""
    backend = Backend("sqlite", tmp_path_factory.mktemp("scripted"), None)
    scripted = backend.cli("build", str(EXAMPLE))
    assert scripted.returncode == 0, scripted.stdout + scripted.stderr
    return _files(Path(backend.cli("workspace", session_id_from(scripted.stdout)).stdout.strip()))


@pytest.mark.parametrize(
    ("model", "env_prefix"),
    [("anthropic:claude-sonnet-4-5", "ANTHROPIC"), ("openai:gpt-4o", "OPENAI")],
)
def test_the_example_builds_through_each_real_sdk(
    sqlite_backend: Backend,
    fake: FakeLLMServer,
    scripted_reference: dict[str, str],
    model: str,
    env_prefix: str,
) -> None:
    """The whole example trajectory, replayed over the provider's wire protocol, builds the
    same app as the scripted model does."""
    replayer = TrajectoryReplayer(load_script(EXAMPLE.parent / "trajectory.yaml"))
    fake.responder = replayer
    base_url = fake.anthropic_base_url if env_prefix == "ANTHROPIC" else fake.openai_base_url
    result = sqlite_backend.cli(
        "build",
        str(EXAMPLE),
        "--model",
        model,
        **{f"{env_prefix}_BASE_URL": base_url, f"{env_prefix}_API_KEY": "test-key-not-real"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    session_id = session_id_from(result.stdout)
    status = json.loads(sqlite_backend.cli("status", session_id, "--json").stdout)
    assert status["outcome"] == "completed" and status["spend_microdollars"] > 0
    assert replayer.served == list(range(len(replayer.script.turns)))
    # The screenshots reach the model as images (base64 PNG in the request) while the stored
    # conversation keeps only their references.
    assert max(_request_images(body) for body in fake.bodies()) == 2
    db = Database(app_db_url(sqlite_backend))
    try:
        with db.transaction() as session:
            rows = session.execute(text("SELECT content_json FROM messages")).all()
    finally:
        db.close()
    stored = " ".join(r[0] for r in rows)
    assert '"type":"image"' in stored.replace(" ", "") and "iVBORw0KGgo" not in stored
    workspace = Path(sqlite_backend.cli("workspace", session_id).stdout.strip())
    assert _files(workspace) == scripted_reference
