"""Worker rows: who serves the queue, and whether each is still alive.

A worker's heartbeat is its lease on the sessions it runs (`sessions.worker`). Declaring a
worker dead is a conditional update on the heartbeat the declarer saw, so of many live workers
exactly one takes a dead worker's sessions over, and a worker that comes back after being
declared dead finds out at its next heartbeat.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cofounder.storage.db import Database
from cofounder.storage.tables import SessionRow, WorkerRow

WorkerState = Literal["alive", "draining", "stopped", "dead"]
SERVING: tuple[WorkerState, ...] = ("alive", "draining")


class WorkerRecord(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    name: str
    host: str
    pid: int
    concurrency: int
    state: WorkerState
    version: str
    started_at: datetime
    heartbeat_at: datetime

    def heartbeat_age(self, now: datetime) -> float:
        return max(0.0, (now - self.heartbeat_at).total_seconds())

    def is_live(self, now: datetime, dead_after: float) -> bool:
        return self.state in SERVING and self.heartbeat_age(now) <= dead_after


class WorkerNameTaken(Exception):
    """Another live worker already serves under this name."""


class Workers:
    def __init__(self, db: Database) -> None:
        self._db = db

    def register(
        self,
        name: str,
        *,
        host: str,
        pid: int,
        concurrency: int,
        version: str,
        dead_after: float,
        process_exists: Callable[[int], bool] = lambda _pid: True,
    ) -> WorkerRecord:
        """Start serving under `name`; a stale row of the same name (a restart) is replaced,
        and so is a fresh one whose process on this host is gone (a restart after a crash
        need not wait for the heartbeat to age)."""
        now = datetime.now(UTC)
        with self._db.transaction() as session:
            row = session.get(WorkerRow, name, with_for_update=True)
            if row is not None:
                old = WorkerRecord.model_validate(row)
                gone = old.host == host and not process_exists(old.pid)
                if old.is_live(now, dead_after) and (old.host, old.pid) != (host, pid) and not gone:
                    raise WorkerNameTaken(
                        f"worker {name!r} is alive (pid {old.pid} on {old.host}, heartbeat "
                        f"{old.heartbeat_age(now):.1f} s ago); give another --name"
                    )
                session.delete(row)
                session.flush()
            row = WorkerRow(
                name=name,
                host=host,
                pid=pid,
                concurrency=concurrency,
                state="alive",
                version=version,
                started_at=now,
                heartbeat_at=now,
            )
            session.add(row)
            session.flush()
            return WorkerRecord.model_validate(row)

    def heartbeat(self, name: str) -> bool:
        """Renew the lease; False when this worker was declared dead (or stopped) meanwhile."""
        with self._db.transaction() as session:
            done = session.execute(
                update(WorkerRow)
                .where(WorkerRow.name == name, WorkerRow.state.in_(SERVING))
                .values(heartbeat_at=datetime.now(UTC))
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def set_state(self, name: str, state: WorkerState) -> None:
        with self._db.transaction() as session:
            session.execute(update(WorkerRow).where(WorkerRow.name == name).values(state=state))
            if state in ("stopped", "dead"):
                _release_sessions(session, name)

    def set_concurrency(self, name: str, concurrency: int) -> WorkerRecord:
        with self._db.transaction() as session:
            row = session.get(WorkerRow, name)
            assert row is not None
            row.concurrency = concurrency
            session.flush()
            return WorkerRecord.model_validate(row)

    def expire(self, name: str) -> None:
        """Leaving with runs in flight: make the heartbeat stale now, so the next live worker
        takes them over at its next sweep instead of after `dead_after`."""
        with self._db.transaction() as session:
            session.execute(
                update(WorkerRow)
                .where(WorkerRow.name == name)
                .values(heartbeat_at=datetime(1970, 1, 1, tzinfo=UTC))
            )

    def get(self, name: str) -> WorkerRecord | None:
        with self._db.transaction() as session:
            row = session.get(WorkerRow, name)
            return WorkerRecord.model_validate(row) if row else None

    def list(self) -> list[WorkerRecord]:
        with self._db.transaction() as session:
            rows = session.scalars(select(WorkerRow).order_by(WorkerRow.started_at)).all()
            return [WorkerRecord.model_validate(r) for r in rows]

    def declare_dead(self, name: str, seen_heartbeat: datetime) -> bool:
        """Mark a worker dead if its heartbeat is still the one seen; True for the one caller
        that did (it takes the sessions over). Its sessions' leases are released."""
        with self._db.transaction() as session:
            done = session.execute(
                update(WorkerRow)
                .where(
                    WorkerRow.name == name,
                    WorkerRow.state.in_(SERVING),
                    WorkerRow.heartbeat_at == seen_heartbeat,
                )
                .values(state="dead")
            )
            if not done.rowcount:  # type: ignore[attr-defined]
                return False
            _release_sessions(session, name)
            return True

    def forget_stopped(self, older_than: timedelta) -> int:
        """Drop rows of workers that stopped or died long ago (the list stays readable)."""
        cutoff = datetime.now(UTC) - older_than
        with self._db.transaction() as session:
            rows = session.scalars(
                select(WorkerRow).where(
                    WorkerRow.state.in_(("stopped", "dead")), WorkerRow.heartbeat_at < cutoff
                )
            ).all()
            for row in rows:
                session.delete(row)
            return len(rows)


def _release_sessions(session: Session, name: str) -> None:
    session.execute(update(SessionRow).where(SessionRow.worker == name).values(worker=None))
