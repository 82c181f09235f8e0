"""``devspark tournament run`` (JSON contract, table) and ``devspark leaderboard``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devspark.cli.app import app

runner = CliRunner(env={"COLUMNS": "200"})
AGENTS = ["builtin:connect-four-alphabeta", "builtin:connect-four-heuristic", "builtin:random"]


def tournament(*extra: str) -> list[str]:
    args = ["tournament", "run", "--scenario", "connect_four", "--format", "round_robin"]
    for agent in AGENTS:
        args += ["--agents", agent]
    return [*args, "--workers", "2", *extra]


@pytest.mark.integration
def test_json_output_is_the_documented_contract(tmp_path: Path) -> None:
    result = runner.invoke(
        app, tournament("--json", "--seed", "4", "--results", str(tmp_path / "r.json"))
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert data["matches"] == 6
    standings = data["standings"]
    assert standings[0]["agent"] == AGENTS[0]
    for row in standings:
        assert {"agent", "rank", "rating", "lower", "upper", "wins", "draws", "losses"} <= set(row)
        assert row["lower"] <= row["rating"] <= row["upper"]
    assert [row["rank"] for row in standings] == sorted(row["rank"] for row in standings)

    board = runner.invoke(app, ["leaderboard", str(tmp_path / "r.json")])
    assert board.exit_code == 0, board.output
    for title in ("global", "scenario connect_four-v1", "domain game", "efficiency"):
        assert title in board.output
    only = runner.invoke(app, ["leaderboard", str(tmp_path / "r.json"), "--json"])
    assert set(json.loads(only.output)) >= {"global", "by_scenario", "by_domain", "efficiency"}

    narrow = CliRunner(env={"COLUMNS": "80"}).invoke(app, ["leaderboard", str(tmp_path / "r.json")])
    assert narrow.exit_code == 0, narrow.output
    for agent in AGENTS:  # whole, as the user must type it, even in 80 columns
        assert agent in narrow.output
    assert "…" not in narrow.output
    assert "6 matches (6 with 2 seats) from 1 file\n" in narrow.output


@pytest.mark.integration
def test_the_table_shows_ratings_with_intervals_and_statuses() -> None:
    result = runner.invoke(app, tournament("--isolation", "trusted"))
    assert result.exit_code == 0, result.output
    assert "rating [95%]" in result.output and "statuses" in result.output
    assert "connect-four-alphabeta" in result.output and "ok 4" in result.output


def test_an_agent_listed_twice_is_refused() -> None:
    args = [
        "tournament",
        "run",
        "--scenario",
        "tictactoe",
        "--agents",
        "builtin:random",
        "--agents",
        "builtin:random",
    ]
    result = runner.invoke(app, args, standalone_mode=False)
    assert "more than once" in str(result.exception)


def test_leaderboard_of_a_missing_file_says_so(tmp_path: Path) -> None:
    result = runner.invoke(app, ["leaderboard", str(tmp_path / "none.json")], standalone_mode=False)
    assert "results file" in str(result.exception)


def test_usage_errors_exit_2_without_a_traceback() -> None:
    import subprocess
    import sys

    devspark = Path(sys.executable).parent / "devspark"
    result = subprocess.run(
        [str(devspark), "tournament", "run", "--scenario", "tictactoe", "--agents", "a", "--bogus"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "No such option: --bogus" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.integration
def test_agents_may_follow_one_agents_flag() -> None:
    args = [
        "tournament",
        "run",
        "--scenario",
        "tictactoe",
        "--agents",
        "builtin:minimax",
        "builtin:random",
        "--rounds",
        "1",
        "--isolation",
        "trusted",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout.strip().splitlines()[-1])
    assert {row["agent"] for row in data["standings"]} == {"builtin:minimax", "builtin:random"}
    assert data["matches"] == 2
