"""The one internal DBOS call takeover relies on (`durable.take_over`, which calls
`DBOS._recover_pending_workflows`): self-hosted DBOS has no public way to recover another
executor's runs, so a DBOS upgrade that changes it must fail here, not in production.

A dead executor's PENDING run stays PENDING; taken over, it goes back on the `sessions` queue,
another executor finishes it, and the step recorded before the kill is not run again."""

from __future__ import annotations

import importlib.metadata
import json
import re
import signal
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import worker_support
from worker_support import DEAD, LIVE, noted

from cf_support import REPO, Backend

RIG = Path(worker_support.__file__)


def _rig(role: str, backend: Backend, *args: str) -> list[str]:
    return [sys.executable, str(RIG), role, str(backend.home), backend.database_url or "", *args]


def test_a_dead_executors_run_is_finished_by_another_without_rerunning_steps(
    backend: Backend, tmp_path: Path
) -> None:
    backend.home.mkdir(parents=True)
    log = tmp_path / "steps.log"
    dead = subprocess.Popen(
        _rig("dead", backend, str(log)),
        env=backend.env(PROBE_HANG="1"),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while [s for s, _ in noted(log)] != ["a", "b"]:
        assert dead.poll() is None, dead.communicate()[1]
        assert time.monotonic() < deadline, f"the probe never reached step b: {noted(log)}"
        time.sleep(0.05)
    dead.send_signal(signal.SIGKILL)
    dead.wait()

    live = subprocess.run(
        _rig("live", backend), env=backend.env(), cwd=REPO, capture_output=True, text=True,
        timeout=180,
    )  # fmt: skip
    assert live.returncode == 0, live.stderr
    report = json.loads(live.stdout.splitlines()[-1])

    running = {"status": "PENDING", "executor": DEAD, "queue": "sessions"}
    assert report["before"] == running
    assert report["untouched"] == running, "DBOS recovered the run by itself"
    assert report["recovered"] == 1
    # Step a's recorded output (the dead pid) is reused; step b ran again on the live one.
    assert report["result"] == [dead.pid, report["pid"]]
    assert noted(log) == [("a", dead.pid), ("b", dead.pid), ("b", report["pid"])]
    assert report["after"] == {"status": "SUCCESS", "executor": LIVE, "queue": "sessions"}
    assert report["recovered_again"] == 0


def test_the_pinned_dbos_is_the_installed_one() -> None:
    """The recovery call is internal: the version it was proven on is pinned exactly."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    pins = [d for d in project["project"]["dependencies"] if re.match(r"dbos\b", d)]
    assert len(pins) == 1 and re.fullmatch(r"dbos==[\w.]+", pins[0]), pins
    assert pins[0].removeprefix("dbos==") == importlib.metadata.version("dbos")
