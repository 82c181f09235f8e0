"""``devspark task`` and ``devspark instances`` against a real ``devspark serve``.

One server per module (SQLite, its embedded worker hosting the instances): the commands
start ``builtin:echo`` instances, submit tasks and wait for their results over HTTP.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator

import httpx
import pytest
from processes import DEVSPARK, ApiServer
from typer.testing import CliRunner

from devspark.cli.app import app
from devspark.core.errors import InvalidArgumentError
from devspark.testing.waiting import wait_until

PASSWORD = "correct horse battery"
runner = CliRunner(env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A server with a logged-in user: the ``DEVSPARK_SERVER`` and ``DEVSPARK_TOKEN`` to use."""
    data = tmp_path_factory.mktemp("task-cli") / "data"
    env = {
        **os.environ,
        "DEVSPARK_DATABASE_URL": f"sqlite:///{data / 'devspark.db'}",
        "DEVSPARK_RATE_LIMIT": "off",
        "DEVSPARK_RATE_LIMIT_IP": "off",
        "DEVSPARK_SECRET_KEY": "task-cli-secret-" + "x" * 32,
    }
    api = ApiServer(data, env).start()
    try:
        with httpx.Client(base_url=api.url, timeout=30) as client:
            account = {"username": "ada", "password": PASSWORD}
            assert client.post("/api/v1/auth/register", json=account).status_code == 201
            token = client.post("/api/v1/auth/login", json=account).json()["access_token"]
        yield {"DEVSPARK_SERVER": api.url, "DEVSPARK_TOKEN": token}
    finally:
        api.stop()


@pytest.fixture(scope="module")
def echo(server: dict[str, str]) -> str:
    """An ``echo`` instance started with the command, once it is online."""
    result = runner.invoke(app, ["instances", "start", "builtin:echo", "--json"], env=server)
    assert result.exit_code == 0, result.output
    (instance,) = json.loads(result.output)
    instance_id: str = instance["id"]

    def online() -> bool:
        listed = runner.invoke(app, ["instances", "list", "--json"], env=server)
        return any(
            i["id"] == instance_id and i["state"] in ("online", "idle")
            for i in json.loads(listed.output)
        )

    wait_until(online, "the echo instance to be online")
    return instance_id


def test_submit_wait_prints_the_result(server: dict[str, str], echo: str) -> None:
    result = runner.invoke(
        app, ["task", "submit", "echo", "--payload", '{"a": [1, 2]}', "--wait"], env=server
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"a": [1, 2]}


def test_submit_wait_json_prints_the_finished_task(server: dict[str, str], echo: str) -> None:
    args = ["task", "submit", "echo", "--payload", '"hi"', "--to", echo, "--wait", "--json"]
    result = runner.invoke(app, args, env=server)
    assert result.exit_code == 0, result.output
    task = json.loads(result.output)
    assert (task["status"], task["result"], task["instance_id"]) == ("succeeded", "hi", echo)


@pytest.mark.usefixtures("echo")
def test_submit_without_wait_prints_the_queued_task(server: dict[str, str]) -> None:
    result = runner.invoke(app, ["task", "submit", "echo", "--json"], env=server)
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.output)) == {"id", "status"}


@pytest.mark.usefixtures("echo")
def test_an_unknown_type_is_the_servers_invalid_argument(server: dict[str, str]) -> None:
    result = runner.invoke(app, ["task", "submit", "ecoh"], env=server)
    assert isinstance(result.exception, InvalidArgumentError)
    assert "did you mean `echo`" in str(result.exception)


def test_a_bad_payload_is_refused_before_any_request(server: dict[str, str]) -> None:
    result = runner.invoke(app, ["task", "submit", "echo", "--payload", "{nope"], env=server)
    assert isinstance(result.exception, InvalidArgumentError)
    assert "--payload '{nope' is not JSON" in str(result.exception)


@pytest.mark.usefixtures("echo")
def test_the_command_exits_2_on_a_refused_task(server: dict[str, str]) -> None:
    done = subprocess.run(
        [DEVSPARK, "task", "submit", "ecoh"],
        env={**os.environ, **server},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "no running service instance handles it" in done.stderr


def test_instances_list_and_stop(server: dict[str, str]) -> None:
    started = runner.invoke(app, ["instances", "start", "builtin:echo", "--json"], env=server)
    (instance,) = json.loads(started.output)
    listed = runner.invoke(app, ["instances", "list", "--capability", "echo"], env=server)
    assert (
        listed.exit_code == 0
        and instance["id"] in listed.output
        and "builtin:echo" in listed.output
    )
    stopped = runner.invoke(app, ["instances", "stop", instance["id"], "--json"], env=server)
    assert stopped.exit_code == 0, stopped.output
    assert json.loads(stopped.output)[0]["desired"] == "stopped"


def test_instances_rollout_reports_what_it_replaces(server: dict[str, str]) -> None:
    runner.invoke(app, ["instances", "start", "builtin:echo", "--json"], env=server)
    same = runner.invoke(app, ["instances", "rollout", "builtin:echo"], env=server)
    assert same.exit_code == 0, same.output
    shown = " ".join(same.output.split())  # the table title may wrap
    assert "replacing 0 instances with builtin:echo" in shown  # same version: none
    typo = runner.invoke(app, ["instances", "rollout", "builtin:ecko"], env=server)
    assert isinstance(typo.exception, InvalidArgumentError)  # the app's handler prints it
    assert "did you mean `builtin:echo`" in str(typo.exception)
