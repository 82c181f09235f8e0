"""``devspark demo``: a small sandboxed round robin between the bundled agents."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from devspark.arena.match import MatchSpec
from devspark.arena.pool import run_matches
from devspark.core.results import MatchResult
from devspark.sandbox import IsolationLevel

DEMO_AGENTS = ("builtin:minimax", "builtin:random", "builtin:random-js")


@dataclass(slots=True)
class _Standing:
    wins: int = 0
    draws: int = 0
    losses: int = 0
    moves: int = 0
    cpu_s: float = 0.0
    faults: int = 0

    @property
    def points(self) -> float:
        return self.wins + 0.5 * self.draws


def _schedule(agents: tuple[str, ...], games: int) -> list[MatchSpec]:
    specs: list[MatchSpec] = []
    for first, second in itertools.permutations(agents, 2):  # both seat orders
        for _ in range(games):
            specs.append(MatchSpec("tictactoe", (first, second), seed=len(specs)))
    return specs


def _tally(results: list[MatchResult]) -> dict[str, _Standing]:
    table: dict[str, _Standing] = defaultdict(_Standing)
    for result in results:
        for record in result.agents:
            standing = table[record.agent]
            standing.moves += record.moves
            standing.cpu_s += record.cpu_s
            standing.faults += record.status != "ok"
            if record.reward > 0:
                standing.wins += 1
            elif record.reward < 0:
                standing.losses += 1
            else:
                standing.draws += 1
    return table


def demo(
    games: Annotated[int, typer.Option(min=1, help="Games per pairing and seat order.")] = 50,
    isolation: Annotated[
        str, typer.Option(help="trusted, process, sandbox or gvisor.")
    ] = "sandbox",
    workers: Annotated[int, typer.Option(min=1, help="Executor processes.")] = 2,
) -> None:
    """Round robin of the bundled agents at tic-tac-toe, every agent sandboxed."""
    level = IsolationLevel.parse(isolation)
    specs = [
        MatchSpec(s.scenario, s.agents, seed=s.seed, isolation=level)
        for s in _schedule(DEMO_AGENTS, games)
    ]
    console = Console()
    console.print(
        f"[bold]DevSpark demo[/]: {len(specs)} tic-tac-toe matches between {', '.join(DEMO_AGENTS)} ({level.value} isolation)"
    )
    results: list[MatchResult] = []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("playing", total=len(specs))
        for result in run_matches(specs, workers=workers, batch=10):
            results.append(result)
            progress.advance(task)
    standings = sorted(_tally(results).items(), key=lambda item: -item[1].points)
    table = Table(title="Round robin: tic-tac-toe")
    for column in ("rank", "agent", "points", "W", "D", "L", "CPU ms/move", "faults"):
        table.add_column(column, justify="left" if column == "agent" else "right")
    for rank, (agent, row) in enumerate(standings, start=1):
        per_move = 1000 * row.cpu_s / row.moves if row.moves else 0.0
        table.add_row(
            str(rank),
            agent,
            f"{row.points:g}",
            str(row.wins),
            str(row.draws),
            str(row.losses),
            f"{per_move:.3f}",
            str(row.faults),
        )
    console.print(table)
