"""How the board keeper writes ratings and history: one statement per table.

PostgreSQL gets one array per column (``unnest``): a list of parameter sets would go out
as one statement per row, about a hundred times slower for the hundreds of ratings a
refresh writes. SQLite runs a cached statement over the list, in process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Final, cast

from sqlalchemy import Table, TextClause, bindparam, delete, insert, text
from sqlalchemy.orm import Session

from devspark.store.models import BoardHistoryRow, BoardSkillRow

_SKILL_UNNEST: Final = text(
    "INSERT INTO board_skill (board, agent, mu, sigma, matches) "
    "SELECT * FROM unnest(CAST(:board AS varchar[]), CAST(:agent AS varchar[]), "
    "CAST(:mu AS float8[]), CAST(:sigma AS float8[]), CAST(:matches AS integer[])) "
    "ON CONFLICT (board, agent) DO UPDATE "
    "SET mu = excluded.mu, sigma = excluded.sigma, matches = excluded.matches"
)
_HISTORY_UNNEST: Final = text(
    "INSERT INTO board_history (agent, seq, mu, sigma) "
    "SELECT * FROM unnest(CAST(:agent AS varchar[]), CAST(:seq AS integer[]), "
    "CAST(:mu AS float8[]), CAST(:sigma AS float8[]))"
)


def insert_for(dialect: str, table: Any) -> Any:
    """An ``INSERT`` with ``ON CONFLICT`` support for ``dialect`` (PostgreSQL or SQLite)."""
    from sqlalchemy.dialects import postgresql, sqlite

    build = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return build(table)


def write_many(
    session: Session,
    statement: Callable[[str], Any],
    unnest: TextClause,
    rows: list[dict[str, Any]],
) -> None:
    """Write (or delete) ``rows`` in one statement and one round trip.

    PostgreSQL gets one array per column (``unnest``): a parameter list would go out as
    one statement per row, about a hundred times slower for the hundreds of ratings a
    refresh writes. SQLite runs the cached statement over the list, in process.
    """
    dialect = session.get_bind().dialect.name
    if dialect != "postgresql":
        session.connection().execute(statement(dialect), rows)
        return
    session.execute(unnest, {column: [row[column] for row in rows] for column in rows[0]})


_HISTORY_DELETE_UNNEST: Final = text(
    "DELETE FROM board_history AS h USING unnest(CAST(:agent AS varchar[]), "
    "CAST(:seq AS integer[])) AS d(agent, seq) WHERE h.agent = d.agent AND h.seq = d.seq"
)


@functools.cache
def _history_delete(dialect: str) -> Any:
    """The delete of thinned history points (SQLite's path of :func:`write_many`)."""
    table = cast(Table, BoardHistoryRow.__table__)
    return delete(table).where(table.c.agent == bindparam("agent"), table.c.seq == bindparam("seq"))


@functools.cache
def _history_insert(dialect: str) -> Any:
    """The insert of history points (SQLite's path of :func:`write_many`)."""
    return insert(cast(Table, BoardHistoryRow.__table__))


@functools.cache
def _skill_upsert(dialect: str) -> Any:
    """The upsert that writes OpenSkill ratings (SQLite's path of :func:`write_many`)."""
    upsert = insert_for(dialect, BoardSkillRow)
    return upsert.on_conflict_do_update(
        index_elements=["board", "agent"],
        set_={
            "mu": upsert.excluded.mu,
            "sigma": upsert.excluded.sigma,
            "matches": upsert.excluded.matches,
        },
    )


def write_ratings(
    session: Session,
    ratings: list[dict[str, Any]],
    points: list[dict[str, Any]],
    dropped: list[dict[str, Any]],
) -> None:
    """Upsert OpenSkill ratings, insert history points, delete thinned ones.

    Args:
        session: The refresh's transaction.
        ratings: ``board, agent, mu, sigma, matches`` per rating written.
        points: ``agent, seq, mu, sigma`` per new history point.
        dropped: ``agent, seq`` per history point thinned out.

    """
    if ratings:
        write_many(session, _skill_upsert, _SKILL_UNNEST, ratings)
    if points:
        write_many(session, _history_insert, _HISTORY_UNNEST, points)
    if dropped:
        write_many(session, _history_delete, _HISTORY_DELETE_UNNEST, dropped)


__all__ = ["insert_for", "write_many", "write_ratings"]
