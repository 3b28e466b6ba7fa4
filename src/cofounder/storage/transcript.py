"""The immutable conversation transcript and the per-iteration checkpoints."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session

from cofounder.llm.messages import ContentBlock, Message
from cofounder.storage.db import Database
from cofounder.storage.tables import CheckpointRow, MessageRow

_BLOCKS = TypeAdapter(list[ContentBlock])


class Checkpoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    session_id: str
    iteration: int
    message_count: int
    snapshot_id: str
    guard_state: dict[str, Any]
    phase: str | None
    elapsed_seconds: float
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def append_messages_in(
    session: Session, session_id: str, iteration: int, start_idx: int, messages: list[Message]
) -> None:
    for offset, message in enumerate(messages):
        session.add(
            MessageRow(
                session_id=session_id,
                idx=start_idx + offset,
                iteration=iteration,
                role=message.role,
                content_json=_BLOCKS.dump_json(message.content).decode(),
            )
        )


def save_checkpoint_in(session: Session, checkpoint: Checkpoint) -> None:
    session.add(
        CheckpointRow(
            session_id=checkpoint.session_id,
            iteration=checkpoint.iteration,
            message_count=checkpoint.message_count,
            snapshot_id=checkpoint.snapshot_id,
            guard_state_json=json.dumps(checkpoint.guard_state),
            phase=checkpoint.phase,
            elapsed_seconds=checkpoint.elapsed_seconds,
            created_at=checkpoint.created_at,
        )
    )
    session.flush()


def checkpoint_in(session: Session, session_id: str, iteration: int) -> Checkpoint | None:
    row = session.get(CheckpointRow, (session_id, iteration))
    return _to_checkpoint(row) if row else None


def latest_checkpoint_in(session: Session, session_id: str) -> Checkpoint | None:
    row = session.scalars(
        select(CheckpointRow)
        .where(CheckpointRow.session_id == session_id)
        .order_by(CheckpointRow.iteration.desc())
        .limit(1)
    ).first()
    return _to_checkpoint(row) if row else None


def _to_checkpoint(row: CheckpointRow) -> Checkpoint:
    return Checkpoint(
        session_id=row.session_id,
        iteration=row.iteration,
        message_count=row.message_count,
        snapshot_id=row.snapshot_id,
        guard_state=json.loads(row.guard_state_json),
        phase=row.phase,
        elapsed_seconds=row.elapsed_seconds,
        created_at=row.created_at,
    )


class Transcript:
    def __init__(self, db: Database) -> None:
        self._db = db

    def messages(self, session_id: str, *, limit: int | None = None) -> list[Message]:
        with self._db.transaction() as session:
            query = (
                select(MessageRow)
                .where(MessageRow.session_id == session_id)
                .order_by(MessageRow.idx)
            )
            if limit is not None:
                query = query.limit(limit)
            return [
                Message(role=row.role, content=_BLOCKS.validate_json(row.content_json))
                for row in session.scalars(query).all()
            ]

    def latest_checkpoint(self, session_id: str) -> Checkpoint | None:
        with self._db.transaction() as session:
            return latest_checkpoint_in(session, session_id)

    def checkpoint(self, session_id: str, iteration: int) -> Checkpoint | None:
        with self._db.transaction() as session:
            return checkpoint_in(session, session_id, iteration)
