"""How a worker serves the queue (no DBOS import: the faces build these)."""

from __future__ import annotations

from dataclasses import dataclass

from cofounder.storage.workers import WorkerNameTaken, WorkerRecord

__all__ = ["WorkerNameTaken", "WorkerOptions", "WorkerRecord"]


@dataclass(frozen=True)
class WorkerOptions:
    name: str | None = None  # default: <host>-<pid>
    concurrency: int | None = None  # sessions at once; default: one per core
    drain_seconds: int = 60  # on stop, how long running sessions get to hand back
    # A dedicated worker sets the queue's per-worker concurrency for every worker (DBOS keeps
    # one number per queue); an embedded one (`cofounder build`) leaves it as it is.
    sets_concurrency: bool = False
    # A worker serving others (`cofounder worker`, `serve`) warns about setups unfit for
    # hostile code; the one inside a founder's own `cofounder build` does not nag.
    serves_others: bool = True
