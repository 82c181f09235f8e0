"""Indexes for keyset pages of the large lists: matches, tournaments, agents.

A list page is read newest first (matches, tournaments) or oldest first (agents) by a
unique sort key that ends with ``id``, and the next page starts after the last row's key
(a cursor), so a page at any depth is one index range scan:

* ``matches``: ``(created_at, id)`` for the whole list, and ``(status | tournament_id |
  owner_id | scenario_id, created_at, id)`` for the filtered ones. The three that lead
  with ``status``, ``tournament_id`` and ``owner_id`` replace the indexes on those
  columns alone (or on ``status, created_at``), which they cover.
* ``match_results``: ``(agent_ref, match_id)`` finds the matches an agent played (the
  ``agent`` filter) without reading every result.
* ``tournaments``: ``(created_at, id)``; ``(status, created_at, id)`` and ``(owner_id,
  created_at, id)`` replace ``(status, created_at)`` and ``(owner_id)``.
* ``agents``: ``(created_at, name, id)``, the order of the agents list.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 00:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEY = ["created_at", "id"]

_ADDED: list[tuple[str, str, list[str]]] = [
    ("ix_matches_created_at_id", "matches", _KEY),
    ("ix_matches_status_created_at_id", "matches", ["status", *_KEY]),
    ("ix_matches_tournament_id_created_at_id", "matches", ["tournament_id", *_KEY]),
    ("ix_matches_owner_id_created_at_id", "matches", ["owner_id", *_KEY]),
    ("ix_matches_scenario_id_created_at_id", "matches", ["scenario_id", *_KEY]),
    ("ix_match_results_agent_ref_match_id", "match_results", ["agent_ref", "match_id"]),
    ("ix_tournaments_created_at_id", "tournaments", _KEY),
    ("ix_tournaments_status_created_at_id", "tournaments", ["status", *_KEY]),
    ("ix_tournaments_owner_id_created_at_id", "tournaments", ["owner_id", *_KEY]),
    ("ix_agents_created_at_name_id", "agents", ["created_at", "name", "id"]),
]
"""(name, table, columns) of every index this revision creates."""

_REPLACED: list[tuple[str, str, list[str]]] = [
    ("ix_matches_status_created_at", "matches", ["status", "created_at"]),
    ("ix_matches_tournament_id", "matches", ["tournament_id"]),
    ("ix_matches_owner_id", "matches", ["owner_id"]),
    ("ix_tournaments_status_created_at", "tournaments", ["status", "created_at"]),
    ("ix_tournaments_owner_id", "tournaments", ["owner_id"]),
]
"""(name, table, columns) of the indexes dropped: a new one above leads with their columns."""


def upgrade() -> None:
    """Apply this revision."""
    for name, table, columns in _ADDED:
        op.create_index(name, table, columns)
    for name, table, _columns in _REPLACED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    """Revert this revision."""
    for name, table, columns in _REPLACED:
        op.create_index(name, table, columns)
    for name, table, _columns in reversed(_ADDED):
        op.drop_index(name, table_name=table)
