"""Leaderboards: global, per scenario, per domain, efficiency and rating history.

Every board is a rating table (Bradley-Terry with bootstrap intervals, or OpenSkill)
joined with each agent's record: pairwise wins/draws/losses, CPU seconds per move and
how its matches ended. Ranks follow the interval rule, so agents that cannot be told
apart share a rank.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from devspark.core.errors import InvalidArgumentError
from devspark.rating.bradley_terry import fit_bradley_terry
from devspark.rating.models import OpenSkillRatings, RatingRow
from devspark.rating.outcomes import Outcome
from devspark.rating.stats import pairwise_results

METHODS: Final = ("bradley_terry", "openskill")
"""Rating methods :func:`build_leaderboards` accepts."""

_VERSION_SUFFIX: Final = re.compile(r"-v\d+$")


@dataclass(frozen=True, slots=True)
class LeaderRow:
    """One agent's line on a leaderboard.

    Attributes:
        agent: Agent id.
        rank: ``1 +`` agents whose whole interval lies above this one's.
        rating: Point estimate on the method's scale.
        lower: Lower end of the 95% interval.
        upper: Upper end of the 95% interval.
        matches: Matches played.
        wins: Pairwise wins (a multi-player match counts once per opponent, by rank).
        draws: Pairwise draws.
        losses: Pairwise losses.
        cpu_s_per_move: CPU seconds per move over the matches that recorded both,
            ``None`` when none did.
        statuses: How the agent's matches ended, status -> count.

    """

    agent: str
    rank: int
    rating: float
    lower: float
    upper: float
    matches: int
    wins: int
    draws: int
    losses: int
    cpu_s_per_move: float | None
    statuses: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """This row as a plain dict."""
        return {
            "agent": self.agent,
            "rank": self.rank,
            "rating": self.rating,
            "lower": self.lower,
            "upper": self.upper,
            "matches": self.matches,
            "wins": self.wins,
            "draws": self.draws,
            "losses": self.losses,
            "cpu_s_per_move": self.cpu_s_per_move,
            "statuses": dict(self.statuses),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LeaderRow:
        """Rebuild a row from :meth:`to_json`'s dict."""
        cpu = data["cpu_s_per_move"]
        return cls(
            agent=str(data["agent"]),
            rank=int(data["rank"]),
            rating=float(data["rating"]),
            lower=float(data["lower"]),
            upper=float(data["upper"]),
            matches=int(data["matches"]),
            wins=int(data["wins"]),
            draws=int(data["draws"]),
            losses=int(data["losses"]),
            cpu_s_per_move=None if cpu is None else float(cpu),
            statuses={str(k): int(v) for k, v in data["statuses"].items()},
        )


