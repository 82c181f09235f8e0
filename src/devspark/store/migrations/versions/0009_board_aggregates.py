"""Platform boards kept as aggregates, refreshed in the background.

* ``board_pairs``: per board and agent pair, wins, losses and draws (a Bradley-Terry fit
  reads pairs, not matches); ``board_records``: per board, agent and final status, the
  record the boards print.
* ``board_inbox``: the rated matches the board keeper has not taken in yet, oldest
  first. Every match finished before this revision is put there with ``counted`` false,
  so the keeper adds its counts once, then rates it, in the order they finished.
* ``board_skill`` / ``board_history``: OpenSkill ratings per board and the global rating
  history, updated online; ``board_state``: matches rated and the keeper's lease;
  ``platform_boards``: the boards as served, one gzip-compressed JSON document per
  rating method.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 00:35:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BOARD = sa.String(length=160)
_AGENT = sa.String(length=255)
_WHEN = sa.DateTime(timezone=True)


def _counts() -> list[sa.Column[int]]:
    return [
        sa.Column(name, sa.Integer(), nullable=False, server_default=sa.text("0"))
        for name in ("wins", "losses", "draws")
    ]


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "board_pairs",
        sa.Column("board", _BOARD, nullable=False),
        sa.Column("agent_a", _AGENT, nullable=False),
        sa.Column("agent_b", _AGENT, nullable=False),
        *_counts(),
        sa.PrimaryKeyConstraint("board", "agent_a", "agent_b", name="pk_board_pairs"),
    )
    op.create_index("ix_board_pairs_board_agent_b", "board_pairs", ["board", "agent_b"])
    op.create_table(
        "board_records",
        sa.Column("board", _BOARD, nullable=False),
        sa.Column("agent", _AGENT, nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("matches", sa.Integer(), nullable=False, server_default=sa.text("0")),
        *_counts(),
        sa.Column("cpu_s", sa.Float(), nullable=False, server_default=sa.text("0")),
        sa.Column("moves", sa.Integer(), nullable=False, server_default=sa.text("0")),
        sa.PrimaryKeyConstraint("board", "agent", "status", name="pk_board_records"),
    )
    op.create_table(
        "board_inbox",
        sa.Column("match_id", sa.Uuid(), nullable=False),
        sa.Column("finished_at", _WHEN, nullable=False),
        sa.Column("counted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["match_id"],
            ["matches.id"],
            name="fk_board_inbox_match_id_matches",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("match_id", name="pk_board_inbox"),
    )
    op.create_index(
        "ix_board_inbox_finished_at_match_id", "board_inbox", ["finished_at", "match_id"]
    )
    op.create_table(
        "board_skill",
        sa.Column("board", _BOARD, nullable=False),
        sa.Column("agent", _AGENT, nullable=False),
        sa.Column("mu", sa.Float(), nullable=False),
        sa.Column("sigma", sa.Float(), nullable=False),
        sa.Column("matches", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("board", "agent", name="pk_board_skill"),
    )
    op.create_table(
        "board_history",
        sa.Column("agent", _AGENT, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("mu", sa.Float(), nullable=False),
        sa.Column("sigma", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("agent", "seq", name="pk_board_history"),
    )
    state = op.create_table(
        "board_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rated", sa.Integer(), nullable=False),
        sa.Column("leader", sa.String(length=128), nullable=True),
        sa.Column("lease_until", _WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_board_state"),
    )
    op.create_table(
        "platform_boards",
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("body_gz", sa.LargeBinary(), nullable=False),
        sa.Column("matches", sa.Integer(), nullable=False),
        sa.Column("built_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("method", name="pk_platform_boards"),
    )
    op.bulk_insert(state, [{"id": 1, "rated": 0, "leader": None, "lease_until": None}])
    op.execute(
        "INSERT INTO board_inbox (match_id, finished_at, counted) "
        "SELECT id, finished_at, false FROM matches "
        "WHERE status = 'finished' AND finished_at IS NOT NULL"
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("platform_boards")
    op.drop_table("board_state")
    op.drop_table("board_history")
    op.drop_table("board_skill")
    op.drop_index("ix_board_inbox_finished_at_match_id", table_name="board_inbox")
    op.drop_table("board_inbox")
    op.drop_table("board_records")
    op.drop_index("ix_board_pairs_board_agent_b", table_name="board_pairs")
    op.drop_table("board_pairs")
