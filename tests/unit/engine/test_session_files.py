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
