"""The session queue in rows: which sessions are due to run, which may start now, and who holds
each one.

A session's lifecycle here: `queued` (waiting for a slot) → `running` (admitted: its run's
workflow is enqueued; `worker` names who executes it) → `sleeping` / `waiting` / `paused`
(its run ended; only rows remember it) → `queued` again when due, or `finished`.
Admission is one transaction under the queue's lock, so two dispatchers never give out the
same slot.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import and_, case, exists, func, not_, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from cofounder.events import Waking
from cofounder.storage.db import Database, hold_sqlite_writer
from cofounder.storage.events import append_each_in
from cofounder.storage.tables import EscalationRow, SessionRow

# Key of the PostgreSQL advisory lock that serialises admission ("CFQU").
_QUEUE_LOCK = 0x43465155
# Sessions woken in one transaction (under the queue's lock).
WAKE_BATCH = 500


@dataclass(frozen=True)
class Slots:
    """What one tier may run at once."""

    per_owner: int
    per_project: int


@dataclass(frozen=True)
class Admitted:
    session_id: str
    run_number: int
    tier: str


@dataclass(frozen=True)
class QueueDepth:
    queued: int
    running: int
    sleeping: int
    waiting: int


def lock_queue(session: Session) -> None:
    """Hold the queue until this transaction ends."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_QUEUE_LOCK)))
    elif dialect == "sqlite":
        hold_sqlite_writer(session)


class SessionQueue:
    def __init__(self, db: Database) -> None:
        self._db = db

    def wake_due(self, now: datetime | None = None) -> list[str]:
        """Sleepers past their `wake_at` (or woken on request) and waiters whose questions are
        answered or past a deadline join the queue as their next run, the most overdue first.
        Uses the (state, wake_at) index: 10,000 sleepers cost one range scan. A batch at a time,
        each in a few statements: a window that ends for thousands at once holds the queue's
        lock for a batch, not for all of them."""
        now = now or datetime.now(UTC)
        woken: list[str] = []
        while self._anything_due(now):  # the usual case: no write lock taken, one read
            batch = self._wake_batch(now)
            woken += batch
            if len(batch) < WAKE_BATCH:
                break
        return woken

    def _wake_batch(self, now: datetime) -> list[str]:
        with self._db.transaction() as session:
            lock_queue(session)
            sleepers = session.execute(
                select(
                    SessionRow.id,
                    SessionRow.iteration,
                    SessionRow.run_number,
                    SessionRow.wake_requested,
                    SessionRow.wake_at,
                )
                .where(SessionRow.state == "sleeping", SessionRow.wake_at <= now)
                .order_by(SessionRow.wake_at)
                .limit(WAKE_BATCH)
                .with_for_update()
            ).all()
            waiters = session.scalars(
                select(SessionRow.id)
                .where(SessionRow.state == "waiting", _waiter_due(now))
                .limit(WAKE_BATCH - len(sleepers))
                .with_for_update()
            ).all()
            append_each_in(
                session,
                [
                    (
                        row.id,
                        Waking(
                            iteration=row.iteration,
                            run=row.run_number + 1,
                            on_request=row.wake_requested,
                            wake_at=row.wake_at,
                        ),
                    )
                    for row in sleepers
                ],
            )
            woken = [row.id for row in sleepers] + list(waiters)
            if woken:
                session.execute(
                    update(SessionRow)
                    .where(SessionRow.id.in_(woken))
                    .values(_next_run(now))
                    .execution_options(synchronize_session=False)
                )
            return woken

    def _anything_due(self, now: datetime) -> bool:
        with self._db.transaction() as session:
            due = session.execute(
                select(SessionRow.id)
                .where(
                    or_(
                        and_(SessionRow.state == "sleeping", SessionRow.wake_at <= now),
                        and_(SessionRow.state == "waiting", _waiter_due(now)),
                    )
                )
                .limit(1)
            ).first()
            return due is not None

    def requeue(self, session_id: str, *, from_states: tuple[str, ...]) -> bool:
        """Put a session back in the queue as its next run (resume of a paused session, a
        drained run); False when it was not in one of `from_states`."""
        now = datetime.now(UTC)
        with self._db.transaction() as session:
            lock_queue(session)
            done = session.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id, SessionRow.state.in_(from_states))
                .values(_next_run(now))
                .execution_options(synchronize_session=False)
            )
            return bool(done.rowcount)  # type: ignore[attr-defined]

    def admit(
        self,
        slots: Callable[[str], Slots],
        priority: Mapping[str, int],
        *,
        capacity: Callable[[], int] | None = None,
        limit: int = 1000,
    ) -> list[Admitted]:
        """Give free slots to queued sessions: highest tier first, then oldest; a session over
        its owner's or project's running limit stays queued (others may pass it). With
        `capacity` (the live workers' slots), no more than that many run at once: the rest
        wait here, in fair order, rather than in DBOS's queue in arrival order."""
        admitted: list[Admitted] = []
        if not self._any_queued():
            return admitted  # nothing waits: no write lock taken
        with self._db.transaction() as session:
            lock_queue(session)
            running = session.execute(
                select(SessionRow.owner, SessionRow.name).where(SessionRow.state == "running")
            ).all()
            per_owner = Counter(owner for owner, _ in running)
            per_project = Counter((owner, name) for owner, name in running)
            if capacity is not None:
                limit = min(limit, capacity() - len(running))
                if limit <= 0:
                    return admitted
            rank = case(*((SessionRow.tier == tier, n) for tier, n in priority.items()), else_=99)
            # Highest tier first, then the longest waiting; a page at a time (a session over
            # its limits is passed over, so more than `limit` rows may be looked at).
            ordered = session.scalars(
                select(SessionRow)
                .where(SessionRow.state == "queued")
                .order_by(rank, SessionRow.queued_at, SessionRow.id)
                .limit(limit * 10)
            ).all()
            now = datetime.now(UTC)
            for row in ordered:
                if len(admitted) >= limit:
                    break
                allowed = slots(row.tier)
                project = (row.owner, row.name)
                if per_owner[row.owner] >= allowed.per_owner:
                    continue
                if per_project[project] >= allowed.per_project:
                    continue
                per_owner[row.owner] += 1
                per_project[project] += 1
                row.state = "running"
                row.worker = None
                row.updated_at = now
                admitted.append(Admitted(row.id, row.run_number, row.tier))
        return admitted

    def _any_queued(self) -> bool:
        with self._db.transaction() as session:
            first = session.execute(
                select(SessionRow.id).where(SessionRow.state == "queued").limit(1)
            ).first()
            return first is not None

    def unclaimed_running(self, older_than: timedelta) -> list[Admitted]:
        """Admitted sessions no worker has picked up for a while: their enqueue may have been
        lost to a crash between admission and enqueue (enqueueing again is harmless)."""
        cutoff = datetime.now(UTC) - older_than
        with self._db.transaction() as session:
            rows = session.execute(
                select(SessionRow.id, SessionRow.run_number, SessionRow.tier).where(
                    SessionRow.state == "running",
                    SessionRow.worker.is_(None),
                    SessionRow.updated_at < cutoff,
                )
            ).all()
            return [Admitted(i, n, t) for i, n, t in rows]

    def claim(self, session_id: str, worker: str) -> None:
        """`worker` runs the session now: the lease is its heartbeat, while it lasts."""
        with self._db.transaction() as session:
            session.execute(
                update(SessionRow).where(SessionRow.id == session_id).values(worker=worker)
            )

    def release(self, session_id: str, worker: str) -> None:
        """The run ended (or left this worker): the session is held by nobody."""
        with self._db.transaction() as session:
            session.execute(
                update(SessionRow)
                .where(SessionRow.id == session_id, SessionRow.worker == worker)
                .values(worker=None)
            )

    def holds(self, session: Session, session_id: str, worker: str) -> bool:
        """Inside a transaction: whether `worker` still holds the session (the fencing check
        a commit makes before it writes)."""
        held = session.execute(
            select(SessionRow.worker).where(SessionRow.id == session_id)
        ).scalar_one_or_none()
        return held == worker

    def depth(self) -> QueueDepth:
        with self._db.transaction() as session:
            return depth_in(session)

    def started_since(self, owner: str, since: datetime) -> int:
        """Sessions the owner started since `since` (the daily cap)."""
        with self._db.transaction() as session:
            return started_since_in(session, owner, since)


