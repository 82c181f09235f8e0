"""The simultaneous-move base class, on a small scenario defined here."""

from __future__ import annotations

from typing import Any

import gymnasium
import pytest

from devspark.arena.agents import resolve_agent
from devspark.arena.match import play_episode
from devspark.core.errors import FailedPreconditionError, InvalidArgumentError
from devspark.core.results import AgentStatus
from devspark.sandbox import IsolationLevel, open_worker
from devspark.scenarios import ParallelScenario, RoundOutcome
from devspark.testing.check_scenario import check_scenario

_CHOICES = ("heads", "tails")


class Pennies(ParallelScenario):
    """N players show heads or tails; a player scores 1 per opponent it matches."""

    scenario_id = "pennies_test"
    domains = ("adversarial",)
    players = (2, 4)
    difficulties = (1, 2)

    def _new_episode(self, options: dict[str, Any]) -> None:
        self.horizon = int(options.get("rounds", 3 + self.rng.randrange(3)))
        self.history: list[dict[str, str]] = []

    def _build_observation_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        return gymnasium.spaces.Discrete(1000)

    def _build_action_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        return gymnasium.spaces.Discrete(2)

    def observe(self, agent: str) -> int:
        return min(self.round, 999)

    def observe_json(self, agent: str) -> dict[str, Any]:
        return {"round": self.round, "last": self.history[-1] if self.history else None}

    def legal_actions(self, agent: str) -> list[Any] | None:
        return list(_CHOICES) if agent in self.agents else []

    def is_legal(self, agent: str, action: Any) -> bool:
        return agent in self.agents and isinstance(action, str) and action in _CHOICES

    def _play_round(self, actions: dict[str, Any]) -> RoundOutcome:
        shown = {a: v if isinstance(v, str) else _CHOICES[int(v)] for a, v in actions.items()}
        self.history.append(shown)
        rewards = {a: float(sum(shown[b] == shown[a] for b in shown if b != a)) for a in shown}
        done = len(self.history) >= self.horizon
        return RoundOutcome(rewards=rewards, all_truncated=done)

    def _forfeit_rewards(self, faults: dict[str, str]) -> dict[str, float]:
        return {a: -100.0 if a in faults else 0.0 for a in self.agents}

    def render_state(self) -> dict[str, Any]:
        return {"round": self.round, "history": self.history, "faults": self.faults}


def test_the_base_passes_pettingzoo_parallel_tests_and_the_kit() -> None:
    check_scenario(Pennies, num_cycles=20)
    check_scenario(lambda: Pennies(num_players=3), num_cycles=20)


def test_a_round_rewards_every_agent_and_agents_leave_when_done() -> None:
    env = Pennies(num_players=3)
    observations, infos = env.reset(seed=1, options={"rounds": 2})
    assert set(observations) == set(infos) == {"player_0", "player_1", "player_2"}
    _, rewards, _, truncations, _ = env.step(
        {"player_0": "heads", "player_1": "heads", "player_2": "tails"}
    )
    assert rewards == {"player_0": 1.0, "player_1": 1.0, "player_2": 0.0}
    assert env.rewards == rewards and not any(truncations.values())
    _, _, _, truncations, _ = env.step(dict.fromkeys(env.agents, "tails"))
    assert all(truncations.values()) and env.agents == [] and env.episode_over
    with pytest.raises(FailedPreconditionError, match="episode is over"):
        env.step({})


def test_step_needs_one_action_per_live_agent() -> None:
    env = Pennies()
    env.reset(seed=0)
    with pytest.raises(InvalidArgumentError, match="expected one per live agent"):
        env.step({"player_0": "heads"})


def test_forfeit_all_ends_the_episode_with_every_faulting_agent_lowest() -> None:
    env = Pennies(num_players=4)
    env.reset(seed=0)
    env.forfeit_all({"player_1": "timeout", "player_3": "crashed"})
    assert env.agents == []
    assert env.rewards == {"player_0": 0.0, "player_1": -100.0, "player_2": 0.0, "player_3": -100.0}
    assert env.render_state()["faults"] == {"player_1": "timeout", "player_3": "crashed"}
    env.forfeit("player_0", "error")  # over: a no-op
    assert env.render_state()["faults"] == {"player_1": "timeout", "player_3": "crashed"}


@pytest.mark.parametrize(
    ("faults", "message"),
    [({}, "at least one"), ({"player_9": "timeout"}, "player_9"), ({"player_0": "ok"}, "status")],
)
def test_forfeit_all_rejects_bad_faults(faults: dict[str, str], message: str) -> None:
    env = Pennies()
    env.reset(seed=0)
    with pytest.raises(InvalidArgumentError, match=message):
        env.forfeit_all(faults)


def test_identity_is_declared_parallel() -> None:
    assert Pennies.parallel and Pennies.metadata["is_parallelizable"] is True
    assert Pennies.full_id == "pennies_test-v1"


@pytest.mark.integration
def test_the_runner_asks_every_agent_each_round(make_agent: Any) -> None:
    folder = make_agent(
        """
        def act(observation, context):
            return "heads"
        """,
        scenarios=("pennies_test",),
    )
    package = resolve_agent(str(folder))
    workers = [open_worker(package, IsolationLevel.TRUSTED, seed=i) for i in range(3)]
    seen: list[tuple[int, str]] = []
    recorded: list[list[str]] = []

    class Recorder:
        def start(self, env: Any) -> None:
            recorded.append(["start"])

        def __call__(self, step: int, moves: list[Any], env: Any) -> None:
            recorded.append([agent for agent, _ in moves])

    try:
        result = play_episode(
            Pennies(num_players=3),
            workers,
            seed=5,
            options={"rounds": 4},
            observer=lambda step, name, decision: seen.append((step, name)),
            recorder=Recorder(),
        )
    finally:
        for worker in workers:
            worker.close()
    assert result.steps == 4
    assert [r.reward for r in result.agents] == [8.0, 8.0, 8.0]
    assert [r.moves for r in result.agents] == [4, 4, 4]
    assert seen[:3] == [(0, "player_0"), (0, "player_1"), (0, "player_2")]
    assert recorded[0] == ["start"] and recorded[1] == ["player_0", "player_1", "player_2"]


@pytest.mark.integration
def test_a_faulting_agent_forfeits_the_round_and_the_others_keep_their_score(
    make_agent: Any,
) -> None:
    good = make_agent(
        'def act(observation, context):\n    return "tails"\n',
        name="good",
        scenarios=("pennies_test",),
    )
    bad = make_agent(
        'def act(observation, context):\n    return "edge" if observation["round"] == 2 else "tails"\n',
        name="bad",
        scenarios=("pennies_test",),
    )
    packages = [resolve_agent(str(good)), resolve_agent(str(bad))]
    workers = [open_worker(p, IsolationLevel.TRUSTED, seed=i) for i, p in enumerate(packages)]
    try:
        result = play_episode(Pennies(), workers, seed=0, options={"rounds": 5})
    finally:
        for worker in workers:
            worker.close()
    honest, cheat = result.agents
    assert result.steps == 3
    assert honest.status is AgentStatus.OK and honest.reward == 2.0
    assert cheat.status is AgentStatus.INVALID_ACTION and "edge" in cheat.detail
    assert cheat.reward == 2.0 - 100.0
