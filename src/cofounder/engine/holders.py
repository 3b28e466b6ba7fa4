"""Who runs a session now, read from rows: the worker named on the session, while that
worker's heartbeat is fresh (and, on this host, its process exists)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

from cofounder.engine.runtime import Runtime
from cofounder.pids import process_exists
from cofounder.storage import SessionRecord
from cofounder.storage.workers import WorkerRecord

# States in which a live worker carries a session on by itself (wakes it, admits it, runs it).
SERVED_STATES = ("queued", "running", "sleeping", "waiting")


def is_live(worker: WorkerRecord, dead_after: float, now: datetime | None = None) -> bool:
    """Fresh heartbeat, and not a process of this host that is gone."""
    if not worker.is_live(now or datetime.now(UTC), dead_after):
        return False
    return worker.host != socket.gethostname() or process_exists(worker.pid)


def live_workers(rt: Runtime) -> list[WorkerRecord]:
    dead_after = rt.settings.worker_dead_after_seconds
    now = datetime.now(UTC)
    return [w for w in rt.workers.list() if is_live(w, dead_after, now)]


def holder(rt: Runtime, record: SessionRecord) -> WorkerRecord | None:
    """The live worker running the session now, if any."""
    if record.worker is None:
        return None
    worker = rt.workers.get(record.worker)
    if worker is None or not is_live(worker, rt.settings.worker_dead_after_seconds):
        return None
    return worker


def is_served(rt: Runtime, record: SessionRecord) -> bool:
    """Whether some live worker will carry the session on without anyone running it here."""
    if holder(rt, record) is not None:
        return True
    return record.state in SERVED_STATES and bool(live_workers(rt))
