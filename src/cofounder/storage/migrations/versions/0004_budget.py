"""Budget: the spend ledger, reservations, top-ups, and sessions that sleep until a time.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ledger_entries",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("iteration", sa.Integer, primary_key=True),
        sa.Column("purpose", sa.String(20), primary_key=True),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("model_spec", sa.Text, nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("input_tokens", sa.BigInteger, nullable=False),
        sa.Column("output_tokens", sa.BigInteger, nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger, nullable=False),
        sa.Column("cache_write_tokens", sa.BigInteger, nullable=False),
        sa.Column("cost_microdollars", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_ledger_owner_window", "ledger_entries", ["owner", "window_start"])
    op.create_table(
        "budget_reservations",
        sa.Column("session_id", sa.String(64), primary_key=True),
        sa.Column("iteration", sa.Integer, primary_key=True),
        sa.Column("purpose", sa.String(20), primary_key=True),
        sa.Column("owner", sa.String(100), nullable=False, index=True),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount_microdollars", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "budget_topups",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("amount_microdollars", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_topups_owner_window", "budget_topups", ["owner", "window_start"])
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("wake_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(
            sa.Column("wake_requested", sa.Boolean, nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("wake_requested")
        batch.drop_column("wake_at")
    op.drop_table("budget_topups")
    op.drop_table("budget_reservations")
    op.drop_table("ledger_entries")
