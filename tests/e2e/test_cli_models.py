"""`cofounder models`, and the tier choosing the model when neither --model nor `model:` does:
through the CLI, the real SDKs and the fake wire server."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cf_support import Backend, session_id_from
from fakes.llm_wire import FakeLLMServer, ToolCall, anthropic_turn, openai_turn, running

SECRET = "sk-ant-do-not-print-me-0123456789"


@pytest.fixture
def fake() -> Iterator[FakeLLMServer]:
    with running() as server:
        yield server


def project(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "cofounder.yaml"
    path.write_text(
        "name: Tiny\ngoal: Write hello.txt\nidea_brief: {what: greeting}\n"
        f"understanding_qna: []\n{extra}"
    )
    return path


def models_json(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stdout + result.stderr
    payload: dict[str, Any] = json.loads(result.stdout)
    return payload


def rows(payload: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["tier"], r["role"]): r for r in payload["tiers"]}


def test_models_lists_bundled_tiers_prices_and_key_presence(sqlite_backend: Backend) -> None:
    payload = models_json(sqlite_backend.cli("models", "--json"))
    table = rows(payload)
    assert set(table) == {
        (tier, role)
        for tier in ("bootstrapper", "partner", "cto_scale")
        for role in ("coder", "summarizer")
    }
    partner = table[("partner", "coder")]
    assert partner["spec"] == "anthropic:claude-sonnet-4-5"
    assert partner["source"] == "bundled" and partner["priced"] is True
    assert partner["key_env"] == "ANTHROPIC_API_KEY" and partner["key_set"] is False
    prices = {p["spec"]: p for p in payload["prices"]}
    assert prices["anthropic:claude-sonnet-4-5"]["usd_per_mtok"] == {
        "input": "3",
        "output": "15",
        "cache_write": "3.75",
        "cache_read": "0.3",
    }
    assert prices["openai:gpt-4o-mini"]["source"] == "bundled"
    providers = {p["provider"]: p for p in payload["providers"]}
    assert providers["openai"]["key_set"] is False


def test_models_says_a_key_is_set_without_printing_it(sqlite_backend: Backend) -> None:
    payload = models_json(sqlite_backend.cli("models", "--json", ANTHROPIC_API_KEY=SECRET))
    assert rows(payload)[("partner", "coder")]["key_set"] is True
    human = sqlite_backend.cli("models", ANTHROPIC_API_KEY=SECRET)
    assert human.returncode == 0, human.stderr
    assert "ANTHROPIC_API_KEY set" in human.stdout
    assert "anthropic:claude-sonnet-4-5" in human.stdout and "3.75" in human.stdout
    for output in (json.dumps(payload), human.stdout, human.stderr):
        assert SECRET not in output and SECRET[:12] not in output


def test_models_reads_tiers_owners_and_prices_from_cofounder_toml(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    (workdir / "cofounder.toml").write_text(
        '[tiers.partner]\ncoder = "openai:gpt-4o"\n\n'
        '[owners.alice]\ncoder = "openai:my-local-model"\n\n'
        '[prices."openai:my-local-model"]\ninput = 0.5\noutput = 1.5\n'
    )

    def run(*args: str) -> dict[str, Any]:
        result = subprocess.run(
            [sys.executable, "-m", "cofounder", "models", "--json", *args],
            env=sqlite_backend.env(),
            capture_output=True,
            text=True,
            timeout=60,
            cwd=workdir,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        payload: dict[str, Any] = json.loads(result.stdout)
        return payload

    plain = rows(run("--tier", "partner"))
    assert set(plain) == {("partner", "coder"), ("partner", "summarizer")}
    assert (plain[("partner", "coder")]["spec"], plain[("partner", "coder")]["source"]) == (
        "openai:gpt-4o",
        "config",
    )
    assert plain[("partner", "summarizer")]["spec"] == "openai:gpt-4o"
    alice = run("--owner", "alice")
    table = rows(alice)
    assert table[("cto_scale", "coder")]["spec"] == "openai:my-local-model"
    assert table[("cto_scale", "coder")]["source"] == "owner"
    assert table[("cto_scale", "coder")]["priced"] is True
    assert alice["owners"] == {"alice": {"coder": "openai:my-local-model"}}
    prices = {p["spec"]: p for p in alice["prices"]}
    assert prices["openai:my-local-model"]["source"] == "config"
    assert prices["openai:my-local-model"]["usd_per_mtok"]["cache_read"] == "0.5"


def test_models_refuses_bad_input(sqlite_backend: Backend) -> None:
    bad_tier = sqlite_backend.cli("models", "--tier", "enterprise")
    assert bad_tier.returncode == 2 and "unknown tier 'enterprise'" in bad_tier.stderr
    bad_owner = sqlite_backend.cli("models", "--owner", "../etc")
    assert bad_owner.returncode == 2 and "not an owner id" in bad_owner.stderr
    bad_config = sqlite_backend.cli(
        "models", COFOUNDER_TIERS='{"partner": {"coder": "mistral:large"}}'
    )
    assert bad_config.returncode == 2
    assert "unknown model provider 'mistral'" in bad_config.stderr


def test_the_tier_picks_the_model_when_none_is_given(
    sqlite_backend: Backend, fake: FakeLLMServer, tmp_path: Path
) -> None:
    fake.script(
        anthropic_turn(
            text="Writing it.",
            tool_calls=[ToolCall("write_file", {"path": "hello.txt", "content": "hi\n"})],
        ),
        anthropic_turn(text="Done."),
    )
    result = sqlite_backend.cli(
        "build",
        str(project(tmp_path, "tier: partner\n")),
        ANTHROPIC_BASE_URL=fake.anthropic_base_url,
        ANTHROPIC_API_KEY="test-key-not-real",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    status = json.loads(
        sqlite_backend.cli("status", session_id_from(result.stdout), "--json").stdout
    )
    assert status["outcome"] == "completed"
    assert status["model"] == "anthropic:claude-sonnet-4-5"
    assert {body["model"] for body in fake.bodies()} == {"claude-sonnet-4-5"}


def test_an_owner_override_beats_the_tier(
    sqlite_backend: Backend, fake: FakeLLMServer, tmp_path: Path
) -> None:
    fake.script(openai_turn(text="Done."))
    result = sqlite_backend.cli(
        "build",
        str(project(tmp_path, "tier: cto_scale\nowner: alice\n")),
        COFOUNDER_OWNERS='{"alice": {"coder": "openai:gpt-4o-mini"}}',
        COFOUNDER_TIERS='{"cto_scale": {"coder": "openai:gpt-4.1"}}',
        OPENAI_BASE_URL=fake.openai_base_url,
        OPENAI_API_KEY="test-key-not-real",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    status = json.loads(
        sqlite_backend.cli("status", session_id_from(result.stdout), "--json").stdout
    )
    assert status["model"] == "openai:gpt-4o-mini"
    assert fake.bodies()[0]["model"] == "gpt-4o-mini"


def test_a_tier_default_without_its_key_is_refused_naming_where_it_came_from(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    result = sqlite_backend.cli("build", str(project(tmp_path)))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "ANTHROPIC_API_KEY" in result.stderr
    assert "anthropic:claude-haiku-4-5" in result.stderr
    assert "bundled default for tier bootstrapper" in result.stderr
    unpriced = sqlite_backend.cli(
        "build",
        str(project(tmp_path, "owner: bob\n")),
        COFOUNDER_OWNERS='{"bob": {"coder": "openai:mystery-model"}}',
        OPENAI_API_KEY="test-key-not-real",
    )
    assert unpriced.returncode == 2
    assert "no price for openai:mystery-model" in unpriced.stderr
    assert "[owners.bob]" in unpriced.stderr
    sessions = sqlite_backend.home / "sessions"
    assert not sessions.exists() or not any(sessions.iterdir())
