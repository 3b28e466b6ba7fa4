"""Try again from any iteration: a fork is a new session whose workspace is that iteration's
snapshot and whose conversation is the transcript up to it; it runs like any build."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from cofounder.api.routes.common import CallerDep, EngineDep, OwnedSession
from cofounder.api.routes.projects import check_model
from cofounder.api.views import Printable
from cofounder.engine.fork import fork_session

router = APIRouter(tags=["sessions"])


class ForkRequest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    iteration: int = Field(ge=0, le=2**31 - 1)
    model: Printable | None = Field(default=None, max_length=300)


class Forked(BaseModel):
    model_config = ConfigDict(frozen=True)

    session_id: str
    build_version: str | None
    state: str
    parent_session_id: str
    forked_from_iteration: int


@router.post("/sessions/{session_id}/fork", response_model=Forked, status_code=202)
def fork(engine: EngineDep, who: CallerDep, record: OwnedSession, body: ForkRequest) -> Forked:
    """Queue a fork of the session at a committed iteration (422 for one it never committed;
    429 like any build when the queue or the owner's day is full). The original is untouched;
    the fork is the owner's, billed for its own model calls only."""
    check_model(body.model, who.admin, "model")
    forked = fork_session(engine, record.id, body.iteration, model=body.model)
    return Forked(
        session_id=forked.id,
        build_version=forked.build_version,
        state=forked.state,
        parent_session_id=record.id,
        forked_from_iteration=body.iteration,
    )
