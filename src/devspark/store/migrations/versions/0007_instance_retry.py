"""Service instances that fail to start wait before they are placed again.

``service_instances.failures`` counts the failed placements in a row (an uploaded
agent whose archive cannot be unpacked, for instance) and ``retry_at`` is when a worker
may claim the instance again. ``ix_service_instances_replaces`` finds the replacements of
a rolling update (every heartbeat looks for those that serve).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 22:15:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("service_instances") as batch:
        batch.add_column(
            sa.Column("failures", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_service_instances_replaces", "service_instances", ["replaces"])


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_service_instances_replaces", table_name="service_instances")
    with op.batch_alter_table("service_instances") as batch:
        batch.drop_column("retry_at")
        batch.drop_column("failures")
