"""Initial schema: sessions, transcript, checkpoints, events, documents.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("tier", sa.String(40), nullable=False),
        sa.Column("model_spec", sa.Text, nullable=False),
        sa.Column("project_json", sa.Text, nullable=False),
        sa.Column("workspace", sa.Text, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("outcome_reason", sa.Text, nullable=True),
        sa.Column("iteration", sa.Integer, nullable=False),
        sa.Column("tool_calls", sa.Integer, nullable=False),
        sa.Column("phase", sa.String(200), nullable=True),
        sa.Column("input_tokens", sa.BigInteger, nullable=False),
        sa.Column("output_tokens", sa.BigInteger, nullable=False),
        sa.Column("spend_microdollars", sa.BigInteger, nullable=False),
        sa.Column("max_tool_calls", sa.Integer, nullable=False),
        sa.Column("max_wall_seconds", sa.Float, nullable=False),
        sa.Column("cancel_requested", sa.Boolean, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.Column("finished_at", _TS, nullable=True),
    )
    op.create_index("ix_sessions_owner", "sessions", ["owner"])
    op.create_table(
        "messages",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("idx", sa.Integer, primary_key=True),
        sa.Column("iteration", sa.Integer, nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("content_json", sa.Text, nullable=False),
    )
    op.create_table(
        "checkpoints",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("iteration", sa.Integer, primary_key=True),
        sa.Column("message_count", sa.Integer, nullable=False),
        sa.Column("snapshot_id", sa.String(80), nullable=False),
        sa.Column("guard_state_json", sa.Text, nullable=False),
        sa.Column("phase", sa.String(200), nullable=True),
        sa.Column("elapsed_seconds", sa.Float, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("type", sa.String(60), nullable=False),
        sa.Column("ts", _TS, nullable=False),
        sa.Column("payload_json", sa.Text, nullable=False),
    )
    op.create_table(
        "documents",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("section", sa.String(40), primary_key=True),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("documents", "events", "checkpoints", "messages", "sessions"):
        op.drop_table(table)
