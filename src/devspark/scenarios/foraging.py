"""Level-based foraging (``foraging-v1``).

Domains: collaboration. Players: 2 to 4 (``num_players`` at construction, default 2),
all moving at once. Difficulty: 1 to 5.

Rules
    A team of agents forages on an open square grid (no walls inside). Every agent and
    every food item has a level. Each round every agent picks a move (``N``, ``E``,
    ``S``, ``W``, ``STAY`` or ``LOAD``) and a signal ``0..3``, all at once. A food
    item is collected when the agents orthogonally adjacent to it that chose ``LOAD``
    in the same round have levels summing to at least the food's level; a collected
    item disappears. Some items are *heavy*: heavier than the strongest agent, so only
    several agents loading together can lift them. Moves into a cell outside the
    grid, into food or into a cell an agent stands on at the start of the round are
    illegal; when several agents move into the same free cell, none of them moves.
    Loading is resolved before moving, on the positions at the start of the round
    (a loader does not move). The episode terminates when every item is collected and is truncated after
    ``step_limit`` rounds.

Signals
    The signal is a radio: after each round every agent observes the last signal of
    every agent, including those out of view. Signals have no effect on the rules;
    what they mean is up to the agents (for example "heavy food here, help").

Generation
    Everything is drawn from the seeded :attr:`~devspark.scenarios.base.ScenarioCore.rng`.
    Agent levels are uniform in ``1..3``. Light items have a level uniform in
    ``1..max_level`` (the strongest agent lifts it alone); heavy items a level uniform
    in ``max_level + 1 .. team_level`` (``team_level`` is the sum of the agents'
    levels, so every item is liftable by the team). Items lie off the border, at
    Chebyshev distance at least 2 from each other, so all four neighbours of every
    item are free: every instance is solvable. Agents start on distinct free cells.
    The grid side is ``base side + num_players - 2``.

Difficulty
    ====  =========  =====  =====  ===========  ==========
    d     base side  food   heavy  view radius  step limit
    ====  =========  =====  =====  ===========  ==========
    1     6          2      0      7 (all)      25
    2     8          3      1      4            40
    3     10         4      2      3            60
    4     12         5      3      3            80
    5     14         6      4      2            100
    ====  =========  =====  =====  ===========  ==========

Observation (wire protocol)
    ``{"me": int, "size": int, "view_radius": int, "step": int, "step_limit": int,
    "levels": [int per agent], "positions": [[r, c] or null per agent], "signals":
    [int per agent], "food": [[r, c, level], ...], "food_left": int}``. Agents are
    indexed by seat (``player_i`` is ``i``; ``me`` is the observer). Positions are
    ``[row, col]``, row 0 at the top. An agent sees the cells within ``view_radius``
    (Chebyshev distance) of itself: ``positions`` is null for agents out of view and
    ``food`` lists the uncollected items in view, sorted. ``levels`` (the team
    roster), ``signals`` (the radio, all 0 before the first round) and ``food_left``
    (the number of uncollected items on the whole grid) are always complete.

Observation (PettingZoo)
    ``{"grid": int8 (4, 16, 16), "signals": int8 (n,), "levels": int8 (n,), "status":
    int16 (3,), "action_mask": int8 (24,)}``, one space for every difficulty (16 is
    the largest side): grid planes are 1 on cells in view, the food level, the agent
    level (agents in view, the observer included) and 1 on the observer's cell, in
    the top-left corner with zero padding; ``status`` is ``[step, step_limit,
    food_left]``; the mask is 1 for each legal action while the episode runs.

Actions
    Over the wire exactly ``{"move": M, "signal": S}`` with ``M`` one of ``"N"``
    (row - 1), ``"E"`` (col + 1), ``"S"`` (row + 1), ``"W"`` (col - 1), ``"STAY"``,
    ``"LOAD"`` and ``S`` a JSON int ``0..3`` (not ``true``, not ``1.0``); no other
    keys and no bare move strings. ``STAY`` is always legal, ``LOAD`` only next to an
    uncollected item. ``legal_actions`` lists every legal move combined with every
    signal (at most 24 entries; moves in the order above, then signals), so a uniform
    pick is a uniform legal move with a uniform signal. The PettingZoo action space is
    ``Discrete(24)``: action ``a`` is move ``MOVES[a // 4]`` with signal ``a % 4``;
    :meth:`ParallelScenario.step` takes either form. An action of the space that is
    illegal now (e.g. an unmasked sample) acts as ``STAY`` keeping its signal.

Rewards
    As in level-based foraging: when an item of level ``f`` is collected, each loading
    agent of level ``l`` gets ``f * l / (L * F)``, where ``L`` is the sum of the
    loaders' levels and ``F`` the sum of the levels of all items. The team's return is
    the fraction of food level collected (1.0 when everything is). A fault (timeout,
    crash, invalid action ...) ends the episode at once: each faulting agent ends with
    a return of -1, the others keep theirs (all are >= 0).

Version history
    v1: first version.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Any, Final

import gymnasium
import numpy as np

from devspark.core.errors import InvalidArgumentError
from devspark.scenarios.parallel import ParallelScenario, RoundOutcome
from devspark.scenarios.registry import register

MOVES: Final = ("N", "E", "S", "W", "STAY", "LOAD")
"""Wire names of the moves; PettingZoo action ``a`` is ``MOVES[a // 4]``."""
SIGNALS: Final = 4
"""Signals are ints ``0..SIGNALS - 1``."""
MAX_AGENT_LEVEL: Final = 3
"""Agent levels are ``1..MAX_AGENT_LEVEL``."""
_DELTAS: Final = ((-1, 0), (0, 1), (1, 0), (0, -1), (0, 0))
_MOVE_INDEX: Final = {name: index for index, name in enumerate(MOVES)}
_STAY: Final = 4
_LOAD: Final = 5


@dataclass(frozen=True, slots=True)
class ForagingLevel:
    """Generation parameters of one difficulty level.

    Attributes:
        side: Grid side with two players (one more per extra player).
        food: Number of food items.
        heavy: How many of them are heavier than the strongest agent.
        view_radius: Chebyshev view radius.
        step_limit: Rounds before truncation.

    """

    side: int
    food: int
    heavy: int
    view_radius: int
    step_limit: int


LEVELS: Final = {
    1: ForagingLevel(side=6, food=2, heavy=0, view_radius=7, step_limit=25),
    2: ForagingLevel(side=8, food=3, heavy=1, view_radius=4, step_limit=40),
    3: ForagingLevel(side=10, food=4, heavy=2, view_radius=3, step_limit=60),
    4: ForagingLevel(side=12, food=5, heavy=3, view_radius=3, step_limit=80),
    5: ForagingLevel(side=14, food=6, heavy=4, view_radius=2, step_limit=100),
}
"""Generation parameters per difficulty."""

MAX_PLAYERS: Final = 4
"""The largest team."""
MAX_SIDE: Final = max(level.side for level in LEVELS.values()) + MAX_PLAYERS - 2
"""Side of the padded PettingZoo grid (the largest grid of any level)."""
MAX_FOOD_LEVEL: Final = MAX_AGENT_LEVEL * MAX_PLAYERS
"""The heaviest possible item (the strongest possible team)."""


@dataclass(frozen=True, slots=True)
class ForagingInstance:
    """A generated episode.

    Attributes:
        side: Rows (and columns) of the grid.
        agents: Start ``(row, col)`` per agent.
        levels: Level per agent.
        food: ``(row, col, level)`` per food item.

    """

    side: int
    agents: tuple[tuple[int, int], ...]
    levels: tuple[int, ...]
    food: tuple[tuple[int, int, int], ...]


def generate(rng: Any, level: ForagingLevel, num_players: int) -> ForagingInstance:
    """Generate an episode for ``level`` from ``rng`` (see the module documentation).

    Args:
        rng: A :class:`random.Random`.
        level: The generation parameters.
        num_players: Agents in the team.

    Returns:
        The grid side, agent starts and levels, and food items.

    """
    side = level.side + num_players - 2
    levels = tuple(rng.randint(1, MAX_AGENT_LEVEL) for _ in range(num_players))
    strongest, team = max(levels), sum(levels)
    food_levels = [rng.randint(strongest + 1, team) for _ in range(level.heavy)]
    food_levels += [rng.randint(1, strongest) for _ in range(level.food - level.heavy)]
    rng.shuffle(food_levels)
    interior = [(r, c) for r in range(1, side - 1) for c in range(1, side - 1)]
    rng.shuffle(interior)
    cells: list[tuple[int, int]] = []
    for r, c in interior:
        if len(cells) == len(food_levels):
            break
        if all(max(abs(r - fr), abs(c - fc)) >= 2 for fr, fc in cells):
            cells.append((r, c))
    taken = set(cells)
    free = [(r, c) for r in range(side) for c in range(side) if (r, c) not in taken]
    starts = rng.sample(free, num_players)
    food = tuple((r, c, f) for (r, c), f in zip(cells, food_levels, strict=True))
    return ForagingInstance(side, tuple(starts), levels, food)


@register
class Foraging(ParallelScenario):
    """Level-based foraging with a radio; see the module documentation for the rules.

    Args:
        render_mode: ``"ansi"`` or ``None``.
        **options: ``num_players`` (2 to 4) and reset defaults (see
            :class:`~devspark.scenarios.parallel.ParallelScenario`).

    """

    scenario_id = "foraging"
    version = 1
    domains = ("collaboration",)
    players = (2, MAX_PLAYERS)
    difficulties = (1, 2, 3, 4, 5)

    def __init__(self, *, render_mode: str | None = None, **options: Any) -> None:
        super().__init__(render_mode=render_mode, **options)
        n = len(self.possible_agents)
        self._index = {agent: i for i, agent in enumerate(self.possible_agents)}
        self._level = LEVELS[self.difficulty]
        self._side = 0
        self._levels: list[int] = [1] * n
        self._positions: list[tuple[int, int]] = [(0, 0)] * n
        self._food: list[list[int]] = []  # [row, col, level, collected 0/1]
        self._food_at: dict[tuple[int, int], int] = {}  # uncollected items by cell
        self._food_total = 1
        self._signals: list[int] = [0] * n
        self._moves: list[str] = []
        self._returns: list[float] = [0.0] * n
        self._step = 0
        self._result = "ongoing"

    def _new_episode(self, options: dict[str, Any]) -> None:
        level = self._level = LEVELS[self.difficulty]
        n = len(self.possible_agents)
        instance = generate(self.rng, level, n)
        self._side = instance.side
        self._levels = list(instance.levels)
        self._positions = list(instance.agents)
        self._food = [[r, c, f, 0] for r, c, f in instance.food]
        self._food_at = {(r, c): i for i, (r, c, _) in enumerate(instance.food)}
        self._food_total = sum(f for _, _, f in instance.food)
        self._signals = [0] * n
        self._moves = []
        self._returns = [0.0] * n
        self._step = 0
        self._result = "ongoing"

    def _build_observation_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        n = len(self.possible_agents)
        steps = max(level.step_limit for level in LEVELS.values())
        return gymnasium.spaces.Dict(
            {
                "grid": gymnasium.spaces.Box(
                    0, MAX_FOOD_LEVEL, shape=(4, MAX_SIDE, MAX_SIDE), dtype=np.int8
                ),
                "signals": gymnasium.spaces.Box(0, SIGNALS - 1, shape=(n,), dtype=np.int8),
                "levels": gymnasium.spaces.Box(1, MAX_AGENT_LEVEL, shape=(n,), dtype=np.int8),
                "status": gymnasium.spaces.Box(0, steps, shape=(3,), dtype=np.int16),
                "action_mask": gymnasium.spaces.Box(
                    0, 1, shape=(len(MOVES) * SIGNALS,), dtype=np.int8
                ),
            }
        )

    def _build_action_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        return gymnasium.spaces.Discrete(len(MOVES) * SIGNALS)

    # ------------------------------------------------------------ rules

    def _legal_moves(self, i: int) -> list[int]:
        """Indexes into :data:`MOVES` of the legal moves of agent ``i`` now."""
        side, food_at, positions = self._side, self._food_at, self._positions
        row, col = positions[i]
        moves = []
        for index in range(4):
            dr, dc = _DELTAS[index]
            cell = (row + dr, col + dc)
            if (
                0 <= cell[0] < side
                and 0 <= cell[1] < side
                and cell not in food_at
                and cell not in positions
            ):
                moves.append(index)
        moves.append(_STAY)
        if self._adjacent_food(row, col):
            moves.append(_LOAD)
        return moves

    def _adjacent_food(self, row: int, col: int) -> list[int]:
        food_at = self._food_at
        return [
            item
            for item in (
                food_at.get((row - 1, col)),
                food_at.get((row, col + 1)),
                food_at.get((row + 1, col)),
                food_at.get((row, col - 1)),
            )
            if item is not None
        ]

    def _play_round(self, actions: dict[str, Any]) -> RoundOutcome:
        parsed = {self._index[agent]: _parse(action) for agent, action in actions.items()}
        for agent, action in actions.items():  # check them all before changing anything
            if parsed[self._index[agent]][0] < 0:
                raise InvalidArgumentError(
                    f"action={action!r} is illegal for {agent} in {self.full_id}: expected "
                    f'{{"move": one of {list(MOVES)}, "signal": 0..3}} or an int 0..23'
                )
        moves = [_STAY] * len(self.possible_agents)
        for i, (move, signal) in parsed.items():
            moves[i] = move if move in self._legal_moves(i) else _STAY
            self._signals[i] = signal
        rewards = self._load(moves)
        self._move(moves)
        self._moves = [MOVES[m] for m in moves]
        self._step += 1
        outcome = RoundOutcome(rewards={self.possible_agents[i]: r for i, r in rewards.items()})
        if not self._food_at:
            self._result = "collected"
            outcome.all_terminated = True
        elif self._step >= self._level.step_limit:
            self._result = "truncated"
            outcome.all_truncated = True
        return outcome

    def _load(self, moves: list[int]) -> dict[int, float]:
        """Collect the items whose loaders are strong enough; return rewards by agent."""
        loaders: dict[int, list[int]] = {}
        for i, move in enumerate(moves):
            if move == _LOAD:
                for item in self._adjacent_food(*self._positions[i]):
                    loaders.setdefault(item, []).append(i)
        rewards: dict[int, float] = {}
        levels = self._levels
        for item, agents in loaders.items():
            food = self._food[item]
            strength = sum(levels[i] for i in agents)
            if strength < food[2]:
                continue
            food[3] = 1
            del self._food_at[(food[0], food[1])]
            for i in agents:
                share = food[2] * levels[i] / (strength * self._food_total)
                rewards[i] = rewards.get(i, 0.0) + share
                self._returns[i] += share
        return rewards

    def _move(self, moves: list[int]) -> None:
        """Move the agents whose target cell no other agent moves into."""
        targets: dict[tuple[int, int], list[int]] = {}
        for i, move in enumerate(moves):
            if move < _STAY:
                row, col = self._positions[i]
                dr, dc = _DELTAS[move]
                targets.setdefault((row + dr, col + dc), []).append(i)
        for cell, movers in targets.items():
            if len(movers) == 1:
                self._positions[movers[0]] = cell

    def _forfeit_rewards(self, faults: dict[str, str]) -> dict[str, float]:
        self._result = "forfeit"
        rewards: dict[str, float] = {}
        for agent in faults:
            i = self._index[agent]
            rewards[agent] = -1.0 - self._returns[i]
            self._returns[i] = -1.0
        return rewards

    # ------------------------------------------------------------ wire API

    def _visible(self, i: int) -> tuple[int, int, int]:
        row, col = self._positions[i]
        return row, col, self._level.view_radius

    def observe_json(self, agent: str) -> dict[str, Any]:
        """Wire observation (see the module documentation).

        Args:
            agent: ``"player_0"`` ... ``"player_3"``.

        Returns:
            A fresh dict (the caller may keep or mutate it).

        Raises:
            InvalidArgumentError: Unknown agent.

        """
        i = self._index.get(agent)
        if i is None:
            self._check_agent(agent)
            i = 0
        row, col, radius = self._visible(i)
        positions: list[list[int] | None] = [
            [r, c] if abs(r - row) <= radius and abs(c - col) <= radius else None
            for r, c in self._positions
        ]
        food = sorted(
            [r, c, f]
            for r, c, f, collected in self._food
            if not collected and abs(r - row) <= radius and abs(c - col) <= radius
        )
        return {
            "me": i,
            "size": self._side,
            "view_radius": radius,
            "step": self._step,
            "step_limit": self._level.step_limit,
            "levels": self._levels[:],
            "positions": positions,
            "signals": self._signals[:],
            "food": food,
            "food_left": len(self._food_at),
        }

    def legal_actions(self, agent: str) -> list[dict[str, Any]]:
        """List every legal move combined with every signal (at most 24 actions).

        Args:
            agent: ``"player_0"`` ... ``"player_3"``.

        Returns:
            ``{"move", "signal"}`` dicts, moves in :data:`MOVES` order then signals;
            empty once the agent's episode is over.

        """
        i = self._index.get(agent)
        if i is None or agent not in self.agents:
            return []
        return [
            {"move": MOVES[move], "signal": signal}
            for move in self._legal_moves(i)
            for signal in range(SIGNALS)
        ]

    def is_legal(self, agent: str, action: Any) -> bool:
        """Whether ``action`` is exactly ``{"move": legal move, "signal": 0..3}``.

        Args:
            agent: The agent that sent the action.
            action: Any decoded JSON value.

        Returns:
            True when the action is legal for ``agent`` now; never raises.

        """
        if type(action) is not dict or len(action) != 2:
            return False
        move, signal = action.get("move"), action.get("signal")
        if type(move) is not str or type(signal) is not int or not 0 <= signal < SIGNALS:
            return False
        index = _MOVE_INDEX.get(move)
        i = self._index.get(agent) if type(agent) is str else None
        if index is None or i is None or agent not in self.agents:
            return False
        return index in self._legal_moves(i)

    def render_state(self) -> dict[str, Any]:
        """Full state for replays, compact enough to store at every round.

        Returns:
            ``size``, ``view_radius``, ``step``, ``step_limit``, ``agents`` (``[row,
            col, level]`` per agent), ``food`` (``[row, col, level, collected 0/1]``
            per item), ``signals``, ``moves`` (the last round's move per agent, empty
            before the first), ``scores`` (returns so far), ``result``
            (``"ongoing"``, ``"collected"``, ``"truncated"`` or ``"forfeit"``) and
            ``faults`` (``{agent: status}``).

        """
        return {
            "size": self._side,
            "view_radius": self._level.view_radius,
            "step": self._step,
            "step_limit": self._level.step_limit,
            "agents": [
                [r, c, lv] for (r, c), lv in zip(self._positions, self._levels, strict=True)
            ],
            "food": [item[:] for item in self._food],
            "signals": self._signals[:],
            "moves": self._moves[:],
            "scores": [round(value, 6) for value in self._returns],
            "result": self._result,
            "faults": dict(self.faults),
        }

    # ------------------------------------------------------- PettingZoo API

    def observe(self, agent: str) -> dict[str, np.ndarray[Any, Any]]:
        """PettingZoo observation (see the module documentation).

        Args:
            agent: ``"player_0"`` ... ``"player_3"``.

        Returns:
            A value of :meth:`observation_space`.

        """
        i = self._index.get(agent)
        if i is None:
            self._check_agent(agent)
            i = 0
        row, col, radius = self._visible(i)
        side = self._side
        grid = np.zeros((4, MAX_SIDE, MAX_SIDE), dtype=np.int8)
        top, left = max(0, row - radius), max(0, col - radius)
        grid[0, top : min(side, row + radius + 1), left : min(side, col + radius + 1)] = 1
        for r, c, f, collected in self._food:
            if not collected and grid[0, r, c]:
                grid[1, r, c] = f
        for (r, c), level in zip(self._positions, self._levels, strict=True):
            if grid[0, r, c]:
                grid[2, r, c] = level
        grid[3, row, col] = 1
        mask = np.zeros(len(MOVES) * SIGNALS, dtype=np.int8)
        if self._result == "ongoing" and agent in self.agents:
            for move in self._legal_moves(i):
                mask[move * SIGNALS : (move + 1) * SIGNALS] = 1
        return {
            "grid": grid,
            "signals": np.array(self._signals, dtype=np.int8),
            "levels": np.array(self._levels, dtype=np.int8),
            "status": np.array(
                [self._step, self._level.step_limit, len(self._food_at)], dtype=np.int16
            ),
            "action_mask": mask,
        }

    @classmethod
    def render_text(cls, state: Any) -> str:
        """Draw a :meth:`render_state` value as a bordered grid.

        Agents are letters (``A`` is ``player_0``) followed by their level, uncollected
        food items ``*`` followed by theirs, empty cells ``.``; a legend line per agent
        follows.

        Args:
            state: A :meth:`render_state` value.

        Returns:
            The grid, a status line and one line per agent.

        """
        side = state["size"]
        cells = [[" . "] * side for _ in range(side)]
        for r, c, level, collected in state["food"]:
            if not collected:
                cells[r][c] = f"*{level:<2}"
        for i, (r, c, level) in enumerate(state["agents"]):
            cells[r][c] = f"{chr(65 + i)}{level} "
        border = "+" + "-" * (3 * side) + "+"
        lines = [border, *("|" + "".join(row) + "|" for row in cells), border]
        left = sum(1 for item in state["food"] if not item[3])
        lines.append(
            f"step {state['step']}/{state['step_limit']}, food left {left}, "
            f"view {state['view_radius']}, {state['result']}"
        )
        moves = state["moves"]
        for i, (r, c, level) in enumerate(state["agents"]):
            move = f", last {moves[i]}" if moves else ""
            fault = state["faults"].get(f"player_{i}")
            lines.append(
                f"{chr(65 + i)} player_{i} level {level} at ({r}, {c}), signal "
                f"{state['signals'][i]}{move}, score {state['scores'][i]:.3f}"
                + (f", fault {fault}" if fault else "")
            )
        return "\n".join(lines)


def _parse(action: Any) -> tuple[int, int]:
    """Map a wire dict or an integer ``0..23`` to ``(move index, signal)``; ``(-1, 0)`` if neither."""
    if type(action) is dict:
        move, signal = action.get("move"), action.get("signal")
        if (
            len(action) == 2
            and type(move) is str
            and move in _MOVE_INDEX
            and type(signal) is int
            and 0 <= signal < SIGNALS
        ):
            return _MOVE_INDEX[move], signal
        return -1, 0
    if isinstance(action, bool):
        return -1, 0
    try:
        index = operator.index(action)
    except TypeError:
        return -1, 0
    if not 0 <= index < len(MOVES) * SIGNALS:
        return -1, 0
    return index // SIGNALS, index % SIGNALS
