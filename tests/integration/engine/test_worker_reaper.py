"""The reaper: exactly one live worker declares a dead one dead, and that one must recover its
runs even when the first recovery fails (once declared dead, no other worker looks at it)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from queue_support import open_runtime

from cf_support import Backend
from cofounder.engine.runtime import Runtime
from cofounder.engine.worker.dispatch import Dispatcher
from cofounder.storage.workers import WorkerRecord

HOST = socket.gethostname()


@pytest.fixture
def rt(backend: Backend) -> Iterator[Runtime]:
    runtime = open_runtime(backend)
    yield runtime
    runtime.close()


class FlakyRecovery:
    """DBOS's recovery call, failing the first `failures` times (the database hiccuped)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.recovered: list[str] = []

    def __call__(self, executor_id: str) -> int:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("the system database went away")
        self.recovered.append(executor_id)
        return 1


def _register(rt: Runtime, name: str, pid: int) -> WorkerRecord:
    return rt.workers.register(
        name, host=HOST, pid=pid, concurrency=1, version="v", dead_after=60.0
    )


def _crashed_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_failed_recovery_is_retried_by_the_worker_that_declared_it(rt: Runtime) -> None:
    me = _register(rt, "live", os.getpid())
    _register(rt, "crashed", _crashed_pid())
    recovery = FlakyRecovery(failures=1)
    reaper = Dispatcher(rt, me=me, enqueue=lambda *_: None, take_over=recovery)
    other = Dispatcher(rt, me=me, enqueue=lambda *_: None, take_over=recovery)

    assert reaper.reap() == []  # declared dead, recovery failed
    dead = rt.workers.get("crashed")
    assert dead is not None and dead.state == "dead"
    assert other.reap() == []  # nobody else recovers a worker already declared dead
    assert reaper.reap() == ["crashed"]
    assert recovery.recovered == ["crashed"]
    assert reaper.reap() == []  # once
