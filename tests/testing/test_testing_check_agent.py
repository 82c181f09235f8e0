"""The agent conformance kit (``devspark agent check``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from devspark.arena.agents import BUILTIN_DIR
from devspark.sandbox import IsolationLevel
from devspark.testing.check_agent import check_agent

pytestmark = pytest.mark.integration


def names(report: object) -> list[str]:
    return [item.name for item in report.checks]  # type: ignore[attr-defined]


def test_minimax_passes_in_the_sandbox() -> None:
    report = check_agent(BUILTIN_DIR / "minimax", episodes=1)
    assert report.ok, report.checks
    assert names(report) == [
        "manifest",
        "start",
        "clean stop",
        "plays tictactoe",
        "deterministic on tictactoe",
    ]
    start = report.checks[1]
    assert start.detail == "lifecycle deploying -> online -> busy"
    assert report.checks[2].detail == "no process or cgroup left after stop"
    assert report.checks[3].detail == "2 episodes, no faults"
    assert report.checks[4].detail.startswith("same seed, same ")


def test_a_service_agent_that_plays_nothing_is_checked_as_a_service() -> None:
    report = check_agent(BUILTIN_DIR / "echo", episodes=1)
    assert report.ok, report.checks
    assert names(report) == ["manifest", "start", "clean stop", "serves echo", "serves echo.slow"]


def test_an_agent_that_plays_and_serves_gets_both_kits() -> None:
    report = check_agent(BUILTIN_DIR / "connect-four-alphabeta", episodes=1)
    assert report.ok, report.checks
    assert "serves connect_four.best_move" in names(report)
    assert "plays connect_four" in names(report)


def test_syntax_error_fails_start(make_agent: Callable[..., Path]) -> None:
    folder = make_agent("def act(observation, context)\n    return 0\n", name="broken")
    report = check_agent(folder, episodes=1)
    assert not report.ok
    assert names(report) == ["manifest", "start"]
    manifest, start = report.checks
    assert manifest.ok
    assert not start.ok
    assert start.detail.startswith("lifecycle deploying -> error: start failed: crashed")
    assert "SyntaxError" in start.detail  # the user sees why


def test_faulty_player_fails_plays(make_agent: Callable[..., Path]) -> None:
    folder = make_agent(
        """
        def act(observation, context):
            return 42
        """,
        name="cheater",
    )
    report = check_agent(folder, isolation=IsolationLevel.TRUSTED, episodes=1)
    assert not report.ok
    plays = next(item for item in report.checks if item.name == "plays tictactoe")
    assert not plays.ok
    assert plays.detail.startswith("seed 0 seat 0: invalid_action: illegal action 42")


def test_nondeterministic_agent_is_caught(make_agent: Callable[..., Path]) -> None:
    folder = make_agent(
        """
        from pathlib import Path

        COUNTER = Path(__file__).parent / "runs"
        RUN = int(COUNTER.read_text()) + 1 if COUNTER.exists() else 0
        COUNTER.write_text(str(RUN))

        def act(observation, context):
            return context.legal_actions[RUN % len(context.legal_actions)]
        """,
        name="forgetful",
    )
    report = check_agent(folder, isolation=IsolationLevel.TRUSTED, episodes=1)
    verdict = {item.name: item for item in report.checks}
    assert verdict["plays tictactoe"].ok
    deterministic = verdict["deterministic on tictactoe"]
    assert not deterministic.ok
    assert deterministic.detail.startswith("moves differ: ")
    assert not report.ok


def test_agent_raising_every_move_is_not_called_deterministic(
    make_agent: Callable[..., Path],
) -> None:
    folder = make_agent(
        """
        def act(observation, context):
            raise RuntimeError("no move today")
        """,
        name="raiser",
    )
    report = check_agent(folder, isolation=IsolationLevel.TRUSTED, episodes=1)
    verdict = {item.name: item for item in report.checks}
    assert not verdict["plays tictactoe"].ok
    deterministic = verdict["deterministic on tictactoe"]
    assert not deterministic.ok
    assert deterministic.detail.startswith("not shown: the agent faulted (error: ")
    assert "no move today" in deterministic.detail


def test_bad_manifest_stops_early(make_agent: Callable[..., Path]) -> None:
    folder = make_agent("def act(o, c):\n    return 0\n", extra={"license": "not a licence!"})
    report = check_agent(folder)
    assert names(report) == ["manifest"]
    assert "field 'license'" in report.checks[0].detail


def test_javascript_under_trusted_fails_start() -> None:
    report = check_agent(BUILTIN_DIR / "random-js", isolation=IsolationLevel.TRUSTED)
    assert names(report) == ["manifest", "start"]
    assert "isolation level 'trusted' is unavailable" in report.checks[1].detail


def test_a_long_traceback_keeps_its_last_line_in_the_verdicts(
    make_agent: Callable[..., Path],
) -> None:
    folder = make_agent(
        """
        def deeper(n):
            if n == 0:
                raise RuntimeError("deep trouble at the bottom")
            return deeper(n - 1)


        def act(observation, context):
            return deeper(30)
        """,
        name="deep",
    )
    # The runner process sends the whole traceback (the trusted level sends only the error).
    report = check_agent(folder, isolation=IsolationLevel.PROCESS, episodes=1)
    verdict = {item.name: item for item in report.checks}
    plays = verdict["plays tictactoe"]
    assert not plays.ok
    assert plays.detail.rstrip().endswith("RuntimeError: deep trouble at the bottom")
    assert "…" in plays.detail  # cut at its start, not at its end
    deterministic = verdict["deterministic on tictactoe"]
    assert deterministic.detail == (
        "not shown: the agent faulted (error: RuntimeError: deep trouble at the bottom)"
    )