def depth_in(session: Session) -> QueueDepth:
    counts = dict(
        session.execute(select(SessionRow.state, func.count()).group_by(SessionRow.state)).all()
    )
    return QueueDepth(
        queued=counts.get("queued", 0),
        running=counts.get("running", 0),
        sleeping=counts.get("sleeping", 0),
        waiting=counts.get("waiting", 0),
    )


def started_since_in(session: Session, owner: str, since: datetime) -> int:
    return int(
        session.execute(
            select(func.count()).where(SessionRow.owner == owner, SessionRow.created_at >= since)
        ).scalar_one()
    )


def _waiter_due(now: datetime) -> ColumnElement[bool]:
    """A waiting session is due once no blocking question is open, or a deadline passed
    (`wake_at` holds the earliest; the next run applies its default)."""
    answered = ~exists().where(
        EscalationRow.session_id == SessionRow.id,
        EscalationRow.state == "open",
        not_(EscalationRow.can_continue),
    )
    return or_(answered, and_(SessionRow.wake_at.is_not(None), SessionRow.wake_at <= now))


def earliest_blocking_deadline_in(session: Session, session_id: str) -> datetime | None:
    """When the first question the session waits on applies its default (None: none open)."""
    deadline: datetime | None = session.execute(
        select(func.min(EscalationRow.deadline)).where(
            EscalationRow.session_id == session_id,
            EscalationRow.state == "open",
            not_(EscalationRow.can_continue),
        )
    ).scalar_one_or_none()
    if deadline is not None and deadline.tzinfo is None:  # SQLite's aggregate: naive UTC
        deadline = deadline.replace(tzinfo=UTC)
    return deadline


def _next_run(now: datetime) -> dict[str, object]:
    """A session's columns as it joins the queue for its next run."""
    return {
        "state": "queued",
        "run_number": SessionRow.run_number + 1,
        "wake_at": None,
        "wake_requested": False,
        "worker": None,
        "queued_at": now,
        "updated_at": now,
    }
