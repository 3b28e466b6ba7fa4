"""Documentation by iteration: each section keeps the text every iteration wrote, so a fork
from iteration N carries the documentation as it stood at N (the newest row per section is
what the founder reads).

The primary key changes, which SQLite cannot alter in place, so the table is rebuilt. A row
from before this revision does not say when it was written; it counts as written at its
session's current iteration, so no fork from an earlier iteration shows text from its future.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def _documents(name: str, *, with_iteration: bool) -> None:
    columns: list[sa.Column[Any]] = [
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("section", sa.String(40), primary_key=True),
    ]
    if with_iteration:
        columns.append(sa.Column("iteration", sa.Integer, primary_key=True))
    op.create_table(
        name,
        *columns,
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )


def upgrade() -> None:
    _documents("documents_by_iteration", with_iteration=True)
    op.execute(
        "INSERT INTO documents_by_iteration (session_id, section, iteration, content, updated_at) "
        "SELECT d.session_id, d.section, "
        "COALESCE((SELECT s.iteration FROM sessions s WHERE s.id = d.session_id), 0), "
        "d.content, d.updated_at FROM documents d"
    )
    op.drop_table("documents")
    op.rename_table("documents_by_iteration", "documents")


def downgrade() -> None:
    _documents("documents_latest", with_iteration=False)
    op.execute(
        "INSERT INTO documents_latest (session_id, section, content, updated_at) "
        "SELECT d.session_id, d.section, d.content, d.updated_at FROM documents d "
        "WHERE d.iteration = (SELECT MAX(n.iteration) FROM documents n "
        "WHERE n.session_id = d.session_id AND n.section = d.section)"
    )
    op.drop_table("documents")
    op.rename_table("documents_latest", "documents")
