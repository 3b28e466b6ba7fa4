"""What every router needs: the engine, the caller, and "the caller's session or 404"."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from cofounder.api.auth import Caller, caller, engine_of
from cofounder.engine import Engine
from cofounder.engine.errors import NotFoundError
from cofounder.storage import SessionRecord

EngineDep = Annotated[Engine, Depends(engine_of)]
CallerDep = Annotated[Caller, Depends(caller)]


def owned_session(engine: Engine, who: Caller, session_id: str) -> SessionRecord:
    """The session if the caller may see it; NotFoundError otherwise (never "forbidden": that
    would tell another owner's session exists)."""
    record = engine.session(session_id) if len(session_id) <= 64 else None
    if record is None or not who.may_see(record.owner):
        raise NotFoundError(f"no session with id {session_id!r}")
    return record


def _session_in_path(engine: EngineDep, who: CallerDep, session_id: str) -> SessionRecord:
    return owned_session(engine, who, session_id)


# The path's session, the caller's or 404; resolved before a route (or a stream) starts.
OwnedSession = Annotated[SessionRecord, Depends(_session_in_path)]
