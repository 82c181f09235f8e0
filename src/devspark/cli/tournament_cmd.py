"""``devspark tournament`` and ``devspark leaderboard``: run tournaments, rank agents."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from devspark.arena.tournament import FORMATS, Tournament, read_outcomes, scenario_domains
from devspark.cli._tables import compact_table, name_column, print_table, value_column
from devspark.cli.match_cmd import parse_options
from devspark.core.errors import InvalidArgumentError
from devspark.core.isolation import IsolationLevel
from devspark.rating.leaderboard import LeaderRow, build_leaderboards
from devspark.rating.outcomes import Outcome
from devspark.services.local_play import play_local_tournament

app = typer.Typer(help="Run tournaments between agents.", no_args_is_help=True)


@app.command("run", context_settings={"allow_extra_args": True})
def run(
    ctx: typer.Context,
    scenario: Annotated[str, typer.Option(help="Scenario id, e.g. connect_four.")],
    agents: Annotated[
        list[str],
        typer.Option(
            "--agents",
            help="Entrants: folders or builtin:NAME (--agents A B C, repeated, or A,B,C).",
        ),
    ],
    tournament_format: Annotated[
        str, typer.Option("--format", help=f"One of: {', '.join(FORMATS)}.")
    ] = "round_robin",
    rounds: Annotated[
        int | None,
        typer.Option(
            help="Legs (round robin), rounds (Swiss), games per tie (elimination), "
            "games per baseline (gauntlet) or matches (ladder)."
        ),
    ] = None,
    baseline: Annotated[list[str] | None, typer.Option(help="Gauntlet opponents (repeat).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the schedule and the matches.")] = 0,
    workers: Annotated[int | None, typer.Option(help="Executor processes (or Ray actors).")] = None,
    difficulty: Annotated[int | None, typer.Option(help="Scenario difficulty 1-5.")] = None,
    option: Annotated[
        list[str] | None, typer.Option("--option", "-o", help="Scenario option KEY=VALUE.")
    ] = None,
    isolation: Annotated[
        str, typer.Option(help="trusted, process, sandbox or gvisor.")
    ] = "sandbox",
    results: Annotated[
        Path | None, typer.Option(help="Write a results file for `devspark leaderboard`.")
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            "--data-dir",
            help="Keep the tournament's database here (serve it with `devspark serve "
            "--data-dir DIR`); default: a temporary database, deleted afterwards.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Play a tournament; print standings with intervals (or one JSON object).

    It is the server's use case, played here: the tournament is created, started and
    played in a database of its own; agent folders enter as ``agent:local/NAME@VERSION``.
    """
    stray = [arg for arg in ctx.args if arg.startswith("-")]
    if stray:
        raise InvalidArgumentError(f"unknown option(s): {' '.join(stray)}")
    entrants = _expand([*agents, *ctx.args])  # --agents A B C: click leaves B C in ctx.args
    options = parse_options(option or [])
    if difficulty is not None:
        options["difficulty"] = difficulty
    console = Console(stderr=as_json)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    progress = Progress(*columns, console=console, transient=as_json)
    tasks: list[TaskID] = []

    def advance(played: int, planned: int | None) -> None:
        if not tasks:  # shown once the tournament exists: a refused one shows no bar
            progress.start()
            tasks.append(progress.add_task(f"{tournament_format} {scenario}", total=planned))
        progress.update(tasks[0], completed=played, total=planned)

    try:
        local = play_local_tournament(
            scenario=scenario,
            format=tournament_format,
            agents=entrants,
            rounds=rounds,
            baselines=_expand(baseline or []),
            options=options,
            isolation=IsolationLevel.parse(isolation),
            seed=seed,
            workers=workers,
            data_dir=data_dir,
            progress=advance,
        )
    finally:
        progress.stop()
    tournament = local.tournament
    if results is not None:
        tournament.write(results)
    if as_json:
        typer.echo(json.dumps(tournament.public()))
        return
    print_table(Console(), standings_table(tournament))
    if local.database_url is not None:
        Console().print(f"tournament {local.tournament_id} kept in {data_dir}")


