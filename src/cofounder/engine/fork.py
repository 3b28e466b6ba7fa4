"""Forks: a new session from any committed iteration of another — its workspace is that
iteration's snapshot, its conversation the transcript up to it — which then runs like any
build. The original is not touched; the fork bills only its own model calls.

Neither a conversation fork (files not restored) nor a file rewind (conversation lost): both
come back, because every iteration already commits both — and so do the documentation and the
app's preview command as they stood at that iteration."""

from __future__ import annotations

import uuid
from functools import partial

from sqlalchemy.orm import Session

from cofounder.engine import workspace as workspace_state
from cofounder.engine.admission import check_room
from cofounder.engine.errors import BadInputError, EngineError, NotFoundError
from cofounder.engine.first_rows import insert_first_rows
from cofounder.engine.live import StoredPreview, stored_preview
from cofounder.engine.projects import NO_FILE  # a fork has no project file of its own
from cofounder.engine.runtime import Runtime
from cofounder.engine.service import Engine
from cofounder.engine.startup import check_start
from cofounder.events import PreviewReady
from cofounder.project import ProjectSpec
from cofounder.sandbox.preview_types import PreviewSpec
from cofounder.storage import NewSession, SessionRecord
from cofounder.storage.documents import copy_documents_in
from cofounder.storage.sessions import row_in


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
        messages = rt.transcript.messages(at.session_id, limit=at.message_count)
        start = at.model_copy(update={"session_id": session_id, "elapsed_seconds": 0.0})
        carry = partial(_carry, source, session_id, iteration, _preview_at(rt, source, iteration))
        insert_first_rows(rt, new, spec, messages, start, carry)
    except (EngineError, OSError, KeyError):
        rt.files(session_id).remove()
        raise
    record = rt.sessions.get(session_id)
    assert record is not None
    return record


def _carry(
    source: SessionRecord,
    session_id: str,
    iteration: int,
    preview_json: str | None,
    session: Session,
) -> None:
    copy_documents_in(session, source.id, session_id, up_to=iteration)
    if preview_json is not None:
        row_in(session, session_id).preview_spec_json = preview_json


def _preview_at(rt: Runtime, source: SessionRecord, iteration: int) -> str | None:
    """How the parent's app ran as of `iteration`: the last preview the agent started by then
    (restarts only repeat one). The session keeps just the newest spec, whole; an older one
    comes back from its event, which names command and port."""
    started = [
        body
        for event in rt.events.of_type(source.id, "preview_ready")
        if isinstance(body := event.body, PreviewReady)
        and not body.restarted
        and body.iteration <= iteration
    ]
    if not started:
        return None
    last = started[-1]
    newest = stored_preview(source.preview_spec_json)
    if newest is not None and (newest.spec.command, newest.spec.port) == (last.command, last.port):
        spec = newest.spec
    else:
        spec = PreviewSpec(command=last.command, port=last.port)
    return StoredPreview(spec=spec).model_dump_json()  # its own founder-side port, when it runs
