"""The puzzles baselines: random < heuristic < solver, in-process and in the sandbox."""

import random
import statistics
import time
from types import ModuleType

import builtin_agent_helpers as helpers
import pytest

from devspark.arena import MatchSpec
from devspark.sandbox import IsolationLevel
from devspark.scenarios.puzzles import KINDS, Puzzles, check_expression

AGENT = "player_0"
NAMES = ["puzzles-random", "puzzles-heuristic", "puzzles-solver"]


rand, heuristic, solver = (helpers.load_agent(name) for name in NAMES)


def play(agent: ModuleType, kind: str, difficulty: int, seed: int) -> tuple[float, float]:
    """Play one in-process episode like the match runner; return the return and the
    slowest move in seconds."""
    env = Puzzles()
    env.reset(seed=seed, options={"difficulty": difficulty, "kind": kind})
    context = helpers.agent_context(None, random.Random(seed))
    slowest = 0.0
    while not env.episode_over:
        start = time.perf_counter()
        # Timed with its JSON round trip and legality check, which take microseconds.
        action = helpers.runner_move(env, AGENT, agent, context, (kind, difficulty, seed))
        slowest = max(slowest, time.perf_counter() - start)
        env.step(action)
    return env._cumulative_rewards[AGENT], slowest


def returns(agent: str, seeds: range, level: IsolationLevel) -> list[float]:
    """``agent``'s return on one puzzle per seed, the difficulty cycling through 1-5."""
    specs = [
        MatchSpec("puzzles", (agent,), seed=s, options={"difficulty": 1 + s % 5}, isolation=level)
        for s in seeds
    ]
    results = helpers.play_matches(specs)
    return [r.agents[0].reward for r in results]


@pytest.mark.parametrize("name", NAMES)
def test_manifest(name: str) -> None:
    helpers.assert_standard_manifest(name, scenarios=["puzzles"])


@helpers.needs_system_python
@pytest.mark.parametrize("name", NAMES)
def test_agents_import_on_the_sandbox_interpreter(name: str) -> None:
    helpers.assert_imports_on_the_sandbox_interpreter([name])


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("difficulty", [1, 2, 3, 4, 5])
def test_solver_solves_every_puzzle_at_the_first_attempt(kind: str, difficulty: int) -> None:
    outcomes = [play(solver, kind, difficulty, seed) for seed in range(40)]
    assert [reward for reward, _ in outcomes] == [1.0] * 40
    # Measured: at most ~15 ms (make24, 5 numbers) on an idle 2-core machine; the move
    # deadline is 200 ms and the tests run two at a time.
    assert max(slowest for _, slowest in outcomes) < 0.15


def test_solver_make24_search_is_exact() -> None:
    assert check_expression(solver.solve_make24([3, 3, 8, 8], 24), [3, 3, 8, 8], 24) == "correct"
    assert check_expression(solver.solve_make24([1, 5, 5, 5], 24), [1, 5, 5, 5], 24) == "correct"
    # A zero-valued half: 0 * anything.
    assert check_expression(solver.solve_make24([4, 4, 7, 9, 1], 0), [1, 4, 4, 7, 9], 0) == (
        "correct"
    )
    assert solver.solve_make24([1, 1, 1, 1], 24) == "1 + 1 + 1 + 1"  # unsolvable: a guess
    assert solver.solve_sequence([1, 2, 4, 8, 16]) == 32
    assert solver.solve_sequence([2, 7, 3, 14, 4, 28, 5, 56]) == 6
    assert solver.solve_sequence([0, 1, 3, 8, 21, 55]) == 144  # 3 a(n+1) - a(n)
    grid = [[0, 2, 0], [0, 0, 1], [3, 0, 0]]
    assert solver.solve_latin(grid) == [[1, 2, 3], [2, 3, 1], [3, 1, 2]]
    assert grid == [[0, 2, 0], [0, 0, 1], [3, 0, 0]]  # not modified


def test_heuristic_guesses() -> None:
    assert heuristic.sequence_guesses([1, 4, 9, 16, 25])[0] == 36
    assert heuristic.sequence_guesses([3, 6, 12, 24])[0] == 48
    assert len(set(heuristic.sequence_guesses([1, 3, 7, 15, 31]))) >= 2
    numbers, rng = [1, 2, 3], random.Random(0)
    assert check_expression(heuristic.make24(numbers, 6, rng), numbers, 6) == "correct"


@pytest.mark.parametrize("name", NAMES)
def test_agents_are_deterministic_given_the_rng(name: str) -> None:
    agent = helpers.load_agent(name)
    for seed in range(15):
        args = (agent, KINDS[seed % 3], 1 + seed % 5, seed)
        assert play(*args)[0] == play(*args)[0]


def test_strength_order_random_heuristic_solver() -> None:
    seeds = range(200)
    level = IsolationLevel.TRUSTED
    by_agent = {name: returns(f"builtin:{name}", seeds, level) for name in NAMES}
    low, middle, top = (by_agent[name] for name in NAMES)
    # Measured over difficulties 1-5 and the drawn kinds: means 0.03, 0.57, 1.00.
    assert top == [1.0] * 200
    assert statistics.mean(low) < 0.2 < statistics.mean(middle) < 0.85
    # Paired by seed (the same puzzle): one-sided Wilcoxon signed-rank tests.
    assert helpers.paired_p_value(middle, low) < 0.01
    assert helpers.paired_p_value(top, middle) < 0.01


@pytest.mark.integration
@pytest.mark.parametrize("name", NAMES)
def test_agents_play_in_the_sandbox(name: str) -> None:
    seeds = range(5)
    rewards = returns(f"builtin:{name}", seeds, IsolationLevel.SANDBOX)
    assert rewards == returns(f"builtin:{name}", seeds, IsolationLevel.TRUSTED)
    if name == "puzzles-solver":
        assert rewards == [1.0] * 5
