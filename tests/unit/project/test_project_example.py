"""The example project `cofounder init` writes: it loads, and existing files are not clobbered."""

from __future__ import annotations

from pathlib import Path

import pytest

from cofounder.project import (
    EXAMPLE_PROJECT,
    ProjectBaseError,
    ProjectExistsError,
    ProjectWriteError,
    load_project,
    write_example,
)


def test_example_round_trips(tmp_path: Path) -> None:
    path = write_example(tmp_path / "new" / "app")
    assert path == tmp_path / "new" / "app" / "cofounder.yaml"
    assert path.read_text(encoding="utf-8") == EXAMPLE_PROJECT
    spec = load_project(path)
    assert spec.name == "Habit Tracker"
    assert spec.understanding_qna
    assert spec.model is None  # the model line is commented out


def test_example_explains_every_field_and_model_provider() -> None:
    for field in ("name", "idea_brief", "understanding_qna", "goal", "tier", "owner", "model"):
        assert f"# {field} (" in EXAMPLE_PROJECT
    for provider in ("scripted:PATH", "anthropic:MODEL", "openai:MODEL"):
        assert provider in EXAMPLE_PROJECT
    assert "\n# model: " in EXAMPLE_PROJECT


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    existing = tmp_path / "cofounder.yaml"
    existing.write_text("mine\n", encoding="utf-8")
    with pytest.raises(ProjectExistsError, match="already exists") as info:
        write_example(tmp_path)
    assert isinstance(info.value, ProjectBaseError)
    assert str(existing) in str(info.value)
    assert existing.read_text(encoding="utf-8") == "mine\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cofounder.yaml"]  # no temp files left


def test_overwrite_when_asked(tmp_path: Path) -> None:
    (tmp_path / "cofounder.yaml").write_text("mine\n", encoding="utf-8")
    path = write_example(tmp_path, overwrite=True)
    assert path.read_text(encoding="utf-8") == EXAMPLE_PROJECT


def test_directory_that_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(ProjectWriteError, match="cannot write"):
        write_example(blocker)
