"""Matches and tournaments keep the reason they failed; tournaments may end ``failed``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 16:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_STATUSES = "status IN ('created', 'running', 'finished', 'cancelled')"
_NEW_STATUSES = "status IN ('created', 'running', 'finished', 'cancelled', 'failed')"


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("matches") as batch:
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))
    with op.batch_alter_table("tournaments") as batch:
        batch.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch.drop_constraint(batch.f("ck_tournaments_status"), type_="check")
        batch.create_check_constraint(batch.f("ck_tournaments_status"), _NEW_STATUSES)


def downgrade() -> None:
    """Revert this revision (a ``failed`` tournament becomes ``cancelled``)."""
    op.execute("UPDATE tournaments SET status = 'cancelled' WHERE status = 'failed'")
    with op.batch_alter_table("tournaments") as batch:
        batch.drop_constraint(batch.f("ck_tournaments_status"), type_="check")
        batch.create_check_constraint(batch.f("ck_tournaments_status"), _OLD_STATUSES)
        batch.drop_column("error")
    with op.batch_alter_table("matches") as batch:
        batch.drop_column("error")
