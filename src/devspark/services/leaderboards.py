"""Platform leaderboards: every finished match on the server, rated together.

:class:`PlatformBoards` reads the outcomes of all finished matches with two or more
seats (tournaments and matches of their own alike), in the order they finished, and
builds the global, per-scenario, per-domain, efficiency and history boards of
:func:`devspark.rating.leaderboard.build_leaderboards`. Building them costs a
Bradley-Terry fit plus bootstrap per board, so the result is cached until another match
finishes (the cache key is the count and the latest finish time of finished matches),
and a costly build is served for a while even when matches finished since (ten times
what it took to build, at most ``min_refresh_s``), so a continuous ladder finishing a
match every few seconds does not make every read refit large boards, while small ones
stay current.

:func:`head_to_head` gives one agent's wins, draws and losses against each opponent;
:func:`latest_snapshots` each agent's latest rating snapshot per scenario.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from devspark.core.status import MatchStatus
from devspark.rating.leaderboard import METHODS, build_leaderboards
from devspark.rating.outcomes import Outcome
from devspark.rating.stats import pairwise_results
from devspark.scenarios import resolve
from devspark.services.playing import outcome_of
from devspark.store.models import MatchResultRow, MatchRow, RatingSnapshotRow

HISTORY_POINTS = 200
"""The most rating-history points kept per agent (evenly thinned, last one kept)."""

DEFAULT_BOOTSTRAP = 100
"""Bootstrap resamples behind each platform board's intervals."""

DEFAULT_MIN_REFRESH_S = 5.0
"""The longest a costly board is served before matches finished since are rated in."""


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


def _domains(outcomes: Sequence[Outcome]) -> dict[str, tuple[str, ...]]:
    domains: dict[str, tuple[str, ...]] = {}
    for outcome in outcomes:
        if outcome.scenario not in domains:
            try:
                domains[outcome.scenario] = tuple(resolve(outcome.scenario).domains)
            except Exception:  # a scenario plugin that is gone: no domain tags
                domains[outcome.scenario] = ()
    return domains


def _thin(points: list[list[float]], keep: int) -> list[list[float]]:
    if len(points) <= keep:
        return points
    step = len(points) / keep
    thinned = [points[int(i * step)] for i in range(keep - 1)]
    thinned.append(points[-1])
    return thinned


class PlatformBoards:
    """Cached platform-wide leaderboards (thread-safe).

    Args:
        bootstrap: Resamples per Bradley-Terry board.
        min_refresh_s: The longest a built board is served once matches finished since.
        clock: Monotonic clock (tests substitute one).

    """

    def __init__(
        self,
        bootstrap: int = DEFAULT_BOOTSTRAP,
        min_refresh_s: float = DEFAULT_MIN_REFRESH_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bootstrap = bootstrap
        self.min_refresh_s = min_refresh_s
        self._clock = clock
        self._lock = threading.Lock()
        # method -> (key, valid until, boards)
        self._cache: dict[str, tuple[tuple[int, datetime | None], float, dict[str, Any]]] = {}

    def get(self, session: Session, method: str = "bradley_terry") -> dict[str, Any]:
        """The boards as JSON (``Leaderboards.to_json()`` plus ``matches``).

        With no rated match yet every board is empty.

        Raises:
            ValueError: ``method`` is not one of :data:`~devspark.rating.leaderboard.METHODS`.

        """
        if method not in METHODS:
            raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")
        with self._lock:
            cached = self._cache.get(method)
        if cached is not None and self._clock() < cached[1]:
            return cached[2]
        count, latest = session.execute(
            select(func.count(), func.max(MatchRow.finished_at)).where(
                MatchRow.status == MatchStatus.FINISHED
            )
        ).one()
        key = (int(count), latest)
        if cached is not None and cached[0] == key:
            return cached[2]
        started = self._clock()
        boards = self._build(finished_outcomes(session), method)
        built = self._clock()
        hold = min(self.min_refresh_s, 10 * (built - started))
        with self._lock:
            self._cache[method] = (key, built + hold, boards)
        return boards

    def _build(self, outcomes: list[Outcome], method: str) -> dict[str, Any]:
        if not outcomes:
            return {
                "method": method,
                "global": [],
                "by_scenario": {},
                "by_domain": {},
                "efficiency": [],
                "history": {},
                "matches": 0,
            }
        data = build_leaderboards(
            outcomes, _domains(outcomes), method=method, bootstrap=self.bootstrap
        ).to_json()
        data["history"] = {
            agent: _thin(points, HISTORY_POINTS) for agent, points in data["history"].items()
        }
        data["matches"] = len(outcomes)
        return data


def head_to_head(session: Session, agent: str) -> list[dict[str, Any]]:
    """``agent``'s wins, draws and losses against each opponent, most played first.

    Multi-player matches count once per opponent, by rank (as the leaderboards do).
    """
    table: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for outcome in finished_outcomes(session, agent):
        for first, second, points in pairwise_results(outcome):
            if agent not in (first, second) or first == second:
                continue
            opponent, mine = (second, points) if first == agent else (first, 1.0 - points)
            table[opponent][0 if mine == 1.0 else 1 if mine == 0.5 else 2] += 1
    ordered = sorted(table.items(), key=lambda item: (-sum(item[1]), item[0]))
    return [
        {"opponent": opponent, "wins": w, "draws": d, "losses": lo}
        for opponent, (w, d, lo) in ordered
    ]


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
    "DEFAULT_BOOTSTRAP",
    "HISTORY_POINTS",
    "PlatformBoards",
    "RatingSnapshotRow",
    "finished_outcomes",
    "head_to_head",
    "latest_snapshots",
]
