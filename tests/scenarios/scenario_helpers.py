"""Shared checks for the built-in scenario tests (``tests/scenarios/test_*.py``).

What every scenario's tests assert the same way lives here: its identity, the end of a
two-player game (won, drawn, forfeited), forfeit's argument checks, and a random-play
throughput driver. The rules of each scenario stay in its own test module.

Imported as a plain module: pytest's default ``prepend`` import mode puts this folder
on ``sys.path`` before it imports the test modules next to it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from devspark.core.errors import InvalidArgumentError
from devspark.scenarios import AnyScenario, Scenario

SEATS = ("player_0", "player_1")


def assert_identity(
    cls: type[AnyScenario],
    full_id: str,
    domains: tuple[str, ...],
    players: tuple[int, int],
    difficulties: tuple[int, ...],
    *,
    parallel: bool,
) -> None:
    """Check a scenario class's id and PettingZoo metadata, then its declared
    ``(domains, players, difficulties)``; ``parallel`` is its ``is_parallelizable``."""
    assert cls.full_id == full_id
    assert cls.metadata == {
        "name": full_id,
        "render_modes": ["ansi"],
        "is_parallelizable": parallel,
    }
    assert (cls.domains, cls.players, cls.difficulties) == (domains, players, difficulties)


def assert_forfeit_rejects_bad_arguments(
    env: AnyScenario, *, agent: str = "player_0", stranger: str = "player_7"
) -> None:
    """``forfeit`` names the bad value: an unknown status, or an agent not in the game."""
    with pytest.raises(InvalidArgumentError, match="status='bored'"):
        env.forfeit(agent, "bored")
    with pytest.raises(InvalidArgumentError, match=f"agent='{stranger}'"):
        env.forfeit(stranger, "timeout")


# ----------------------------------------------------------------- two-player games


def seeded_playout(env: Scenario, seed: int, moves: int = 12) -> list[Any]:
    """Reset with ``seed`` and play seeded random legal moves; the states seen, in order."""
    env.reset(seed=seed)
    rng = random.Random(seed)
    states = [env.render_state()]
    for _ in range(moves):
        legal = env.legal_actions(env.agent_selection)
        if not legal:
            break
        env.step(rng.choice(legal))
        states.append(env.render_state())
    return states


def opponent(seat: str) -> str:
    """The other seat of a two-player game."""
    return SEATS[1] if seat == SEATS[0] else SEATS[0]


def assert_over(env: Scenario) -> None:
    """The game is over for both seats: terminated, with nothing left to play."""
    assert all(env.terminations.values())
    assert env.legal_actions(SEATS[0]) == env.legal_actions(SEATS[1]) == []


def assert_won(env: Scenario, winner: str, label: object = None) -> None:
    """``winner`` won a two-player zero-sum game (+1 / -1) and it is over.

    ``label`` goes into the failure messages (say, which line was played).
    """
    state = env.render_state()
    assert (state["result"], state["winner"]) == ("win", winner), label
    assert env._cumulative_rewards == {winner: 1.0, opponent(winner): -1.0}, label
    assert env.legal_actions(env.agent_selection) == [], label
    assert_over(env)


def assert_drawn(env: Scenario) -> None:
    """A two-player game ended in a draw: nobody to move, nothing scored, and it is over."""
    state = env.render_state()
    assert (state["result"], state["winner"], state["to_move"]) == ("draw", None, None)
    assert env._cumulative_rewards == {"player_0": 0.0, "player_1": 0.0}
    assert_over(env)


def assert_forfeited(env: Scenario, faulting: str, status: str) -> None:
    """``faulting`` forfeited with ``status``: it scores -1, the other seat wins."""
    other = opponent(faulting)
    assert env._cumulative_rewards == {faulting: -1.0, other: 1.0}
    assert env.rewards == {faulting: -1.0, other: 1.0}
    assert_over(env)
    state = env.render_state()
    assert (state["result"], state["winner"]) == ("forfeit", other)
    assert state["forfeit"] == {"agent": faulting, "status": status}


def play_board_choices(
    env: Scenario, choices: Iterable[int]
) -> Iterator[tuple[list[Any], list[int]]]:
    """Play a two-player board game by ``choices``, checking what holds at every move.

    Each choice picks among the mover's legal actions (modulo their number); play stops
    early when there are none. Before each move this checks that the marks alternate
    (``player_0`` plays 1, ``player_1`` plays 2) and yields ``(legal, board)`` for the
    caller's own checks. When play stops it checks that the game is over exactly when
    its result says so, and that the returns sum to zero.
    """
    for choice in choices:
        agent = env.agent_selection
        legal = env.legal_actions(agent)
        if not legal:
            break
        board = env.observe_json(agent)["board"]
        assert board.count(1) - board.count(2) == (0 if agent == SEATS[0] else 1)
        yield legal, board
        env.step(legal[choice % len(legal)])
    over = env.render_state()["result"] != "ongoing"
    assert over == all(env.terminations.values())
    assert sum(env._cumulative_rewards.values()) == 0


# ----------------------------------------------------------------- throughput


@dataclass(frozen=True)
class RandomPlay:
    """What :func:`random_play` played, and how long it took."""

    episodes: int
    steps: int
    seconds: float

    @property
    def episodes_per_s(self) -> float:
        """Episodes played a second (resets included)."""
        return self.episodes / self.seconds

    @property
    def steps_per_s(self) -> float:
        """Steps played a second (resets included)."""
        return self.steps / self.seconds


def random_action(env: Scenario, agent: str, rng: random.Random) -> Any:
    """A uniformly random legal action."""
    return rng.choice(env.legal_actions(agent))


def random_play(
    env: Scenario,
    seeds: Iterable[int],
    *,
    options: Callable[[int], dict[str, Any]] | None = None,
    choose: Callable[[Scenario, str, random.Random], Any] = random_action,
) -> RandomPlay:
    """Play one seeded episode per seed with the match runner's calls, and time it.

    Each move observes (``observe_json``), picks an action with ``choose``, checks it
    with ``is_legal`` and steps. ``options(seed)`` gives the reset options.
    """
    rng = random.Random(0)
    episodes = steps = 0
    start = time.perf_counter()
    for seed in seeds:
        env.reset(seed=seed, options=options(seed) if options else None)
        while not env.episode_over:
            agent = env.agent_selection
            env.observe_json(agent)
            action = choose(env, agent, rng)
            assert env.is_legal(agent, action)
            env.step(action)
            steps += 1
        episodes += 1
    return RandomPlay(episodes, steps, time.perf_counter() - start)
