"""The founder's questions: list them, read one, answer it."""

from __future__ import annotations

from fastapi import APIRouter

from cofounder.api.routes.common import CallerDep, EngineDep, OwnedSession, owned_session
from cofounder.api.views import ResolveRequest
from cofounder.engine.errors import BadInputError, ConflictError, NotFoundError
from cofounder.storage.escalations import Escalation, EscalationError

router = APIRouter(tags=["escalations"])


@router.get("/sessions/{session_id}/escalations", response_model=list[Escalation])
def session_escalations(engine: EngineDep, record: OwnedSession) -> list[Escalation]:
    return engine.escalations(record.id)


def _owned(engine: EngineDep, who: CallerDep, escalation_id: str) -> Escalation:
    """The escalation if the caller may see its session; another owner's is reported exactly
    as a missing one (not as its session: that would say it exists, and where)."""
    found = [e for e in engine.rt.escalations.find(escalation_id) if e.id == escalation_id]
    try:
        if found:
            owned_session(engine, who, found[0].session_id)
            return found[0]
    except NotFoundError:
        pass
    raise NotFoundError(f"no escalation with id {escalation_id!r}")


@router.get("/escalations/{escalation_id}", response_model=Escalation)
def get_escalation(engine: EngineDep, who: CallerDep, escalation_id: str) -> Escalation:
    return _owned(engine, who, escalation_id)


@router.post("/escalations/{escalation_id}/resolve", response_model=Escalation)
def resolve(
    engine: EngineDep, who: CallerDep, escalation_id: str, body: ResolveRequest
) -> Escalation:
    """409 unless the question is open; 422 for a choice it did not offer."""
    escalation = _owned(engine, who, escalation_id)
    if escalation.state != "open":
        raise ConflictError(f"escalation {escalation.id} is already {escalation.state}")
    if escalation.option(body.choice) is None:
        keys = ", ".join(o.key for o in escalation.options)
        raise BadInputError(f"choice: {body.choice!r} is not offered; choose one of: {keys}")
    try:
        return engine.answer_escalation(
            escalation.id, choice=body.choice, guidance=body.guidance, by=who.owner
        )
    except EscalationError as exc:  # answered meanwhile
        raise ConflictError(str(exc)) from None
