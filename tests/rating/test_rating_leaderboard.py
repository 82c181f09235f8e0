"""Leaderboards: global, per scenario, per domain, efficiency, history, JSON."""

from __future__ import annotations

import json
import random

import pytest

from devspark.core.errors import InvalidArgumentError
from devspark.rating import (
    EfficiencyRow,
    Leaderboards,
    LeaderRow,
    Outcome,
    build_leaderboards,
    fit_bradley_terry,
    interval_ranks,
)
from devspark.rating.leaderboard import efficiency_rows

DOMAINS = {
    "connect_four": ["board", "two_player"],
    "maze-v1": ["puzzle"],
    "tictactoe-v2": ["board"],
}
STRENGTH = {"strong": 2.0, "middle": 0.0, "weak": -2.0}
COST = {"strong": 0.004, "middle": 0.001, "weak": 0.002}  # CPU seconds per move


def match(a: str, b: str, rng: random.Random, scenario: str) -> Outcome:
    p = 1.0 / (1.0 + 2.718281828 ** (STRENGTH[b] - STRENGTH[a]))
    first = rng.random() < p
    return Outcome(
        agents=(a, b),
        scores=(float(first), float(not first)),
        scenario=scenario,
        cpu_s=(COST[a] * 10, COST[b] * 10),
        moves=(10, 10),
        statuses=("ok", "ok" if rng.random() < 0.9 else "timeout"),
    )


def tournament(seed: int = 0, per_scenario: int = 60) -> list[Outcome]:
    rng = random.Random(seed)
    outcomes = []
    for scenario in ("connect_four-v1", "tictactoe-v2", "prisoners_dilemma-v1"):
        for _ in range(per_scenario):
            a, b = rng.sample(sorted(STRENGTH), 2)
            outcomes.append(match(a, b, rng, scenario))
    return outcomes


@pytest.fixture(scope="module")
def boards() -> Leaderboards:
    return build_leaderboards(tournament(), DOMAINS, bootstrap=50, seed=1)


def test_global_board_is_the_bradley_terry_fit_joined_with_records(boards: Leaderboards) -> None:
    outcomes = tournament()
    fitted = fit_bradley_terry(outcomes, bootstrap=50, seed=1)
    assert [(r.agent, r.rank, r.rating, r.lower, r.upper) for r in boards.global_] == [
        (r.agent, r.rank, r.rating, r.lower, r.upper) for r in fitted
    ]
    assert [r.agent for r in boards.global_] == ["strong", "middle", "weak"]
    assert boards.method == "bradley_terry"
    for row in boards.global_:
        assert row.matches == sum(row.agent in o.agents for o in outcomes)
        assert row.wins + row.draws + row.losses == row.matches
        assert row.cpu_s_per_move == pytest.approx(COST[row.agent])
        assert sum(row.statuses.values()) == row.matches
        assert set(row.statuses) <= {"ok", "timeout"}
    assert (
        sum(r.wins for r in boards.global_)
        == sum(r.losses for r in boards.global_)
        == len(outcomes)
    )


def test_scenario_and_domain_splits(boards: Leaderboards) -> None:
    assert list(boards.by_scenario) == ["connect_four-v1", "prisoners_dilemma-v1", "tictactoe-v2"]
    assert all(sum(r.matches for r in rows) == 120 for rows in boards.by_scenario.values())
    # "connect_four-v1" finds the unversioned tags; prisoners_dilemma has none; the maze
    # tag has no matches, so no board.
    assert list(boards.by_domain) == ["board", "two_player"]
    assert sum(r.matches for r in boards.by_domain["board"]) == 240
    assert sum(r.matches for r in boards.by_domain["two_player"]) == 120
    scenario_rows = {r.agent: r for r in boards.by_scenario["connect_four-v1"]}
    domain_rows = {r.agent: r for r in boards.by_domain["two_player"]}
    assert scenario_rows == domain_rows


def test_ranks_follow_the_interval_rule_on_every_board(boards: Leaderboards) -> None:
    for rows in [boards.global_, *boards.by_scenario.values(), *boards.by_domain.values()]:
        assert [r.rank for r in rows] == interval_ranks(
            [r.lower for r in rows], [r.upper for r in rows]
        )
        assert [r.rank for r in rows] == sorted(r.rank for r in rows)


def test_agents_that_cannot_be_told_apart_share_a_rank() -> None:
    rng = random.Random(3)
    outcomes = [
        Outcome(
            agents=("twin_a", "twin_b"), scores=(1.0, 0.0) if rng.random() < 0.5 else (0.0, 1.0)
        )
        for _ in range(40)
    ]
    rows = build_leaderboards(outcomes, {}, bootstrap=50).global_
    assert [r.rank for r in rows] == [1, 1]
    assert rows[0].lower < rows[1].upper


