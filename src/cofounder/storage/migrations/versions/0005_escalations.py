"""Escalations to the founder, the healing policy's state in each checkpoint, and each
session's sandbox network mode.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "escalations",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("session_id", sa.String(64), nullable=False, index=True),
        sa.Column("iteration", sa.Integer, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("problem", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("tried_json", sa.Text, nullable=False),
        sa.Column("recommendation", sa.Text, nullable=False),
        sa.Column("options_json", sa.Text, nullable=False),
        sa.Column("default_option", sa.String(40), nullable=False),
        sa.Column("can_continue", sa.Boolean, nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("choice", sa.String(40), nullable=True),
        sa.Column("guidance", sa.Text, nullable=True),
        sa.Column("resolved_by", sa.String(100), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_iteration", sa.Integer, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("checkpoints") as batch:
        batch.add_column(
            sa.Column("healing_state_json", sa.Text, nullable=False, server_default="{}")
        )
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(
            sa.Column("network_mode", sa.String(20), nullable=False, server_default="none")
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("network_mode")
    with op.batch_alter_table("checkpoints") as batch:
        batch.drop_column("healing_state_json")
    op.drop_table("escalations")
