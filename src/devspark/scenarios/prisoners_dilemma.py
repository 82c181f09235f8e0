"""Iterated prisoner's dilemma (``prisoners_dilemma-v1``).

Domains: adversarial, collaboration. Players: 2 to 8. Difficulty: 1 to 5 (noise and
horizon uncertainty).

Rules
    Every round each live agent chooses at the same time to cooperate (``"C"``) or
    defect (``"D"``). With probability ``noise`` each agent's chosen action is flipped
    before it is executed (a "trembling hand"); everybody, the agent included, sees
    only the executed actions, so a flip cannot be told from a choice. Each agent then
    plays the classic two-player dilemma against every other agent with its executed
    action, with the payoffs below (its own payoff first), and scores the **average**
    over its ``N - 1`` opponents, so a round is worth between 0 and 5 whatever the
    number of players::

                      other C   other D
            me C       R = 3     S = 0
            me D       T = 5     P = 1

    With ``k`` cooperators among the ``N - 1`` others, a cooperator scores
    ``3k / (N - 1)`` and a defector ``(5k + (N - 1 - k)) / (N - 1)``: whatever the
    others do, defecting pays more for the round (``T - R = 2`` more against each
    cooperator, ``P - S = 1`` more against each defector), yet everybody cooperating
    (3 each) beats everybody defecting (1 each). The episode lasts ``rounds`` rounds,
    drawn per episode from :attr:`~devspark.scenarios.parallel.ParallelScenario.rng`
    (the draw comes first, so a seed fixes the horizon whatever the agents do); the
    noise draws follow, one per agent per round in seat order, whatever the actions.

Difficulty
    The horizon is shown to the agents (``horizon`` in the observation) only at levels
    1 and 2; from level 3 it is hidden, and at levels 4 and 5 it is memoryless (every
    round is followed by another with probability 0.98, capped at 400 rounds, which
    cuts off one episode in about 3,000), so no end-game reasoning is possible.

    ==========  =======  ===============================  ============
    difficulty  noise    rounds                           horizon
    ==========  =======  ===============================  ============
    1           0        50                               shown
    2           0.01     uniform 40..60                   shown
    3           0.02     uniform 20..100                  hidden
    4           0.05     geometric, mean 50, at most 400  hidden
    5           0.10     geometric, mean 50, at most 400  hidden
    ==========  =======  ===============================  ============

    The reset option ``rounds`` (an int in ``1..1_000_000``; ``None`` or absent
    draws it) forces the number of rounds at any level (long-episode tests); whether
    it is shown still follows the level.

Observation (wire protocol)
    ``{"round": int, "num_players": N, "me": int, "history": [str], "cooperations":
    [N ints], "scores": [N floats], "horizon": int or null, "noise": float}``.
    ``round`` is the number of rounds played so far (the 0-based index of the round
    to play now); ``me`` is the observing agent's seat (``player_i`` is seat ``i``).
    ``history`` holds the executed actions of the last 50 rounds at most, oldest
    first, one string per round with one character (``"C"`` or ``"D"``) per seat:
    ``history[-1][j]`` is what seat ``j`` did last round. ``cooperations[j]`` counts
    the rounds seat ``j`` cooperated (executed) over the whole episode, so
    ``round - cooperations[j]`` is how often it defected; ``scores[j]`` is seat ``j``'s
    score so far (the sum of its round payoffs). ``horizon`` is the number of rounds
    of the episode, or null when hidden; ``noise`` is the flip probability.

Observation (PettingZoo)
    Egocentric, the same space at every difficulty and number of rounds: column 0 is
    the observing agent, then the other seats in seat order after it (wrapping
    around). ``{"history": int8 (16, N), "cooperations": int32 (N,), "scores":
    float32 (N,), "round": int32 (1,), "horizon": int32 (1,), "noise": float32
    (1,)}``: ``history`` holds the last 16 rounds (oldest first, the newest in the last
    row) with ``1`` for C, ``2`` for D and ``0`` for rows before the first round;
    ``horizon`` is 0 when hidden.

Actions
    Over the wire the string ``"C"`` or ``"D"``; only these exact strings are legal
    (not ``0``, ``"c"`` nor ``true``). ``legal_actions`` is ``["C", "D"]`` while the
    episode runs, else empty. The PettingZoo action space is ``Discrete(2)`` with
    ``0 = "C"`` and ``1 = "D"``; :meth:`PrisonersDilemma.step` takes either form (the
    match runner passes the wire strings, PettingZoo tools the ints).

Rewards
    Every round, each agent's payoff for the round (``0..5``, see Rules); the return
    is the sum, the ``scores`` of the observation. A fault (timeout, crash, invalid
    action ...) ends the episode at once, before the round is played: each faulting
    agent gets a final reward that brings its return to ``-5 * (rounds played + 1)``,
    below anything an agent can score; the others get 0 and keep their scores.

Replay state
    :meth:`PrisonersDilemma.render_state` keeps only the last round (intended and
    executed actions) and per-seat counters, about 200 bytes for two players whatever
    the round, since a replay stores one state per round: the sequence of states is
    the whole history, and the replay's moves hold every intended action.

Version history
    v1: first version.
"""

