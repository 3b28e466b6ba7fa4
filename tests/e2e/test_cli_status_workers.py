"""`status` and `sessions` with workers: a detached build shows `queued` with its place in line
(and how to get it running when no worker serves the queue), then `running on worker NAME`
while a `cofounder worker` runs it; `--json` carries the same as `worker` and
`queue_position`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cf_support import REPO, Backend, scripted_project, session_id_from

# The sandbox's first command waits for a file the test writes into the workspace, so the run
# lasts exactly as long as the test looks at it.
HOLD = "while [ ! -f release ]; do sleep 0.1; done"


def detach(backend: Backend, project: Path) -> str:
    result = backend.cli("build", str(project), "--detach")
    assert result.returncode == 0, result.stderr
    return session_id_from(result.stdout)


def status_json(backend: Backend, session_id: str) -> dict[str, Any]:
    result = backend.cli("status", session_id, "--json")
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


@contextmanager
def worker(backend: Backend, name: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A `cofounder worker` whose logs go to a file (a pipe nobody reads would fill)."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "cofounder", "worker", "--name", name, "--drain-seconds", "5"],
            env=backend.env(),
            stdout=out,
            stderr=out,
            cwd=REPO,
        )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_detached_builds_show_queued_in_tier_order_and_how_to_start_a_worker(
    sqlite_backend: Backend, tmp_path: Path
) -> None:
    turns = [{"text": "Done."}]
    first = detach(sqlite_backend, scripted_project(tmp_path / "a", turns, owner="alice"))
    later = detach(
        sqlite_backend, scripted_project(tmp_path / "b", turns, owner="bob", tier="partner")
    )

    table = sqlite_backend.cli("sessions").stdout
    rows = [line for line in table.splitlines() if first in line or later in line]
    assert len(rows) == 2 and all(" queued " in row for row in rows), table
    assert "interrupted" not in table and "running" not in table

    listed = [
        json.loads(line) for line in sqlite_backend.cli("sessions", "--json").stdout.splitlines()
    ]
    placed = {s["session_id"]: (s["state"], s["worker"], s["queue_position"]) for s in listed}
    # The partner's build was queued later but is admitted first.
    assert placed == {later: ("queued", None, 1), first: ("queued", None, 2)}

    status = status_json(sqlite_backend, first)
    assert (status["state"], status["worker"], status["queue_position"]) == ("queued", None, 2)
    shown = " ".join(sqlite_backend.cli("status", first).stdout.split())
    assert "state queued (position 2); no worker is running" in shown
    assert "`cofounder worker`" in shown and f"`cofounder resume {first}`" in shown


def test_status_names_the_worker_that_runs_a_session(backend: Backend, tmp_path: Path) -> None:
    turns: list[dict[str, Any]] = [
        # The tool's own limit (120 s by default) must not end the hold on a loaded machine.
        {"tool_calls": [{"name": "bash", "input": {"command": HOLD, "timeout": 600}}]},
        {"text": "Done."},
    ]
    session_id = detach(backend, scripted_project(tmp_path / "p", turns))
    workspace = Path(backend.cli("workspace", session_id).stdout.strip())
    log = tmp_path / "worker.log"
    with worker(backend, "status-w1", log) as process:
        deadline = time.monotonic() + 180  # a worker's start takes long on a loaded machine
        while (status := status_json(backend, session_id))["worker"] is None:
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"no worker took it: {status}"
            time.sleep(0.2)
        assert (status["state"], status["worker"], status["queue_position"]) == (
            "running",
            "status-w1",
            None,
        )
        shown = " ".join(backend.cli("status", session_id).stdout.split())
        assert "state running on worker status-w1" in shown
        listed = json.loads(backend.cli("sessions", "--json").stdout)
        assert (listed["state"], listed["worker"]) == ("running", "status-w1")

        (workspace / "release").write_text("go")
        deadline = time.monotonic() + 180
        while (status := status_json(backend, session_id))["state"] != "completed":
            assert time.monotonic() < deadline, f"did not complete: {status}"
            time.sleep(0.2)
    # Finished: nobody holds it and it is in no queue.
    assert (status["worker"], status["queue_position"]) == (None, None)
