"""Escalations: questions to the founder, their answers, and their delivery to the model.

An escalation is `open` until the founder answers (`resolved`) or its deadline passes (the
default applies: `defaulted`); the engine then delivers it to the model once, recording the
iteration that carried it, so a crash between answer and delivery can neither lose nor repeat it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cofounder.questions import Question
from cofounder.storage.db import Database
from cofounder.storage.tables import EscalationRow

EscalationState = Literal["open", "resolved", "defaulted"]


class Escalation(Question):
    """A recorded question: what was asked, plus where it was asked, its deadline and answer.

    It extends `Question` rather than holding one so that `cofounder escalations --json`
    keeps its flat shape.
    """

    id: str
    session_id: str
    iteration: int
    deadline: datetime
    state: EscalationState
    choice: str | None = None
    guidance: str | None = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    delivered_iteration: int | None = None
    created_at: datetime


def _to_model(row: EscalationRow) -> Escalation:
    return Escalation(
        id=row.id,
        session_id=row.session_id,
        iteration=row.iteration,
        key=row.key,
        reason=row.reason,
        problem=row.problem,
        error=row.error,
        tried=json.loads(row.tried_json),
        recommendation=row.recommendation,
        options=json.loads(row.options_json),
        default_option=row.default_option,
        can_continue=row.can_continue,
        deadline=row.deadline,
        state=row.state,
        choice=row.choice,
        guidance=row.guidance,
        resolved_by=row.resolved_by,
        resolved_at=row.resolved_at,
        delivered_iteration=row.delivered_iteration,
        created_at=row.created_at,
    )


def insert_in(session: Session, escalation: Escalation) -> bool:
    """Record it unless an escalation with this id exists (a replayed commit); True if new."""
    if session.get(EscalationRow, escalation.id) is not None:
        return False
    data = escalation.model_dump(exclude={"tried", "options"})
    session.add(
        EscalationRow(
            **data,
            tried_json=json.dumps(escalation.tried),
            options_json=json.dumps([o.model_dump() for o in escalation.options]),
        )
    )
    session.flush()
    return True


def undelivered_in(session: Session, session_id: str) -> list[Escalation]:
    rows = session.scalars(
        select(EscalationRow)
        .where(EscalationRow.session_id == session_id, EscalationRow.delivered_iteration.is_(None))
        .order_by(EscalationRow.created_at, EscalationRow.id)
    ).all()
    return [_to_model(r) for r in rows]


def apply_deadlines_in(session: Session, session_id: str, now: datetime) -> list[Escalation]:
    """Open escalations past their deadline take their default; returns those changed."""
    rows = session.scalars(
        select(EscalationRow).where(
            EscalationRow.session_id == session_id,
            EscalationRow.state == "open",
            EscalationRow.deadline <= now,
        )
    ).all()
    for row in rows:
        row.state = "defaulted"
        row.choice = row.default_option
        row.resolved_at = now
    session.flush()
    return [_to_model(r) for r in rows]


def mark_delivered_in(session: Session, escalation_id: str, iteration: int) -> None:
    row = session.get(EscalationRow, escalation_id)
    assert row is not None
    row.delivered_iteration = iteration


def count_in(session: Session, session_id: str) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(EscalationRow)
            .where(EscalationRow.session_id == session_id)
        )
        or 0
    )


class EscalationError(Exception):
    """A resolve that cannot apply: unknown id, already answered, or a choice not offered."""


class Escalations:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, escalation_id: str) -> Escalation | None:
        with self._db.transaction() as session:
            row = session.get(EscalationRow, escalation_id)
            return _to_model(row) if row else None

    def find(self, prefix: str) -> list[Escalation]:
        with self._db.transaction() as session:
            rows = session.scalars(
                select(EscalationRow).where(EscalationRow.id.startswith(prefix, autoescape=True))
            ).all()
            return [_to_model(r) for r in rows]

    def for_session(self, session_id: str | None = None) -> list[Escalation]:
        with self._db.transaction() as session:
            query = select(EscalationRow).order_by(EscalationRow.created_at, EscalationRow.id)
            if session_id is not None:
                query = query.where(EscalationRow.session_id == session_id)
            return [_to_model(r) for r in session.scalars(query).all()]

    def blocking_open(self, session_id: str) -> list[Escalation]:
        """Open escalations the session must wait for (not `can_continue`)."""
        return [e for e in self.for_session(session_id) if e.state == "open" and not e.can_continue]

    def resolve(
        self, escalation_id: str, *, choice: str, guidance: str | None, by: str
    ) -> Escalation:
        with self._db.transaction() as session:
            row = session.get(EscalationRow, escalation_id)
            if row is None:
                raise EscalationError(f"no escalation with id {escalation_id!r}")
            current = _to_model(row)
            if current.state != "open":
                raise EscalationError(
                    f"escalation {escalation_id} is already {current.state} "
                    f"(choice {current.choice!r})"
                )
            if current.option(choice) is None:
                keys = ", ".join(o.key for o in current.options)
                raise EscalationError(f"choice {choice!r} is not offered; choose one of: {keys}")
            row.state = "resolved"
            row.choice = choice
            row.guidance = guidance
            row.resolved_by = by
            row.resolved_at = datetime.now(UTC)
            session.flush()
            return _to_model(row)
