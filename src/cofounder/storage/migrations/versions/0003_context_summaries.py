"""Compaction summaries: what replaced the older part of a session's context.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "context_summaries",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("iteration", sa.Integer, primary_key=True),
        sa.Column("raw_cut", sa.Integer, nullable=False),
        sa.Column("summarized_turns", sa.Integer, nullable=False),
        sa.Column("trimmed_before", sa.Integer, nullable=False),
        sa.Column("summary_text", sa.Text, nullable=False),
        sa.Column("model_spec", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("context_summaries")
