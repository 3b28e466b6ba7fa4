"""Founder-facing documentation the agent writes, one text per section per session."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cofounder.storage.db import Database
from cofounder.storage.tables import DocumentRow


def upsert_document_in(session: Session, session_id: str, section: str, content: str) -> None:
    row = session.get(DocumentRow, (session_id, section))
    now = datetime.now(UTC)
    if row is None:
        session.add(
            DocumentRow(session_id=session_id, section=section, content=content, updated_at=now)
        )
    else:
        row.content = content
        row.updated_at = now


class Documents:
    def __init__(self, db: Database) -> None:
        self._db = db

    def all(self, session_id: str) -> dict[str, str]:
        with self._db.transaction() as session:
            rows = session.scalars(
                select(DocumentRow).where(DocumentRow.session_id == session_id)
            ).all()
            return {row.section: row.content for row in rows}
