"""``devspark match``: play matches."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from devspark.arena.match import MatchSpec, run_match
from devspark.core.results import MatchResult
from devspark.sandbox import IsolationLevel

app = typer.Typer(help="Play matches between agents.", no_args_is_help=True)


@app.command("run")
def run(
    scenario: Annotated[str, typer.Argument(help="Scenario id, e.g. tictactoe or tictactoe-v1.")],
    agents: Annotated[
        list[str], typer.Argument(help="Agents in seat order: folders or builtin:NAME.")
    ],
    seed: Annotated[int, typer.Option(help="Seed of the scenario and the agents' RNGs.")] = 0,
    isolation: Annotated[
        str, typer.Option(help="trusted, process, sandbox or gvisor.")
    ] = "sandbox",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Play one match; exits 0 whenever the match completed (agent faults are results)."""
    spec = MatchSpec(
        scenario=scenario,
        agents=tuple(agents),
        seed=seed,
        isolation=IsolationLevel.parse(isolation),
    )
    result = run_match(spec)
    if as_json:
        typer.echo(json.dumps(result.public()))
    else:
        render(result, Console())


def render(result: MatchResult, console: Console) -> None:
    """Draw a match result as a table."""
    table = Table(title=f"{result.scenario}  seed {result.seed}  {result.steps} steps")
    for column in ("seat", "agent", "status", "reward", "moves", "wall ms", "CPU s", "peak MB"):
        table.add_column(column, justify="right" if column not in ("agent", "status") else "left")
    for record in result.agents:
        colour = "green" if record.status == "ok" else "red"
        table.add_row(
            record.role,
            record.agent,
            f"[{colour}]{record.status}[/]",
            f"{record.reward:g}",
            str(record.moves),
            f"{record.wall_ms:.1f}",
            f"{record.cpu_s:.3f}",
            f"{record.peak_mb:.1f}",
        )
    console.print(table)
    for record in result.agents:
        if record.detail:
            console.print(f"[red]{record.agent}[/]: {record.detail}", markup=True, highlight=False)