def test_efficiency_flags_the_pareto_front(boards: Leaderboards) -> None:
    flags = {row.agent: row.pareto for row in boards.efficiency}
    # strong is the best rated; middle is the cheapest; weak is worse and dearer than middle.
    assert flags == {"strong": True, "middle": True, "weak": False}
    assert [row.agent for row in boards.efficiency] == ["strong", "middle", "weak"]


def test_unknown_costs_are_never_on_the_front() -> None:
    outcomes = [Outcome(agents=("a", "b"), scores=(1.0, 0.0))] * 5 + [
        Outcome(agents=("b", "c"), scores=(1.0, 0.0), cpu_s=(0.5, 0.1), moves=(5, 5))
    ] * 5
    rows = {r.agent: r for r in build_leaderboards(outcomes, {}, bootstrap=0).efficiency}
    assert rows["a"].cpu_s_per_move is None and not rows["a"].pareto
    assert rows["b"].cpu_s_per_move == pytest.approx(0.1) and rows["b"].pareto
    assert rows["c"].cpu_s_per_move == pytest.approx(0.02) and rows["c"].pareto


def test_multiplayer_records_count_pairwise_by_rank() -> None:
    outcomes = [
        Outcome(agents=("a", "b", "c"), scores=(2.0, 1.0, 1.0), statuses=("ok", "ok", "crashed"))
    ]
    rows = {r.agent: r for r in build_leaderboards(outcomes, {}, bootstrap=0).global_}
    assert (rows["a"].wins, rows["a"].draws, rows["a"].losses) == (2, 0, 0)
    assert (rows["b"].wins, rows["b"].draws, rows["b"].losses) == (0, 1, 1)
    assert rows["c"].statuses == {"crashed": 1} and rows["a"].matches == 1


def test_history_follows_openskill_online(boards: Leaderboards) -> None:
    outcomes = tournament()
    for agent, points in boards.history.items():
        assert len(points) == sum(agent in o.agents for o in outcomes)
        numbers = [number for number, _, _ in points]
        assert numbers == sorted(numbers) and numbers[-1] <= len(outcomes)
        sigmas = [sigma for _, _, sigma in points]
        assert sigmas[-1] < sigmas[0]
    assert boards.history["strong"][-1][1] > boards.history["weak"][-1][1]


def test_openskill_method() -> None:
    result = build_leaderboards(tournament(), DOMAINS, method="openskill")
    assert result.method == "openskill"
    assert [r.agent for r in result.global_] == ["strong", "middle", "weak"]
    assert all(r.lower < r.rating < r.upper for r in result.global_)
    assert result.global_[0].rating == pytest.approx(result.history["strong"][-1][1])


def test_json_round_trip(boards: Leaderboards) -> None:
    data = boards.to_json()
    text = json.dumps(data)
    assert set(data) == {"method", "global", "by_scenario", "by_domain", "efficiency", "history"}
    assert set(data["global"][0]) >= {
        "agent",
        "rank",
        "rating",
        "lower",
        "upper",
        "wins",
        "draws",
        "losses",
    }
    assert Leaderboards.from_json(json.loads(text)) == boards
    assert LeaderRow.from_json(data["global"][0]) == boards.global_[0]
    assert EfficiencyRow.from_json(data["efficiency"][0]) == boards.efficiency[0]


def test_deterministic_given_the_seed(boards: Leaderboards) -> None:
    assert build_leaderboards(tournament(), DOMAINS, bootstrap=50, seed=1) == boards


def test_bad_input_is_rejected() -> None:
    with pytest.raises(
        InvalidArgumentError, match="build_leaderboards needs at least one outcome, got none"
    ):
        build_leaderboards([], DOMAINS)
    with pytest.raises(
        InvalidArgumentError,
        match="unknown rating method 'glicko'; choose one of bradley_terry, openskill",
    ):
        build_leaderboards(tournament(), DOMAINS, method="glicko")


def test_efficiency_flags_the_pareto_front_as_a_pairwise_check_does() -> None:
    rng = random.Random(7)
    for trial in range(200):
        board = [
            LeaderRow(
                agent=f"a{i}",
                rank=1,
                rating=float(rng.choice([1400, 1500, 1500, 1600, 1650, 1700])),
                lower=0.0,
                upper=0.0,
                matches=1,
                wins=0,
                draws=0,
                losses=0,
                cpu_s_per_move=None if rng.random() < 0.1 else rng.choice([0.1, 0.2, 0.2, 0.3]),
            )
            for i in range(rng.randint(1, 12))
        ]
        known = [(r.rating, r.cpu_s_per_move) for r in board if r.cpu_s_per_move is not None]
        expected = {
            r.agent
            for r in board
            if r.cpu_s_per_move is not None
            and not any(
                rating >= r.rating
                and cpu <= r.cpu_s_per_move
                and (rating > r.rating or cpu < r.cpu_s_per_move)
                for rating, cpu in known
            )
        }
        assert {e.agent for e in efficiency_rows(board) if e.pareto} == expected, trial
