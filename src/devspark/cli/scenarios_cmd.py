"""``devspark scenarios``: list and describe the registered scenarios."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from devspark.cli._tables import compact_table, name_column, value_column
from devspark.scenarios import describe, list_scenarios, resolve

app = typer.Typer(help="List and describe scenarios.", no_args_is_help=True)


@app.command("list")
def list_command(
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print a JSON list of {id, version, domain, players, difficulties}."
        ),
    ] = False,
) -> None:
    """List every registered scenario version (built-ins and plugins)."""
    infos = list_scenarios()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "id": info.id,
                        "version": info.version,
                        "domain": info.domains[0],
                        "domains": list(info.domains),
                        "players": list(info.players),
                        "difficulties": list(info.difficulties),
                        "parallel": info.parallel,
                    }
                    for info in infos
                ]
            )
        )
        return
    table = compact_table("scenarios")
    name_column(table, "id", (info.full_id for info in infos))
    for column in ("domains", "players", "difficulties", "moves"):
        value_column(table, column, justify="left")
    for info in infos:
        low, high = info.players
        table.add_row(
            info.full_id,
            ", ".join(info.domains),
            str(low) if low == high else f"{low}-{high}",
            ",".join(map(str, info.difficulties)),
            "simultaneous" if info.parallel else "turns",
        )
    Console().print(table)


@app.command("show")
def show(
    scenario: Annotated[str, typer.Argument(help="Scenario id, e.g. maze or maze-v1.")],
) -> None:
    """Print a scenario's documentation page (rules, observation, actions, rewards)."""
    typer.echo(describe(resolve(scenario)))
