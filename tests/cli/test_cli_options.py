"""``devspark match run`` and ``devspark tournament run`` refuse the scenario options the
API refuses, with the same message (the check lives in the scenarios package)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DEVSPARK = Path(sys.executable).parent / "devspark"


def devspark(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DEVSPARK), *args], capture_output=True, text=True, timeout=120, check=False
    )


MATCH = ["match", "run", "connect_four", "builtin:random", "builtin:random", "--isolation"]
TOURNAMENT = [
    "tournament",
    "run",
    "--scenario",
    "connect_four",
    "--format",
    "round_robin",
    "--agents",
    "builtin:random",
    "--agents",
    "builtin:connect-four-heuristic",
    "--isolation",
]


@pytest.mark.parametrize("command", [MATCH, TOURNAMENT], ids=["match", "tournament"])
def test_cli_refuses_an_out_of_range_difficulty(command: list[str]) -> None:
    done = devspark(*command, "trusted", "--difficulty", "9")
    assert done.returncode == 2, done.stderr
    assert "options.difficulty=9 is not allowed by connect_four-v1" in done.stderr
    assert "an int in 1-5" in done.stderr


@pytest.mark.parametrize("command", [MATCH, TOURNAMENT], ids=["match", "tournament"])
def test_cli_refuses_a_misspelt_option_with_a_suggestion(command: list[str]) -> None:
    done = devspark(*command, "trusted", "--option", "dificulty=2")
    assert done.returncode == 2, done.stderr
    assert "options.dificulty is not an option of connect_four-v1" in done.stderr
    assert "did you mean `difficulty`?" in done.stderr
