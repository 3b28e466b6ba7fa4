"""A batch of read-only tools (`ToolDef.read_only`) leaves the workspace as the last committed
snapshot: it records no new snapshot and marks nothing dirty, so a crash inside it resumes
without restoring anything; a batch that may write is still redone from its base."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
from crash_support import tool_pairing_problems, transcript_of

from cf_support import Backend, app_db_url, scripted_project, session_id_from
from cofounder.storage import Database, EventLog, Transcript


def _project(tmp_path: Path) -> Path:
    turns: list[dict[str, Any]] = [
        {"tool_calls": [{"name": "write_file", "input": {"path": "a.txt", "content": "a\n"}}]},
        {
            "tool_calls": [
                {"name": "read_file", "input": {"path": "a.txt"}},
                {"name": "narrate", "input": {"message": "Read it back."}},
            ]
        },
        {"text": "Done."},
    ]
    return scripted_project(tmp_path, turns, name="Reads", goal="Write a file, then read it.")


@pytest.mark.parametrize(
    ("point", "restored"),
    [("act.before_tools#2", False), ("act.before_tools#1", True)],
    ids=["read-only batch", "writing batch"],
)
def test_a_crash_restores_the_workspace_only_when_the_batch_could_write(
    sqlite_backend: Backend, tmp_path: Path, point: str, restored: bool
) -> None:
    project = _project(tmp_path)
    crashed = sqlite_backend.cli("build", str(project), COFOUNDER_CRASH_AT=point)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    session_id = session_id_from(crashed.stdout)
    resumed = sqlite_backend.cli("resume", session_id)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr

    db = Database(app_db_url(sqlite_backend))
    try:
        types = [e.type for e in EventLog(db).read(session_id, limit=10_000)]
        transcript = Transcript(db)
        snapshots = [transcript.checkpoint(session_id, n) for n in (1, 2)]
    finally:
        db.close()
    assert ("workspace_restored" in types) is restored
    assert types[-1] == "session_finished"
    first, second = snapshots
    assert first is not None and second is not None
    assert second.snapshot_id == first.snapshot_id  # the read-only batch took no snapshot
    assert tool_pairing_problems(transcript_of(app_db_url(sqlite_backend), session_id)) == []
    workspace = sqlite_backend.home / "sessions" / session_id / "workspace"
    assert (workspace / "a.txt").read_text() == "a\n"