def _expand(refs: list[str]) -> list[str]:
    """Accept repeated options and comma-separated lists alike."""
    expanded = [part.strip() for ref in refs for part in ref.split(",") if part.strip()]
    if len(set(expanded)) != len(expanded):
        raise InvalidArgumentError(f"agents are listed more than once: {expanded}")
    return expanded


def standings_table(tournament: Tournament) -> Table:
    """Rank, agent, rating with interval, W/D/L, CPU per move and statuses."""
    table = compact_table(
        f"{tournament.format} · {tournament.scenario} · {len(tournament.outcomes)} matches"
    )
    return _rows_table(table, tournament.standings)


def _rows_table(table: Table, rows: list[LeaderRow]) -> Table:
    value_column(table, "rank")
    name_column(table, "agent", (row.agent for row in rows))
    for column in ("rating [95%]", "W", "D", "L", "CPU ms/move"):
        value_column(table, column)
    value_column(table, "statuses", justify="left")
    for row in rows:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(row.statuses.items()))
        table.add_row(
            str(row.rank),
            row.agent,
            f"{row.rating:.0f} [{row.lower:.0f}, {row.upper:.0f}]",
            str(row.wins),
            str(row.draws),
            str(row.losses),
            _per_move_ms(row.cpu_s_per_move),
            statuses,
        )
    return table


def _per_move_ms(cpu_s_per_move: float | None) -> str:
    return "-" if cpu_s_per_move is None else f"{1000 * cpu_s_per_move:.3f}"


def leaderboard(
    files: Annotated[
        list[Path], typer.Argument(help="Tournament results files (--results of tournament run).")
    ],
    scenario: Annotated[str | None, typer.Option(help="Only this scenario's board.")] = None,
    domain: Annotated[str | None, typer.Option(help="Only this domain's board.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Leaderboards (global, per scenario, per domain, efficiency) from results files."""
    outcomes = [outcome for path in files for outcome in read_outcomes(path)]
    boards = build_leaderboards(outcomes, scenario_domains())
    if as_json:
        typer.echo(json.dumps(boards.to_json()))
        return
    console = Console()
    show_all = scenario is None and domain is None
    wanted = scenario.split("-v")[0] if scenario else None
    sections: list[tuple[str, list[LeaderRow]]] = []
    if show_all:
        sections.append(("global", boards.global_))
    for name, rows in sorted(boards.by_scenario.items()):
        if show_all or name.split("-v")[0] == wanted:
            sections.append((f"scenario {name}", rows))
    for name, rows in sorted(boards.by_domain.items()):
        if show_all or name == domain:
            sections.append((f"domain {name}", rows))
    if not sections:
        raise InvalidArgumentError(f"no results for scenario={scenario!r} domain={domain!r}")
    for title, rows in sections:
        print_table(console, _rows_table(compact_table(title), rows))
    if show_all:
        efficiency = compact_table("efficiency (rating vs CPU per move; * on the Pareto front)")
        name_column(efficiency, "agent", (row.agent for row in boards.efficiency))
        for column in ("rating", "CPU ms/move", "front"):
            value_column(efficiency, column)
        for row in boards.efficiency:
            efficiency.add_row(
                row.agent,
                f"{row.rating:.0f}",
                _per_move_ms(row.cpu_s_per_move),
                "*" if row.pareto else "",
            )
        print_table(console, efficiency)
    console.print(_match_summary(outcomes, len(files)))


def _match_summary(outcomes: list[Outcome], files: int) -> str:
    """``12 matches (10 with 2 seats, 2 with 4 seats) from 1 file``."""
    counts = sorted(Counter(len(o.agents) for o in outcomes).items())
    seats = ", ".join(f"{n} with {k} seats" for k, n in counts)
    return f"{len(outcomes)} matches ({seats}) from {files} file{'s' if files != 1 else ''}"
