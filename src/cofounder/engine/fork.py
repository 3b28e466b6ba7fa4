"""Forks: a new session from any committed iteration of another — its workspace is that
iteration's snapshot, its conversation the transcript up to it — which then runs like any
build. The original is not touched; the fork bills only its own model calls.

Neither a conversation fork (files not restored) nor a file rewind (conversation lost): both
come back, because every iteration already commits both."""

from __future__ import annotations

import uuid

from cofounder.engine import workspace as workspace_state
from cofounder.engine.admission import check_room
from cofounder.engine.errors import BadInputError, EngineError, NotFoundError
from cofounder.engine.projects import NO_FILE  # a fork has no project file of its own
from cofounder.engine.service import Engine
from cofounder.engine.startup import check_start
from cofounder.events import SessionStarted
from cofounder.project import ProjectSpec
from cofounder.storage import Checkpoint, NewSession, SessionRecord
from cofounder.storage.events import append_in
from cofounder.storage.queue import lock_queue
from cofounder.storage.sessions import insert_in, row_in
from cofounder.storage.transcript import append_messages_in, save_checkpoint_in


def fork_session(
    engine: Engine, source_id: str, iteration: int, *, model: str | None = None
) -> SessionRecord:
    """Queue a fork of `source_id` at `iteration` (as the source's owner, tier and project;
    a project's fork is its next build version). BadInputError for an iteration the source
    never committed; the queue's refusals as for any new build."""
    rt = engine.rt
    source = rt.sessions.get(source_id)
    if source is None:
        raise NotFoundError(f"no session with id {source_id!r}")
    latest = rt.transcript.latest_checkpoint(source_id)
    at = rt.transcript.checkpoint(source_id, iteration) if iteration >= 0 else None
    if at is None or latest is None:
        last = latest.iteration if latest is not None else 0
        raise BadInputError(
            f"iteration: session {source_id} has no committed iteration {iteration} "
            f"(its iterations are 0 to {last})"
        )
    spec = ProjectSpec.model_validate_json(source.project_json)
    model_spec = check_start(
        rt.settings, spec, NO_FILE, model_override=model or source.model_spec, prices=rt.prices
    ).model_spec
    check_room(rt, spec.owner, spec.tier)
    session_id = uuid.uuid4().hex[:12]
    workspace = rt.files(session_id).workspace
    workspace.mkdir(parents=True, exist_ok=True)
    try:
        rt.snapshots.restore(at.snapshot_id, workspace)
        workspace_state.write_state(
            rt, session_id, workspace_state.WorkspaceState(kind="at", snapshot_id=at.snapshot_id)
        )
        version = (
            rt.projects.next_build(source.project_id).version
            if source.project_id is not None
            else None
        )
        new = NewSession(
            id=session_id,
            name=source.name,
            owner=source.owner,
            tier=source.tier,
            model_spec=model_spec,
            project_json=source.project_json,
            workspace=str(workspace),
            max_tool_calls=source.max_tool_calls,
            max_wall_seconds=source.max_wall_seconds,
            network_mode=source.network_mode,
            project_id=source.project_id,
            build_version=version,
            parent_session_id=source_id,
            forked_from_iteration=iteration,
        )
        _insert(engine, new, spec, at)
    except (EngineError, OSError, KeyError):
        rt.files(session_id).remove()
        raise
    record = rt.sessions.get(session_id)
    assert record is not None
    return record


def _insert(engine: Engine, new: NewSession, spec: ProjectSpec, at: Checkpoint) -> None:
    """The fork's row, the conversation up to `at`, `at` as its own checkpoint and its first
    event, at once (the caps checked again under the queue's lock)."""
    rt = engine.rt
    messages = rt.transcript.messages(at.session_id, limit=at.message_count)
    with rt.db.transaction() as session:
        lock_queue(session)
        check_room(rt, spec.owner, spec.tier, session)
        insert_in(session, new)
        row = row_in(session, new.id)
        row.iteration = at.iteration
        row.phase = at.phase
        append_messages_in(session, new.id, at.iteration, 0, messages)
        save_checkpoint_in(
            session, at.model_copy(update={"session_id": new.id, "elapsed_seconds": 0.0})
        )
        append_in(
            session,
            new.id,
            SessionStarted(
                name=new.name,
                goal=spec.goal,
                owner=new.owner,
                model=new.model_spec,
                workspace=new.workspace,
                max_tool_calls=new.max_tool_calls,
                network=new.network_mode,
                parent_session_id=at.session_id,
                forked_from_iteration=at.iteration,
            ),
        )
