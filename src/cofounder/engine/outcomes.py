"""Recording a session's terminal outcome: shared by the workflow's last step and by `cancel`
of a session no process is running (which must not need DBOS)."""

from __future__ import annotations

from datetime import UTC, datetime

from cofounder.engine.feed import EventType
from cofounder.engine.runtime import Runtime
from cofounder.storage.events import append_in
from cofounder.storage.sessions import row_in


def record_outcome(rt: Runtime, session_id: str, outcome: str, reason: str) -> str:
    """Record the terminal outcome once; a repeat returns the stored one."""
    with rt.db.transaction() as session:
        row = row_in(session, session_id)
        if row.state == "finished":
            assert row.outcome is not None
            return row.outcome
        if row.phase is not None:
            append_in(
                session,
                session_id,
                EventType.PHASE_COMPLETED,
                {"iteration": row.iteration, "phase": row.phase},
            )
        now = datetime.now(UTC)
        row.state = "finished"
        row.outcome = outcome
        row.outcome_reason = reason
        row.finished_at = now
        row.updated_at = now
        append_in(
            session,
            session_id,
            EventType.SESSION_FINISHED,
            {
                "outcome": outcome,
                "reason": reason,
                "iterations": row.iteration,
                "tool_calls": row.tool_calls,
                "elapsed_seconds": round((now - row.created_at).total_seconds(), 3),
            },
        )
    return outcome
