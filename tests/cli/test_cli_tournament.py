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


def _folder_agent(tmp_path: Path, name: str) -> Path:
    """A copy of the built-in random agent under another name, as a local folder."""
    import shutil

    from devspark.arena.agents import BUILTIN_DIR

    folder = tmp_path / name
    shutil.copytree(BUILTIN_DIR / "random", folder, ignore=shutil.ignore_patterns("__pycache__"))
    manifest = folder / "agent.toml"
    manifest.write_text(
        manifest.read_text(encoding="utf-8").replace('name = "random"', f'name = "{name}"'),
        encoding="utf-8",
    )
    return folder


@pytest.mark.integration
def test_a_folder_agent_plays_as_a_local_upload_and_the_data_dir_keeps_it(tmp_path: Path) -> None:
    from devspark.core.status import TournamentStatus
    from devspark.services.local_play import read_tournament
    from devspark.services.tournaments import list_tournaments
    from devspark.store.db import make_engine, session_factory

    folder = _folder_agent(tmp_path, "randy")
    data = tmp_path / "data"
    args = ["tournament", "run", "--scenario", "tictactoe", "--agents", "builtin:minimax"]
    args += ["--agents", str(folder), "--rounds", "1", "--data-dir", str(data), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    agents = {row["agent"] for row in printed["standings"]}
    assert agents == {"builtin:minimax", "agent:local/randy@1.0.0"}
    assert printed["matches"] == 2

    engine = make_engine(f"sqlite:///{data / 'devspark.db'}")
    try:
        with session_factory(engine)() as session:
            rows, total, _ = list_tournaments(session, offset=0, limit=10)
            assert total == 1 and rows[0].status == TournamentStatus.FINISHED
            assert read_tournament(session, rows[0].id).public() == printed
    finally:
        engine.dispose()

    again = runner.invoke(app, args)  # the same content is entered again, not re-published
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout.strip().splitlines()[-1])["standings"] == printed["standings"]


def test_folder_agents_cannot_play_trusted(tmp_path: Path) -> None:
    folder = _folder_agent(tmp_path, "randy")
    args = ["tournament", "run", "--scenario", "tictactoe", "--agents", "builtin:random"]
    args += ["--agents", str(folder), "--isolation", "trusted"]
    result = runner.invoke(app, args, standalone_mode=False)
    message = str(result.exception)
    assert "isolation='trusted'" in message and "sandbox" in message and str(folder) in message


@pytest.mark.integration
def test_standings_equal_those_of_the_in_memory_run(tmp_path: Path) -> None:
    from devspark.arena.executors import make_executor
    from devspark.arena.tournament import build_format, run_tournament
    from devspark.core.isolation import IsolationLevel
    from devspark.rating.models import OpenSkillRatings

    ratings = OpenSkillRatings()
    executor = make_executor(workers=2)
    try:
        memory = run_tournament(
            build_format("swiss", AGENTS, seed=7, rounds=2, ratings=ratings),
            "connect_four",
            executor=executor,
            ratings=ratings,
            isolation=IsolationLevel.TRUSTED,
            seed=7,
        )
    finally:
        executor.close()
    args = ["tournament", "run", "--scenario", "connect_four", "--format", "swiss", "--rounds", "2"]
    args += ["--seed", "7", "--isolation", "trusted", "--workers", "2", "--json"]
    args += ["--agents", ",".join(AGENTS), "--results", str(tmp_path / "r.json")]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1]) == memory.public()
    written = json.loads((tmp_path / "r.json").read_text(encoding="utf-8"))["outcomes"]

    def played(agents: list[str], scores: list[float], statuses: list[str]) -> str:
        return json.dumps([agents, scores, statuses])

    assert sorted(played(o["agents"], o["scores"], o["statuses"]) for o in written) == sorted(
        played(list(o.agents), list(o.scores), list(o.statuses)) for o in memory.outcomes
    )
