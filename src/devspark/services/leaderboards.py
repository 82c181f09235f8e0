"""Leaderboards read from the stored matches and rating snapshots.

:func:`finished_outcomes` gives the outcomes of every finished match between distinct
agents, in the order they finished: the matches the platform boards rate (those boards
are kept as aggregates and refitted in the background, see
:mod:`devspark.services.board_keeper`; this is the slow, exact path the tests and tools
compare them with). :func:`latest_snapshots` gives each agent's latest rating snapshot
per scenario, as tournaments published them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from devspark.core.status import MatchStatus
from devspark.rating.outcomes import Outcome
from devspark.scenarios import resolve
from devspark.services.playing import outcome_of
from devspark.store.models import MatchResultRow, MatchRow, RatingSnapshotRow


def finished_outcomes(session: Session, agent: str | None = None) -> list[Outcome]:
    """Outcomes of every finished match between distinct agents, oldest first.

    A match that seats one agent more than once (self-play, or copies of an agent in a
    team game) says nothing about how agents compare: it is played and stored like any
    other, and left out of ratings.

    Args:
        session: Database session.
        agent: Only matches this agent played in.

    """
    query = select(MatchRow.id, MatchRow.scenario_id).where(MatchRow.status == MatchStatus.FINISHED)
    if agent is not None:
        query = query.where(
            MatchRow.id.in_(
                select(MatchResultRow.match_id).where(MatchResultRow.agent_ref == agent)
            )
        )
    matches = session.execute(query.order_by(MatchRow.finished_at, MatchRow.id)).all()
    seats: dict[Any, list[MatchResultRow]] = defaultdict(list)
    ids = [match_id for match_id, _ in matches]
    for start in range(0, len(ids), 500):
        for result in session.scalars(
            select(MatchResultRow)
            .where(MatchResultRow.match_id.in_(ids[start : start + 500]))
            .order_by(MatchResultRow.match_id, MatchResultRow.seat)
        ):
            seats[result.match_id].append(result)
    outcomes: list[Outcome] = []
    for match_id, scenario_id in matches:
        results = seats.get(match_id, [])
        refs = [r.agent_ref for r in results]
        if len(refs) < 2 or len(set(refs)) != len(refs):
            continue
        outcomes.append(outcome_of(results, scenario_id))
    return outcomes


def domains_of(outcomes: Sequence[Outcome]) -> dict[str, tuple[str, ...]]:
    """Scenario id -> its domain tags, for every scenario of ``outcomes``."""
    domains: dict[str, tuple[str, ...]] = {}
    for outcome in outcomes:
        if outcome.scenario not in domains:
            try:
                domains[outcome.scenario] = tuple(resolve(outcome.scenario).domains)
            except Exception:  # a scenario plugin that is gone: no domain tags
                domains[outcome.scenario] = ()
    return domains


def latest_snapshots(
    factory: sessionmaker[Session], scenario_id: str | None = None
) -> list[RatingSnapshotRow]:
    """Each agent's latest rating snapshot per scenario, by scenario then best first.

    Reads in a session of its own, closed before returning (the rows stay readable).

    Args:
        factory: Opens the session.
        scenario_id: Only this versioned scenario id; every scenario when ``None``.

    Returns:
        One snapshot per (scenario, agent), ordered by scenario id, rating (highest
        first) and agent reference.

    """
    query = select(RatingSnapshotRow)
    if scenario_id is not None:
        query = query.where(RatingSnapshotRow.scenario_id == scenario_id)
    latest: dict[tuple[str | None, str], RatingSnapshotRow] = {}
    with factory() as session:
        for snap in session.scalars(
            query.order_by(RatingSnapshotRow.taken_at.desc(), RatingSnapshotRow.id)
        ):
            latest.setdefault((snap.scenario_id, snap.agent_ref), snap)
    return sorted(latest.values(), key=lambda s: (s.scenario_id or "", -s.rating, s.agent_ref))


__all__ = [
    "RatingSnapshotRow",
    "domains_of",
    "finished_outcomes",
    "latest_snapshots",
]
