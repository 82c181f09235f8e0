import json
import random
import time
import warnings
from fractions import Fraction
from typing import Any

import numpy as np
import pytest
import scenario_helpers as helpers
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

from devspark.core.errors import FailedPreconditionError, InvalidArgumentError
from devspark.scenarios import make, to_gymnasium
from devspark.scenarios.puzzles import (
    ATTEMPT_REWARDS,
    KINDS,
    MAX_ANSWER_CHARS,
    Puzzle,
    Puzzles,
    check_expression,
    count_latin_solutions,
    generate_latin,
    generate_make24,
    generate_sequence,
    judge,
    sequence_predictions,
)

AGENT = "player_0"
LEVELS = (1, 2, 3, 4, 5)
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=300),
    lambda inner: st.lists(inner, max_size=8) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=30,
)


def new_env(kind: str, difficulty: int = 1, seed: int = 0) -> Puzzles:
    env = Puzzles()
    env.reset(seed=seed, options={"difficulty": difficulty, "kind": kind})
    return env


def wrong_answer(env: Puzzles) -> Any:
    puzzle = env.puzzle
    if puzzle.kind == "make24":
        numbers, target = puzzle.data["numbers"], puzzle.data["target"]
        joined = (f" {op} ".join(map(str, numbers)) for op in "+*-")
        return next(text for text in joined if check_expression(text, numbers, target) == "wrong")
    if puzzle.kind == "sequence":
        return puzzle.solution + 1
    grid = [row[:] for row in puzzle.solution]
    grid[0][0], grid[0][1] = grid[0][1], grid[0][0]
    return grid


def right_answer(env: Puzzles) -> Any:
    return env.puzzle.solution


def is_latin(grid: list[list[int]]) -> bool:
    n = len(grid)
    symbols = set(range(1, n + 1))
    return all(set(row) == symbols for row in grid) and all(
        {grid[r][c] for r in range(n)} == symbols for c in range(n)
    )


def test_identity() -> None:
    helpers.assert_identity(Puzzles, "puzzles-v1", ("reasoning",), (1, 1), LEVELS, parallel=False)
    assert make("puzzles").possible_agents == [AGENT]


# ------------------------------------------------------------ generation


@pytest.mark.parametrize("difficulty", LEVELS)
def test_generation_is_deterministic_per_seed(difficulty: int) -> None:
    env, other = Puzzles(), Puzzles()
    states = set()
    for seed in range(10):
        env.reset(seed=seed, options={"difficulty": difficulty})
        other.reset(seed=seed, options={"difficulty": difficulty})
        assert env.render_state() == other.render_state()
        assert env.observe_json(AGENT) == other.observe_json(AGENT)
        states.add(json.dumps(env.render_state()))
    assert len(states) == 10


def test_kind_is_drawn_from_the_rng_unless_given() -> None:
    env = Puzzles()
    drawn = set()
    for seed in range(30):
        env.reset(seed=seed)
        drawn.add(env.puzzle.kind)
    assert drawn == set(KINDS)
    fixed = Puzzles(kind="latin")
    fixed.reset(seed=1)
    assert fixed.observe_json(AGENT)["kind"] == "latin"
    fixed.reset(seed=1, options={"kind": "sequence"})
    assert fixed.observe_json(AGENT)["kind"] == "sequence"


@pytest.mark.parametrize("kind", ["sudoku", 3, ""])
def test_unknown_kind_is_rejected(kind: object) -> None:
    with pytest.raises(InvalidArgumentError, match="is not a puzzle kind"):
        Puzzles(kind=kind)
    with pytest.raises(InvalidArgumentError, match="is not a puzzle kind"):
        Puzzles().reset(options={"kind": kind})


