"""Workers serve a shared queue: each one's heartbeat, which worker holds a session (its
lease), when a session joined the queue, and an index for the wake poller.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

_TS = sa.DateTime(timezone=True)

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("name", sa.String(120), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("concurrency", sa.Integer, nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("started_at", _TS, nullable=False),
        sa.Column("heartbeat_at", _TS, nullable=False),
    )
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("worker", sa.String(120), nullable=True))
        batch.add_column(sa.Column("queued_at", _TS, nullable=True))
        batch.create_index("ix_sessions_worker", ["worker"])
        batch.create_index("ix_sessions_state_wake", ["state", "wake_at"])


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_index("ix_sessions_state_wake")
        batch.drop_index("ix_sessions_worker")
        batch.drop_column("queued_at")
        batch.drop_column("worker")
    op.drop_table("workers")
