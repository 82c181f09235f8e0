"""``devspark demo``: a sandboxed tour of the scenario library with its baselines.

Every agent runs in its own sandbox. Two-player games are small round robin
tournaments (both seat orders) with published standings (Bradley-Terry ratings with
95% intervals, ranks that tie when intervals overlap); the iterated prisoner's dilemma is an Axelrod-style
round robin scored by mean payoff per round; single-player and team scenarios are
played by each baseline (teams of copies) over the same seeds and scored by mean
return. All matches go through one warm multi-process executor with a progress bar.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from devspark.arena.executors import LocalExecutor
from devspark.arena.formats import RoundRobin
from devspark.arena.match import MatchSpec
from devspark.arena.tournament import run_tournament
from devspark.cli._tables import compact_table, name_column, print_table, value_column
from devspark.cli.tournament_cmd import standings_table
from devspark.core.isolation import IsolationLevel
from devspark.core.results import MatchResult


@dataclass(frozen=True, slots=True)
class Event:
    """One part of the demo: a scenario, its agents and how they meet."""

    scenario: str
    agents: tuple[str, ...]
    kind: str  # "versus": round robin with W/D/L; "field": round robin, mean payoff/round;
    # "solo": each agent alone (team of ``team`` copies), mean return
    difficulty: int = 1
    team: int = 1


EVENTS = (
    Event("tictactoe", ("builtin:minimax", "builtin:random", "builtin:random-js"), "versus"),
    Event(
        "connect_four",
        (
            "builtin:connect-four-alphabeta",
            "builtin:connect-four-heuristic",
            "builtin:connect-four-heuristic-js",
            "builtin:random",
        ),
        "versus",
    ),
    Event(
        "prisoners_dilemma",
        (
            "builtin:adaptive-tit-for-tat",
            "builtin:tit-for-tat",
            "builtin:grim",
            "builtin:pavlov",
            "builtin:always-defect",
            "builtin:always-cooperate",
            "builtin:random",
        ),
        "field",
        difficulty=3,
    ),
    Event("maze", ("builtin:maze-astar", "builtin:maze-greedy", "builtin:random"), "solo", 4),
    Event(
        "puzzles",
        ("builtin:puzzles-solver", "builtin:puzzles-heuristic", "builtin:puzzles-random"),
        "solo",
        3,
    ),
    Event(
        "foraging",
        ("builtin:foraging-coordinated", "builtin:foraging-greedy", "builtin:random"),
        "solo",
        4,
        team=2,
    ),
)


@dataclass(slots=True)
class _Standing:
    wins: int = 0
    draws: int = 0
    losses: int = 0
    moves: int = 0
    cpu_s: float = 0.0
    faults: int = 0
    returns: list[float] = field(default_factory=list)

    @property
    def points(self) -> float:
        return self.wins + 0.5 * self.draws

    @property
    def mean(self) -> float:
        return sum(self.returns) / len(self.returns) if self.returns else 0.0


def schedule(event: Event, games: int, level: IsolationLevel) -> list[MatchSpec]:
    """The matches of ``event``: ``games`` per pairing and seat order, or per agent."""
    options = {"difficulty": event.difficulty}
    if event.kind == "solo":
        pairings = [(agent,) * event.team for agent in event.agents]
    else:
        pairings = list(itertools.permutations(event.agents, 2))  # both seat orders
    return [
        MatchSpec(event.scenario, agents, seed=seed, options=options, isolation=level)
        for agents in pairings
        for seed in range(games)
    ]


def tally(
    results: list[MatchResult], *, per_move: bool = False, team: bool = False
) -> dict[str, _Standing]:
    """Standings per agent.

    Args:
        results: The matches.
        per_move: Score returns per move (payoff per round) instead of per match.
        team: Every seat is the same agent: score the team's summed return per match.

    """
    table: dict[str, _Standing] = defaultdict(_Standing)
    for result in results:
        if team:
            standing = table[result.agents[0].agent]
            standing.returns.append(sum(record.reward for record in result.agents))
            standing.moves += sum(record.moves for record in result.agents)
            standing.cpu_s += sum(record.cpu_s for record in result.agents)
            standing.faults += sum(record.status != "ok" for record in result.agents)
            continue
        for record in result.agents:
            standing = table[record.agent]
            standing.moves += record.moves
            standing.cpu_s += record.cpu_s
            standing.faults += record.status != "ok"
            standing.returns.append(
                record.reward / max(1, record.moves) if per_move else record.reward
            )
            if record.reward > 0:
                standing.wins += 1
            elif record.reward < 0:
                standing.losses += 1
            else:
                standing.draws += 1
    return table


def _table(event: Event, results: list[MatchResult]) -> Table:
    standings = tally(results, per_move=event.kind == "field", team=event.team > 1)
    title = f"{event.scenario} (difficulty {event.difficulty})"
    columns: tuple[str, ...]
    if event.kind == "versus":
        ranked = sorted(standings.items(), key=lambda item: -item[1].points)
        columns = ("rank", "agent", "points", "W", "D", "L", "CPU ms/move", "faults")
    else:
        ranked = sorted(standings.items(), key=lambda item: -item[1].mean)
        score = {"field": "payoff/round", "solo": "mean return"}[event.kind]
        if event.team > 1:
            score = "team return"
        columns = ("rank", "agent", score, "games", "CPU ms/move", "faults")
        if event.team > 1:
            title += f", teams of {event.team}"
    table = compact_table(title)
    for column in columns:
        if column == "agent":
            name_column(table, column, (agent for agent, _ in ranked))
        else:
            value_column(table, column)
    for rank, (agent, row) in enumerate(ranked, start=1):
        cpu = f"{1000 * row.cpu_s / row.moves:.3f}" if row.moves else "-"
        if event.kind == "versus":
            cells = [f"{row.points:g}", str(row.wins), str(row.draws), str(row.losses)]
        else:
            cells = [f"{row.mean:.3f}", str(len(row.returns))]
        table.add_row(str(rank), agent, *cells, cpu, str(row.faults))
    return table


def demo(
    games: Annotated[
        int, typer.Option(min=1, help="Games per pairing and seat order (or per agent).")
    ] = 10,
    isolation: Annotated[
        str, typer.Option(help="trusted, process, sandbox or gvisor.")
    ] = "sandbox",
    workers: Annotated[int, typer.Option(min=1, help="Executor processes.")] = 2,
    scenario: Annotated[
        list[str] | None, typer.Option(help="Only these scenarios (repeatable).")
    ] = None,
) -> None:
    """Tour the scenario library: every baseline agent plays, each in its own sandbox."""
    level = IsolationLevel.parse(isolation)
    events = [e for e in EVENTS if not scenario or e.scenario in scenario]
    if not events:
        names = ", ".join(e.scenario for e in EVENTS)
        raise typer.BadParameter(f"no demo for {scenario}; choose from {names}")
    plan = [(event, schedule(event, games, level)) for event in events]
    total = sum(len(event_specs) for _, event_specs in plan)
    console = Console()
    console.print(
        f"[bold]DevSpark demo[/]: {total} matches over {len(events)} "
        f"scenario{'s' if len(events) != 1 else ''}, "
        f"every agent in its own {level.value}"
    )
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    tables: list[Table] = []
    with (
        LocalExecutor(workers) as executor,
        Progress(*columns, console=console) as progress,
    ):
        task = progress.add_task("playing", total=total)
        for event, event_specs in plan:
            progress.update(task, description=event.scenario)
            if event.kind == "versus":  # a round robin tournament, rated with intervals
                tournament = run_tournament(
                    RoundRobin(event.agents, legs=games, seed=0),
                    event.scenario,
                    executor=executor,
                    options={"difficulty": event.difficulty},
                    isolation=level,
                    on_result=lambda pairing, result: progress.advance(task),
                )
                tables.append(standings_table(tournament))
                continue
            results = []
            for result in executor.map(event_specs):
                results.append(result)
                progress.advance(task)
            tables.append(_table(event, results))
    for table in tables:
        print_table(console, table)
