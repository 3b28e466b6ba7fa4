"""Founder-facing documentation the agent writes, one text per section per session, kept by
iteration so a fork from an earlier iteration carries the documentation as it stood then."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cofounder.storage.db import Database
from cofounder.storage.tables import DocumentRow


def upsert_document_in(
    session: Session, session_id: str, section: str, content: str, *, iteration: int
) -> None:
    """The section's text as of `iteration` (a batch redone after a crash writes it again)."""
    row = session.get(DocumentRow, (session_id, section, iteration))
    now = datetime.now(UTC)
    if row is None:
        session.add(
            DocumentRow(
                session_id=session_id,
                section=section,
                iteration=iteration,
                content=content,
                updated_at=now,
            )
        )
    else:
        row.content = content
        row.updated_at = now


def copy_documents_in(session: Session, source_id: str, target_id: str, *, up_to: int) -> int:
    """Give `target_id` every text `source_id` wrote up to iteration `up_to`; how many."""
    rows = session.scalars(
        select(DocumentRow).where(
            DocumentRow.session_id == source_id, DocumentRow.iteration <= up_to
        )
    ).all()
    for row in rows:
        session.add(
            DocumentRow(
                session_id=target_id,
                section=row.section,
                iteration=row.iteration,
                content=row.content,
                updated_at=row.updated_at,
            )
        )
    return len(rows)


class Documents:
    def __init__(self, db: Database) -> None:
        self._db = db

    def all(self, session_id: str, *, as_of: int | None = None) -> dict[str, str]:
        """Each section's newest text; with `as_of`, as iteration `as_of` left it."""
        query = select(DocumentRow).where(DocumentRow.session_id == session_id)
        if as_of is not None:
            query = query.where(DocumentRow.iteration <= as_of)
        with self._db.transaction() as session:
            rows = session.scalars(query.order_by(DocumentRow.section, DocumentRow.iteration)).all()
            return {row.section: row.content for row in rows}  # the last per section wins
