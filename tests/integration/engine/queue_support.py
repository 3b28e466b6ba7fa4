"""Sessions made straight in rows for the queue tests: many owners, tiers and projects without
a project file or a model each. The rows are the ones `Engine.create_session` writes (through
the same `insert_in`); only their queue time is set, so FIFO order is the test's to choose."""

from __future__ import annotations

import itertools
import os
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from cf_support import Backend
from cofounder.config import Settings
from cofounder.engine.outcomes import record_outcome
from cofounder.engine.runtime import Runtime
from cofounder.engine.worker.dispatch import Dispatcher
from cofounder.storage.sessions import NewSession, insert_in
from cofounder.storage.tables import SessionRow

_ids = itertools.count()
# Each session's queued_at is this plus its place in line, so no clock tie ever decides.
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
_line = itertools.count()


@dataclass(frozen=True)
class Build:
    """One session to put in the queue: whose, which tier, which project."""

    owner: str
    tier: str = "bootstrapper"
    project: str = "App"


def open_runtime(backend: Backend, **settings: Any) -> Runtime:
    """The runtime a worker would have, with `settings` over the defaults."""
    return Runtime.open(Settings(home=backend.home, database_url=backend.database_url, **settings))


def queue_builds(rt: Runtime, builds: list[Build], *, state: str = "queued") -> list[str]:
    """Insert the sessions in this order (each one later in line than the one before); their
    ids, in the same order."""
    ids: list[str] = []
    with rt.db.transaction() as session:
        for build in builds:
            session_id = f"q{next(_ids):05d}-{build.owner}"
            insert_in(
                session,
                NewSession(
                    id=session_id,
                    name=build.project,
                    owner=build.owner,
                    tier=build.tier,
                    model_spec="scripted:none.yaml",
                    project_json="{}",
                    workspace="unused",
                    max_tool_calls=10,
                    max_wall_seconds=60,
                ),
            )
            ids.append(session_id)
            session.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id)
                .values(state=state, queued_at=_EPOCH + timedelta(milliseconds=next(_line)))
            )
    return ids


def states(rt: Runtime, ids: list[str]) -> dict[str, str]:
    with rt.db.transaction() as session:
        rows = session.execute(
            select(SessionRow.id, SessionRow.state).where(SessionRow.id.in_(ids))
        ).all()
    return {i: s for i, s in rows}


def running_counts(rt: Runtime) -> tuple[Counter[str], Counter[tuple[str, str]]]:
    """Running sessions per owner and per (owner, project), read in one statement."""
    with rt.db.transaction() as session:
        rows = session.execute(
            select(SessionRow.owner, SessionRow.name).where(SessionRow.state == "running")
        ).all()
    return Counter(o for o, _ in rows), Counter((o, n) for o, n in rows)


def finish(rt: Runtime, session_id: str) -> None:
    """The run ended: its slot is free (the same record a worker's last step writes)."""
    record_outcome(rt, session_id, "completed", "the test ended it")


@dataclass
class Recorder:
    """Stands in for DBOS's enqueue (admission is what is under test): the runs, in order."""

    runs: list[tuple[str, int, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enqueue(self, session_id: str, run_number: int, tier: str) -> str | None:
        with self._lock:
            self.runs.append((session_id, run_number, tier))
        return None

    @property
    def ids(self) -> list[str]:
        return [session_id for session_id, _, _ in self.runs]


def _no_takeover(_executor: str) -> int:
    return 0


@contextmanager
def dispatcher(
    rt: Runtime, name: str = "fair", *, concurrency: int = 1000
) -> Iterator[tuple[Dispatcher, Recorder]]:
    """A registered worker's dispatcher whose enqueues are recorded; its `concurrency` is the
    capacity admission may fill (large by default: the tier limits are under test)."""
    me = rt.workers.register(
        f"{name}-{next(_ids)}",
        host=socket.gethostname(),
        pid=os.getpid(),
        concurrency=concurrency,
        version="test",
        dead_after=rt.settings.worker_dead_after_seconds,
    )
    recorder = Recorder()
    yield Dispatcher(rt, me=me, enqueue=recorder.enqueue, take_over=_no_takeover), recorder
