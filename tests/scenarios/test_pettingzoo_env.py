"""PettingZoo environments played by name: ``pettingzoo:classic/connect_four_v3``."""

from __future__ import annotations

import json

import pytest

from devspark.arena.match import MatchSpec, run_match
from devspark.core.errors import NotFoundError
from devspark.sandbox import IsolationLevel
from devspark.scenarios import make, resolve
from devspark.scenarios.pettingzoo_env import PettingZooScenario, to_json
from devspark.testing.check_scenario import check_scenario

C4 = "pettingzoo:classic/connect_four_v3"


@pytest.mark.parametrize(
    "name", [C4, "pettingzoo:classic/tictactoe_v3", "pettingzoo:classic/rps_v2"]
)
def test_pettingzoo_environments_pass_the_conformance_kit(name: str) -> None:
    check_scenario(name, num_cycles=60)


def test_the_class_is_built_once_and_keeps_pettingzoos_name() -> None:
    cls = resolve(C4)
    assert cls is resolve(C4 + "-v1")
    assert issubclass(cls, PettingZooScenario)
    assert cls.full_id == C4 and cls.players == (2, 2) and cls.domains == ("game",)


def test_observations_become_json_and_legal_actions_follow_the_mask() -> None:
    env = make(C4)
    env.reset(seed=0)
    observation = env.observe_json("player_0")
    json.dumps(observation)
    assert observation["action_mask"] == [1] * 7
    assert len(observation["observation"]) == 6
    assert env.legal_actions("player_0") == list(range(7))
    assert env.legal_actions("player_1") == []
    for _ in range(6):  # fill column 3
        env.step(3)
    assert 3 not in env.legal_actions(env.agent_selection)
    assert not env.is_legal(env.agent_selection, 3)
    assert not env.is_legal(env.agent_selection, 2.0)
    assert not env.is_legal(env.agent_selection, True)
    assert env.is_legal(env.agent_selection, 2)


def test_forfeit_leaves_the_faulting_agent_one_below_the_rest() -> None:
    env = make(C4)
    env.reset(seed=0)
    env.step(0)
    env.forfeit("player_1", "timeout")
    assert env.rewards == {"player_0": 0.0, "player_1": -1.0}
    assert env.legal_actions("player_0") == []
    assert env.render_state()["forfeited"] is True
    while env.agents:
        env.step(None)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("pettingzoo:classic/conect_four_v3", "Did you mean pettingzoo:classic/connect_four_v3"),
        ("pettingzoo:nosuchfamily/thing_v1", "no family 'nosuchfamily'"),
        ("pettingzoo:classic", "pettingzoo:FAMILY/MODULE"),
        ("pettingzoo:../os_v1", "pettingzoo:FAMILY/MODULE"),
    ],
)
def test_unknown_names_say_what_exists(name: str, message: str) -> None:
    with pytest.raises(NotFoundError, match=message.replace("(", r"\(")):
        resolve(name)


def test_to_json_converts_numpy_values() -> None:
    import numpy as np

    value = {"a": np.arange(3, dtype=np.int8), "b": (np.float32(0.5), [np.int64(2)])}
    assert to_json(value) == {"a": [0, 1, 2], "b": [0.5, [2]]}


@pytest.mark.integration
def test_sandboxed_agents_play_a_pettingzoo_game_by_name() -> None:
    spec = MatchSpec(
        scenario=C4,
        agents=("builtin:random", "builtin:random-js"),
        seed=4,
        isolation=IsolationLevel.SANDBOX,
    )
    result = run_match(spec)
    assert result.scenario == C4
    assert [a.status for a in result.agents] == ["ok", "ok"]
    assert sorted(a.reward for a in result.agents) in ([-1.0, 1.0], [0.0, 0.0])
    assert result.steps >= 7
