"""Worker names: a live worker's name is its own, but a worker restarted under the name of one
that crashed on this host must start at once (its supervisor restarts it within a second; the
crashed one's heartbeat is still fresh for up to `dead_after`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest

from cofounder.pids import process_exists
from cofounder.storage import Database
from cofounder.storage.workers import WorkerNameTaken, Workers

HOST = socket.gethostname()
DEAD_AFTER = 60.0


@pytest.fixture
def workers(app_db: Database) -> Workers:
    return Workers(app_db)


@pytest.fixture
def other_process() -> Iterator[subprocess.Popen[bytes]]:
    """A real process of this host besides the test's own."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    yield proc
    proc.kill()
    proc.wait()


def _exited_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _register(workers: Workers, pid: int, host: str = HOST) -> None:
    workers.register(
        "w1", host=host, pid=pid, concurrency=1, version="v", dead_after=DEAD_AFTER,
        process_exists=process_exists,
    )  # fmt: skip


def test_a_fresh_name_of_a_crashed_process_on_this_host_is_taken_at_once(
    workers: Workers,
) -> None:
    _register(workers, _exited_pid())
    _register(workers, os.getpid())  # the heartbeat is fresh, but its process is gone
    record = workers.get("w1")
    assert record is not None and (record.pid, record.state) == (os.getpid(), "alive")


def test_a_live_workers_name_is_refused(
    workers: Workers, other_process: subprocess.Popen[bytes]
) -> None:
    _register(workers, other_process.pid)
    with pytest.raises(WorkerNameTaken, match="is alive"):
        _register(workers, os.getpid())


def test_a_name_held_on_another_host_waits_for_its_heartbeat_to_age(workers: Workers) -> None:
    """This host cannot see another host's processes: only the heartbeat tells."""
    _register(workers, _exited_pid(), host="elsewhere")
    with pytest.raises(WorkerNameTaken):
        _register(workers, os.getpid())