@dataclass(frozen=True, slots=True)
class EfficiencyRow:
    """An agent's global rating against its CPU cost.

    Attributes:
        agent: Agent id.
        rating: Global rating.
        cpu_s_per_move: CPU seconds per move (``None`` when unknown).
        pareto: No other agent is at least as strong and at least as cheap, and strictly
            better in one of the two (always ``False`` when the cost is unknown).

    """

    agent: str
    rating: float
    cpu_s_per_move: float | None
    pareto: bool

    def to_json(self) -> dict[str, Any]:
        """This row as a plain dict."""
        return {
            "agent": self.agent,
            "rating": self.rating,
            "cpu_s_per_move": self.cpu_s_per_move,
            "pareto": self.pareto,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EfficiencyRow:
        """Rebuild a row from :meth:`to_json`'s dict."""
        cpu = data["cpu_s_per_move"]
        return cls(
            agent=str(data["agent"]),
            rating=float(data["rating"]),
            cpu_s_per_move=None if cpu is None else float(cpu),
            pareto=bool(data["pareto"]),
        )


@dataclass(frozen=True, slots=True)
class Leaderboards:
    """Every leaderboard built from one set of outcomes.

    Attributes:
        method: ``"bradley_terry"`` or ``"openskill"``.
        global_: All scenarios together, best first.
        by_scenario: Scenario id -> its board.
        by_domain: Domain tag -> the board of the scenarios carrying that tag.
        efficiency: Global rating against CPU per move, best rated first.
        history: Agent -> ``(match number, mu, sigma)`` after each of its matches, from
            OpenSkill updated online in outcome order (match numbers count from 1).

    """

    method: str
    global_: list[LeaderRow]
    by_scenario: dict[str, list[LeaderRow]]
    by_domain: dict[str, list[LeaderRow]]
    efficiency: list[EfficiencyRow]
    history: dict[str, list[tuple[int, float, float]]]

    def to_json(self) -> dict[str, Any]:
        """All boards as plain dicts and lists (``json.dumps``-ready).

        The global board is under ``"global"``; history entries become
        ``[match, mu, sigma]`` lists.
        """
        return {
            "method": self.method,
            "global": [row.to_json() for row in self.global_],
            "by_scenario": {k: [r.to_json() for r in v] for k, v in self.by_scenario.items()},
            "by_domain": {k: [r.to_json() for r in v] for k, v in self.by_domain.items()},
            "efficiency": [row.to_json() for row in self.efficiency],
            "history": {k: [list(point) for point in v] for k, v in self.history.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Leaderboards:
        """Rebuild the boards from :meth:`to_json`'s dict (e.g. a results file)."""
        return cls(
            method=str(data["method"]),
            global_=[LeaderRow.from_json(row) for row in data["global"]],
            by_scenario={
                k: [LeaderRow.from_json(r) for r in v] for k, v in data["by_scenario"].items()
            },
            by_domain={
                k: [LeaderRow.from_json(r) for r in v] for k, v in data["by_domain"].items()
            },
            efficiency=[EfficiencyRow.from_json(row) for row in data["efficiency"]],
            history={
                k: [(int(m), float(mu), float(s)) for m, mu, s in v]
                for k, v in data["history"].items()
            },
        )


def build_leaderboards(
    outcomes: Sequence[Outcome],
    domains: Mapping[str, Sequence[str]],
    *,
    method: str = "bradley_terry",
    bootstrap: int = 200,
    seed: int = 0,
) -> Leaderboards:
    """Build the global, per-scenario, per-domain, efficiency and history boards.

    Args:
        outcomes: The matches, in the order they were played (history follows it).
        domains: Scenario id -> domain tags. A versioned id such as
            ``"connect_four-v1"`` also finds the tags of ``"connect_four"``; scenarios
            without tags appear on the global and per-scenario boards only.
        method: ``"bradley_terry"`` (maximum likelihood, bootstrap intervals, the Elo-like
            scale) or ``"openskill"`` (PlackettLuce ``mu -/+ 1.96 sigma``).
        bootstrap: Resamples per Bradley-Terry board (ignored by OpenSkill).
        seed: Seed of the resampling.

    Returns:
        The boards.

    Raises:
        InvalidArgumentError: No outcomes, or an unknown ``method``.

    """
    if not outcomes:
        raise InvalidArgumentError("build_leaderboards needs at least one outcome, got none")
    if method not in METHODS:
        raise InvalidArgumentError(
            f"unknown rating method {method!r}; choose one of {', '.join(METHODS)}"
        )
    by_scenario: dict[str, list[Outcome]] = {}
    by_domain: dict[str, list[Outcome]] = {}
    for outcome in outcomes:
        by_scenario.setdefault(outcome.scenario, []).append(outcome)
        for tag in dict.fromkeys(_tags(outcome.scenario, domains)):
            by_domain.setdefault(tag, []).append(outcome)

    def board(games: Sequence[Outcome]) -> list[LeaderRow]:
        return _board(games, method=method, bootstrap=bootstrap, seed=seed)

    global_ = board(outcomes)
    online = OpenSkillRatings()
    for outcome in outcomes:
        online.update(outcome)
    history: dict[str, list[tuple[int, float, float]]] = {agent: [] for agent in online.agents}
    for match, agent, mu, sigma in online.history:
        history[agent].append((match, mu, sigma))
    return Leaderboards(
        method=method,
        global_=global_,
        by_scenario={name: board(games) for name, games in sorted(by_scenario.items())},
        by_domain={tag: board(games) for tag, games in sorted(by_domain.items())},
        efficiency=efficiency_rows(global_),
        history=history,
    )


def _tags(scenario: str, domains: Mapping[str, Sequence[str]]) -> Sequence[str]:
    tags = domains.get(scenario)
    if tags is None:
        tags = domains.get(_VERSION_SUFFIX.sub("", scenario), ())
    return tags


@dataclass(slots=True)
class AgentRecord:
    """What an agent's matches on one board add up to, besides its rating.

    Attributes:
        wins: Pairwise wins (a multi-player match counts once per opponent, by rank).
        draws: Pairwise draws.
        losses: Pairwise losses.
        cpu_s: CPU seconds over the matches that recorded CPU and moves.
        moves: Moves over the same matches.
        statuses: How the agent's matches ended, status -> count.

    """

    wins: int = 0
    draws: int = 0
    losses: int = 0
    cpu_s: float = 0.0
    moves: int = 0
    statuses: Counter[str] = field(default_factory=Counter)


def leader_rows(table: Sequence[RatingRow], records: Mapping[str, AgentRecord]) -> list[LeaderRow]:
    """Join a rating table with each agent's record, keeping the table's order.

    Args:
        table: Ratings, best first (every agent must have a record).
        records: Agent -> record.

    Returns:
        One :class:`LeaderRow` per table row.

    """
    rows = []
    for row in table:
        record = records[row.agent]
        rows.append(
            LeaderRow(
                agent=row.agent,
                rank=row.rank,
                rating=row.rating,
                lower=row.lower,
                upper=row.upper,
                matches=row.matches,
                wins=record.wins,
                draws=record.draws,
                losses=record.losses,
                cpu_s_per_move=record.cpu_s / record.moves if record.moves else None,
                statuses=dict(sorted(record.statuses.items())),
            )
        )
    return rows


def _board(
    outcomes: Sequence[Outcome], *, method: str, bootstrap: int, seed: int
) -> list[LeaderRow]:
    """One board: ratings joined with records."""
    table: list[RatingRow]
    if method == "bradley_terry":
        table = fit_bradley_terry(outcomes, bootstrap=bootstrap, seed=seed)
    else:
        ratings = OpenSkillRatings(keep_history=False)
        for outcome in outcomes:
            ratings.update(outcome)
        table = ratings.table()
    return leader_rows(table, _records(outcomes))


def _records(outcomes: Sequence[Outcome]) -> dict[str, AgentRecord]:
    """Agent -> its record over ``outcomes``."""
    records: dict[str, AgentRecord] = {}
    for outcome in outcomes:
        for a, b, points in pairwise_results(outcome):
            first = records.setdefault(a, AgentRecord())
            second = records.setdefault(b, AgentRecord())
            if points == 1.0:
                first.wins += 1
                second.losses += 1
            elif points == 0.5:
                first.draws += 1
                second.draws += 1
            else:
                first.losses += 1
                second.wins += 1
        timed = bool(outcome.cpu_s) and bool(outcome.moves)
        for seat, agent in enumerate(outcome.agents):
            record = records.setdefault(agent, AgentRecord())
            if timed:
                record.cpu_s += outcome.cpu_s[seat]
                record.moves += outcome.moves[seat]
            if outcome.statuses:
                record.statuses[outcome.statuses[seat]] += 1
    return records


def efficiency_rows(board: Sequence[LeaderRow]) -> list[EfficiencyRow]:
    """Each agent's rating and CPU per move, flagged when Pareto-optimal.

    Args:
        board: The global board.

    Returns:
        The efficiency rows, best rated first (Pareto in higher rating, lower CPU).

    """
    # A row is dominated by a higher rating at no more CPU, or by its own rating at less
    # CPU. One sweep from the top rating down: O(n log n) (a board has 1,000 agents).
    costed = sorted(
        (row for row in board if row.cpu_s_per_move is not None), key=lambda r: -r.rating
    )
    dominated: set[str] = set()
    cheapest_above = math.inf  # the least CPU among strictly higher ratings
    start = 0
    while start < len(costed):
        end = start
        while end < len(costed) and costed[end].rating == costed[start].rating:
            end += 1
        group = costed[start:end]
        cheapest_here = min(row.cpu_s_per_move or 0.0 for row in group)
        for row in group:
            cpu = row.cpu_s_per_move or 0.0
            if cheapest_above <= cpu or cheapest_here < cpu:
                dominated.add(row.agent)
        cheapest_above = min(cheapest_above, cheapest_here)
        start = end
    rows = [
        EfficiencyRow(
            row.agent,
            row.rating,
            row.cpu_s_per_move,
            row.cpu_s_per_move is not None and row.agent not in dominated,
        )
        for row in board
    ]
    rows.sort(key=lambda r: (-r.rating, r.agent))
    return rows
