"""Matches may end ``cancelled``: those of a cancelled tournament that never started.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 17:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD_STATUSES = "status IN ('queued', 'running', 'finished', 'failed')"
_NEW_STATUSES = "status IN ('queued', 'running', 'finished', 'failed', 'cancelled')"


def upgrade() -> None:
    """Apply this revision; queued matches of tournaments already cancelled end too."""
    with op.batch_alter_table("matches") as batch:
        batch.drop_constraint(batch.f("ck_matches_status"), type_="check")
        batch.create_check_constraint(batch.f("ck_matches_status"), _NEW_STATUSES)
    op.execute(
        "UPDATE matches SET status = 'cancelled', finished_at = ("
        "SELECT tournaments.finished_at FROM tournaments "
        "WHERE tournaments.id = matches.tournament_id) "
        "WHERE status = 'queued' AND tournament_id IN ("
        "SELECT id FROM tournaments WHERE status = 'cancelled')"
    )


def downgrade() -> None:
    """Revert this revision (a cancelled match is queued again, as before)."""
    op.execute(
        "UPDATE matches SET status = 'queued', finished_at = NULL WHERE status = 'cancelled'"
    )
    with op.batch_alter_table("matches") as batch:
        batch.drop_constraint(batch.f("ck_matches_status"), type_="check")
        batch.create_check_constraint(batch.f("ck_matches_status"), _OLD_STATUSES)
