"""DBOS, once per worker process: its configuration, the `sessions` queue, and enqueueing a
session's next run under its deterministic workflow id."""

from __future__ import annotations

from dbos import DBOS, DBOSPortableJSONSerializer, SetEnqueueOptions, SetWorkflowID
from sqlalchemy import Engine as SqlEngine

from cofounder.config import TIER_PRIORITY, Settings
from cofounder.engine.workflow import build_session, run_workflow_id

QUEUE = "sessions"
# Bump when the workflow's step sequence changes incompatibly; recovery and dequeueing match on
# it, so every worker sharing a database must run the same one.
WORKFLOW_VERSION = "cofounder-wf-5"
# Terminal states in which DBOS gave up on a run (its session must be told).
DEAD_WORKFLOW_STATES = ("ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED", "CANCELLED")
# How often each worker asks the queue for work; a woken session starts within about this.
POLL_SECONDS = 0.2


def launch(
    settings: Settings,
    *,
    executor_id: str,
    engine: SqlEngine | None,
    concurrency: int,
    sets_concurrency: bool,
) -> int:
    """Launch DBOS for this process and serve the queue; returns the sessions each worker
    runs at once. DBOS keeps that number on the queue, for every worker alike: a dedicated
    worker (`sets_concurrency`) sets it, an embedded one takes what is there."""
    DBOS(
        config={
            "name": "cofounder",
            "system_database_url": settings.dbos_database_url,
            "system_database_engine": engine,  # SQLite in WAL mode (storage.db)
            "application_version": WORKFLOW_VERSION,
            "executor_id": executor_id,
            "log_level": "WARNING",
            "serializer": DBOSPortableJSONSerializer(),
            "notification_listener_polling_interval_sec": 0.05,
        }
    )
    DBOS.launch()
    queue = DBOS.register_queue(
        QUEUE,
        worker_concurrency=concurrency,
        polling_interval_sec=POLL_SECONDS,
        on_conflict="always_update" if sets_concurrency else "never_update",
    )
    return queue.worker_concurrency or concurrency


def enqueue_run(session_id: str, run_number: int, tier: str) -> str | None:
    """Enqueue the run (a no-op when it exists); the DBOS state when DBOS gave up on it."""
    workflow_id = run_workflow_id(session_id, run_number)
    with SetWorkflowID(workflow_id), SetEnqueueOptions(priority=TIER_PRIORITY.get(tier, 3)):
        handle = DBOS.enqueue_workflow(QUEUE, build_session, session_id)
    status = handle.get_status()
    return status.status if status.status in DEAD_WORKFLOW_STATES else None


def run_status(session_id: str, run_number: int) -> str | None:
    """DBOS's state of the run (ENQUEUED, PENDING, SUCCESS, ...); None when it was never
    enqueued."""
    status = DBOS.get_workflow_status(run_workflow_id(session_id, run_number))
    return None if status is None else status.status


def take_over(executor_id: str) -> int:
    """Put a dead worker's unfinished runs back on their queue (DBOS's internal recovery call:
    self-hosted DBOS has no public one; the version is pinned and a test covers it)."""
    return len(DBOS._recover_pending_workflows([executor_id]))


def shut_down(drain_seconds: int) -> None:
    """Stop taking work, give running runs up to `drain_seconds` to end, then stop DBOS."""
    DBOS.destroy(workflow_completion_timeout_sec=drain_seconds)
