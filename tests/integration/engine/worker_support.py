"""A DBOS process for the recovery-call test, run as `python worker_support.py ROLE ...`.

DBOS is one instance per process, so a dead executor and the one that takes it over must be
two processes. Both launch through `engine.worker.durable` (the real queue, version and
serializer) and register the same probe workflow: step `a` then step `b`, each noting the pid
that ran it in a log file. In the `dead` role step `b` never returns, so the test can SIGKILL
the process with `a` recorded and `b` in flight; the `live` role takes the dead executor over
with `durable.take_over` and reports what DBOS did, as one JSON line.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from dbos import DBOS, SetWorkflowID

from cofounder.config import Settings
from cofounder.engine.worker import durable
from cofounder.storage.db import dbos_system_engine

PROBE_ID = "recovery-probe"
DEAD, LIVE = "probe-dead", "probe-live"


def _note(log: str, step: str) -> None:
    with open(log, "a") as f:
        f.write(f"{step} {os.getpid()}\n")
        f.flush()
        os.fsync(f.fileno())


@DBOS.step(name="cofounder.test.probe.a")
def step_a(log: str) -> int:
    _note(log, "a")
    return os.getpid()


@DBOS.step(name="cofounder.test.probe.b")
def step_b(log: str) -> int:
    _note(log, "b")
    if os.environ.get("PROBE_HANG") == "1":
        time.sleep(3600)  # killed in here
    return os.getpid()


@DBOS.workflow(name="cofounder.test.recovery_probe")
def probe(log: str) -> list[int]:
    return [step_a(log), step_b(log)]


def noted(log: Path) -> list[tuple[str, int]]:
    """(step, pid) for every time a step body started."""
    if not log.exists():
        return []
    return [(s, int(p)) for s, p in (line.split() for line in log.read_text().splitlines())]


def _launch(home: Path, database_url: str | None, executor_id: str) -> None:
    settings = Settings(home=home, database_url=database_url)
    durable.launch(
        settings,
        executor_id=executor_id,
        engine=dbos_system_engine(settings.dbos_database_url),
        concurrency=1,
        sets_concurrency=True,
    )


def _status(workflow_id: str) -> dict[str, object]:
    status = DBOS.get_workflow_status(workflow_id)
    assert status is not None
    return {"status": status.status, "executor": status.executor_id, "queue": status.queue_name}


def run_dead(home: Path, database_url: str | None, log: str) -> None:
    """Enqueue the probe on the sessions queue and run it until step b, where it hangs."""
    _launch(home, database_url, DEAD)
    with SetWorkflowID(PROBE_ID):
        DBOS.enqueue_workflow(durable.QUEUE, probe, log)
    time.sleep(3600)


def run_live(home: Path, database_url: str | None) -> None:
    """Take the dead executor over and finish its probe; print what happened."""
    _launch(home, database_url, LIVE)
    before = _status(PROBE_ID)
    time.sleep(1.0)  # a few queue polls: nothing recovers the run by itself
    untouched = _status(PROBE_ID)
    recovered = durable.take_over(DEAD)
    deadline = time.monotonic() + 60
    while _status(PROBE_ID)["status"] != "SUCCESS" and time.monotonic() < deadline:
        time.sleep(0.05)
    finished = _status(PROBE_ID)["status"] == "SUCCESS"
    result = DBOS.retrieve_workflow(PROBE_ID).get_result() if finished else None
    again = durable.take_over(DEAD)
    report = {
        "before": before,
        "untouched": untouched,
        "recovered": recovered,
        "result": result,
        "after": _status(PROBE_ID),
        "recovered_again": again,
        "pid": os.getpid(),
    }
    print(json.dumps(report), flush=True)
    durable.shut_down(0)


if __name__ == "__main__":
    role, home, url = sys.argv[1], Path(sys.argv[2]), sys.argv[3] or None
    if role == "dead":
        run_dead(home, url, sys.argv[4])
    else:
        run_live(home, url)
