"""Recording how a run of a session ended: a terminal outcome (shared by the workflow's last
step and by `cancel` of a session no process is running, which must not need DBOS), or a pause
or a budget sleep that a new run continues."""

from __future__ import annotations

from datetime import UTC, datetime

from cofounder.engine.runtime import Runtime
from cofounder.events import PhaseCompleted, Requeued, SessionFinished, SessionPaused, Sleeping
from cofounder.storage.events import append_in
from cofounder.storage.ledger import release_session_in
from cofounder.storage.queue import earliest_blocking_deadline_in
from cofounder.storage.sessions import row_in


def record_outcome(rt: Runtime, session_id: str, outcome: str, reason: str) -> str:
    """Record the terminal outcome once; a repeat returns the stored one."""
    with rt.db.transaction() as session:
        row = row_in(session, session_id)
        if row.state == "finished":
            assert row.outcome is not None
            return row.outcome
        if row.phase is not None:
            append_in(session, session_id, PhaseCompleted(iteration=row.iteration, phase=row.phase))
        release_session_in(session, session_id)  # a finished session holds no reservation
        now = datetime.now(UTC)
        row.wake_at = None
        row.state = "finished"
        row.outcome = outcome
        row.outcome_reason = reason
        row.finished_at = now
        row.updated_at = now
        append_in(
            session,
            session_id,
            SessionFinished(
                outcome=outcome,
                reason=reason,
                iterations=row.iteration,
                tool_calls=row.tool_calls,
                elapsed_seconds=round((now - row.created_at).total_seconds(), 3),
            ),
        )
    return outcome


def record_pause(
    rt: Runtime, session_id: str, reason: str, *, from_states: tuple[str, ...] = ("running",)
) -> str:
    """Stop this run without ending the session; a repeat is harmless."""
    with rt.db.transaction() as session:
        row = row_in(session, session_id)
        if row.state not in from_states:
            return row.state
        row.state = "paused"
        row.pause_requested = False
        row.outcome_reason = reason
        row.updated_at = datetime.now(UTC)
        append_in(
            session,
            session_id,
            SessionPaused(reason=reason, iteration=row.iteration, run=row.run_number),
        )
    return "paused"


def record_sleep(rt: Runtime, session_id: str, wake_at: datetime, reason: str) -> str:
    """End this run and sleep until `wake_at`: only the row remembers it (no process, thread or
    sandbox is held); `cofounder resume` or `wake` continues it as the next run."""
    with rt.db.transaction() as session:
        row = row_in(session, session_id)
        if row.state != "running":
            return row.state
        row.state = "sleeping"
        row.wake_at = wake_at
        row.wake_requested = False
        row.outcome_reason = reason
        row.updated_at = datetime.now(UTC)
        append_in(
            session,
            session_id,
            Sleeping(wake_at=wake_at, reason=reason, iteration=row.iteration, run=row.run_number),
        )
    return "sleeping"


def record_waiting(rt: Runtime, session_id: str) -> str:
    """End this run until the founder answers (or a deadline applies a default); like a sleep,
    only rows remember it. The `escalated`/`waiting_for_input` events were emitted with it."""
    with rt.db.transaction() as session:
        row = row_in(session, session_id)
        if row.state != "running":
            return row.state
        row.state = "waiting"
        # Due at the earliest deadline (its default applies) unless answered before.
        row.wake_at = earliest_blocking_deadline_in(session, session_id)
        row.updated_at = datetime.now(UTC)
    return "waiting"


def record_requeue(rt: Runtime, session_id: str, worker: str) -> str:
    """End this run because its worker shuts down: the session waits in the queue and the
    next worker continues it as the next run."""
    with rt.db.transaction() as session:
        row = row_in(session, session_id)
        if row.state != "running":
            return row.state
        now = datetime.now(UTC)
        row.state = "queued"
        row.run_number += 1
        row.worker = None
        row.queued_at = now
        row.updated_at = now
        append_in(
            session,
            session_id,
            Requeued(iteration=row.iteration, run=row.run_number, worker=worker),
        )
    return "queued"
