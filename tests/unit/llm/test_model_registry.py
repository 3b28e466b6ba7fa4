"""Model spec strings: canonical forms, loading, and clear errors for everything else."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cofounder.llm import (
    Message,
    ModelError,
    ModelRequest,
    ScriptedModel,
    TextBlock,
    canonical_model_spec,
    load_model,
)


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "runs" / "demo.yaml"
    path.parent.mkdir()
    path.write_text("model: demo\nturns:\n  - text: hello\n", encoding="utf-8")
    return path


def test_scripted_path_is_made_absolute_from_base_dir(tmp_path: Path, script: Path) -> None:
    spec = canonical_model_spec("scripted:runs/demo.yaml", base_dir=tmp_path)
    assert spec == f"scripted:{script.resolve()}"
    # canonical specs are fixed points, whatever the base directory
    assert canonical_model_spec(spec, base_dir=tmp_path / "elsewhere") == spec


def test_scripted_canonicalisation_normalises_the_path(tmp_path: Path, script: Path) -> None:
    spec = canonical_model_spec("scripted: ./runs/../runs/demo.yaml ", base_dir=tmp_path)
    assert spec == f"scripted:{script.resolve()}"


def test_load_scripted_model(tmp_path: Path, script: Path) -> None:
    log = tmp_path / "log.jsonl"
    model = load_model("scripted:runs/demo.yaml", base_dir=tmp_path, request_log=log)
    assert isinstance(model, ScriptedModel)
    assert model.spec == canonical_model_spec("scripted:runs/demo.yaml", base_dir=tmp_path)
    msg = Message(role="user", content=[TextBlock(text="hi")])
    turn = model.complete(ModelRequest(system="s", messages=[msg], tools=[]))
    assert (turn.model, turn.text) == ("demo", "hello")
    assert json.loads(log.read_text())["turn"] == 0


def test_a_resumed_session_resolves_the_same_file(tmp_path: Path, script: Path) -> None:
    spec = canonical_model_spec("scripted:runs/demo.yaml", base_dir=tmp_path)
    model = load_model(spec, base_dir=Path("/"))
    assert model.spec == spec


def test_missing_scripted_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="trajectory file not found"):
        load_model("scripted:missing.yaml", base_dir=tmp_path)


@pytest.mark.parametrize(
    ("provider", "env"),
    [("anthropic", "ANTHROPIC_API_KEY"), ("openai", "OPENAI_API_KEY")],
)
def test_real_providers_without_credentials_refuse_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: str, env: str
) -> None:
    for name in ("ANTHROPIC_API_KEY", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    spec = f"{provider}:some-model"
    assert canonical_model_spec(spec, base_dir=tmp_path) == spec
    with pytest.raises(ModelError, match=f"{spec} needs an API key: set {env}"):
        load_model(spec, base_dir=tmp_path)


@pytest.mark.parametrize("spec", ["claude-sonnet", "", ":x", "anthropic:", "scripted:  "])
def test_malformed_spec_lists_providers(tmp_path: Path, spec: str) -> None:
    for call in (canonical_model_spec, load_model):
        with pytest.raises(ModelError) as info:
            call(spec, base_dir=tmp_path)
        message = str(info.value)
        assert message.startswith(f"malformed model spec {spec!r}: expected PROVIDER:NAME")
        assert message.endswith("known providers: anthropic, openai, scripted")


def test_unknown_provider_lists_providers(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        load_model("gemini:pro", base_dir=tmp_path)
    assert str(info.value) == (
        "unknown model provider 'gemini' in 'gemini:pro'; known providers: anthropic, openai,"
        " scripted"
    )