@pytest.mark.parametrize("difficulty", LEVELS)
def test_make24_puzzles_are_solvable_and_scale(difficulty: int) -> None:
    count, high, low_target, high_target = {
        1: (3, 9, 1, 30),
        2: (4, 9, 24, 24),
        3: (4, 13, 25, 100),
        4: (5, 13, 25, 200),
        5: (5, 25, 100, 999),
    }[difficulty]
    for seed in range(150):
        puzzle = generate_make24(random.Random(seed), difficulty)
        numbers, target = puzzle.data["numbers"], puzzle.data["target"]
        assert len(numbers) == count and all(1 <= x <= high for x in numbers)
        assert low_target <= target <= high_target
        assert check_expression(puzzle.solution, numbers, target) == "correct"
        assert puzzle.vector == (*numbers, target)


@pytest.mark.parametrize("difficulty", LEVELS)
def test_sequence_puzzles_have_one_answer(difficulty: int) -> None:
    lengths = set()
    for seed in range(150):
        puzzle = generate_sequence(random.Random(seed), difficulty)
        terms = puzzle.data["terms"]
        lengths.add(len(terms))
        assert sequence_predictions(terms) == {Fraction(puzzle.solution)}
        assert max(abs(t) for t in [*terms, puzzle.solution]) <= 10**6
        assert judge(puzzle, puzzle.solution) == judge(puzzle, str(puzzle.solution)) == "correct"
    base = {1: 5, 2: 5, 3: 6, 4: 7, 5: 8}[difficulty]
    assert lengths <= {base, base + 2}


@pytest.mark.parametrize("difficulty", LEVELS)
def test_latin_puzzles_have_a_unique_completion(difficulty: int) -> None:
    size, most_blanks = {1: (3, 3), 2: (4, 7), 3: (5, 14), 4: (6, 22), 5: (7, 34)}[difficulty]
    for seed in range(60):
        puzzle = generate_latin(random.Random(seed), difficulty)
        grid, solution = puzzle.data["grid"], puzzle.solution
        blanks = sum(value == 0 for row in grid for value in row)
        assert puzzle.data["size"] == len(grid) == size
        assert (blanks == most_blanks) if difficulty < 5 else (28 <= blanks <= most_blanks)
        assert is_latin(solution)
        assert all(grid[r][c] in (0, solution[r][c]) for r in range(size) for c in range(size))
        assert count_latin_solutions(grid) == 1
        assert judge(puzzle, solution) == "correct"


def test_sequence_predictions_know_the_documented_rules() -> None:
    assert sequence_predictions([2, 5, 8, 11, 14]) == {17}
    assert sequence_predictions([3, 6, 12, 24, 48]) == {96}
    assert sequence_predictions([1, 4, 9, 16, 25, 36]) == {49}
    assert sequence_predictions([1, 1, 2, 3, 5, 8, 13]) == {21}
    assert sequence_predictions([1, 3, 7, 15, 31, 63]) == {127}  # 2 a(n) + 1
    assert sequence_predictions([1, 10, 2, 20, 3, 30, 4, 40]) == {5}
    assert sequence_predictions([1, 2, 4, 7, 11]) == {16}  # quadratic, confirmed once
    assert sequence_predictions([1, 2, 4]) == set()  # too short to confirm anything


def test_latin_solution_count() -> None:
    assert count_latin_solutions([[0, 0], [0, 0]]) == 2
    assert count_latin_solutions([[1, 0], [0, 0]]) == 1
    assert count_latin_solutions([[1, 1], [0, 0]]) == 0
    assert count_latin_solutions([[0] * 4 for _ in range(4)], limit=5) == 5


