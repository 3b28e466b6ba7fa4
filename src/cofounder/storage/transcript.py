"""The immutable conversation transcript, the per-iteration checkpoints, and the compaction
summaries that stand in for its older part when it is sent to a model."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from sqlalchemy import Row, Table, bindparam, insert, select
from sqlalchemy.orm import Session

from cofounder.llm.messages import ContentBlock, Message
from cofounder.storage.db import Database
from cofounder.storage.tables import CheckpointRow, ContextSummaryRow, MessageRow

_BLOCKS = TypeAdapter(list[ContentBlock])
_MESSAGES = cast(Table, MessageRow.__table__)
_CHECKPOINTS = cast(Table, CheckpointRow.__table__)
_LATEST_CHECKPOINT = (  # built once: every iteration reads it
    select(_CHECKPOINTS)
    .where(_CHECKPOINTS.c.session_id == bindparam("session_id"))
    .order_by(_CHECKPOINTS.c.iteration.desc())
    .limit(1)
)


class Checkpoint(BaseModel):
    model_config = ConfigDict(frozen=True)

    session_id: str
    iteration: int
    message_count: int
    snapshot_id: str
    guard_state: dict[str, Any]
    phase: str | None
    healing_state: dict[str, Any] = Field(default_factory=dict)
    elapsed_seconds: float
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def append_messages_in(
    session: Session, session_id: str, iteration: int, start_idx: int, messages: list[Message]
) -> None:
    rows = [
        {
            "session_id": session_id,
            "idx": start_idx + offset,
            "iteration": iteration,
            "role": message.role,
            "content_json": _BLOCKS.dump_json(message.content).decode(),
        }
        for offset, message in enumerate(messages)
    ]
    if rows:  # plain INSERTs: the hot path of every commit needs no ORM unit of work
        session.execute(insert(_MESSAGES), rows)


def save_checkpoint_in(session: Session, checkpoint: Checkpoint) -> None:
    session.execute(
        insert(_CHECKPOINTS).values(
            session_id=checkpoint.session_id,
            iteration=checkpoint.iteration,
            message_count=checkpoint.message_count,
            snapshot_id=checkpoint.snapshot_id,
            guard_state_json=json.dumps(checkpoint.guard_state),
            healing_state_json=json.dumps(checkpoint.healing_state),
            phase=checkpoint.phase,
            elapsed_seconds=checkpoint.elapsed_seconds,
            created_at=checkpoint.created_at,
        )
    )


def checkpoint_in(session: Session, session_id: str, iteration: int) -> Checkpoint | None:
    row = session.get(CheckpointRow, (session_id, iteration))
    return _to_checkpoint(row) if row else None


def latest_checkpoint_in(session: Session, session_id: str) -> Checkpoint | None:
    row = session.execute(_LATEST_CHECKPOINT, {"session_id": session_id}).first()
    return _to_checkpoint(row) if row else None


def _to_checkpoint(row: CheckpointRow | Row[Any]) -> Checkpoint:
    return Checkpoint(
        session_id=row.session_id,
        iteration=row.iteration,
        message_count=row.message_count,
        snapshot_id=row.snapshot_id,
        guard_state=json.loads(row.guard_state_json),
        healing_state=json.loads(row.healing_state_json or "{}"),
        phase=row.phase,
        elapsed_seconds=row.elapsed_seconds,
        created_at=row.created_at,
    )


class ContextSummary(BaseModel):
    """From `iteration` on, raw messages [1, raw_cut) are replaced by `summary_text` (if any)
    and tool outputs before raw message `trimmed_before` are trimmed (see agent.context_view)."""

    model_config = ConfigDict(frozen=True)

    session_id: str
    iteration: int
    raw_cut: int
    summarized_turns: int
    trimmed_before: int
    summary_text: str
    model_spec: str
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))


def save_summary_in(session: Session, summary: ContextSummary) -> None:
    session.add(ContextSummaryRow(**summary.model_dump()))
    session.flush()


def summary_in(session: Session, session_id: str, iteration: int) -> ContextSummary | None:
    row = session.get(ContextSummaryRow, (session_id, iteration))
    return _to_summary(row) if row else None


def latest_summary_in(session: Session, session_id: str) -> ContextSummary | None:
    row = session.scalars(
        select(ContextSummaryRow)
        .where(ContextSummaryRow.session_id == session_id)
        .order_by(ContextSummaryRow.iteration.desc())
        .limit(1)
    ).first()
    return _to_summary(row) if row else None


def _to_summary(row: ContextSummaryRow) -> ContextSummary:
    return ContextSummary(
        session_id=row.session_id,
        iteration=row.iteration,
        raw_cut=row.raw_cut,
        summarized_turns=row.summarized_turns,
        trimmed_before=row.trimmed_before,
        summary_text=row.summary_text,
        model_spec=row.model_spec,
        created_at=row.created_at,
    )


class Transcript:
    """Reads of the transcript. A committed message never changes (rows are only appended, at
    the next index), so each session's messages are validated once and kept: a think loads
    only the ones added since the last, not the whole conversation again."""

    CACHED_SESSIONS = 8

    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()
        # session id -> its messages idx 0..n-1 (a gap-free prefix), least recently used first
        self._cache: OrderedDict[str, list[Message]] = OrderedDict()

    def messages(
        self, session_id: str, *, limit: int | None = None, start: int = 0
    ) -> list[Message]:
        """Messages idx >= start, in order (at most `limit` of them)."""
        end = None if limit is None else start + limit
        with self._lock:
            known = self._cache.get(session_id, [])
            if end is None or end > len(known):
                with self._db.transaction() as session:
                    known = self._extend(session, session_id)
            return known[start:end]

    def conversation(self, session_id: str) -> tuple[ContextSummary | None, list[Message]]:
        """The latest compaction summary and all the messages, read in one transaction."""
        with self._lock, self._db.transaction() as session:
            return latest_summary_in(session, session_id), list(self._extend(session, session_id))

    def _extend(self, session: Session, session_id: str) -> list[Message]:
        """The session's cached messages plus those committed since. Raises RuntimeError on a
        gap in the indexes (a commit writes consecutive ones): the cache is a gap-free prefix."""
        known = self._cache.pop(session_id, [])
        rows = session.scalars(
            select(MessageRow)
            .where(MessageRow.session_id == session_id, MessageRow.idx >= len(known))
            .order_by(MessageRow.idx)
        ).all()
        for expected, row in enumerate(rows, start=len(known)):
            if row.idx != expected:
                raise RuntimeError(f"session {session_id}'s transcript has no message {expected}")
        known = known + [
            Message(role=row.role, content=_BLOCKS.validate_json(row.content_json)) for row in rows
        ]
        self._cache[session_id] = known
        while len(self._cache) > self.CACHED_SESSIONS:
            self._cache.popitem(last=False)
        return known

    def latest_checkpoint(self, session_id: str) -> Checkpoint | None:
        with self._db.transaction() as session:
            return latest_checkpoint_in(session, session_id)

    def checkpoint(self, session_id: str, iteration: int) -> Checkpoint | None:
        with self._db.transaction() as session:
            return checkpoint_in(session, session_id, iteration)

    def latest_summary(self, session_id: str) -> ContextSummary | None:
        with self._db.transaction() as session:
            return latest_summary_in(session, session_id)
