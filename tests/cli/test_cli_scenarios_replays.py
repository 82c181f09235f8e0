"""``devspark scenarios``, ``devspark replay`` and ``match run --replay/--difficulty``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devspark.cli.app import app
from devspark.cli.match_cmd import parse_options
from devspark.core.errors import InvalidArgumentError
from devspark.scenarios import list_scenarios

runner = CliRunner(env={"COLUMNS": "200"})


def test_scenarios_list_json_is_the_documented_contract() -> None:
    result = runner.invoke(app, ["scenarios", "list", "--json"])
    assert result.exit_code == 0, result.output
    listed = json.loads(result.output)
    assert [(s["id"], s["version"]) for s in listed] == [
        (i.id, i.version) for i in list_scenarios()
    ]
    for entry in listed:
        assert {"id", "version", "domain", "players", "difficulties"} <= set(entry)
        assert entry["domain"] in ("game", "planning", "reasoning", "collaboration", "adversarial")
        low, high = entry["players"]
        assert 1 <= low <= high
        assert entry["difficulties"] and set(entry["difficulties"]) <= {1, 2, 3, 4, 5}
    assert {"tictactoe", "maze"} <= {entry["id"] for entry in listed}


def test_scenarios_list_table_and_show_the_documentation_page() -> None:
    table = runner.invoke(app, ["scenarios", "list"])
    assert table.exit_code == 0 and "maze-v1" in table.output
    page = runner.invoke(app, ["scenarios", "show", "maze"])
    assert page.exit_code == 0 and "Version history" in page.output


def test_scenarios_show_suggests_near_names() -> None:
    result = runner.invoke(app, ["scenarios", "show", "mase"], standalone_mode=False)
    assert "Did you mean 'maze'" in str(result.exception)


def test_options_parse_json_values_or_strings() -> None:
    assert parse_options(["rounds=5", "kind=make24", "flag=true"]) == {
        "rounds": 5,
        "kind": "make24",
        "flag": True,
    }
    with pytest.raises(InvalidArgumentError, match="KEY=VALUE"):
        parse_options(["oops"])


@pytest.mark.integration
def test_match_writes_a_replay_that_verifies_and_shows(tmp_path: Path) -> None:
    path = tmp_path / "match.json.gz"
    played = runner.invoke(
        app,
        [
            "match",
            "run",
            "maze",
            "builtin:maze-astar",
            "--difficulty",
            "2",
            "--seed",
            "3",
            "--replay",
            str(path),
            "--json",
        ],
    )
    assert played.exit_code == 0, played.output
    assert json.loads(played.output)["agents"][0]["reward"] == 1.0  # A* is optimal, no fog
    verified = runner.invoke(app, ["replay", "verify", str(path)])
    assert verified.exit_code == 0, verified.output
    assert "reproduced exactly" in verified.output
    shown = runner.invoke(app, ["replay", "show", str(path), "--limit", "2"])
    assert shown.exit_code == 0, shown.output
    assert "step 0" in shown.output and "step 2" not in shown.output
    assert "@" in shown.output and "G" in shown.output  # the grid is drawn
    assert "outcome after" in shown.output


@pytest.mark.integration
def test_replay_verify_exits_1_when_the_replay_was_tampered_with(tmp_path: Path) -> None:
    path = tmp_path / "match.json"
    runner.invoke(
        app,
        ["match", "run", "tictactoe", "builtin:minimax", "builtin:minimax", "--replay", str(path)],
    )
    data = json.loads(path.read_text())
    data["outcome"]["agents"][0]["reward"] = 1.0
    path.write_text(json.dumps(data))
    result = runner.invoke(app, ["replay", "verify", str(path)])
    assert result.exit_code == 1
    assert "outcome differs" in result.output


def test_replay_of_a_missing_file_exits_not_found(tmp_path: Path) -> None:
    import subprocess

    devspark = Path(sys.executable).parent / "devspark"
    result = subprocess.run(
        [str(devspark), "replay", "show", str(tmp_path / "none.json")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 3
    assert "no such file" in result.stderr


def test_replay_show_prints_step_rewards_signed_per_seat_not_a_dict(tmp_path: Path) -> None:
    path = tmp_path / "win.json"
    match = ["match", "run", "tictactoe", "builtin:minimax", "builtin:random", "--seed", "1"]
    played = runner.invoke(app, [*match, "--isolation", "trusted", "--replay", str(path)])
    assert played.exit_code == 0, played.output
    shown = runner.invoke(app, ["replay", "show", str(path)])
    assert shown.exit_code == 0, shown.output
    assert "rewards player_0 +1, player_1 -1" in shown.output
    assert "{'" not in shown.output