# --------------------------------------------------------------- checker


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("8 / (3 - 8 / 3)", "correct"),
        ("8/(3-8/3)", "correct"),
        (" ( 8 / ( 3 - ( 8 / 3 ) ) ) ", "correct"),
        ("((8 / (3 - (8 / 3))))", "correct"),
        ("8 * 3 - 8 + 3", "wrong"),
        ("(8 - 3) * (8 - 3)", "wrong"),
        ("8 / (3 - 8 / 3) + 0", "invalid"),  # 0 is not given
        ("8 / (3 - 8 / 3) * 1", "invalid"),
        ("8 / (3 - 8 / 8)", "invalid"),  # a number used twice, another unused
        ("8 / (3 - 8)", "invalid"),  # a number unused
        ("-8 / (3 - 8 / 3)", "invalid"),  # no unary minus
        ("8 / (3 - 8 // 3)", "invalid"),
        ("8 ** 3 - 8 - 3", "invalid"),
        ("83 - 8 - 3", "invalid"),  # no joining digits
        ("8 / (3 - 3) + 8", "invalid"),  # division by zero
        ("8 / (3 - 8 / 3", "invalid"),
        ("8 / 3 - 8 / 3)", "invalid"),
        ("()", "invalid"),
        ("", "invalid"),
        ("8 / (3 - 8 / 3) = 24", "invalid"),
        ("8 ÷ (3 - 8 ÷ 3)", "invalid"),
        ("8 / (3 - 8 / ٣)", "invalid"),  # a non-ASCII digit
        ("__import__('os')", "invalid"),
    ],
)
def test_expression_checker(text: str, verdict: str) -> None:
    assert check_expression(text, [3, 3, 8, 8], 24) == verdict


@pytest.mark.parametrize(
    "text",
    [
        "(" * 40 + "1" + ")" * 40,
        "(" * 100_000,
        "9" * 100_000,
        "9" * 7 + " * 1",
        "1" + " + 1" * 5000,
        "1 * " * 49 + "1",
        "x" * (MAX_ANSWER_CHARS + 1),
    ],
)
def test_expression_checker_bounds_hostile_input(text: str) -> None:
    start = time.perf_counter()
    assert check_expression(text, [1, 1, 1, 1], 1) == "invalid"
    assert time.perf_counter() - start < 0.05


@pytest.mark.parametrize("value", [None, 24, 24.0, ["8"], {"a": 1}, True, b"8"])
def test_expression_checker_rejects_non_strings(value: object) -> None:
    assert check_expression(value, [3, 3, 8, 8], 24) == "invalid"  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789+-*/() ,[]x", max_size=MAX_ANSWER_CHARS))
def test_expression_checker_never_raises(text: str) -> None:
    assert check_expression(text, [1, 2, 3, 4, 5], 24) in {"correct", "wrong", "invalid"}


def test_sequence_and_latin_answers_are_read_in_every_documented_form() -> None:
    sequence = Puzzle("sequence", "", {"terms": [1, 2, 3]}, -4, (1, 2, 3))
    for answer in (-4, np.int64(-4), "-4", "  -4\n"):
        assert judge(sequence, answer) == "correct"
    for answer, verdict in [(4, "wrong"), ("4", "wrong"), ("-4.0", "invalid"), ("1e3", "invalid")]:
        assert judge(sequence, answer) == verdict
    assert judge(sequence, "9" * 21) == "invalid"
    solution = [[1, 2], [2, 1]]
    latin = Puzzle("latin", "", {"size": 2, "grid": [[1, 0], [0, 0]]}, solution, (1, 0, 0, 0))
    for answer in (solution, [1, 2, 2, 1], "[[1, 2], [2, 1]]", "12 21", "1,2;2,1"):
        assert judge(latin, answer) == "correct"
    for answer in ([[2, 1], [1, 2]], "21 12", [[1, 2], [2, 3]]):
        assert judge(latin, answer) == "wrong"
    for answer in ("1 2 2", [[1, 2], [2]], [[1, 2], [2, 1.0]], [[1, 2], [2, True]], "12x21", {}):
        assert judge(latin, answer) == "invalid"


# ---------------------------------------------------- wire API and rules


@pytest.mark.parametrize("kind", KINDS)
def test_observation_json(kind: str) -> None:
    env = new_env(kind, 3)
    observation = env.observe_json(AGENT)
    assert set(observation) == {"kind", "prompt", "data", "attempts_left", "feedback"}
    assert observation["kind"] == kind
    assert observation["attempts_left"] == 3 and observation["feedback"] is None
    assert json.loads(json.dumps(observation)) == observation
    assert env.legal_actions(AGENT) is None
    before = json.dumps(env.puzzle.data)
    observation["data"][next(iter(observation["data"]))] = "mutated"
    if kind == "latin":
        env.observe_json(AGENT)["data"]["grid"][0][0] = 99
    assert json.dumps(env.puzzle.data) == before
    assert env.observe_json(AGENT)["data"] == env.puzzle.data
    with pytest.raises(InvalidArgumentError, match="agent='ghost'"):
        env.observe_json("ghost")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("correct_at", [1, 2, 3, None])
