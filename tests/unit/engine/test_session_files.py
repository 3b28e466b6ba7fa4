"""One session's paths: named once, under its own folder, never outside the sessions dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from cofounder.engine.session_files import SessionFiles


def test_every_path_sits_in_the_session_folder_which_open_creates(tmp_path: Path) -> None:
    files = SessionFiles.open(tmp_path / "sessions", "abc123")
    assert files.root == tmp_path / "sessions" / "abc123"
    assert files.root.is_dir()
    paths = [
        files.workspace,
        files.lock,
        files.state_file,
        files.hash_cache,
        files.processes,
        files.request_log,
    ]
    assert all(p.parent == files.root for p in paths)
    assert len(set(paths)) == len(paths)
    # The names existing data dirs already hold: a renamed file would orphan them.
    assert [p.name for p in paths] == [
        "workspace",
        "lock",
        "workspace-state.json",
        "hash-cache.json",
        "processes",
        "model-requests.jsonl",
    ]


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", "/etc"])
def test_an_id_that_would_leave_the_sessions_dir_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="not a session id"):
        SessionFiles.open(tmp_path, bad)
    assert list(tmp_path.iterdir()) == []


def test_with_a_workspace_volume_the_workspace_alone_sits_on_it(tmp_path: Path) -> None:
    files = SessionFiles.open(tmp_path / "sessions", "abc123", tmp_path / "workspaces")
    assert files.workspace == tmp_path / "workspaces" / "abc123"
    assert files.state_file.parent == files.request_log.parent == files.root
    assert not files.workspace.exists()  # made by whoever fills it, as without a volume


def test_remove_takes_the_folder_and_a_workspace_kept_apart(tmp_path: Path) -> None:
    files = SessionFiles.open(tmp_path / "sessions", "abc123", tmp_path / "workspaces")
    files.workspace.mkdir(parents=True)
    (files.workspace / "app.py").write_text("x")
    files.state_file.write_text("{}")
    files.remove()
    assert not files.root.exists() and not files.workspace.exists()
    assert (tmp_path / "workspaces").is_dir()  # the volume's root stays
