"""The service: API tokens (only their SHA-256 is kept), projects, and which project and build
version a session is.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("is_admin", sa.Boolean, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("last_used_at", _TS, nullable=True),
        sa.Column("revoked_at", _TS, nullable=True),
    )
    op.create_table(
        "projects",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("owner", sa.String(100), nullable=False, index=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec_json", sa.Text, nullable=False),
        sa.Column("builds", sa.Integer, nullable=False, server_default=sa.text("0")),
        sa.Column("created_at", _TS, nullable=False),
    )
    op.create_table(
        "idempotent_requests",
        sa.Column("owner", sa.String(100), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("body_json", sa.Text, nullable=False),
        sa.Column("created_at", _TS, nullable=False),
    )
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("project_id", sa.String(40), nullable=True))
        batch.add_column(sa.Column("build_version", sa.String(40), nullable=True))
        batch.add_column(
            sa.Column("pause_requested", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.create_index("ix_sessions_project_id", ["project_id"])


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_index("ix_sessions_project_id")
        batch.drop_column("pause_requested")
        batch.drop_column("build_version")
        batch.drop_column("project_id")
    op.drop_table("idempotent_requests")
    op.drop_table("projects")
    op.drop_table("api_tokens")
