"""Per-seat parameter values in a match spec: checked, sent to the agent, keyed in the warm cache."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from devspark.arena.match import MatchSpec, Move, run_match
from devspark.arena.pool import WorkerCache
from devspark.arena.replay import record_match, verify_replay
from devspark.core.errors import InvalidArgumentError
from devspark.core.ports import Decision
from devspark.sandbox import IsolationLevel
from devspark.scenarios import AnyScenario

ECHO = """
def act(observation, context):
    pick = context.params["pick"]
    return pick if pick in context.legal_actions else context.legal_actions[0]
"""
"""Plays its ``pick`` parameter when legal: the first move shows the value it got."""


@pytest.fixture
def echo(make_agent: Callable[..., Path]) -> str:
    folder = make_agent(ECHO, name="echo-param")
    with (folder / "agent.toml").open("a", encoding="utf-8") as toml:
        toml.write('[parameters]\npick = { type = "int", low = 0, high = 8, default = 4 }\n')
        toml.write('fast = { type = "bool", default = true }\n')
    return str(folder)


def spec(agent: str, params: tuple[Mapping[str, Any] | None, ...] = ()) -> MatchSpec:
    return MatchSpec(
        "tictactoe",
        (agent, "builtin:random"),
        seed=3,
        isolation=IsolationLevel.TRUSTED,
        params=params,
    )


def first_move(play: Callable[..., object], match: MatchSpec) -> object:
    moves: list[object] = []

    def observe(step: int, agent: str, decision: Decision) -> None:
        moves.append(decision.action)

    play(match, observer=observe)
    return moves[0]


def test_seat_params_reach_the_agent(echo: str) -> None:
    assert first_move(run_match, spec(echo)) == 4
    assert first_move(run_match, spec(echo, ({"pick": 0},))) == 0
    assert first_move(run_match, spec(echo, ({"pick": 8}, None))) == 8


class FirstMove:
    """A step recorder that keeps the first move of every match."""

    def __init__(self) -> None:
        self.moves: list[object] = []

    def start(self, env: AnyScenario) -> None:
        pass

    def __call__(self, step: int, moves: list[Move], env: AnyScenario) -> None:
        if step == 0:
            self.moves.append(moves[0][1].action)


def test_warm_cache_never_reuses_a_worker_across_params(echo: str) -> None:
    cache, recorder = WorkerCache(), FirstMove()
    try:
        for params in [({"pick": 0},), ({"pick": 8},), (), ({"pick": 0},), ({"pick": 4},), ()]:
            cache.play(spec(echo, params), recorder=recorder)
        assert recorder.moves == [0, 8, 4, 0, 4, 4]
        # pick 0, pick 8, the defaults and pick 4 each have their own warm worker
        assert len([key for key in cache._workers if key[1] == 0]) == 4
    finally:
        cache.close()


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (
            ({"pik": 1},),
            "seat 0 ({ref}): parameter 'pik' = 1: not in the agent's [parameters] (did you mean 'pick'?)",
        ),
        (({"pick": 9},), "seat 0 ({ref}): parameter 'pick' = 9: allowed: an integer in [0, 8]"),
        (
            ({"pick": True},),
            "seat 0 ({ref}): parameter 'pick' = True: allowed: an integer in [0, 8]",
        ),
        (({"fast": 1},), "seat 0 ({ref}): parameter 'fast' = 1: allowed: true or false"),
        (
            (None, {"depth": 2}),
            "seat 1 (builtin:random): parameter 'depth' = 2: not in the agent's [parameters]",
        ),
        (({}, {}, {}), "params has 3 entries for 2 seats"),
    ],
)
def test_bad_params_are_refused_before_any_worker_starts(
    echo: str, params: tuple[Mapping[str, Any] | None, ...], message: str
) -> None:
    cache = WorkerCache()
    try:
        with pytest.raises(InvalidArgumentError, match=re.escape(message.format(ref=echo))):
            cache.play(spec(echo, params))
        assert not cache._workers
    finally:
        cache.close()
    with pytest.raises(InvalidArgumentError, match=re.escape(message.format(ref=echo))):
        run_match(spec(echo, params))


def test_replays_record_seat_params_and_verify_with_them(echo: str) -> None:
    _, replay = record_match(spec(echo, ({"pick": 0},)))
    assert replay.data["agents"][0]["params"] == {"pick": 0}
    assert "params" not in replay.data["agents"][1]
    assert replay.spec.params == ({"pick": 0}, None)
    assert replay.steps[0]["moves"][0]["action"] == 0
    assert verify_replay(replay) == []
    _, plain = record_match(spec(echo))
    assert all("params" not in agent for agent in plain.data["agents"])
    assert plain.spec.params == ()
    assert verify_replay(plain) == []
