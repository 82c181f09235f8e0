"""``devspark demo`` (``make run``): the sandboxed tour of the scenario library."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from devspark.cli.app import app
from devspark.cli.demo_cmd import EVENTS, schedule, tally
from devspark.core.results import AgentResult, MatchResult
from devspark.sandbox import IsolationLevel
from devspark.scenarios import list_scenarios

runner = CliRunner(env={"COLUMNS": "200"})


def test_the_tour_covers_every_builtin_scenario() -> None:
    assert {e.scenario for e in EVENTS} == {i.id for i in list_scenarios()}


def test_schedules_play_both_seat_orders_or_teams() -> None:
    versus = schedule(EVENTS[0], 2, IsolationLevel.SANDBOX)
    assert len(versus) == 3 * 2 * 2  # ordered pairs of 3 agents, 2 games each
    assert ("builtin:minimax", "builtin:random") in {s.agents for s in versus}
    assert ("builtin:random", "builtin:minimax") in {s.agents for s in versus}
    foraging = next(e for e in EVENTS if e.scenario == "foraging")
    teams = schedule(foraging, 3, IsolationLevel.TRUSTED)
    assert {s.agents for s in teams} == {(a, a) for a in foraging.agents}
    assert all(s.options == {"difficulty": foraging.difficulty} for s in teams)


def test_tally_scores_teams_and_payoff_per_round() -> None:
    def result(*records: tuple[str, float, int]) -> MatchResult:
        agents = [
            AgentResult(agent=a, role=f"player_{i}", reward=r, moves=m)
            for i, (a, r, m) in enumerate(records)
        ]
        return MatchResult("x-v1", 0, agents)

    team = tally([result(("a", 0.25, 5), ("a", 0.5, 5))], team=True)
    assert team["a"].returns == [0.75]
    field = tally([result(("a", 100.0, 50), ("b", 50.0, 50))], per_move=True)
    assert field["a"].mean == 2.0 and field["b"].mean == 1.0
    versus = tally([result(("a", 1.0, 3), ("b", -1.0, 3))])
    assert (versus["a"].wins, versus["b"].losses) == (1, 1)


@pytest.mark.integration
def test_the_demo_plays_sandboxed_and_ranks_the_strong_baselines_first() -> None:
    result = runner.invoke(
        app, ["demo", "--games", "2", "--scenario", "tictactoe", "--scenario", "maze"]
    )
    assert result.exit_code == 0, result.output
    assert "every agent in its own sandbox" in result.output
    first = [line for line in result.output.splitlines() if line.split()[:1] == ["1"]]
    assert "minimax" in first[0]  # the best rating; others may share rank 1 (overlap)
    assert any("maze-astar" in line for line in first)
    assert "rating [95%]" in result.output and "mean return" in result.output


def test_an_unknown_scenario_is_refused() -> None:
    result = runner.invoke(app, ["demo", "--scenario", "chess"])
    assert result.exit_code != 0
    assert "choose from" in result.output


def test_the_demo_tables_fit_an_80_column_terminal_with_names_whole() -> None:
    narrow = CliRunner(env={"COLUMNS": "80"})
    args = ["demo", "--games", "1", "--isolation", "process", "--scenario", "connect_four"]
    result = narrow.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    assert "builtin:connect-four-heuristic-js" in result.output and "…" not in result.output
    assert "matches over 1 scenario, every agent" in result.output
