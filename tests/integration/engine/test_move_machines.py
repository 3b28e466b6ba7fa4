"""A session survives losing its machine (the random-kill variant on SQLite is the chaos test's
job; here: PostgreSQL shared by machines, and deterministic points): killed at random moments,
everything local deleted except the database and the object store, resumed from another data
dir each time; the final
workspace equals an uninterrupted run's and so does the whole conversation, tool results
included (a restore puts file modification times back, so `glob`'s newest-first order holds)."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest
from crash_support import (
    remove_machine,
    run_across_machines,
    tool_pairing_problems,
    transcript_of,
    workspace_digest,
)
from test_crash_resume import NO_SCREENSHOTS, Baseline

from cf_support import EXAMPLE, Backend
from cofounder.storage import Database, EventLog


def _machine(tmp_path: Path, name: str, database_url: str) -> Backend:
    return Backend("moving", tmp_path / name, database_url)


def _run_across_machines(tmp_path: Path, database_url: str, extra: dict[str, str]) -> None:
    machines = [_machine(tmp_path, f"machine-{i}", database_url) for i in range(4)]
    run = run_across_machines(machines, database_url, [12, 45, 80], extra)
    baseline = Baseline(_machine(tmp_path, "reference", database_url), **extra)
    assert workspace_digest(run.workspace) == baseline.workspace
    transcript = transcript_of(database_url, run.session_id)
    assert transcript == baseline.transcript  # tool results too: restores keep file times
    assert tool_pairing_problems(transcript) == []
    events = [e.type for e in EventLog(Database(database_url)).read(run.session_id, limit=100_000)]
    assert events.count("session_resumed") == 3
    assert "workspace_restored" in events


@pytest.mark.postgres
def test_resume_on_other_machines_postgres(tmp_path: Path, postgres_url: str) -> None:
    _run_across_machines(
        tmp_path,
        postgres_url,
        {"COFOUNDER_OBJECT_STORE": str(tmp_path / "objects"), **NO_SCREENSHOTS},
    )


@pytest.mark.parametrize(
    "point", ["think.before_model#5", "act.after_tool#5", "act.after_snapshot#2"]
)
def test_crash_at_a_point_then_resume_on_a_new_machine(tmp_path: Path, point: str) -> None:
    """Deterministic points: the new machine's first step is a think (no workspace yet; its
    batch then lists files newest first, which only matches if the restore kept file times), a
    redone batch, or a commit whose batch result only exists in the durable log."""
    shared = tmp_path / "shared"
    shared.mkdir()
    database_url = f"sqlite:///{shared / 'app.sqlite'}"
    extra = {
        "COFOUNDER_SYSTEM_DATABASE_URL": f"sqlite:///{shared / 'dbos.sqlite'}",
        "COFOUNDER_OBJECT_STORE": str(shared / "objects"),
        **NO_SCREENSHOTS,
    }
    old, new = _machine(tmp_path, "old", database_url), _machine(tmp_path, "new", database_url)
    crashed = old.cli("build", str(EXAMPLE), COFOUNDER_CRASH_AT=point, **extra)
    assert crashed.returncode == -signal.SIGKILL, crashed.stderr
    session_id = crashed.stdout.splitlines()[0].removeprefix("session: ")
    remove_machine(old.home)
    resumed = new.cli("resume", session_id, **extra)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    baseline = Baseline(_machine(tmp_path, "reference", database_url), **extra)
    workspace = new.home / "sessions" / session_id / "workspace"
    assert workspace_digest(workspace) == baseline.workspace
    transcript = transcript_of(database_url, session_id)
    assert transcript == baseline.transcript  # tool results too: restores keep file times
    assert tool_pairing_problems(transcript) == []
