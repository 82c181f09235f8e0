"""Match use cases: create a match of its own, list and read matches and their replays.

A match of its own is a :class:`~devspark.store.models.MatchRow` without a tournament:
:func:`create_match` stores it ``queued`` with its audit entry in one transaction, and a
worker plays it (:func:`devspark.services.playing.run_match_durably`). The reads here
serve the API and never write.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from devspark.core.errors import InvalidArgumentError, NotFoundError
from devspark.core.isolation import IsolationLevel
from devspark.core.status import MATCH_STATUSES, MatchStatus
from devspark.scenarios import resolve
from devspark.scenarios.options import check_options
from devspark.services.audit import SYSTEM, AuditContext
from devspark.services.entrants import check_entrants
from devspark.services.keyset import Keyset, Window, keyset_window
from devspark.services.playing import ensure_scenario, scenario_for_work
from devspark.services.transaction import in_transaction
from devspark.store.artifacts import ArtifactStore
from devspark.store.models import MatchResultRow, MatchRow

T = TypeVar("T")


def create_match(
    session: Session,
    *,
    owner_id: uuid.UUID,
    scenario: str,
    agents: Sequence[str],
    seed: int = 0,
    options: dict[str, Any] | None = None,
    isolation: IsolationLevel = IsolationLevel.SANDBOX,
    audit: AuditContext = SYSTEM,
) -> MatchRow:
    """Persist a match of its own ``queued`` with its audit entry (one commit).

    Args:
        session: Database session.
        owner_id: Who asked for it.
        scenario: Scenario name or versioned id.
        agents: Entrants in seat order (``builtin:`` or ``agent:`` references).
        seed: The match seed.
        options: Scenario reset options (``{"difficulty": 3}``...).
        isolation: Isolation of every agent (``trusted`` is refused for uploads).
        audit: Who creates it; its ``match.create`` entry commits with the row
            (default: the platform itself).

    Returns:
        The committed row.

    Raises:
        InvalidArgumentError: An unknown scenario, a seat count the scenario refuses, a bad reference, or
            options the scenario refuses (unknown key, value out of range, over 16 KiB).
        FailedPreconditionError: An uploaded version that is not started.

    """
    cls = scenario_for_work(scenario)
    low, high = cls.players
    if not low <= len(agents) <= high:
        seats = f"{low} to {high}" if low != high else str(low)
        raise InvalidArgumentError(f"{cls.full_id} seats {seats} agents, got {len(agents)}")
    reset = check_options(cls, options)

    def change() -> MatchRow:
        pinned = check_entrants(session, agents, isolation, cls.full_id)
        ensure_scenario(session, cls.full_id)
        row = MatchRow(
            scenario_id=cls.full_id,
            seed=seed,
            options={
                "reset": reset,
                "pairing": {"round": 0, "label": "match", "agents": pinned},
            },
            isolation=isolation.value,
            status=MatchStatus.QUEUED.value,
            owner_id=owner_id,
        )
        session.add(row)
        session.flush()
        audit.record(
            session, "match.create", "match", row.id, scenario=row.scenario_id, agents=list(agents)
        )
        return row

    return in_transaction(session, change)


def get_match(session: Session, match_id: uuid.UUID) -> MatchRow:
    """The match ``match_id``.

    Raises:
        NotFoundError: No such match.

    """
    row = session.get(MatchRow, match_id)
    if row is None:
        raise NotFoundError(f"match_id {str(match_id)!r}: no such match")
    return row


MATCHES = Keyset("matches", (MatchRow.created_at, MatchRow.id), (datetime, uuid.UUID))
"""The matches list's order: newest first, by ``(created_at, id)`` (both descending)."""

MATCHES_OLDEST_FIRST = Keyset(
    "matches.oldest", (MatchRow.created_at, MatchRow.id), (datetime, uuid.UUID), descending=False
)
"""The order matches were written in (a tournament's matches)."""