def test_attempts_feedback_and_rewards(kind: str, correct_at: int | None) -> None:
    env = new_env(kind, 2, seed=5)
    for attempt in range(1, 4):
        answer = right_answer(env) if attempt == correct_at else wrong_answer(env)
        assert env.is_legal(AGENT, json.loads(json.dumps(answer)))
        env.step(answer)
        observation = env.observe_json(AGENT)
        if attempt == correct_at:
            assert observation["feedback"] == "correct"
            break
        assert observation["feedback"] == "wrong"
        assert observation["attempts_left"] == (0 if attempt == 3 else 3 - attempt)
        assert env.rewards[AGENT] == 0.0
        assert env.terminations[AGENT] == (attempt == 3)
    expected = 0.0 if correct_at is None else ATTEMPT_REWARDS[correct_at - 1]
    assert env._cumulative_rewards[AGENT] == env.rewards[AGENT] == expected
    assert env.terminations[AGENT] and env.observe_json(AGENT)["attempts_left"] == 0
    state = env.render_state()
    assert state["result"] == ("failed" if correct_at is None else "solved")
    assert [a["verdict"] for a in state["attempts"]][-1] == (
        "wrong" if correct_at is None else "correct"
    )
    assert not env.is_legal(AGENT, right_answer(env))
    env.step(None)
    assert env.agents == []
    with pytest.raises(FailedPreconditionError, match="call reset"):
        env.step(None)


def test_unreadable_answers_cost_an_attempt_with_invalid_feedback() -> None:
    env = new_env("make24", 1)
    env.step("((")
    assert env.observe_json(AGENT)["feedback"] == "invalid"
    assert env.observe_json(AGENT)["attempts_left"] == 2
    env.step("")
    env.step("x" * MAX_ANSWER_CHARS)
    assert env.render_state()["result"] == "failed"
    assert env._cumulative_rewards[AGENT] == 0.0


@pytest.mark.parametrize("kind", KINDS)
def test_is_legal_accepts_well_formed_attempts_only(kind: str) -> None:
    env = new_env(kind, 1)
    assert env.is_legal(AGENT, "anything at all")
    assert env.is_legal(AGENT, "") and env.is_legal(AGENT, "1" * MAX_ANSWER_CHARS)
    assert not env.is_legal(AGENT, "1" * (MAX_ANSWER_CHARS + 1))
    assert not env.is_legal("player_1", "1")
    for garbage in (None, 1.5, 4.0, True, False, {}, {"answer": "1"}, float("nan")):
        assert not env.is_legal(AGENT, garbage)
    assert env.is_legal(AGENT, 7) == env.is_legal(AGENT, 10**30) == (kind == "sequence")
    grid = [[1] * 3 for _ in range(3)]
    assert env.is_legal(AGENT, grid) == env.is_legal(AGENT, [1] * 9) == (kind == "latin")
    assert not env.is_legal(AGENT, [[1, 2, 3], [1, 2, 3], [1, 2]])
    assert not env.is_legal(AGENT, [[1, 2, 3], [1, 2, 3], [1, 2, True]])
    assert not env.is_legal(AGENT, [1] * 10**5)


@settings(max_examples=200, deadline=None)
@given(JSON_VALUES)
def test_is_legal_never_raises_and_legal_values_step(value: Any) -> None:
    for kind in KINDS:
        env = new_env(kind, 3)
        if env.is_legal(AGENT, value):
            env.step(value)
            assert len(env.render_state()["attempts"]) == 1
        else:
            with pytest.raises(InvalidArgumentError, match="is illegal for player_0"):
                env.step(value)


