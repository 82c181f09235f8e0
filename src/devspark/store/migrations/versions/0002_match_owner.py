"""Matches started on their own (not by a tournament) record who asked for them.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 09:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("matches") as batch:
        batch.add_column(sa.Column("owner_id", sa.Uuid(), nullable=True))
        batch.create_index(batch.f("ix_matches_owner_id"), ["owner_id"], unique=False)
        batch.create_foreign_key(
            batch.f("fk_matches_owner_id_users"), "users", ["owner_id"], ["id"], ondelete="SET NULL"
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("matches") as batch:
        batch.drop_constraint(batch.f("fk_matches_owner_id_users"), type_="foreignkey")
        batch.drop_index(batch.f("ix_matches_owner_id"))
        batch.drop_column("owner_id")
