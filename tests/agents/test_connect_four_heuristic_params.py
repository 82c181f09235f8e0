"""The connect-four heuristic's [parameters]: defaults play as before, other values change its play."""

from __future__ import annotations

import random
from typing import Any

import builtin_agent_helpers as helpers

from devspark.arena.agents import resolve_agent
from devspark.arena.match import MatchSpec
from devspark.arena.pool import run_matches
from devspark.core.manifest import AgentManifest
from devspark.sandbox import IsolationLevel

heuristic = helpers.load_agent("connect-four-heuristic")
AGENT = "builtin:connect-four-heuristic"
BAD = {
    "win": False,
    "block": False,
    "avoid_traps": False,
    "centre": 0.0,
    "threes": 0.0,
    "twos": 0.0,
}
"""Every step off, every weight 0: it plays the last column left."""

WIN_NOW = ["." * 7] * 5 + ["XXX.OO."]
"""X (to move) wins in column 3; O threatens nothing."""


def observation(rows: list[str], mark: int = 1) -> dict[str, Any]:
    values = {".": 0, "X": 1, "O": 2}
    board = [values[cell] for row in rows for cell in row]
    return {"board": board, "rows": len(rows), "columns": 7, "inarow": 4, "mark": mark}


def picks(obs: dict[str, Any], params: dict[str, Any], seeds: int = 200) -> list[int]:
    legal = [col for col in range(7) if not obs["board"][col]]
    return [heuristic.choose(obs, legal, random.Random(seed), params) for seed in range(seeds)]


def manifest() -> AgentManifest:
    return resolve_agent(AGENT).manifest


def test_defaults_are_the_module_defaults_and_play_as_no_params() -> None:
    defaults = manifest().default_params()
    assert defaults == heuristic.DEFAULTS
    empty = observation(["." * 7] * 6)
    assert picks(empty, defaults) == picks(empty, {})
    legal = list(range(7))
    old = [heuristic.weighted_centre_choice(legal, 7, random.Random(s)) for s in range(200)]
    assert picks(empty, defaults) == old


def test_params_switch_steps_and_weights() -> None:
    obs = observation(WIN_NOW)
    assert set(picks(obs, {})) == {3}
    assert set(picks(obs, {"win": False, "centre": 0.0})) == {6}  # all weights 0: last column
    empty = observation(["." * 7] * 6)
    assert set(picks(empty, {"centre": 0.0, "twos": 1.0, "threes": 1.0})) == {6}


def test_explicit_defaults_play_the_same_matches_as_none() -> None:
    defaults = manifest().default_params()

    def play(params: tuple[dict[str, Any] | None, ...]) -> list[object]:
        specs = [
            MatchSpec(
                "connect_four",
                (AGENT, AGENT),
                seed=s,
                isolation=IsolationLevel.TRUSTED,
                params=params,
            )
            for s in range(3)
        ]
        return [(r.steps, [a.reward for a in r.agents]) for r in run_matches(specs, workers=1)]

    assert play((defaults, defaults)) == play(())


def test_all_zero_weights_lose_to_the_defaults() -> None:
    specs = [
        MatchSpec(
            "connect_four",
            (AGENT, AGENT),
            seed=seed,
            isolation=IsolationLevel.TRUSTED,
            params=(BAD, None) if seed % 2 else (None, BAD),
        )
        for seed in range(6)
    ]
    bad_rewards = [
        result.agents[1 - seed % 2].reward
        for seed, result in enumerate(run_matches(specs, workers=1))
    ]
    assert bad_rewards == [-1.0] * 6  # these seeds: the bad weights lose every match
