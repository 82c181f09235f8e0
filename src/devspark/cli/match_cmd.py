"""``devspark match``: play matches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from devspark.arena.match import MatchSpec, run_match
from devspark.arena.replay import record_match, write_replay
from devspark.cli._tables import compact_table, name_column, print_table, value_column
from devspark.core.errors import InvalidArgumentError
from devspark.core.isolation import IsolationLevel
from devspark.core.results import MatchResult

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
    difficulty: Annotated[
        int | None, typer.Option(help="Difficulty level 1-5 of the generated instance.")
    ] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option", "-o", help="Scenario option KEY=VALUE (VALUE parsed as JSON if it can be)."
        ),
    ] = None,
    replay: Annotated[
        Path | None,
        typer.Option(help="Write the replay to this file (gzip-compressed if it ends in .gz)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Play one match; exits 0 whenever the match completed (agent faults are results)."""
    options = parse_options(option or [])
    if difficulty is not None:
        options["difficulty"] = difficulty
    spec = MatchSpec(
        scenario=scenario,
        agents=tuple(agents),
        seed=seed,
        options=options,
        isolation=IsolationLevel.parse(isolation),
    )
    if replay is None:
        result = run_match(spec)
    else:
        result, recorded = record_match(spec)
        size = write_replay(recorded, replay)
        if not as_json:
            Console(stderr=True).print(f"replay: {replay} ({size:,} bytes)", highlight=False)
    if as_json:
        typer.echo(json.dumps(result.public()))
    else:
        render(result, Console())


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """Parse ``KEY=VALUE`` pairs; values are JSON when they parse, else strings.

    Raises:
        InvalidArgumentError: A pair has no ``=`` or an empty key.

    """
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(f"--option {pair!r} is not KEY=VALUE")
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    return options


def render(result: MatchResult, console: Console) -> None:
    """Draw a match result as a table."""
    table = compact_table(f"{result.scenario}  seed {result.seed}  {result.steps} steps")
    name_column(table, "seat", (record.role for record in result.agents))
    name_column(table, "agent", (record.agent for record in result.agents))
    value_column(table, "status", justify="left")
    for column in ("reward", "moves", "wall ms", "CPU s", "peak MB"):
        value_column(table, column)
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
    print_table(console, table)
    for record in result.agents:
        if record.detail:
            console.print(f"[red]{record.agent}[/]: {record.detail}", markup=True, highlight=False)