from __future__ import annotations

import math
import operator
import random
from dataclasses import dataclass
from typing import Any, Final

import gymnasium
import numpy as np

from devspark.core.errors import InvalidArgumentError
from devspark.scenarios.options import OptionSpec
from devspark.scenarios.parallel import ParallelScenario, RoundOutcome
from devspark.scenarios.registry import register

ACTIONS: Final = ("C", "D")
"""Wire names of the actions; the PettingZoo action ``i`` is ``ACTIONS[i]``."""

REWARD: Final = 3
"""R: both cooperate."""
SUCKER: Final = 0
"""S: I cooperate, the other defects."""
TEMPTATION: Final = 5
"""T: I defect, the other cooperates."""
PUNISHMENT: Final = 1
"""P: both defect."""

HISTORY_WINDOW: Final = 50
"""Rounds of history in the wire observation."""
OBS_ROUNDS: Final = 16
"""Rounds of history in the PettingZoo observation."""
MAX_ROUNDS: Final = 1_000_000
"""Largest accepted ``rounds`` option (and the bound of the PettingZoo counters)."""

_FLIP: Final = str.maketrans("CD", "DC")
_CODES: Final = bytes.maketrans(b"CD", b"\x01\x02")
# History codes, cooperations, scores (seat order) and the round, horizon and noise.
_ObservationBase = tuple[
    np.ndarray[Any, np.dtype[np.int8]],
    np.ndarray[Any, np.dtype[np.int32]],
    np.ndarray[Any, np.dtype[np.float32]],
    tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]],
]


@dataclass(frozen=True, slots=True)
class DilemmaLevel:
    """Parameters of one difficulty level.

    Attributes:
        noise: Probability that an agent's action is flipped when executed.
        horizon_known: Whether the observation shows the number of rounds.
        low: Fewest rounds (uniform draw).
        high: Most rounds (uniform draw, or the cap of the geometric draw).
        continuation: Probability that a round is followed by another (geometric
            draw), or ``None`` for a uniform draw in ``low..high``.

    """

    noise: float
    horizon_known: bool
    low: int
    high: int
    continuation: float | None = None

    def draw_rounds(self, rng: random.Random) -> int:
        """Draw the number of rounds of an episode.

        Args:
            rng: The episode's generator (one draw).

        Returns:
            The number of rounds, in ``low..high``.

        """
        if self.continuation is None:
            return rng.randint(self.low, self.high)
        # Inverse transform: P(rounds >= k) = continuation ** (k - 1).
        rounds = 1 + int(math.log(1.0 - rng.random()) / math.log(self.continuation))
        return max(self.low, min(rounds, self.high))


LEVELS: Final = {
    1: DilemmaLevel(noise=0.0, horizon_known=True, low=50, high=50),
    2: DilemmaLevel(noise=0.01, horizon_known=True, low=40, high=60),
    3: DilemmaLevel(noise=0.02, horizon_known=False, low=20, high=100),
    4: DilemmaLevel(noise=0.05, horizon_known=False, low=1, high=400, continuation=0.98),
    5: DilemmaLevel(noise=0.10, horizon_known=False, low=1, high=400, continuation=0.98),
}
"""Parameters per difficulty."""


