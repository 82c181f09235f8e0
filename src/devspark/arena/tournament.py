"""Tournaments: a format's schedule played on an executor, rated as results arrive.

The format (``devspark.arena.formats``) is a pure, seeded scheduler; this module feeds
its pairings to an executor round by round, records every outcome back into it,
updates OpenSkill ratings online (the ladder's matchmaking reads them) and, at the
end, publishes standings from a Bradley-Terry fit with bootstrap intervals. The same
function runs from the CLI, the server and a notebook.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devspark.arena.executors import Executor
from devspark.arena.formats import (
    DoubleElimination,
    Gauntlet,
    Ladder,
    Pairing,
    RoundRobin,
    SingleElimination,
    Swiss,
    TournamentFormat,
)
from devspark.arena.match import MatchSpec
from devspark.core.errors import InvalidArgumentError, did_you_mean
from devspark.core.isolation import IsolationLevel
from devspark.core.results import MatchResult
from devspark.rating.leaderboard import LeaderRow, build_leaderboards
from devspark.rating.models import OpenSkillRatings
from devspark.rating.outcomes import Outcome
from devspark.scenarios import list_scenarios, resolve

FORMATS = ("round_robin", "swiss", "single_elimination", "double_elimination", "gauntlet", "ladder")
"""Format names accepted by :func:`build_format` and ``devspark tournament run``."""

RESULTS_FORMAT = "devspark-tournament"


@dataclass(slots=True)
class Tournament:
    """What a tournament played and how it ended.

    Attributes:
        scenario: Versioned scenario id.
        format: Format name.
        seed: The format's seed.
        outcomes: Every match, in the order it was recorded.
        results: The full match results, same order.
        ratings: The online OpenSkill ratings after the last match.
        standings: Published standings (Bradley-Terry with bootstrap intervals).

    """

    scenario: str
    format: str
    seed: int
    outcomes: list[Outcome] = field(default_factory=list)
    results: list[MatchResult] = field(default_factory=list)
    ratings: OpenSkillRatings = field(default_factory=OpenSkillRatings)
    standings: list[LeaderRow] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        """The stable JSON shape of ``devspark tournament run --json``."""
        return {
            "scenario": self.scenario,
            "format": self.format,
            "seed": self.seed,
            "matches": len(self.outcomes),
            "standings": [
                {
                    "agent": row.agent,
                    "rank": row.rank,
                    "rating": round(row.rating, 2),
                    "lower": round(row.lower, 2),
                    "upper": round(row.upper, 2),
                    "wins": row.wins,
                    "draws": row.draws,
                    "losses": row.losses,
                }
                for row in self.standings
            ],
        }

    def write(self, path: Path) -> None:
        """Write a results file that ``devspark leaderboard`` reads."""
        document = {
            "format": RESULTS_FORMAT,
            "version": 1,
            "tournament": self.public(),
            "outcomes": [outcome_to_json(o) for o in self.outcomes],
        }
        path.write_text(json.dumps(document, separators=(",", ":")) + "\n", encoding="utf-8")


def outcome_to_json(outcome: Outcome) -> dict[str, Any]:
    """A plain-JSON outcome (results files)."""
    return {
        "scenario": outcome.scenario,
        "agents": list(outcome.agents),
        "scores": list(outcome.scores),
        "cpu_s": list(outcome.cpu_s),
        "moves": list(outcome.moves),
        "statuses": list(outcome.statuses),
    }


def read_outcomes(path: Path) -> list[Outcome]:
    """Outcomes from a tournament results file.

    Raises:
        InvalidArgumentError: Not a results file; the message says what is wrong.

    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidArgumentError(f"results file {str(path)!r}: {exc}") from exc
    if not isinstance(document, dict) or document.get("format") != RESULTS_FORMAT:
        raise InvalidArgumentError(
            f"results file {str(path)!r} is not a DevSpark tournament results file"
        )
    try:
        return [
            Outcome(
                agents=tuple(item["agents"]),
                scores=tuple(float(s) for s in item["scores"]),
                scenario=item.get("scenario", ""),
                cpu_s=tuple(item.get("cpu_s", ())),
                moves=tuple(item.get("moves", ())),
                statuses=tuple(item.get("statuses", ())),
            )
            for item in document["outcomes"]
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"results file {str(path)!r}: malformed outcome: {exc}") from exc


