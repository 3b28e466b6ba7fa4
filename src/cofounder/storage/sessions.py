"""Build-session records: what a session is, where it stands, and how it ended."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from cofounder.storage.db import Database
from cofounder.storage.tables import SessionRow

SessionState = Literal["queued", "running", "paused", "sleeping", "waiting", "finished"]
# States whose session has not ended yet.
UNFINISHED: tuple[SessionState, ...] = ("queued", "running", "paused", "sleeping", "waiting")
Outcome = Literal[
    "completed", "iteration_limit", "stuck", "failed", "cancelled", "budget_too_small"
]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)


class SessionRecord(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: str
    name: str
    owner: str
    tier: str
    model_spec: str
    project_json: str
    workspace: str
    state: SessionState
    outcome: Outcome | None
    outcome_reason: str | None
    iteration: int
    tool_calls: int
    phase: str | None
    input_tokens: int
    output_tokens: int
    spend_microdollars: int
    max_tool_calls: int
    max_wall_seconds: float
    cancel_requested: bool
    run_number: int
    network_mode: str = "none"
    wake_at: datetime | None = None
    wake_requested: bool = False
    preview_spec_json: str | None = None
    preview_url: str | None = None
    worker: str | None = None
    queued_at: datetime | None = None
    project_id: str | None = None
    build_version: str | None = None
    pause_requested: bool = False
    parent_session_id: str | None = None  # a fork's: the session and iteration it came from
    forked_from_iteration: int | None = None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None

    @property
    def shown_state(self) -> str:
        """What founders are shown as its state: its outcome once it has finished."""
        return str(self.outcome) if self.state == "finished" else self.state


class NewSession(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    owner: str
    tier: str
    model_spec: str
    project_json: str
    workspace: str
    max_tool_calls: int
    max_wall_seconds: float
    network_mode: str = "none"
    project_id: str | None = None
    build_version: str | None = None
    parent_session_id: str | None = None
    forked_from_iteration: int | None = None


def insert_in(session: Session, new: NewSession) -> None:
    now = datetime.now(UTC)
    session.add(
        SessionRow(
            **new.model_dump(),
            state="queued",
            queued_at=now,
            outcome=None,
            outcome_reason=None,
            iteration=0,
            tool_calls=0,
            phase=None,
            input_tokens=0,
            output_tokens=0,
            spend_microdollars=0,
            cancel_requested=False,
            run_number=1,
            created_at=now,
            updated_at=now,
            finished_at=None,
        )
    )
    session.flush()


def row_in(session: Session, session_id: str) -> SessionRow:
    row = session.get(SessionRow, session_id)
    if row is None:
        raise KeyError(session_id)
    return row


class SessionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self, session_id: str) -> SessionRecord | None:
        with self._db.transaction() as session:
            row = session.get(SessionRow, session_id)
            return SessionRecord.model_validate(row) if row else None

    def find(self, prefix: str) -> list[SessionRecord]:
        """Sessions whose id starts with `prefix`, so people can type short ids."""
        with self._db.transaction() as session:
            rows = session.scalars(
                select(SessionRow).where(SessionRow.id.startswith(prefix, autoescape=True))
            ).all()
            return [SessionRecord.model_validate(r) for r in rows]

    def list(self) -> list[SessionRecord]:
        with self._db.transaction() as session:
            rows = session.scalars(select(SessionRow).order_by(SessionRow.created_at)).all()
            return [SessionRecord.model_validate(r) for r in rows]

    def set_preview(self, session_id: str, *, spec_json: str | None, url: str | None) -> None:
        """Record the app's preview: the spec stays (it comes back on the next run), the URL
        only while it is live (None when stopped)."""
        with self._db.transaction() as session:
            row = row_in(session, session_id)
            if spec_json is not None:
                row.preview_spec_json = spec_json
            row.preview_url = url
            row.updated_at = datetime.now(UTC)

    def request_wake(self, session_id: str) -> None:
        """Due now: the wake poller queues it within a tick."""
        with self._db.transaction() as session:
            row = row_in(session, session_id)
            now = datetime.now(UTC)
            row.wake_requested = True
            if row.state == "sleeping":
                row.wake_at = now
            row.updated_at = now

    def request_pause(self, session_id: str) -> None:
        with self._db.transaction() as session:
            row = row_in(session, session_id)
            row.pause_requested = True
            row.updated_at = datetime.now(UTC)

    def request_cancel(self, session_id: str) -> None:
        with self._db.transaction() as session:
            row = row_in(session, session_id)
            row.cancel_requested = True
            row.updated_at = datetime.now(UTC)
