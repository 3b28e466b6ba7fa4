"""A session's first rows, written in one transaction: its row, its conversation so far, the
checkpoint it starts from and its `session_started` event. A new build and a fork differ only
in what they start from, so both come here and cannot drift."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from cofounder.engine.admission import check_room
from cofounder.engine.runtime import Runtime
from cofounder.events import SessionStarted
from cofounder.llm import Message
from cofounder.project import ProjectSpec
from cofounder.storage import Checkpoint, NewSession
from cofounder.storage.events import append_in
from cofounder.storage.queue import lock_queue
from cofounder.storage.sessions import insert_in, row_in
from cofounder.storage.transcript import append_messages_in, save_checkpoint_in


def insert_first_rows(
    rt: Runtime,
    new: NewSession,
    spec: ProjectSpec,
    messages: list[Message],
    start: Checkpoint,
    carry: Callable[[Session], None] | None = None,
) -> None:
    """`start` is the new session's own checkpoint (iteration 0 for a new build, the forked
    iteration for a fork, whose parent `new` names); `carry` adds what a fork brings from
    its parent, in the same transaction. The queue's caps are checked again inside, under
    its lock, so concurrent starts cannot overshoot them."""
    with rt.db.transaction() as session:
        lock_queue(session)
        check_room(rt, spec.owner, spec.tier, session)
        insert_in(session, new)
        if start.iteration or start.phase is not None:
            row = row_in(session, new.id)
            row.iteration = start.iteration
            row.phase = start.phase
        append_messages_in(session, new.id, start.iteration, 0, messages)
        save_checkpoint_in(session, start)
        if carry is not None:
            carry(session)
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
                parent_session_id=new.parent_session_id,
                forked_from_iteration=new.forked_from_iteration,
            ),
        )
