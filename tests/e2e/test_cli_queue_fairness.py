"""The queue's limits as a founder meets them: `build --detach` over the global queue cap is
refused with exit 75 and when to retry, leaving nothing behind; a build over its owner's running
limit waits in the queue while `cofounder worker` runs the other, then starts and completes."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from cf_support import Backend, app_db_url, scripted_project, session_id_from
from cofounder.storage import Database, EventLog, SessionStore

EXIT_BUSY = 75


def _bash(command: str) -> dict[str, object]:
    return {"name": "bash", "input": {"command": command}}


def test_a_build_over_the_queue_cap_is_refused_and_creates_nothing(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    project = scripted_project(tmp_path / "p", [{"text": "Done."}])
    first = sqlite_backend.cli("build", str(project), "--detach", COFOUNDER_QUEUE_CAP="1")
    assert first.returncode == 0, first.stderr
    queued = session_id_from(first.stdout)
    refused = sqlite_backend.cli("build", str(project), "--detach", COFOUNDER_QUEUE_CAP="1")
    assert refused.returncode == EXIT_BUSY, refused.stdout + refused.stderr
    assert refused.stdout == ""  # no `session:` line: there is no session
    message = " ".join(refused.stderr.split())
    assert (
        "error: busy: 1 builds are waiting (the queue holds 1); retry after about 10 minutes"
        in message
    ), message
    listed = sqlite_backend.cli("sessions", "--json").stdout.splitlines()
    assert [json.loads(line)["session_id"] for line in listed] == [queued]
    assert [p.name for p in (sqlite_backend.home / "sessions").iterdir()] == [queued]


def test_a_build_that_waits_for_a_slot_starts_when_it_frees_and_completes(
    backend: Backend, tmp_path: Path
) -> None:
    """The first build holds its slot until the test lets it go (a file in its workspace), so
    the second is seen waiting however slow the machine: a fixed sleep in the first build was
    over before the second was even queued on a loaded CI machine."""
    limits = '{"bootstrapper": {"per_owner": 1, "per_project": 1, "per_day": 10}}'
    env = {"COFOUNDER_TIER_LIMITS": limits}
    held: list[dict[str, Any]] = [
        {"tool_calls": [_bash("while [ ! -e go ]; do sleep 0.1; done; echo built > app.txt")]},
        {"text": "Done."},
    ]
    quick: list[dict[str, Any]] = [
        {"tool_calls": [_bash("echo built > app.txt")]},
        {"text": "Done."},
    ]
    first = scripted_project(tmp_path / "first", held, name="First")
    second = scripted_project(tmp_path / "second", quick, name="Second")
    worker = backend.popen("worker", "--concurrency", "2", "--name", "w1", **env)
    try:
        db = Database(app_db_url(backend))
        try:
            store = SessionStore(db)
            ids = [session_id_from(_detach(backend, first, env))]
            _wait_for(store, ids, lambda states: states == ("running",))
            ids.append(session_id_from(_detach(backend, second, env)))
            # Only one of the owner's builds runs at a time: the second waits, queued, while
            # the worker has a free slot.
            _wait_for(store, ids, lambda states: states == ("running", "queued"))
            time.sleep(1)  # several of the worker's polls: it must not start the second
            assert _states(store, ids) == ("running", "queued")
            workspace = Path(backend.cli("workspace", ids[0]).stdout.strip())
            (workspace / "go").touch()
            _wait_for(store, ids, lambda states: states == ("finished", "finished"))
            outcomes = [(r.outcome if r else None) for r in (store.get(i) for i in ids)]
            assert outcomes == ["completed", "completed"]
            events = EventLog(db)
            first_done = _when(events, ids[0], "session_finished")
            second_thinks = _when(events, ids[1], "thinking")
            assert second_thinks >= first_done
        finally:
            db.close()
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr[-2000:]


def _states(store: SessionStore, ids: list[str]) -> tuple[str, ...]:
    return tuple(r.state if r else "?" for r in (store.get(i) for i in ids))


def _wait_for(store: SessionStore, ids: list[str], done: Callable[[tuple[str, ...]], bool]) -> None:
    seen: list[tuple[str, ...]] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        states = _states(store, ids)
        if done(states):
            return
        if not seen or seen[-1] != states:
            seen.append(states)
        time.sleep(0.05)
    raise AssertionError(f"the builds never got there; states seen in order: {seen}")


def _detach(backend: Backend, project: Path, env: dict[str, str]) -> str:
    result = backend.cli("build", str(project), "--detach", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _when(events: EventLog, session_id: str, kind: str) -> datetime:
    return next(e.ts for e in events.read(session_id, limit=100_000) if e.type == kind)
