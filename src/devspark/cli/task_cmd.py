"""``devspark task`` and ``devspark instances``: service agents and their tasks, on a server.

These commands talk to a running server's API (``--server``, ``$DEVSPARK_SERVER``) with
an access token or an API key (``--token``, ``$DEVSPARK_TOKEN``)::

    devspark instances start builtin:echo --replicas 2
    devspark task submit echo --payload '{"text": "hi"}' --wait
    devspark instances list --capability echo
    devspark instances rollout agent:ada/summariser@2.0.0
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any

import typer
from rich.console import Console

from devspark.cli._client import ApiClient, ServerOption, TokenOption
from devspark.cli._tables import compact_table, name_column, print_table, value_column
from devspark.core.errors import DeadlineExceededError, InvalidArgumentError

app = typer.Typer(help="Submit tasks to service agents on a server.", no_args_is_help=True)
instances_app = typer.Typer(
    help="Start, list and stop service agent instances on a server.", no_args_is_help=True
)

MAX_SERVER_WAIT_S = 60.0
"""The longest wait one request asks of the server (``?wait``)."""

_FINAL = frozenset({"succeeded", "failed", "timed_out", "dead_lettered"})

JsonFlag = Annotated[bool, typer.Option("--json", help="Print the server's JSON answer.")]


def _payload(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise InvalidArgumentError(f"--payload {text!r} is not JSON: {exc}") from None


def _wait_for(client: ApiClient, task: dict[str, Any], deadline: float) -> dict[str, Any]:
    """The task once finished, re-read every second past the server's wait (at most a minute).

    The ``POST`` already waited on the server, which listens for the task's finish event;
    only a task allowed more than that minute is read again here until ``deadline``.
    """
    while task.get("status") not in _FINAL:
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceededError(
                f"task {task['id']} is still {task['status']!r}: it did not finish in time"
            )
        _, task = client.request(
            "GET", f"/api/v1/tasks/{task['id']}", timeout=min(left, MAX_SERVER_WAIT_S) + 10
        )
        if task["status"] not in _FINAL:
            time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    return task


@app.command("submit")
def submit(
    task_type: Annotated[
        str, typer.Argument(metavar="TYPE", help="The task type, such as `echo`.")
    ],
    payload: Annotated[str, typer.Option(help="The payload, as JSON.")] = "null",
    to: Annotated[str | None, typer.Option(help="Send it to this instance id only.")] = None,
    priority: Annotated[int, typer.Option(help="1..10, higher first.")] = 5,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for the result.")] = False,
    timeout: Annotated[int, typer.Option(help="Seconds the task may take (1..3600).")] = 30,
    as_json: JsonFlag = False,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Submit a task; with --wait, print its result (exit 1 when it did not succeed)."""
    client = ApiClient(server, token)
    body: dict[str, Any] = {
        "type": task_type,
        "payload": _payload(payload),
        "priority": priority,
        "timeout_s": timeout,
    }
    if to is not None:
        body["to"] = to
    deadline = time.monotonic() + timeout + 5  # its deadline, and time to hear of it
    params = {"wait": min(float(timeout) + 5, MAX_SERVER_WAIT_S)} if wait else None
    _, task = client.request(
        "POST", "/api/v1/tasks", body, params=params, timeout=(params or {}).get("wait", 0) + 30
    )
    if wait:
        task = _wait_for(client, task, deadline)
    console = Console(highlight=False)
    if as_json:
        console.print_json(data=task)
    elif task["status"] == "succeeded":
        console.print(json.dumps(task["result"]), markup=False, soft_wrap=True)
    else:
        detail = f": {task['error']}" if task.get("error") else ""
        console.print(f"task {task['id']} {task['status']}{detail}", markup=False)
    if wait and task["status"] != "succeeded":
        raise typer.Exit(1)


@instances_app.command("start")
def start(
    agent: Annotated[str, typer.Argument(help="builtin:NAME or agent:USER/NAME[@VERSION].")],
    replicas: Annotated[int, typer.Option(help="How many instances (1..64).")] = 1,
    as_json: JsonFlag = False,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Start instances of a service agent; the server's workers run them."""
    _, body = ApiClient(server, token).request(
        "POST", "/api/v1/instances", {"agent": agent, "replicas": replicas}
    )
    _show(body["instances"], as_json, f"{len(body['instances'])} instances of {agent}")


@instances_app.command("list")
def list_(
    capability: Annotated[
        str | None, typer.Option(help="Only those that handle this type.")
    ] = None,
    state: Annotated[str | None, typer.Option(help="Only those in this state.")] = None,
    limit: Annotated[int, typer.Option(help="At most this many (1..200).")] = 50,
    as_json: JsonFlag = False,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """List the service instances, newest first."""
    params: dict[str, Any] = {"limit": limit}
    params.update({k: v for k, v in (("capability", capability), ("state", state)) if v})
    _, page = ApiClient(server, token).request("GET", "/api/v1/instances", params=params)
    _show(page["items"], as_json, f"{page['total']} instances")


@instances_app.command("stop")
def stop(
    instance_id: Annotated[str, typer.Argument(metavar="ID", help="The instance id.")],
    as_json: JsonFlag = False,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Drain an instance and stop it."""
    _, body = ApiClient(server, token).request("DELETE", f"/api/v1/instances/{instance_id}")
    _show([body], as_json, "stopping")


@instances_app.command("rollout")
def rollout(
    agent: Annotated[
        str, typer.Argument(help="The new version: agent:USER/NAME@VERSION (or builtin:NAME).")
    ],
    as_json: JsonFlag = False,
    server: ServerOption = None,
    token: TokenOption = None,
) -> None:
    """Replace the running instances of another version of AGENT's agent, one by one.

    Each old instance is drained only once its replacement serves, so no task is lost.
    """
    _, body = ApiClient(server, token).request(
        "POST", "/api/v1/instances/rollout", {"agent": agent}
    )
    _show(body["instances"], as_json, f"replacing {body['replacing']} instances with {agent}")


def _show(rows: list[dict[str, Any]], as_json: bool, title: str) -> None:
    console = Console(highlight=False)
    if as_json:
        console.print_json(data=rows)
        return
    table = compact_table(title)
    name_column(table, "id", [str(r["id"]) for r in rows])
    name_column(table, "agent", [str(r["agent"]) for r in rows])
    for header in ("state", "load", "done", "handles"):
        value_column(table, header, justify="left")
    for row in rows:
        table.add_row(
            str(row["id"]),
            row["agent"],
            row["state"],
            f"{row['load']:.2f}",
            str(row["tasks_done"]),
            ", ".join(row["handles"]),
        )
    print_table(console, table)


__all__ = ["app", "instances_app"]
