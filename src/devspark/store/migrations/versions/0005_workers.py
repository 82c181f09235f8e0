"""Workers: a ``workers`` table, the worker holding each running match, fair and paced claims.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 19:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WORKER_STATES = "state IN ('idle', 'busy', 'draining', 'offline')"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "workers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("executor", sa.String(length=16), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("matches_played", sa.Integer(), nullable=False),
        sa.Column("in_flight", sa.Integer(), nullable=False),
        sa.CheckConstraint(_WORKER_STATES, name=op.f("ck_workers_state")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.create_index(op.f("ix_workers_heartbeat_at"), "workers", ["heartbeat_at"])
    with op.batch_alter_table("matches") as batch:
        batch.add_column(sa.Column("worker_id", sa.Uuid(), nullable=True))
        batch.create_index(batch.f("ix_matches_worker_id"), ["worker_id"])
        # A claim's lookups: the oldest queued match of its own, or of one tournament.
        batch.create_index("ix_matches_claim", ["status", "tournament_id", "created_at"])
        batch.create_foreign_key(
            batch.f("fk_matches_worker_id_workers"),
            "workers",
            ["worker_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("tournaments") as batch:
        batch.add_column(sa.Column("served_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("next_play_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("tournaments") as batch:
        batch.drop_column("next_play_at")
        batch.drop_column("served_at")
    with op.batch_alter_table("matches") as batch:
        batch.drop_constraint(batch.f("fk_matches_worker_id_workers"), type_="foreignkey")
        batch.drop_index("ix_matches_claim")
        batch.drop_index(batch.f("ix_matches_worker_id"))
        batch.drop_column("worker_id")
    op.drop_index(op.f("ix_workers_heartbeat_at"), table_name="workers")
    op.drop_table("workers")