def planned_matches(fmt: TournamentFormat) -> int | None:
    """How many matches a format plans in all, before any is played.

    Exact for round robin, gauntlet, Swiss (``rounds`` x pairs per round) and ladder
    (its ``matches``); for an elimination bracket, the most it can play (every tie
    played to all its games, a double elimination's final reset included), since a
    best-of tie ends once decided. ``None`` for a format it does not know.
    """
    total = getattr(fmt, "total_matches", None)
    if isinstance(total, int):
        return total
    if isinstance(fmt, Ladder):
        return fmt.matches
    if isinstance(fmt, Swiss):
        return fmt.rounds * (len(fmt.agents) // 2)
    if isinstance(fmt, DoubleElimination):
        return (2 * len(fmt.agents) - 1) * fmt.games
    if isinstance(fmt, SingleElimination):
        return (len(fmt.agents) - 1) * fmt.games
    return None


def build_format(
    name: str,
    agents: Sequence[str],
    *,
    seed: int = 0,
    rounds: int | None = None,
    baselines: Sequence[str] = (),
    ratings: OpenSkillRatings | None = None,
    seats: int = 2,
) -> TournamentFormat:
    """Build a format by name.

    Args:
        name: One of :data:`FORMATS`.
        agents: Entrants (for elimination formats, best seed first).
        seed: The format's seed.
        rounds: Legs (round robin), rounds (Swiss), games per tie (elimination),
            games per baseline (gauntlet) or matches (ladder); ``None``: the default.
        baselines: The fixed opponents of a gauntlet.
        ratings: The ratings a ladder reads for matchmaking.
        seats: Agents per match (round robin of a multi-player scenario).

    Raises:
        InvalidArgumentError: Unknown format or bad arguments.

    """
    if name == "round_robin":
        return RoundRobin(agents, legs=rounds or 1, seed=seed, seats=seats)
    if name == "swiss":
        return Swiss(agents, rounds=rounds, seed=seed)
    if name == "single_elimination":
        return SingleElimination(agents, seed=seed, games=rounds or 1)
    if name == "double_elimination":
        return DoubleElimination(agents, seed=seed, games=rounds or 1)
    if name == "gauntlet":
        if not baselines:
            raise InvalidArgumentError("a gauntlet needs --baseline agents to play against")
        return Gauntlet(agents, baselines, games=rounds or 2, seed=seed)
    if name == "ladder":
        if ratings is None:
            raise InvalidArgumentError("a ladder needs the ratings it matches agents by")
        return Ladder(agents, ratings, matches=rounds or 20 * len(agents), seed=seed)
    raise InvalidArgumentError(
        f"format {name!r} is not one of: {', '.join(FORMATS)}{did_you_mean(name, FORMATS)}"
    )


def run_tournament(
    tournament_format: TournamentFormat,
    scenario: str,
    *,
    executor: Executor,
    ratings: OpenSkillRatings | None = None,
    options: dict[str, Any] | None = None,
    isolation: IsolationLevel = IsolationLevel.SANDBOX,
    seed: int = 0,
    on_result: Callable[[Pairing, MatchResult], None] | None = None,
    bootstrap: int = 200,
) -> Tournament:
    """Play a tournament to the end.

    Args:
        tournament_format: The scheduler (see :func:`build_format`).
        scenario: Scenario id.
        executor: Where matches are played.
        ratings: Online ratings to update (the ladder's own, if it has one).
        options: Scenario reset options for every match (e.g. difficulty).
        isolation: Isolation level of every agent.
        seed: Recorded in the result (the format carries its own).
        on_result: Called after each recorded match (progress bars).
        bootstrap: Bootstrap resamples for the published intervals.

    Returns:
        The tournament with its outcomes and standings.

    Raises:
        NotFoundError: Unknown scenario or agent.

    """
    cls = resolve(scenario)
    tournament = Tournament(
        scenario=cls.full_id,
        format=getattr(tournament_format, "name", type(tournament_format).__name__),
        seed=seed,
        ratings=ratings or OpenSkillRatings(),
    )
    while not tournament_format.done:
        pairings = [p for p in tournament_format.next_round() if len(p.agents) >= 2]
        if not pairings:
            break
        specs = [
            MatchSpec(
                cls.full_id, p.agents, seed=p.seed, options=dict(options or {}), isolation=isolation
            )
            for p in pairings
        ]
        for pairing, result in zip(pairings, executor.map(specs), strict=True):
            outcome = Outcome.from_result(result)
            tournament_format.record(pairing, outcome)
            tournament.ratings.update(outcome)
            tournament.outcomes.append(outcome)
            tournament.results.append(result)
            if on_result is not None:
                on_result(pairing, result)
    if tournament.outcomes:
        domains = {cls.full_id: tuple(cls.domains)}
        boards = build_leaderboards(tournament.outcomes, domains, bootstrap=bootstrap, seed=seed)
        tournament.standings = boards.by_scenario[cls.full_id]
    return tournament


def scenario_domains() -> dict[str, tuple[str, ...]]:
    """Domain tags of every registered scenario version, by versioned id."""
    return {info.full_id: info.domains for info in list_scenarios()}
