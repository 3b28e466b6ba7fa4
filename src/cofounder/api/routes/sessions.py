"""Sessions: list, read, and steer (cancel, pause, wake, resume)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from cofounder.api.routes.common import CallerDep, EngineDep, OwnedSession
from cofounder.api.views import Done, SessionPage, SessionView
from cofounder.engine.errors import ConflictError
from cofounder.storage.session_pages import SessionPages, SessionQuery

router = APIRouter(tags=["sessions"])

STATES = "queued|running|sleeping|waiting|paused|finished"


@router.get("/sessions", response_model=SessionPage)
def list_sessions(
    engine: EngineDep,
    who: CallerDep,
    state: Annotated[str | None, Query(pattern=f"^({STATES})$")] = None,
    project: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    order: Annotated[Literal["oldest", "newest"], Query()] = "oldest",
) -> SessionPage:
    """The caller's sessions (an admin's: everyone's), oldest first (or `order=newest`);
    `cursor` is the last id of the previous page."""
    query = SessionQuery(
        owner=who.scope,
        state=state,
        project_id=project,
        after_id=cursor,
        limit=limit,
        newest_first=order == "newest",
    )
    page = SessionPages(engine.rt.db).page(query)
    return SessionPage(
        items=[SessionView.of(engine, r) for r in page.records],
        next_cursor=page.records[-1].id if page.more and page.records else None,
    )


@router.get("/sessions/{session_id}", response_model=SessionView)
def get_session(engine: EngineDep, record: OwnedSession) -> SessionView:
    return SessionView.of(engine, record)


@router.post("/sessions/{session_id}/cancel", response_model=Done)
def cancel(engine: EngineDep, record: OwnedSession) -> Done:
    """Stops before the next model call (at once when no run holds it)."""
    ended = engine.request_cancel(record.id)
    if ended is not None:
        return Done(session_id=record.id, state=ended, detail="cancelled")
    return Done(session_id=record.id, state="running", detail="stops before its next model call")


@router.post("/sessions/{session_id}/pause", response_model=Done)
def pause(engine: EngineDep, record: OwnedSession) -> Done:
    paused = engine.request_pause(record.id)
    if paused is not None:
        return Done(session_id=record.id, state="paused", detail="paused; resume continues it")
    return Done(session_id=record.id, state="running", detail="pauses before its next model call")


@router.post("/sessions/{session_id}/wake", response_model=Done)
def wake(engine: EngineDep, record: OwnedSession) -> Done:
    """A session asleep for its budget is due now (a worker picks it up within a second)."""
    if record.state != "sleeping":
        raise ConflictError(f"session {record.id} is not sleeping (it is {record.shown_state})")
    engine.request_wake(record.id)
    return Done(session_id=record.id, state="sleeping", detail="woken; a worker continues it")


@router.post("/sessions/{session_id}/resume", response_model=Done)
def resume(engine: EngineDep, record: OwnedSession) -> Done:
    """A paused session goes back to the queue."""
    if not engine.requeue_paused(record.id):
        raise ConflictError(f"session {record.id} is not paused (it is {record.shown_state})")
    return Done(session_id=record.id, state="queued", detail="back in the queue")