def pairwise_points(cooperators: int, num_players: int) -> tuple[int, int]:
    """Summed two-player payoffs of a cooperator and of a defector in one round.

    Args:
        cooperators: How many agents cooperated (executed) this round.
        num_players: Number of agents.

    Returns:
        ``(cooperator, defector)``: the sum of the pairwise payoffs against the
        ``num_players - 1`` others; divide by ``num_players - 1`` for the round payoff.

    """
    defectors = num_players - cooperators
    cooperator = REWARD * (cooperators - 1) + SUCKER * defectors
    defector = TEMPTATION * cooperators + PUNISHMENT * (defectors - 1)
    return cooperator, defector


def check_rounds(rounds: Any) -> int:
    """Validate the ``rounds`` option.

    Args:
        rounds: The option's value.

    Returns:
        ``rounds`` unchanged.

    Raises:
        InvalidArgumentError: ``rounds`` is not an int in ``1..MAX_ROUNDS``.

    """
    if type(rounds) is not int or not 1 <= rounds <= MAX_ROUNDS:
        raise InvalidArgumentError(
            f"rounds={rounds!r} is out of range for prisoners_dilemma-v1; "
            f"expected an int in [1, {MAX_ROUNDS}]"
        )
    return rounds


@register
class PrisonersDilemma(ParallelScenario):
    """Iterated N-player prisoner's dilemma; see the module documentation for the rules.

    Args:
        render_mode: ``"ansi"`` or ``None``.
        **options: Reset defaults (``difficulty``, ``rounds``) and ``num_players``
            (construction only, 2 to 8, default 2).

    Raises:
        InvalidArgumentError: An option is out of range.

    """

    scenario_id = "prisoners_dilemma"
    version = 1
    domains = ("adversarial", "collaboration")
    players = (2, 8)
    difficulties = (1, 2, 3, 4, 5)

    @classmethod
    def option_specs(cls) -> tuple[OptionSpec, ...]:
        """``difficulty`` and ``rounds`` (a fixed number of rounds; null: drawn)."""
        rounds = OptionSpec(
            "rounds",
            "a fixed number of rounds instead of a drawn horizon",
            minimum=1,
            maximum=MAX_ROUNDS,
            nullable=True,
        )
        return (*super().option_specs(), rounds)

    def __init__(self, *, render_mode: str | None = None, **options: Any) -> None:
        if options.get("rounds") is not None:
            check_rounds(options["rounds"])
        super().__init__(render_mode=render_mode, **options)
        self._n = len(self.possible_agents)
        self._seat = {agent: i for i, agent in enumerate(self.possible_agents)}
        self._level = LEVELS[1]
        self._horizon = 0
        self._executed: list[str] = []
        self._last_intended: str | None = None
        self._obs_base: _ObservationBase | None = None
        # Seat order of the egocentric PettingZoo view of each seat: itself, then the
        # seats after it, wrapping around.
        self._orders = [
            np.array([(seat + k) % self._n for k in range(self._n)], dtype=np.intp)
            for seat in range(self._n)
        ]
        self._cooperations = [0] * self._n
        self._points = [0] * self._n
        self._result = "ongoing"

    def _new_episode(self, options: dict[str, Any]) -> None:
        level = self._level = LEVELS[self.difficulty]
        rounds = options.get("rounds")
        self._horizon = level.draw_rounds(self.rng) if rounds is None else check_rounds(rounds)
        self._executed = []
        self._last_intended = None
        self._obs_base = None
        self._cooperations = [0] * self._n
        self._points = [0] * self._n
        self._result = "ongoing"

    def _build_observation_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        n = self._n
        return gymnasium.spaces.Dict(
            {
                "history": gymnasium.spaces.Box(0, 2, shape=(OBS_ROUNDS, n), dtype=np.int8),
                "cooperations": gymnasium.spaces.Box(0, MAX_ROUNDS, shape=(n,), dtype=np.int32),
                "scores": gymnasium.spaces.Box(
                    0.0, float(TEMPTATION * MAX_ROUNDS), shape=(n,), dtype=np.float32
                ),
                "round": gymnasium.spaces.Box(0, MAX_ROUNDS, shape=(1,), dtype=np.int32),
                "horizon": gymnasium.spaces.Box(0, MAX_ROUNDS, shape=(1,), dtype=np.int32),
                "noise": gymnasium.spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32),
            }
        )

    def _build_action_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        return gymnasium.spaces.Discrete(2)

    # ------------------------------------------------------------- rules

    def _play_round(self, actions: dict[str, Any]) -> RoundOutcome:
        agents = self.possible_agents
        intended = "".join(_action_name(agent, actions[agent]) for agent in agents)
        executed = intended
        noise = self._level.noise
        if noise:
            rng = self.rng
            flips = [rng.random() < noise for _ in agents]
            if any(flips):
                executed = "".join(
                    a.translate(_FLIP) if flip else a
                    for a, flip in zip(intended, flips, strict=True)
                )
        n = self._n
        cooperators = executed.count("C")
        on_c, on_d = pairwise_points(cooperators, n)
        opponents = n - 1
        points, cooperations = self._points, self._cooperations
        rewards: dict[str, float] = {}
        for i, action in enumerate(executed):
            if action == "C":
                points[i] += on_c
                cooperations[i] += 1
                rewards[agents[i]] = on_c / opponents
            else:
                points[i] += on_d
                rewards[agents[i]] = on_d / opponents
        history = self._executed
        history.append(executed)
        if len(history) > 4 * HISTORY_WINDOW:
            del history[:-HISTORY_WINDOW]
        self._last_intended = intended
        self._obs_base = None
        done = self.round + 1 >= self._horizon
        if done:
            self._result = "done"
        return RoundOutcome(rewards=rewards, all_terminated=done)

    def _forfeit_rewards(self, faults: dict[str, str]) -> dict[str, float]:
        self._result = "forfeit"
        floor = -float(TEMPTATION * (self.round + 1))
        return {
            agent: floor - self._score(self._seat[agent]) if agent in faults else 0.0
            for agent in self.agents
        }

    def _score(self, seat: int) -> float:
        return self._points[seat] / (self._n - 1)

    # ------------------------------------------------------------ wire API

    def observe_json(self, agent: str) -> dict[str, Any]:
        """Wire observation (see the module documentation).

        Args:
            agent: One of :attr:`possible_agents`.

        Returns:
            A fresh dict (the caller may keep or mutate it).

        Raises:
            InvalidArgumentError: Unknown agent.

        """
        seat = self._seat.get(agent)
        if seat is None:
            self._check_agent(agent)
        level = self._level
        return {
            "round": self.round,
            "num_players": self._n,
            "me": seat,
            "history": self._executed[-HISTORY_WINDOW:],
            "cooperations": self._cooperations[:],
            "scores": [self._score(i) for i in range(self._n)],
            "horizon": self._horizon if level.horizon_known else None,
            "noise": level.noise,
        }

    def legal_actions(self, agent: str) -> list[str]:
        """``["C", "D"]`` while ``agent`` is live, else empty.

        Args:
            agent: One of :attr:`possible_agents`.

        Returns:
            A fresh list.

        """
        return ["C", "D"] if agent in self.agents else []

    def is_legal(self, agent: str, action: Any) -> bool:
        """Whether ``action`` is exactly ``"C"`` or ``"D"`` and ``agent`` is live.

        Args:
            agent: The agent that sent the action.
            action: Any decoded JSON value.

        Returns:
            True when the move is legal; never raises.

        """
        return type(action) is str and (action == "C" or action == "D") and agent in self.agents

    def render_state(self) -> dict[str, Any]:
        """Compact state for replays, stored after every round.

        Only the last round is kept (the replay holds one state per round, so the
        sequence of states is the whole history); everything else is a counter.

        Returns:
            ``round`` (rounds played), ``horizon`` (the true number of rounds, shown to
            agents or not), ``horizon_known``, ``noise``, ``num_players``, ``intended``
            and ``executed`` (the last round's actions, one character per seat, or None
            before the first round), ``cooperations`` and ``scores`` (rounded to 4
            decimals) per seat, ``result`` (``"ongoing"``, ``"done"`` or
            ``"forfeit"``) and ``faults`` (status per faulting agent).

        """
        return {
            "round": self.round,
            "horizon": self._horizon,
            "horizon_known": self._level.horizon_known,
            "noise": self._level.noise,
            "num_players": self._n,
            "intended": self._last_intended,
            "executed": self._executed[-1] if self._executed else None,
            "cooperations": self._cooperations[:],
            "scores": [round(self._score(i), 4) for i in range(self._n)],
            "result": self._result,
            "faults": dict(self.faults),
        }

    @classmethod
    def render_text(cls, state: Any) -> str:
        """Draw a :meth:`render_state` value as a table, one row per player.

        Args:
            state: A :meth:`render_state` value.

        Returns:
            A header line (round, horizon, noise, result), then per player the last
            round's intended and executed actions (``-`` before the first round), the
            cooperation count, the score and any fault.

        """
        shown = "shown" if state["horizon_known"] else "hidden"
        lines = [
            f"round {state['round']}/{state['horizon']} (horizon {shown}), "
            f"noise {state['noise']}, {state['result']}",
            f"{'player':<10} {'intended':>8} {'executed':>8} {'coop':>7} {'score':>10}  fault",
        ]
        intended = state["intended"] or "-" * state["num_players"]
        executed = state["executed"] or "-" * state["num_players"]
        faults = state["faults"]
        for seat in range(state["num_players"]):
            agent = f"player_{seat}"
            lines.append(
                f"{agent:<10} {intended[seat]:>8} {executed[seat]:>8} "
                f"{state['cooperations'][seat]:>7} {state['scores'][seat]:>10.2f}  "
                f"{faults.get(agent, '')}".rstrip()
            )
        return "\n".join(lines)

    # ------------------------------------------------------- PettingZoo API

    def observe(self, agent: str) -> dict[str, np.ndarray[Any, Any]]:
        """PettingZoo observation, egocentric (see the module documentation).

        Args:
            agent: One of :attr:`possible_agents`.

        Returns:
            A value of :meth:`observation_space`.

        """
        seat = self._seat.get(agent)
        if seat is None:
            self._check_agent(agent)
            seat = 0
        base = self._obs_base
        if base is None:
            base = self._obs_base = self._observation_base()
        history, cooperations, scores, counters = base
        order = self._orders[seat]
        return {
            "history": history[:, order],
            "cooperations": cooperations[order],
            "scores": scores[order],
            "round": counters[0].copy(),
            "horizon": counters[1].copy(),
            "noise": counters[2].copy(),
        }

    def _observation_base(self) -> _ObservationBase:
        """The PettingZoo observation in seat order, built once per round."""
        n = self._n
        recent = self._executed[-OBS_ROUNDS:]
        padding = bytes((OBS_ROUNDS - len(recent)) * n)
        codes = padding + "".join(recent).encode().translate(_CODES)
        level = self._level
        return (
            np.frombuffer(codes, dtype=np.int8).reshape(OBS_ROUNDS, n),
            np.array(self._cooperations, dtype=np.int32),
            np.array([self._score(i) for i in range(n)], dtype=np.float32),
            (
                np.array([self.round], dtype=np.int32),
                np.array([self._horizon if level.horizon_known else 0], dtype=np.int32),
                np.array([level.noise], dtype=np.float32),
            ),
        )


def _action_name(agent: str, action: Any) -> str:
    """``"C"`` or ``"D"`` for a wire or PettingZoo action.

    Raises:
        InvalidArgumentError: ``action`` is neither.

    """
    if type(action) is str:
        if action == "C" or action == "D":
            return action
    elif not isinstance(action, bool | np.bool_):
        try:
            index = operator.index(action)
        except TypeError:
            index = -1
        if index == 0 or index == 1:
            return ACTIONS[index]
    raise InvalidArgumentError(
        f"action={action!r} is illegal for {agent} in prisoners_dilemma-v1: "
        'expected "C", "D", 0 (C) or 1 (D)'
    )
