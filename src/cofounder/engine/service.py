"""Creating, running, resuming and cancelling build sessions in this process."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from dbos import DBOS, DBOSPortableJSONSerializer, SetWorkflowID
from sqlalchemy import Engine as SqlEngine

from cofounder.config import Settings
from cofounder.engine import workspace as workspace_state
from cofounder.engine.catalog import Catalog
from cofounder.engine.live import bring_back_preview, close_live, live_sessions
from cofounder.engine.locks import SessionLock
from cofounder.engine.outcomes import record_outcome
from cofounder.engine.startup import check_start
from cofounder.engine.workflow import build_session
from cofounder.events import SessionResumed, SessionStarted, Waking
from cofounder.llm import Message, TextBlock
from cofounder.project import ProjectSpec
from cofounder.storage import Checkpoint, NewSession, SessionRecord
from cofounder.storage.events import append_in
from cofounder.storage.sessions import insert_in
from cofounder.storage.transcript import append_messages_in, save_checkpoint_in

_DEAD_WORKFLOW_STATES = ("ERROR", "MAX_RECOVERY_ATTEMPTS_EXCEEDED", "CANCELLED")
# Bump when the workflow's step sequence changes incompatibly; recovery matches on it.
WORKFLOW_VERSION = "cofounder-wf-4"


def kickoff_message(spec: ProjectSpec) -> Message:
    return Message(
        role="user",
        content=[
            TextBlock(
                text=(
                    f"Please build {spec.name} now. The goal: {spec.goal}\n"
                    "Work in the sandbox workspace, narrate as you go, verify by running "
                    "things, and finish with a plain-language summary when the app works."
                )
            )
        ],
    )


class Engine(Catalog):
    """Creates and runs sessions in this process (DBOS is launched per run)."""

    def create_session(
        self,
        spec: ProjectSpec,
        project_file: Path,
        *,
        model_override: str | None = None,
        max_tool_calls: int | None = None,
    ) -> SessionRecord:
        # Models (coder and summarizer), prices, allowance and sandbox backend: fail now.
        model_spec = check_start(
            self.rt.settings,
            spec,
            project_file,
            model_override=model_override,
            prices=self.rt.prices,
        ).model_spec
        session_id = uuid.uuid4().hex[:12]
        workspace = self.rt.files(session_id).workspace
        workspace.mkdir(parents=True, exist_ok=True)
        snapshot_id = self.rt.snapshots.take(workspace)
        # The workspace is exactly that snapshot: the first batch need not restore it.
        workspace_state.write_state(
            self.rt, session_id, workspace_state.WorkspaceState(kind="at", snapshot_id=snapshot_id)
        )
        settings = self.rt.settings
        with self.rt.db.transaction() as session:
            insert_in(
                session,
                NewSession(
                    id=session_id,
                    name=spec.name,
                    owner=spec.owner,
                    tier=spec.tier,
                    model_spec=model_spec,
                    project_json=spec.model_dump_json(),
                    workspace=str(workspace),
                    max_tool_calls=max_tool_calls or settings.max_tool_calls,
                    max_wall_seconds=settings.max_wall_seconds,
                    network_mode=spec.network,
                ),
            )
            append_messages_in(session, session_id, 0, 0, [kickoff_message(spec)])
            save_checkpoint_in(
                session,
                Checkpoint(
                    session_id=session_id,
                    iteration=0,
                    message_count=1,
                    snapshot_id=snapshot_id,
                    guard_state={},
                    phase=None,
                    elapsed_seconds=0.0,
                ),
            )
            append_in(
                session,
                session_id,
                SessionStarted(
                    name=spec.name,
                    goal=spec.goal,
                    owner=spec.owner,
                    model=model_spec,
                    workspace=str(workspace),
                    max_tool_calls=max_tool_calls or settings.max_tool_calls,
                    network=spec.network,
                ),
            )
        record = self.rt.sessions.get(session_id)
        assert record is not None
        return record

    def run(self, session_id: str, *, resumed: bool = False) -> str:
        """Run (or resume) a session to its terminal outcome in this process.

        A session that sleeps for its budget holds nothing while it waits here: the run's
        workflow has ended, DBOS is shut down and no sandbox exists; it wakes at `wake_at` (or
        when `cofounder wake` asks) as the next run. Killed while waiting, `cofounder resume`
        waits for the same recorded `wake_at`.
        """
        record = self.unfinished(session_id)
        lock = SessionLock(self.rt.files(session_id).lock)
        lock.acquire()
        try:
            if resumed:
                self.rt.events.append(
                    session_id, SessionResumed(iteration=record.iteration, run=record.run_number)
                )
            # Resumed asleep or waiting, it runs again only once due: never a model call
            # before the recorded wake_at or past an unanswered question.
            state: str = record.state
            while True:
                if state == "sleeping":
                    woken = self.wait_for_wake(session_id)
                elif state == "waiting":
                    woken = self.wait_for_answer(session_id)
                else:
                    woken = "waking"
                if woken != "waking":
                    return woken
                state = self._run_once(session_id)
                if state not in ("sleeping", "waiting"):
                    return state
        finally:
            lock.release()

    def wait_for_wake(self, session_id: str, *, poll_seconds: float = 0.25) -> str:
        """Block until a sleeping session is due (or woken on request, or cancelled)."""

        def due(record: SessionRecord, now: datetime) -> float | None:
            if record.wake_requested or record.wake_at is None or now >= record.wake_at:
                return None
            return (record.wake_at - now).total_seconds()

        return self._wait(session_id, "sleeping", due, "cancelled while asleep", poll_seconds)

    def wait_for_answer(self, session_id: str, *, poll_seconds: float = 0.25) -> str:
        """Block until the founder answers every question the build waits for, or a deadline
        passes (the next run applies the default)."""

        def due(record: SessionRecord, now: datetime) -> float | None:
            blocking = self.rt.escalations.blocking_open(session_id)
            if not blocking or any(e.deadline <= now for e in blocking):
                return None
            return (min(e.deadline for e in blocking) - now).total_seconds()

        reason = "cancelled while waiting for the founder"
        return self._wait(session_id, "waiting", due, reason, poll_seconds)

    def _wait(
        self,
        session_id: str,
        state: str,
        seconds_left: Callable[[SessionRecord, datetime], float | None],
        cancelled: str,
        poll_seconds: float,
    ) -> str:
        """Poll the row (any process can do the waiting; nothing else is held) until the
        session leaves `state` or is due: "waking", or the terminal outcome."""
        while True:
            record = self.rt.sessions.get(session_id)
            assert record is not None
            if record.state == "finished":
                assert record.outcome is not None
                return record.outcome
            if record.state != state:
                return "waking"
            if record.cancel_requested:
                return record_outcome(self.rt, session_id, "cancelled", cancelled)
            left = seconds_left(record, datetime.now(UTC))
            if left is None:
                return "waking"
            time.sleep(max(0.01, min(poll_seconds, left)))

    def _run_once(self, session_id: str) -> str:
        record = self.unfinished(session_id)
        if record.state in ("paused", "sleeping", "waiting"):
            waking = record.state == "sleeping"
            run_number = self.rt.sessions.start_next_run(session_id)
            if waking:
                self.rt.events.append(
                    session_id,
                    Waking(
                        iteration=record.iteration,
                        run=run_number,
                        on_request=record.wake_requested,
                        wake_at=record.wake_at,
                    ),
                )
        else:
            run_number = record.run_number
        live_sessions.begin(session_id)
        bring_back_preview(self.rt, session_id)  # the founder's app first, before any thinking
        _launch_dbos(
            self.rt.settings, executor_id=f"session-{session_id}", engine=self.rt.dbos_engine
        )
        ended = "the run stopped"
        try:
            workflow_id = run_workflow_id(session_id, run_number)
            status = DBOS.get_workflow_status(workflow_id)
            if status is None:
                with SetWorkflowID(workflow_id):
                    handle = DBOS.start_workflow(build_session, session_id)
            elif status.status in _DEAD_WORKFLOW_STATES:
                # DBOS gave up on it (e.g. too many recovery attempts): say so, once.
                return record_outcome(
                    self.rt,
                    session_id,
                    "failed",
                    f"the durable workflow ended {status.status}: {status.error}",
                )
            else:
                handle = DBOS.retrieve_workflow(workflow_id)
            ended = str(handle.get_result())
            return ended
        finally:
            DBOS.destroy(workflow_completion_timeout_sec=0)
            # Sleeping, waiting, paused or finished: nothing the run started outlives it.
            close_live(self.rt, session_id, ended)
            live_sessions.end(session_id)


def run_workflow_id(session_id: str, run_number: int) -> str:
    """Run 1 is the session id itself; a paused session continues as `<id>.run<n>`."""
    return session_id if run_number == 1 else f"{session_id}.run{run_number}"


def _launch_dbos(settings: Settings, *, executor_id: str, engine: SqlEngine | None) -> None:
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