def list_matches(
    session: Session,
    *,
    tournament_id: uuid.UUID | None = None,
    agent: str | None = None,
    status: str | None = None,
    scenario: str | None = None,
    offset: int = 0,
    limit: int = 50,
    cursor: str | None = None,
    oldest_first: bool = False,
) -> Window[MatchRow]:
    """One page of the matches, newest first, by offset or by cursor.

    A cursor page (``cursor`` given) is one index range scan at any depth and does not
    count the list; an offset page counts it. Both give the ``next_cursor``
    (:mod:`devspark.services.keyset`).

    Args:
        session: Database session.
        tournament_id: Only this tournament's matches.
        agent: Only matches this agent reference played in.
        status: Only matches in this state (one of :data:`MATCH_STATUSES`).
        scenario: Only this scenario (name or versioned id).
        offset: Index of the first row returned (0 with a cursor).
        limit: The most rows returned.
        cursor: Continue after this ``next_cursor`` of a previous page of the same order
            (the filters are not in it: send the same ones); ``""``: the first page.
        oldest_first: In the order they were written instead (ties by ``id`` ascending).

    Returns:
        The rows of the page, the total count of the filtered list (``None`` on a cursor
        page) and the cursor of the next page (``None`` at the end).

    Raises:
        NotFoundError: ``scenario`` names no scenario.
        InvalidArgumentError: ``status`` is not a match status, ``cursor`` is malformed
            or from another list, or ``cursor`` comes with an ``offset``.

    """
    query = select(MatchRow)
    if scenario is not None:
        query = query.where(MatchRow.scenario_id == resolve(scenario).full_id)
    if tournament_id is not None:
        query = query.where(MatchRow.tournament_id == tournament_id)
    if status is not None:
        if status not in MATCH_STATUSES:
            raise InvalidArgumentError(
                f"status={status!r} is not one of: {', '.join(MATCH_STATUSES)}"
            )
        query = query.where(MatchRow.status == status)
    if agent is not None:
        query = _played_by(session, query, agent)
    keyset = MATCHES_OLDEST_FIRST if oldest_first else MATCHES
    return keyset_window(session, query, keyset, cursor=cursor, offset=offset, limit=limit)


AGENT_FIRST_MAX = 5_000
"""Up to this many results, an agent's matches are read from its results first."""


def _played_by(session: Session, query: Select[T], agent: str) -> Select[T]:
    """``query`` restricted to the matches ``agent`` played in, in the cheaper of two ways.

    A page of an agent with few results (at most :data:`AGENT_FIRST_MAX`, counted with a
    cap) reads those results first (index ``(agent_ref, match_id)``) and then their
    matches, however deep the page; walking the matches newest first and checking each
    would visit ``limit / share`` matches (25,000 for an agent in one match in 500 on a
    million). An agent in many matches is found within the first few matches of the walk,
    which PostgreSQL then does.
    """
    played = select(MatchResultRow.match_id).where(MatchResultRow.agent_ref == agent)
    capped = select(func.count()).select_from(played.limit(AGENT_FIRST_MAX + 1).subquery())
    if (session.scalar(capped) or 0) > AGENT_FIRST_MAX:
        return query.where(
            exists().where(
                MatchResultRow.match_id == MatchRow.id, MatchResultRow.agent_ref == agent
            )
        )
    # MATERIALIZED keeps PostgreSQL from folding the results back into a walk.
    first = played.distinct().cte("played").prefix_with("MATERIALIZED", dialect="postgresql")
    return query.join(first, MatchRow.id == first.c.match_id)


def window(session: Session, query: Select[T], offset: int, limit: int) -> tuple[list[T], int]:
    """The rows ``offset`` to ``offset + limit`` of an ordered query, and its total count."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    return list(session.scalars(query.offset(offset).limit(limit))), total or 0


def results_of(session: Session, rows: Sequence[MatchRow]) -> dict[uuid.UUID, list[MatchResultRow]]:
    """The per-seat results of every match of ``rows`` in seat order (one query).

    Returns:
        For every row's id, its results (empty until it finished).

    """
    results: dict[uuid.UUID, list[MatchResultRow]] = {row.id: [] for row in rows}
    if rows:
        for result in session.scalars(
            select(MatchResultRow)
            .where(MatchResultRow.match_id.in_(list(results)))
            .order_by(MatchResultRow.seat)
        ):
            results[result.match_id].append(result)
    return results


def replay_bytes(session: Session, artifacts: ArtifactStore, match_id: uuid.UUID) -> bytes:
    """The stored replay of a match: gzip-compressed JSON (format ``devspark-replay``).

    Args:
        session: Database session.
        artifacts: The artifact store replays are recorded into.
        match_id: The match.

    Returns:
        The gzip bytes exactly as stored.

    Raises:
        NotFoundError: No such match, it has no replay (yet), or the replay is missing
            from storage.

    """
    row = get_match(session, match_id)
    if row.replay_ref is None:
        raise NotFoundError(
            f"match {match_id} has no replay"
            + ("" if row.status == MatchStatus.FINISHED else f" yet (it is {row.status!r})")
        )
    if not artifacts.exists(row.replay_ref):
        raise NotFoundError(f"match {match_id}: replay {row.replay_ref} is missing from storage")
    return artifacts.read_bytes(row.replay_ref)


__all__ = [
    "MATCHES",
    "MATCHES_OLDEST_FIRST",
    "MATCH_STATUSES",
    "MatchResultRow",
    "MatchRow",
    "Window",
    "create_match",
    "get_match",
    "list_matches",
    "replay_bytes",
    "results_of",
    "window",
]
