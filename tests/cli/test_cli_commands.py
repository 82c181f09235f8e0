"""The ``devspark`` command line: JSON output contract, agent templates, exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from devspark.cli.app import EXIT_CODES, app, exit_code_for
from devspark.core.errors import (
    ConflictError,
    DevSparkError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)

DEVSPARK = Path(sys.executable).parent / "devspark"
AGENT_KEYS = {"agent", "status", "reward", "moves", "wall_ms", "cpu_s", "peak_mb"}
runner = CliRunner(env={"COLUMNS": "200"})


def devspark(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DEVSPARK), *args], capture_output=True, text=True, timeout=60, cwd=cwd, check=False
    )


def check_public_shape(data: dict[str, object], seed: int) -> None:
    assert set(data) == {"scenario", "seed", "agents"}
    assert data["scenario"] == "tictactoe-v1"
    assert data["seed"] == seed
    agents = data["agents"]
    assert isinstance(agents, list)
    assert [a["agent"] for a in agents] == ["builtin:minimax", "builtin:random"]
    for record in agents:
        assert set(record) == AGENT_KEYS
        assert record["status"] == "ok"
        assert record["reward"] in (1.0, 0.0, -1.0)
        assert isinstance(record["moves"], int)
        for key in ("wall_ms", "cpu_s", "peak_mb"):
            assert isinstance(record[key], int | float)
            assert record[key] >= 0
    assert agents[0]["reward"] >= 0  # minimax never loses
    assert agents[0]["reward"] + agents[1]["reward"] == 0


@pytest.mark.integration
def test_match_run_json_subprocess() -> None:
    done = devspark(
        "match", "run", "tictactoe", "builtin:minimax", "builtin:random", "--json", "--seed", "3"
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 1
    check_public_shape(json.loads(lines[0]), seed=3)


def test_match_run_json_in_process() -> None:
    args = ["match", "run", "tictactoe", "builtin:minimax", "builtin:random"]
    result = runner.invoke(app, [*args, "--json", "--seed", "5", "--isolation", "trusted"])
    assert result.exit_code == 0, result.output
    check_public_shape(json.loads(result.stdout), seed=5)


def test_match_run_table() -> None:
    args = ["match", "run", "tictactoe", "builtin:minimax", "builtin:random"]
    result = runner.invoke(app, [*args, "--isolation", "trusted"])
    assert result.exit_code == 0, result.output
    assert "tictactoe-v1" in result.stdout
    assert "builtin:minimax" in result.stdout
    assert "player_1" in result.stdout


def test_match_run_table_keeps_agent_names_whole_in_80_columns() -> None:
    args = ["match", "run", "connect_four", "builtin:connect-four-heuristic", "builtin:random"]
    narrow = CliRunner(env={"COLUMNS": "80"})
    result = narrow.invoke(app, [*args, "--isolation", "trusted", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "builtin:connect-four-heuristic" in result.stdout
    assert "…" not in result.stdout


def test_match_run_bad_isolation() -> None:
    args = ["match", "run", "tictactoe", "builtin:minimax", "builtin:random"]
    result = runner.invoke(app, [*args, "--isolation", "chroot"])
    assert isinstance(result.exception, InvalidArgumentError)
    assert "isolation 'chroot' is not one of" in str(result.exception)


def test_a_mistyped_agent_folder_gets_a_suggestion(tmp_path: Path) -> None:
    (tmp_path / "my-agent").mkdir()
    done = devspark("match", "run", "tictactoe", "my-agnet", "builtin:random", cwd=tmp_path)
    assert done.returncode == 3
    assert f"did you mean {tmp_path / 'my-agent'}?" in done.stderr


def test_unknown_scenario_exits_3_with_suggestion() -> None:
    done = devspark("match", "run", "tictacto", "builtin:random", "builtin:random")
    assert done.returncode == 3
    assert done.stdout == ""
    assert re.search(r"^error: Unknown scenario 'tictacto'\. Did you mean 'tictactoe'", done.stderr)


def test_bad_agent_name_exits_2_naming_the_value(tmp_path: Path) -> None:
    done = devspark("agent", "new", "Bad_Name", cwd=tmp_path)
    assert done.returncode == 2
    assert "'Bad_Name'" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_bad_agent_name_in_process(tmp_path: Path) -> None:
    result = runner.invoke(app, ["agent", "new", "Bad_Name", "--dir", str(tmp_path / "x")])
    assert result.exit_code != 0
    assert isinstance(result.exception, InvalidArgumentError)
    assert "name 'Bad_Name' must match" in str(result.exception)


def test_bad_language(tmp_path: Path) -> None:
    result = runner.invoke(app, ["agent", "new", "ok", "--language", "cobol"])
    assert isinstance(result.exception, InvalidArgumentError)
    assert "--language 'cobol' is not one of" in str(result.exception)


def test_agent_new_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    result = runner.invoke(app, ["agent", "new", "taken", "--dir", str(tmp_path / "taken")])
    assert isinstance(result.exception, ConflictError)
    assert "already exists and is not empty" in str(result.exception)


@pytest.mark.integration
@pytest.mark.parametrize(
    ("language", "entrypoint"), [("python", "agent.py"), ("javascript", "agent.mjs")]
)
def test_agent_new_then_check(tmp_path: Path, language: str, entrypoint: str) -> None:
    folder = tmp_path / f"my-{language}"
    created = runner.invoke(
        app, ["agent", "new", f"my-{language}", "--language", language, "--dir", str(folder)]
    )
    assert created.exit_code == 0, created.output
    assert sorted(p.name for p in folder.iterdir()) == sorted(["agent.toml", entrypoint])
    assert f'name = "my-{language}"' in (folder / "agent.toml").read_text()

    checked = runner.invoke(app, ["agent", "check", str(folder), "--episodes", "1"])
    assert checked.exit_code == 0, checked.output
    lines = checked.stdout.splitlines()
    assert lines, checked.output
    assert all(line.startswith("PASS") for line in lines), checked.output
    assert any(line.startswith(f"PASS manifest: my-{language}@0.1.0") for line in lines)
    assert any(line.startswith("PASS plays tictactoe") for line in lines)


def test_agent_check_fails_with_exit_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["agent", "check", str(tmp_path), "--isolation", "trusted"])
    assert result.exit_code == 1
    assert "FAIL manifest" in result.stdout
    assert "no agent.toml found" in result.stdout


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InvalidArgumentError("x"), 2),
        (NotFoundError("x"), 3),
        (FailedPreconditionError("x"), 4),
        (ConflictError("x"), 6),
        (DevSparkError("x"), 1),
    ],
)
def test_exit_codes(error: DevSparkError, code: int) -> None:
    assert exit_code_for(error) == code
    assert len(set(EXIT_CODES.values())) == len(EXIT_CODES)
