"""Typer application assembly and the error-to-exit-status table."""

from __future__ import annotations

import typer

from devspark.cli import (
    agent_cmd,
    match_cmd,
    replay_cmd,
    scenarios_cmd,
    serve_cmd,
    task_cmd,
    tournament_cmd,
    users_cmd,
    worker_cmd,
)
from devspark.cli.demo_cmd import demo
from devspark.core.errors import DevSparkError

app = typer.Typer(
    name="devspark",
    help="DevSpark Playground: run, evaluate and share AI agents in sandboxes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(match_cmd.app, name="match")
app.add_typer(agent_cmd.app, name="agent")
app.add_typer(replay_cmd.app, name="replay")
app.add_typer(scenarios_cmd.app, name="scenarios")
app.add_typer(tournament_cmd.app, name="tournament")
app.add_typer(users_cmd.app, name="users")
app.add_typer(task_cmd.app, name="task")
app.add_typer(task_cmd.instances_app, name="instances")
app.command("leaderboard")(tournament_cmd.leaderboard)
app.command("demo")(demo)
app.command("serve")(serve_cmd.serve)
app.command("worker")(worker_cmd.worker)

EXIT_CODES = {
    "invalid_argument": 2,
    "not_found": 3,
    "failed_precondition": 4,
    "permission_denied": 5,
    "unauthenticated": 8,
    "conflict": 6,
    "deadline_exceeded": 7,
}


def exit_code_for(error: DevSparkError) -> int:
    """The process exit status for a DevSpark error (1 when it has no specific one)."""
    return EXIT_CODES.get(error.code, 1)
