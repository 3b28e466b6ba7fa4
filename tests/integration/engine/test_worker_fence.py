"""A worker's lease must hold from the moment it registers: DBOS's launch takes seconds on a
busy machine, and a lease that lapsed meanwhile made a healthy worker fence itself (exit 75) at
its first transaction."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from cf_support import REPO, Backend

DEAD_AFTER = 3.0  # the lease is trusted for 2/3 of it: 2 s

# Starts a worker whose DBOS launch is slowed past the lease, then makes one transaction.
SLOW_LAUNCH = textwrap.dedent(
    """
    import sys, time
    from cofounder.config import Settings
    from cofounder.engine import Engine, WorkerOptions
    from cofounder.engine.worker import durable
    from cofounder.engine.worker.process import Worker

    launch = durable.launch

    def slow_launch(*args, **kwargs):
        time.sleep(float(sys.argv[1]))
        return launch(*args, **kwargs)

    durable.launch = slow_launch
    engine = Engine(Settings())
    worker = Worker(engine.rt, WorkerOptions(concurrency=1))
    worker.start()
    engine.rt.workers.list()  # checks the lease first
    print("served", flush=True)
    worker.stop(0)
    engine.close()
    """
)


def test_a_slow_launch_does_not_expire_the_lease(sqlite_backend: Backend) -> None:
    slower_than_lease = DEAD_AFTER * 2 / 3 + 1.0
    result = subprocess.run(
        [sys.executable, "-c", SLOW_LAUNCH, str(slower_than_lease)],
        env=sqlite_backend.env(COFOUNDER_WORKER_DEAD_AFTER_SECONDS=str(DEAD_AFTER)),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-2000:]
    assert "served" in result.stdout.splitlines() and "worker_fenced" not in output
