"""Outcome: a match as the rating models see it."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devspark.core.errors import InvalidArgumentError
from devspark.core.results import AgentResult, AgentStatus, MatchResult
from devspark.rating import Outcome


def test_ranks_are_competition_ranks_with_shared_ties() -> None:
    outcome = Outcome(agents=("a", "b", "c", "d"), scores=(1.0, 3.0, 1.0, -2.0))
    assert outcome.ranks == (2, 1, 2, 4)


@given(st.lists(st.integers(-3, 3), min_size=2, max_size=8))
def test_ranks_order_agents_like_their_scores(scores: list[int]) -> None:
    outcome = Outcome(
        agents=tuple(f"p{i}" for i in range(len(scores))), scores=tuple(map(float, scores))
    )
    ranks = outcome.ranks
    assert min(ranks) == 1
    for i, si in enumerate(scores):
        for j, sj in enumerate(scores):
            assert (ranks[i] < ranks[j]) == (si > sj)
            assert (ranks[i] == ranks[j]) == (si == sj)


def test_points_for_two_players() -> None:
    win = Outcome(agents=("a", "b"), scores=(2.0, -1.0))
    draw = Outcome(agents=("a", "b"), scores=(0.0, 0.0))
    assert (win.points("a"), win.points("b")) == (1.0, 0.0)
    assert draw.points("b") == 0.5


@pytest.mark.parametrize(
    ("outcome", "agent"),
    [
        (Outcome(agents=("a", "b", "c"), scores=(1.0, 0.0, 0.0)), "a"),
        (Outcome(agents=("a", "b"), scores=(1.0, 0.0)), "z"),
    ],
)
def test_points_needs_a_two_player_outcome_with_the_agent(outcome: Outcome, agent: str) -> None:
    with pytest.raises(InvalidArgumentError, match="points\\(\\) needs a two-player outcome"):
        outcome.points(agent)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"agents": ("a",), "scores": (1.0,)}, "two or more distinct agents"),
        ({"agents": ("a", "a"), "scores": (1.0, 0.0)}, "two or more distinct agents"),
        ({"agents": ("a", "b"), "scores": (1.0,)}, "scores has 1 entries for 2 agents"),
        ({"agents": ("a", "b"), "scores": (1.0, 0.0), "cpu_s": (0.1,)}, "cpu_s has 1 entries"),
        ({"agents": ("a", "b"), "scores": (1.0, 0.0), "moves": (1, 2, 3)}, "moves has 3 entries"),
        (
            {"agents": ("a", "b"), "scores": (1.0, 0.0), "statuses": ("ok",)},
            "statuses has 1 entries",
        ),
    ],
)
def test_malformed_outcomes_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        Outcome(**kwargs)


def test_from_result_keeps_seat_order_costs_and_statuses() -> None:
    result = MatchResult(
        scenario="connect_four-v1",
        seed=3,
        agents=[
            AgentResult(agent="builtin:random", role="player_0", reward=-1.0, moves=7, cpu_s=0.02),
            AgentResult(
                agent="./my-agent",
                role="player_1",
                status=AgentStatus.TIMEOUT,
                reward=1.0,
                moves=6,
                cpu_s=0.5,
            ),
        ],
    )
    outcome = Outcome.from_result(result)
    assert outcome == Outcome(
        agents=("builtin:random", "./my-agent"),
        scores=(-1.0, 1.0),
        scenario="connect_four-v1",
        cpu_s=(0.02, 0.5),
        moves=(7, 6),
        statuses=("ok", "timeout"),
    )
    assert outcome.ranks == (2, 1)
