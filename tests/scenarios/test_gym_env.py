"""Single-player scenarios as Gymnasium environments."""

from __future__ import annotations

from typing import Any

import gymnasium
import pytest
from gymnasium.utils.env_checker import check_env

from devspark.core.errors import FailedPreconditionError, InvalidArgumentError
from devspark.scenarios import Scenario, list_scenarios, make, to_gymnasium
from devspark.scenarios.tictactoe import TicTacToe


class Countdown(Scenario):
    """Bring a counter from a random start to zero by taking 1 or 2 off it."""

    scenario_id = "countdown_test"
    domains = ("planning",)
    players = (1, 1)
    difficulties = (1, 2)

    def _new_episode(self, options: dict[str, Any]) -> None:
        self.counter = self.rng.randrange(3, 6 * self.difficulty)
        self.taken = 0

    def _build_observation_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        return gymnasium.spaces.Discrete(12)

    def _build_action_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        return gymnasium.spaces.Discrete(2)

    def observe(self, agent: str) -> int:
        return self.counter

    def step(self, action: Any) -> None:
        if self.terminations[self.agent_selection]:
            self._dead_step(action)
            return
        self.counter = max(0, self.counter - 1 - int(action))
        self.taken += 1
        self.rewards["player_0"] = 0.0
        if self.counter == 0:
            self._end_episode({"player_0": 1.0 / self.taken})

    def observe_json(self, agent: str) -> int:
        return self.counter

    def legal_actions(self, agent: str) -> list[Any] | None:
        return [0, 1] if self.agents and not self.episode_over else []

    def is_legal(self, agent: str, action: Any) -> bool:
        return bool(self.legal_actions(agent)) and type(action) is int and action in (0, 1)

    def forfeit(self, agent: str, status: str) -> None:
        if self._check_fault(agent, status):
            self._end_episode({agent: -1.0})

    def render_state(self) -> dict[str, int]:
        return {"counter": self.counter, "taken": self.taken}


def test_gymnasium_checker_passes_on_the_wrapper() -> None:
    check_env(to_gymnasium(Countdown()), skip_render_check=True)


def test_an_episode_through_gymnasium() -> None:
    env = to_gymnasium(Countdown(difficulty=2))
    observation, info = env.reset(seed=3)
    assert env.observation_space.contains(observation) and info == {}
    terminated, total = False, 0.0
    while not terminated:
        observation, reward, terminated, truncated, _ = env.step(1)
        total += float(reward)
        assert not truncated
    assert observation == 0 and 0 < total <= 1.0
    assert env.render() == "counter: 0\ntaken: " + str(env.scenario.taken)
    with pytest.raises(FailedPreconditionError, match="call reset"):
        env.step(0)


def test_same_seed_same_instance() -> None:
    env = to_gymnasium(Countdown())
    assert env.reset(seed=9)[0] == env.reset(seed=9)[0]


def test_multi_agent_scenarios_are_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="not a single-player scenario"):
        to_gymnasium(TicTacToe())


@pytest.mark.parametrize(
    "info",
    [i for i in list_scenarios() if i.players == (1, 1) and not i.parallel],
    ids=lambda info: info.full_id,
)
def test_every_single_player_builtin_has_a_gymnasium_env(info: Any) -> None:
    env = to_gymnasium(info.full_id)
    observation, _ = env.reset(seed=0, options={"difficulty": info.difficulties[-1]})
    assert env.observation_space.contains(observation)
    assert isinstance(env.scenario, type(make(info.full_id)))
