"""What founders say to their builds: kept when sent, handed to the model once.

A message is stored with no `delivered_iteration`; the engine's delivery step appends the
undelivered ones to the transcript and marks them in one transaction, so a crash on either
side of it neither loses nor repeats one."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cofounder.storage.db import Database
from cofounder.storage.tables import FounderMessageRow

MAX_CHARS = 4_000


def read_when(state: str, wake_at: datetime | None) -> str:
    """When a build in `state` reads a message sent now, in words."""
    if state == "sleeping" and wake_at is not None:
        return f"when it wakes from its budget sleep ({wake_at:%Y-%m-%d %H:%M} UTC)"
    return {
        "waiting": "after your answer to its question",
        "paused": "when it is resumed",
        "queued": "when it starts",
    }.get(state, "before its next step")


class FounderMessageRecord(BaseModel):
    model_config = ConfigDict(frozen=True, from_attributes=True)

    id: str
    session_id: str
    by: str
    text: str
    created_at: datetime
    delivered_iteration: int | None


def undelivered_in(session: Session, session_id: str) -> list[FounderMessageRecord]:
    rows = session.scalars(
        select(FounderMessageRow)
        .where(
            FounderMessageRow.session_id == session_id,
            FounderMessageRow.delivered_iteration.is_(None),
        )
        .order_by(FounderMessageRow.created_at, FounderMessageRow.id)
    ).all()
    return [FounderMessageRecord.model_validate(r) for r in rows]


def mark_delivered_in(session: Session, message_ids: list[str], iteration: int) -> None:
    session.execute(
        update(FounderMessageRow)
        .where(FounderMessageRow.id.in_(message_ids))
        .values(delivered_iteration=iteration)
    )


class FounderMessages:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add(self, session_id: str, by: str, text: str) -> FounderMessageRecord:
        """Keep a message (already redacted and within `MAX_CHARS`)."""
        row = FounderMessageRow(
            id="msg_" + secrets.token_hex(6),
            session_id=session_id,
            by=by,
            text=text,
            created_at=datetime.now(UTC),
            delivered_iteration=None,
        )
        with self._db.transaction() as session:
            session.add(row)
            session.flush()
            return FounderMessageRecord.model_validate(row)

    def of(self, session_id: str) -> list[FounderMessageRecord]:
        with self._db.transaction() as session:
            rows = session.scalars(
                select(FounderMessageRow)
                .where(FounderMessageRow.session_id == session_id)
                .order_by(FounderMessageRow.created_at, FounderMessageRow.id)
            ).all()
            return [FounderMessageRecord.model_validate(r) for r in rows]
