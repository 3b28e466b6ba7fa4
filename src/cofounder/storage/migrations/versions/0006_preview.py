"""Each session's preview: how to run the app (so it comes back after a restart) and where
the founder sees it while it runs.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("preview_spec_json", sa.Text, nullable=True))
        batch.add_column(sa.Column("preview_url", sa.String(200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("preview_url")
        batch.drop_column("preview_spec_json")