@pytest.mark.parametrize("attempts", [0, 1, 2])
def test_forfeit_ends_the_episode_with_the_lowest_return(attempts: int) -> None:
    env = new_env("sequence", 4)
    for _ in range(attempts):
        env.step(wrong_answer(env))
    env.forfeit(AGENT, "timeout")
    assert env._cumulative_rewards == env.rewards == {AGENT: -1.0}
    assert env.terminations[AGENT]
    assert not env.is_legal(AGENT, "1")
    state = env.render_state()
    assert state["result"] == "forfeit"
    assert state["forfeit"] == {"agent": AGENT, "status": "timeout"}
    env.forfeit(AGENT, "crashed")
    assert env._cumulative_rewards == {AGENT: -1.0}


def test_forfeit_after_the_end_keeps_the_result() -> None:
    env = new_env("make24", 1)
    env.step(right_answer(env))
    env.forfeit(AGENT, "crashed")
    assert env._cumulative_rewards == {AGENT: 1.0}
    assert env.render_state()["result"] == "solved"
    helpers.assert_forfeit_rejects_bad_arguments(env, agent=AGENT)


def test_step_accepts_numpy_answers() -> None:
    env = new_env("sequence", 1)
    env.step(np.int32(env.puzzle.solution))
    assert env.render_state()["attempts"] == [{"answer": env.puzzle.solution, "verdict": "correct"}]
    env = new_env("latin", 1)
    env.step(np.array(env.puzzle.solution).tolist())
    env = new_env("latin", 1)
    env.step([[np.int64(v) for v in row] for row in env.puzzle.solution])
    assert env.render_state()["result"] == "solved"
    json.dumps(env.render_state())


# ------------------------------------------------ rendering and spaces


@pytest.mark.parametrize("kind", KINDS)
def test_render_text_from_json(kind: str) -> None:
    env = new_env(kind, 2, seed=3)
    env.step("1 + 2")
    state = json.loads(json.dumps(env.render_state()))
    assert state["solution"] == env.puzzle.solution
    text = Puzzles.render_text(state)
    lines = text.splitlines()
    assert lines[0] == f"puzzles: {kind}, difficulty 2"
    assert env.puzzle.prompt in text
    assert 'attempt 1: "1 + 2" -> ' in text
    assert "result: ongoing; a solution:" in text
    if kind == "latin":
        assert lines[-1] == " ".join(map(str, env.puzzle.solution[-1]))
    env.forfeit(AGENT, "timeout")
    assert "result: forfeit (player_0: timeout)" in env.render()


def test_latin_prompt_draws_the_grid() -> None:
    env = new_env("latin", 1)
    grid = env.puzzle.data["grid"]
    drawn = "\n".join(" ".join(str(v) if v else "." for v in row) for row in grid)
    assert drawn in env.puzzle.prompt


@pytest.mark.parametrize("difficulty", LEVELS)
def test_observations_lie_in_the_space(difficulty: int) -> None:
    env = Puzzles()
    space = env.observation_space(AGENT)
    actions = env.action_space(AGENT)
    actions.seed(difficulty)
    for seed in range(12):
        env.reset(seed=seed, options={"difficulty": difficulty})
        while True:
            observation = env.observe(AGENT)
            assert space.contains(observation), observation
            assert observation["data"].dtype == np.int64
            length = observation["data_length"]
            assert tuple(observation["data"][:length]) == env.puzzle.vector
            assert KINDS[observation["kind"]] == env.puzzle.kind
            if env.terminations[AGENT]:
                break
            action = actions.sample()
            assert env.is_legal(AGENT, action)
            env.step(action)


@pytest.mark.parametrize("difficulty", LEVELS)
def test_gymnasium_env_passes_the_checker(difficulty: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(to_gymnasium("puzzles", difficulty=difficulty), skip_render_check=True)


def test_throughput() -> None:
    run = helpers.random_play(
        Puzzles(),
        range(600),
        options=lambda seed: {"difficulty": 1 + seed % 5},
        choose=lambda env, agent, rng: str(rng.randint(0, 99)),  # a random numeric answer
    )
    rate = run.episodes_per_s
    # Measured ~2,900 episodes/s over levels 1-5 (generation dominates) on the 2-core
    # dev machine.
    assert rate > 150, f"{rate:.0f} episodes/s"
