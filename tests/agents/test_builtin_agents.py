"""The built-in agents: manifests, stdlib-only code and game logic (played in-process)."""

import json
import random
from types import ModuleType, SimpleNamespace
from typing import Any

import builtin_agent_helpers as helpers
import pytest

from devspark.scenarios.tictactoe import TicTacToe

random_agent = helpers.load_agent("random")
minimax = helpers.load_agent("minimax")


def play_game(players: dict[str, ModuleType], seed: int) -> dict[str, float]:
    """Play one in-process game, checking every move like the match runner would."""
    env = TicTacToe()
    env.reset(seed=seed)
    rngs = {agent: random.Random(f"{seed}-{agent}") for agent in env.agents}
    while not env.terminations[env.agent_selection]:
        agent = env.agent_selection
        step = len(env.render_state()["moves"])
        context = helpers.agent_context(
            env.legal_actions(agent), rngs[agent], role=agent, step=step
        )
        env.step(helpers.runner_move(env, agent, players[agent], context))
    return dict(env._cumulative_rewards)


@pytest.mark.parametrize("name", ["random", "minimax", "random-js"])
def test_manifest(name: str) -> None:
    helpers.assert_standard_manifest(name, scenarios=["tictactoe"] if name == "minimax" else ["*"])


@helpers.needs_system_python
@pytest.mark.parametrize("name", ["random", "minimax"])
def test_python_agents_import_on_the_sandbox_interpreter(name: str) -> None:
    helpers.assert_imports_on_the_sandbox_interpreter([name])


def test_random_agent_picks_legal_actions() -> None:
    rng = random.Random(0)
    legal: list[Any] = ["a", "b", "c"]
    picks = {random_agent.act({}, SimpleNamespace(rng=rng, legal_actions=legal)) for _ in range(50)}
    assert picks == set(legal)
    first = [random_agent.act({}, SimpleNamespace(rng=random.Random(3), legal_actions=legal))]
    again = [random_agent.act({}, SimpleNamespace(rng=random.Random(3), legal_actions=legal))]
    assert first == again


@pytest.mark.parametrize("seat", ["player_0", "player_1"])
def test_minimax_never_loses_to_random(seat: str) -> None:
    other = "player_1" if seat == "player_0" else "player_0"
    outcomes = [play_game({seat: minimax, other: random_agent}, seed)[seat] for seed in range(100)]
    assert min(outcomes) >= 0
    assert outcomes.count(1.0) > 50  # random blunders often enough


def test_minimax_self_play_is_always_a_draw() -> None:
    for seed in range(30):
        assert play_game({"player_0": minimax, "player_1": minimax}, seed) == {
            "player_0": 0.0,
            "player_1": 0.0,
        }


def _winner(board: list[int]) -> int:
    for a, b, c in minimax.LINES:
        if board[a] and board[a] == board[b] == board[c]:
            return int(board[a])
    return 0


def _explore(board: list[int], to_move: int, own: int) -> int:
    """Count leaves; fail if ``own`` (minimax) ever loses, over every opponent reply
    and every optimal choice minimax could make."""
    winner = _winner(board)
    if winner or all(board):
        assert winner != 3 - own, f"minimax ({own}) lost: {board}"
        return 1
    if to_move == own:
        moves = minimax.best_moves(board, own)
    else:
        moves = [cell for cell in range(9) if not board[cell]]
    leaves = 0
    for cell in moves:
        board[cell] = to_move
        leaves += _explore(board, 3 - to_move, own)
        board[cell] = 0
    return leaves


@pytest.mark.parametrize("own", [1, 2])
def test_minimax_never_loses_against_any_move_sequence(own: int) -> None:
    assert _explore([0] * 9, 1, own) > 100


def test_minimax_takes_the_fastest_win_and_blocks() -> None:
    # X to move can win now at 2 (top row) instead of building a fork.
    board = [1, 1, 0, 2, 2, 0, 0, 0, 0]
    assert minimax.best_moves(board, 1) == [2]
    # O to move must block X's diagonal at 8.
    assert minimax.best_moves([1, 0, 0, 0, 1, 0, 2, 0, 0], 2) == [8]
    # ... but wins at 5 rather than block X's top row at 2.
    assert minimax.best_moves([1, 1, 0, 2, 2, 0, 1, 0, 0], 2) == [5]


def test_minimax_respects_legal_actions_and_uses_rng() -> None:
    observation = {"board": [0] * 9, "mark": 1}
    choices = {
        minimax.act(
            observation, SimpleNamespace(rng=random.Random(s), legal_actions=list(range(9)))
        )
        for s in range(40)
    }
    assert len(choices) > 1  # every opening draws with perfect play
    restricted = SimpleNamespace(rng=random.Random(0), legal_actions=[4])
    assert minimax.act(observation, restricted) == 4


@helpers.needs_node
def test_random_js_agent_picks_legal_actions() -> None:
    script = (
        f"import {{ act }} from {json.dumps((helpers.AGENTS / 'random-js' / 'agent.mjs').as_uri())};\n"
        "let seed = 1;\n"
        "const rng = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;\n"
        "const picks = new Set();\n"
        "for (let i = 0; i < 200; i++) picks.add(act({}, { legal_actions: [3, 5, 7], rng }));\n"
        "console.log(JSON.stringify([...picks].sort()));\n"
    )
    assert helpers.run_node_module(script) == [3, 5, 7]
