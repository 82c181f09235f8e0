"""``devspark replay``: verify and show recorded matches."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.panel import Panel

from devspark.arena.replay import Replay, load_replay
from devspark.cli._tables import compact_table, name_column, print_table, value_column
from devspark.services.replay_sources import parse_agent_map, verify_with_sources

app = typer.Typer(help="Verify and watch recorded matches.", no_args_is_help=True)
_CACHE = Path.home() / ".cache" / "devspark" / "agents"


@app.command("verify")
def verify(
    file: Annotated[Path, typer.Argument(help="Replay file (.json or .json.gz).")],
    agent: Annotated[
        list[str] | None,
        typer.Option(help="REF=FOLDER: play the agent REF from a local folder (repeatable)."),
    ] = None,
    server: Annotated[
        str | None,
        typer.Option(help="Fetch uploaded agents (agent:USER/NAME@V) from this server's API."),
    ] = None,
    token: Annotated[
        str | None, typer.Option(envvar="DEVSPARK_TOKEN", help="Bearer token for --server.")
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option(help="Where agents fetched from --server are unpacked.", show_default=False),
    ] = None,
) -> None:
    """Re-run the match of a replay; exit 1 if anything differs.

    A replay downloaded from a server names uploaded agents as agent:USER/NAME@VERSION:
    give --server to fetch the recorded versions, or --agent REF=FOLDER for local copies.
    """
    replay = load_replay(file)
    console = Console()
    with console.status(f"re-running {replay.scenario_id} ({len(replay.steps)} steps)"):
        differences = verify_with_sources(
            replay,
            agents=parse_agent_map(agent or []),
            server=server,
            token=token,
            cache=cache or _CACHE,
        )
    if differences:
        for line in differences[:20]:
            console.print(f"[red]differs[/]: {line}", highlight=False)
        raise typer.Exit(1)
    console.print(
        f"[green]ok[/]: {replay.scenario_id} seed {replay.data['seed']}, "
        f"{len(replay.steps)} steps reproduced exactly",
        highlight=False,
    )


@app.command("show")
def show(
    file: Annotated[Path, typer.Argument(help="Replay file (.json or .json.gz).")],
    start: Annotated[int, typer.Option(help="First step to show.")] = 0,
    limit: Annotated[int | None, typer.Option(help="Show at most this many steps.")] = None,
    every: Annotated[int, typer.Option(help="Draw the state every N steps.", min=1)] = 1,
) -> None:
    """Print a readable step-by-step view of a replay (boards and grids drawn)."""
    replay = load_replay(file)
    console = Console(highlight=False)
    render = replay.scenario_class().render_text
    _header(replay, console)
    roles = {a["role"]: a["ref"] for a in replay.data["agents"]}
    end = len(replay.steps) if limit is None else min(len(replay.steps), start + limit)
    for index, state in enumerate(replay.states()):
        if index == 0:
            if start == 0:
                console.print(Panel(render(state), title="start", expand=False))
            continue
        step = index - 1
        if step < start:
            continue
        if step >= end:
            break
        record = replay.steps[step]
        console.print(f"[bold]step {step}[/]  " + _moves(record["moves"], roles))
        if record.get("rewards"):
            console.print(f"  rewards {_rewards(record['rewards'])}")
        if (step - start) % every == 0 or step == end - 1:
            console.print(Panel(render(state), expand=False))
    _outcome(replay, console)


def _header(replay: Replay, console: Console) -> None:
    data = replay.data
    options = json.dumps(data["options"]) if data["options"] else "{}"
    console.print(
        f"[bold]{replay.scenario_id}[/]  seed {data['seed']}  options {options}  "
        f"isolation {data['isolation']}  recorded {data.get('recorded_at', '?')}"
    )
    for agent in data["agents"]:
        console.print(
            f"  {agent['role']}: {agent['ref']} ({agent['name']}@{agent['version']}, "
            f"{agent['language']}, sha256 {agent['sha256'][:12]})"
        )


def _rewards(rewards: dict[str, float]) -> str:
    """``player_0 +1, player_1 -1``: each seat's reward of a step, signed."""
    return ", ".join(f"{role} {reward:+g}" for role, reward in rewards.items())


def _moves(moves: list[dict[str, Any]], roles: dict[str, str]) -> str:
    parts = []
    for move in moves:
        colour = "green" if move["status"] == "ok" else "red"
        text = (
            f"{move['agent']} ({roles.get(move['agent'], '?')}) -> "
            f"{json.dumps(move['action'])} [{colour}]{move['status']}[/] {move['ms']:.2f} ms"
        )
        if move.get("detail"):
            text += f" ({move['detail']})"
        parts.append(text)
    return "; ".join(parts)


def _outcome(replay: Replay, console: Console) -> None:
    outcome = replay.data["outcome"]
    table = compact_table(f"outcome after {outcome['steps']} steps")
    name_column(table, "seat", (agent["role"] for agent in outcome["agents"]))
    name_column(table, "agent", (agent["agent"] for agent in outcome["agents"]))
    for column in ("status", "reward", "moves", "detail"):
        value_column(table, column, justify="left")
    for agent in outcome["agents"]:
        colour = "green" if agent["status"] == "ok" else "red"
        table.add_row(
            agent["role"],
            agent["agent"],
            f"[{colour}]{agent['status']}[/]",
            f"{agent['reward']:g}",
            str(agent["moves"]),
            agent.get("detail", "")[:80],
        )
    print_table(console, table)
    for agent in replay.data["agents"]:
        if agent.get("logs"):
            console.print(f"[dim]{agent['role']} logs ({len(agent['logs'])}):[/]")
            for line in agent["logs"][:10]:
                console.print(f"  [dim]{line}[/]")
