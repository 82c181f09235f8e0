"""The maze baselines: random < maze-greedy < maze-astar, in-process and in the sandbox."""

import random
import statistics
from types import ModuleType, SimpleNamespace
from typing import Any

import builtin_agent_helpers as helpers
import pytest

from devspark.sandbox import IsolationLevel
from devspark.scenarios.maze import Maze

AGENT = "player_0"
NAMES = ["maze-greedy", "maze-astar"]


greedy = helpers.load_agent("maze-greedy")
astar = helpers.load_agent("maze-astar")


def play(agent: Any, difficulty: int, seed: int, rng_seed: int = 0) -> tuple[float, list[str]]:
    """Play one in-process episode like the match runner; return the return and the moves."""
    env = Maze()
    env.reset(seed=seed, options={"difficulty": difficulty})
    context = helpers.agent_context(None, random.Random(rng_seed))
    agent.reset({"difficulty": difficulty}, context)
    moves = []
    while not env.episode_over:
        context.legal_actions = env.legal_actions(AGENT)
        action = helpers.runner_move(env, AGENT, agent, context, label=seed)
        env.step(action)
        moves.append(action)
    return env._cumulative_rewards[AGENT], moves


def returns(agent: str, difficulty: int, seeds: range, level: IsolationLevel) -> list[float]:
    """``agent``'s return in one maze per seed."""
    specs = helpers.seeded_specs("maze", (agent,), seeds, difficulty=difficulty, isolation=level)
    results = helpers.play_matches(specs)
    return [r.agents[0].reward for r in results]


@pytest.mark.parametrize("name", NAMES)
def test_manifest(name: str) -> None:
    helpers.assert_standard_manifest(name, scenarios=["maze"])


@helpers.needs_system_python
@pytest.mark.parametrize("name", NAMES)
def test_agents_import_on_the_sandbox_interpreter(name: str) -> None:
    helpers.assert_imports_on_the_sandbox_interpreter(
        [name], check="agent = module.Agent(); assert callable(agent.act) and callable(agent.reset)"
    )


@pytest.mark.parametrize("difficulty", [1, 2])
def test_astar_is_optimal_with_full_visibility(difficulty: int) -> None:
    agent = astar.Agent()
    assert [play(agent, difficulty, seed)[0] for seed in range(60)] == [1.0] * 60


@pytest.mark.parametrize("difficulty", [3, 4, 5])
def test_astar_always_reaches_the_goal_under_fog(difficulty: int) -> None:
    agent = astar.Agent()
    rewards = [play(agent, difficulty, seed)[0] for seed in range(30)]
    assert min(rewards) > 0.25  # never truncated (which would score 0)
    assert max(rewards) <= 1.0


@pytest.mark.parametrize("module", [greedy, astar], ids=["greedy", "astar"])
def test_memory_is_reset_between_episodes(module: ModuleType) -> None:
    warm = module.Agent()
    play(warm, 5, seed=0)  # a 31x31 map, as in the next episode: only reset() clears it
    assert play(warm, 5, seed=1) == play(module.Agent(), 5, seed=1)


@pytest.mark.parametrize("module", [greedy, astar], ids=["greedy", "astar"])
def test_agents_are_deterministic_given_the_rng(module: ModuleType) -> None:
    assert play(module.Agent(), 4, seed=3, rng_seed=5) == play(
        module.Agent(), 4, seed=3, rng_seed=5
    )


def test_greedy_walks_towards_the_goal_and_backs_out_of_dead_ends() -> None:
    agent = greedy.Agent()
    context = SimpleNamespace(rng=random.Random(0), legal_actions=["N", "E", "S"])
    agent.reset({}, context)
    assert agent.act({"position": [5, 5], "goal": [1, 5]}, context) == "N"  # closest to goal
    # Walk N into a dead end (only S is open): it steps back the way it came.
    context.legal_actions = ["S"]
    assert agent.act({"position": [4, 5], "goal": [1, 5]}, context) == "S"
    # Back at (5, 5): N is visited, so it takes the best unvisited cell left.
    context.legal_actions = ["N", "E", "S"]
    assert agent.act({"position": [5, 5], "goal": [1, 5]}, context) in {"E", "S"}


def test_greedy_breaks_ties_with_the_rng() -> None:
    picks = set()
    for seed in range(30):
        agent = greedy.Agent()
        context = SimpleNamespace(rng=random.Random(seed), legal_actions=["N", "E", "S", "W"])
        agent.reset({}, context)
        picks.add(agent.act({"position": [5, 5], "goal": [1, 9]}, context))
    assert picks == {"N", "E"}  # both 7 moves from the goal; S and W are farther


def test_greedy_always_solves_small_full_mazes_but_not_optimally() -> None:
    rewards = [play(greedy.Agent(), 2, seed)[0] for seed in range(60)]
    assert min(rewards) > 0
    assert statistics.mean(rewards) < 0.9


def test_strength_order_random_greedy_astar() -> None:
    seeds = range(200)
    level = IsolationLevel.TRUSTED
    by_agent = {
        name: returns(f"builtin:{name}", 4, seeds, level)
        for name in ("random", "maze-greedy", "maze-astar")
    }
    rand, heuristic, planner = by_agent["random"], by_agent["maze-greedy"], by_agent["maze-astar"]
    # Measured at difficulty 4 (23x23, view radius 3): means 0.00, 0.30, 0.78.
    assert statistics.mean(rand) < statistics.mean(heuristic) < statistics.mean(planner)
    # Paired by seed (the same maze): one-sided Wilcoxon signed-rank tests.
    assert helpers.paired_p_value(heuristic, rand) < 0.01
    assert helpers.paired_p_value(planner, heuristic) < 0.01
    assert sum(p > h for p, h in zip(planner, heuristic, strict=True)) > 150


@pytest.mark.integration
@pytest.mark.parametrize("name", ["random", "maze-greedy", "maze-astar"])
def test_agents_play_in_the_sandbox(name: str) -> None:
    rewards = returns(f"builtin:{name}", 3, range(3), IsolationLevel.SANDBOX)
    trusted = returns(f"builtin:{name}", 3, range(3), IsolationLevel.TRUSTED)
    assert rewards == trusted  # same moves in the sandbox as in-process
    if name == "random":
        assert all(0.0 <= r <= 1.0 for r in rewards)
    else:
        assert all(r > 0 for r in rewards)
