"""`snapshot_excludes`: which rebuildable folders snapshots leave out, from the environment
(comma-separated) or cofounder.toml (a list); paths are refused with a message saying why."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from cofounder.config import Settings
from cofounder.storage import DEFAULT_EXCLUDES
from cofounder.storage.snapshots.manifest import check_exclude_name


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("COFOUNDER_SNAPSHOT_EXCLUDES", raising=False)
    monkeypatch.chdir(tmp_path)  # no cofounder.toml from the repo or the caller


def test_default_is_the_rebuildable_folders() -> None:
    excludes = Settings().snapshot_excludes
    assert excludes == sorted(DEFAULT_EXCLUDES)
    assert {"node_modules", ".venv", "__pycache__", ".cache"} <= set(excludes)


def test_environment_is_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COFOUNDER_SNAPSHOT_EXCLUDES", " node_modules, dist,.venv ,dist")
    assert Settings().snapshot_excludes == [".venv", "dist", "node_modules"]
    monkeypatch.setenv("COFOUNDER_SNAPSHOT_EXCLUDES", "")
    assert Settings().snapshot_excludes == []  # explicitly nothing excluded


def test_toml_is_a_list(tmp_path: Path) -> None:
    (tmp_path / "cofounder.toml").write_text('snapshot_excludes = ["target", "node_modules"]\n')
    assert Settings().snapshot_excludes == ["node_modules", "target"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("/srv/cache", "is an absolute path"),
        ("node_modules,../secrets", "points outside the workspace with '..'"),
        ("..", "points outside the workspace"),
        ("node_modules,,dist", "is empty"),
        ("node_modules,", "stray comma"),
        ("frontend/node_modules", "is a path, not a folder name"),
        (".", "the workspace itself"),
    ],
)
def test_bad_names_are_refused_clearly(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("COFOUNDER_SNAPSHOT_EXCLUDES", value)
    with pytest.raises(ValidationError, match="snapshot_excludes") as info:
        Settings()
    assert message in str(info.value)


def test_names_are_checked_the_same_way_from_code() -> None:
    assert check_exclude_name("  .venv ") == ".venv"
    with pytest.raises(ValueError, match="absolute"):
        check_exclude_name("/abs")
    with pytest.raises(ValidationError, match="valid string"):
        Settings(snapshot_excludes=[1])
