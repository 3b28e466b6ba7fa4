"""Creating, running, resuming and cancelling build sessions in this process."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from cofounder.engine import workspace as workspace_state
from cofounder.engine.admission import check_room
from cofounder.engine.catalog import Catalog
from cofounder.engine.errors import EngineError
from cofounder.engine.first_rows import insert_first_rows
from cofounder.engine.startup import check_start
from cofounder.engine.worker.names import default_name
from cofounder.engine.worker.options import WorkerOptions
from cofounder.events import SessionResumed
from cofounder.llm import Message, TextBlock
from cofounder.project import ProjectSpec
from cofounder.storage import Checkpoint, NewSession, SessionRecord


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


@dataclass(frozen=True)
class BuildLink:
    """Which project a new session builds, as which version, from which workspace."""

    project_id: str
    version: str
    from_snapshot: str | None  # the previous build's final workspace; None: start empty


class Engine(Catalog):
    """Creates sessions (into the queue) and runs them in this process as a worker."""

    def create_session(
        self,
        spec: ProjectSpec,
        project_file: Path,
        *,
        model_override: str | None = None,
        max_tool_calls: int | None = None,
        build: BuildLink | None = None,
    ) -> SessionRecord:
        """A new session in the queue. `build` makes it a project's next build version,
        starting from the final workspace of the build before it."""
        # Models (coder and summarizer), prices, allowance and sandbox backend: fail now.
        model_spec = check_start(
            self.rt.settings,
            spec,
            project_file,
            model_override=model_override,
            prices=self.rt.prices,
        ).model_spec
        check_room(self.rt, spec.owner, spec.tier)  # the queue cap and the daily cap
        session_id = uuid.uuid4().hex[:12]
        workspace = self.rt.files(session_id).workspace
        workspace.mkdir(parents=True, exist_ok=True)
        if build is not None and build.from_snapshot is not None:
            self.rt.snapshots.restore(build.from_snapshot, workspace)
        snapshot_id = self.rt.snapshots.take(workspace)
        # The workspace is exactly that snapshot: the first batch need not restore it.
        workspace_state.write_state(
            self.rt, session_id, workspace_state.WorkspaceState(kind="at", snapshot_id=snapshot_id)
        )
        try:
            self._insert(
                spec, session_id, workspace, snapshot_id, model_spec, max_tool_calls, build
            )
        except EngineError:  # refused at the last moment (a cap): leave nothing behind
            self.rt.files(session_id).remove()
            raise
        record = self.rt.sessions.get(session_id)
        assert record is not None
        return record

    def _insert(
        self,
        spec: ProjectSpec,
        session_id: str,
        workspace: Path,
        snapshot_id: str,
        model_spec: str,
        max_tool_calls: int | None,
        build: BuildLink | None,
    ) -> None:
        """The session's rows, its first message and checkpoint and its first event, at once;
        the caps are checked again inside, under the queue's lock."""
        settings = self.rt.settings
        new = NewSession(
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
            project_id=build.project_id if build else None,
            build_version=build.version if build else None,
        )
        start = Checkpoint(
            session_id=session_id,
            iteration=0,
            message_count=1,
            snapshot_id=snapshot_id,
            guard_state={},
            phase=None,
            elapsed_seconds=0.0,
        )
        insert_first_rows(self.rt, new, spec, [kickoff_message(spec)], start)

    def run(self, session_id: str, *, resumed: bool = False, poll_seconds: float = 0.1) -> str:
        """Serve the queue in this process (an embedded worker) until the session ends or
        pauses; returns its outcome, or "paused".

        While it sleeps for its budget or waits for its founder, the session holds nothing:
        its run has ended and only rows remember it; this process's dispatcher queues it again
        at `wake_at` (or at once on `cofounder wake`, a top-up or an answer). The worker may
        run other queued sessions meanwhile; when this one ends they go back to the queue.
        """

        record = self.unfinished(session_id)
        if resumed:
            self.rt.events.append(
                session_id, SessionResumed(iteration=record.iteration, run=record.run_number)
            )
        return self.run_all([session_id], poll_seconds=poll_seconds)[session_id]

    def run_all(self, session_ids: list[str], *, poll_seconds: float = 0.1) -> dict[str, str]:
        """Serve the queue here until every one of the sessions has ended or paused (paused
        ones are queued again first); each one's outcome, or "paused"."""
        from cofounder.engine.worker.process import Worker

        for session_id in session_ids:
            self.rt.queue.requeue(session_id, from_states=("paused",))
        stopped: dict[str, str] = {}
        with Worker(self.rt, WorkerOptions(name=f"cli-{default_name()}", serves_others=False)):
            while len(stopped) < len(session_ids):
                for session_id in session_ids:
                    record = self.rt.sessions.get(session_id)
                    assert record is not None
                    if record.state == "finished":
                        stopped[session_id] = str(record.outcome)
                    elif record.state == "paused":
                        stopped[session_id] = "paused"
                time.sleep(poll_seconds)
        return stopped

    def serve(self, options: WorkerOptions, stop: threading.Event) -> None:
        """Serve the queue as a worker until `stop` is set, then drain."""
        from cofounder.engine.worker.process import Worker

        worker = Worker(self.rt, options)
        worker.start()
        try:
            stop.wait()
        finally:
            worker.stop()
