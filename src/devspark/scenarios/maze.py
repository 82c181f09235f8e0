"""Maze (``maze-v1``).

Domains: planning. Players: 1. Difficulty: 1 to 5.

Rules
    One agent walks a grid maze from its start to the goal, one cell per move, and
    is scored on how short its walk was. Walls cannot be entered; there is nothing
    else in the maze. The episode ends when the agent steps on the goal, or is
    truncated when it has used ``step_limit`` moves without reaching it.

Grid
    The maze is a square grid of ``2n + 1`` rows and columns (``n`` lattice cells per
    side). Positions are ``[row, col]``, row 0 at the top, column 0 on the left. The
    grid has a fixed structure: the outer border is wall; a cell whose row and column
    are both odd (a lattice cell) is always open; a cell whose row and column are both
    even is always wall; the remaining cells (one odd and one even coordinate) are the
    walls between two lattice cells, open where the maze has a passage.

Generation
    Everything is drawn from the seeded :attr:`~devspark.scenarios.base.Scenario.rng`.
    A growing-tree maze is carved on the lattice: each step extends the newest
    carved cell with probability ``newest_bias`` (a recursive backtracker: long
    corridors, few dead ends) and a random carved cell otherwise (Prim-like: many
    short dead ends). Then a fraction ``loop_fraction`` of the remaining inner walls
    is opened to make loops, choosing only walls between two cells that are not dead
    ends (so loops do not remove dead ends). Start and goal are the two ends of a
    longest shortest path found by a double breadth-first search (from a random
    cell to its farthest cell ``a``, then from ``a`` to its farthest cell ``b``);
    which end is the start is a coin flip. Every maze is connected, so every
    instance is solvable.

Difficulty
    Size, visibility and maze shape per level (``L`` is the shortest path length;
    ``side`` the number of rows). Dead ends grow from about 3 (level 1) to about 63
    (level 5) on average; shortest paths from about 14 to about 73 moves.

    =====  =====  ===========  =============  ===========  ==================
    level  grid   view radius  loop_fraction  newest_bias  step limit
    =====  =====  ===========  =============  ===========  ==================
    1      7x7    full         0.0            1.0          ``4 L + 2 side``
    2      11x11  full         0.1            0.75         ``4 L + 2 side``
    3      17x17  4            0.1            0.5          ``4 L + 2 side``
    4      23x23  3            0.1            0.25         ``4 L + 2 side``
    5      31x31  2            0.1            0.0          ``4 L + 2 side``
    =====  =====  ===========  =============  ===========  ==================

Observation (wire protocol)
    ``{"grid": [rows], "position": [r, c], "goal": [r, c], "view_radius": int or
    null, "steps": int, "step_limit": int}``. ``grid`` is a list of strings, one per
    row, each character ``"#"`` (wall), ``"."`` (open) or ``"?"`` (unknown: outside
    the view). With full visibility (``view_radius`` null) every cell is shown. Under
    fog only the square window of cells within ``view_radius`` rows and columns of the
    agent (Chebyshev distance; walls do not block the view) is shown; the observation
    does not remember cells seen before, so an agent that wants a map keeps its own.
    The goal position is always given. ``steps`` counts the moves made so far.

Observation (PettingZoo)
    ``{"grid": int8 (31, 31), "position": int8 (2,), "goal": int8 (2,),
    "action_mask": int8 (4,)}``, the same for every difficulty so that one space
    fits every episode (and a Gymnasium wrapper can check it): ``grid`` holds ``0``
    (open), ``1`` (wall) or ``2`` (unknown), with the maze in the top-left corner and
    wall (``1``) padding up to 31x31; the mask is 1 for each legal move (in action
    order N, E, S, W) while the episode runs, else 0.

Actions
    Over the wire a string: ``"N"`` (row - 1), ``"E"`` (col + 1), ``"S"`` (row + 1) or
    ``"W"`` (col - 1); only these exact strings are legal on the wire (not ints, not
    lower case). The PettingZoo action space is ``Discrete(4)`` with ``0 = "N"``,
    ``1 = "E"``, ``2 = "S"``, ``3 = "W"``; :meth:`Maze.step` accepts either form. A
    move is legal when the target cell is not a wall. ``legal_actions`` lists the legal
    moves in the order N, E, S, W. On the PettingZoo (and Gymnasium) face, where a
    policy may send any action of the space, a move into a wall is accepted: the agent
    stays in place and the move counts as a step. Over the wire it is illegal (an
    ``invalid_action`` fault).

Rewards
    At the end only. Reaching the goal after ``steps`` moves gives
    ``shortest / steps``, where ``shortest`` is the length of a shortest path from the
    start (1.0 for an optimal walk, always in ``(0, 1]``). Truncation at the step
    limit gives 0. A fault (timeout, crash, invalid action ...) ends the episode at
    once with -1, the lowest possible return.

Version history
    v1: first version.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Final

import gymnasium
import numpy as np

from devspark.core.errors import InvalidArgumentError
from devspark.scenarios._shared import SOLE_AGENT, SinglePlayerScenario, as_integer
from devspark.scenarios.registry import register

ACTIONS: Final = ("N", "E", "S", "W")
"""Wire names of the moves; the PettingZoo action ``i`` is ``ACTIONS[i]``."""

_DELTAS: Final = ((-1, 0), (0, 1), (1, 0), (0, -1))
_INDEX: Final = {name: index for index, name in enumerate(ACTIONS)}
_AGENT: Final = SOLE_AGENT
WALL: Final = "#"
OPEN: Final = "."
UNKNOWN: Final = "?"
_TRAIL: Final = "."
_UNVISITED: Final = " "


@dataclass(frozen=True, slots=True)
class MazeLevel:
    """Generation parameters of one difficulty level.

    Attributes:
        cells: Lattice cells per side; the grid is ``2 * cells + 1`` square.
        view_radius: Chebyshev view radius, ``None`` for full visibility.
        loop_fraction: Fraction of the inner walls left by the carving that are
            opened to make loops.
        newest_bias: Probability of extending the newest carved cell (1.0 is a
            recursive backtracker, 0.0 a Prim-like maze with many dead ends).

    """

    cells: int
    view_radius: int | None
    loop_fraction: float
    newest_bias: float

    @property
    def side(self) -> int:
        """Rows (and columns) of the grid."""
        return 2 * self.cells + 1


LEVELS: Final = {
    1: MazeLevel(cells=3, view_radius=None, loop_fraction=0.0, newest_bias=1.0),
    2: MazeLevel(cells=5, view_radius=None, loop_fraction=0.1, newest_bias=0.75),
    3: MazeLevel(cells=8, view_radius=4, loop_fraction=0.1, newest_bias=0.5),
    4: MazeLevel(cells=11, view_radius=3, loop_fraction=0.1, newest_bias=0.25),
    5: MazeLevel(cells=15, view_radius=2, loop_fraction=0.1, newest_bias=0.0),
}
"""Generation parameters per difficulty."""

MAX_SIDE: Final = max(level.side for level in LEVELS.values())
"""Side of the padded PettingZoo grid (the largest maze of any level)."""


def step_limit(shortest: int, side: int) -> int:
    """Moves allowed in an episode: four times the shortest path plus twice the side.

    Args:
        shortest: Length of a shortest path from start to goal.
        side: Rows of the grid.

    Returns:
        The step limit.

    """
    return 4 * shortest + 2 * side


@dataclass(frozen=True, slots=True)
class MazeInstance:
    """A generated maze.

    Attributes:
        rows: The grid, one string per row of ``"#"`` and ``"."``.
        start: Start position ``(row, col)``.
        goal: Goal position ``(row, col)``.
        shortest: Length of a shortest path from start to goal.

    """

    rows: tuple[str, ...]
    start: tuple[int, int]
    goal: tuple[int, int]
    shortest: int


def generate(rng: Any, level: MazeLevel) -> MazeInstance:
    """Generate a maze for ``level`` from ``rng`` (see the module documentation).

    Args:
        rng: A :class:`random.Random`.
        level: The generation parameters.

    Returns:
        The maze, its start, goal and shortest path length.

    """
    n, side = level.cells, level.side
    grid = [bytearray(WALL * side, "ascii") for _ in range(side)]
    _carve(rng, grid, n, level.newest_bias)
    _add_loops(rng, grid, n, level.loop_fraction)
    rows = tuple(row.decode("ascii") for row in grid)
    first = (2 * rng.randrange(n) + 1, 2 * rng.randrange(n) + 1)
    a, _ = _farthest(rows, first)
    b, shortest = _farthest(rows, a)
    start, goal = (a, b) if rng.random() < 0.5 else (b, a)
    return MazeInstance(rows, start, goal, shortest)


def _carve(rng: Any, grid: list[bytearray], n: int, newest_bias: float) -> None:
    """Carve a spanning tree of the lattice (growing-tree algorithm)."""
    open_ = ord(OPEN)
    carved = [[False] * n for _ in range(n)]
    r, c = rng.randrange(n), rng.randrange(n)
    carved[r][c] = True
    grid[2 * r + 1][2 * c + 1] = open_
    active = [(r, c)]
    while active:
        index = len(active) - 1 if rng.random() < newest_bias else rng.randrange(len(active))
        r, c = active[index]
        fresh = [
            (dr, dc)
            for dr, dc in _DELTAS
            if 0 <= r + dr < n and 0 <= c + dc < n and not carved[r + dr][c + dc]
        ]
        if not fresh:
            active[index] = active[-1]
            active.pop()
            continue
        dr, dc = rng.choice(fresh)
        nr, nc = r + dr, c + dc
        carved[nr][nc] = True
        grid[2 * r + 1 + dr][2 * c + 1 + dc] = open_
        grid[2 * nr + 1][2 * nc + 1] = open_
        active.append((nr, nc))


def _degree(grid: list[bytearray], row: int, col: int) -> int:
    wall = ord(WALL)
    return sum(grid[row + dr][col + dc] != wall for dr, dc in _DELTAS)


def _add_loops(rng: Any, grid: list[bytearray], n: int, fraction: float) -> None:
    """Open ``fraction`` of the inner walls between two cells that are not dead ends."""
    wall, side = ord(WALL), 2 * n + 1
    walls = [
        (row, col)
        for row in range(1, side - 1)
        for col in range(1, side - 1)
        if (row + col) % 2 == 1 and grid[row][col] == wall
    ]
    count = round(fraction * len(walls))
    if not count:
        return
    candidates = []
    for row, col in walls:
        # An odd row means a wall between the cells left and right of it, else above and below.
        dr, dc = (0, 1) if row % 2 else (1, 0)
        if _degree(grid, row - dr, col - dc) >= 2 and _degree(grid, row + dr, col + dc) >= 2:
            candidates.append((row, col))
    rng.shuffle(candidates)
    for row, col in candidates[:count]:  # degrees only grow, so the test still holds
        grid[row][col] = ord(OPEN)


def _farthest(rows: tuple[str, ...], source: tuple[int, int]) -> tuple[tuple[int, int], int]:
    """The first cell at the largest breadth-first distance from ``source``, and that distance."""
    distances = {source: 0}
    queue = deque([source])
    last = source
    while queue:
        last = queue.popleft()
        row, col = last
        distance = distances[last] + 1
        for dr, dc in _DELTAS:
            cell = (row + dr, col + dc)
            if rows[cell[0]][cell[1]] != WALL and cell not in distances:
                distances[cell] = distance
                queue.append(cell)
    return last, distances[last]


@register
class Maze(SinglePlayerScenario):
    """A procedurally generated grid maze; see the module documentation for the rules.

    Args:
        render_mode: ``"ansi"`` or ``None``.
        **options: Reset defaults (see :class:`~devspark.scenarios.base.Scenario`).

    """

    scenario_id = "maze"
    version = 1
    domains = ("planning",)
    players = (1, 1)
    difficulties = (1, 2, 3, 4, 5)

    def __init__(self, *, render_mode: str | None = None, **options: Any) -> None:
        super().__init__(render_mode=render_mode, **options)
        self._level = LEVELS[self.difficulty]
        self._maze = MazeInstance((OPEN,), (0, 0), (0, 0), 0)
        self._position = (0, 0)
        self._steps = 0
        self._step_limit = 0
        self._trail: list[str] = []
        self._padded: np.ndarray[Any, np.dtype[np.int8]] | None = None

    def _new_episode(self, options: dict[str, Any]) -> None:
        level = self._level = LEVELS[self.difficulty]
        maze = self._maze = generate(self.rng, level)
        self._position = maze.start
        self._steps = 0
        self._step_limit = step_limit(maze.shortest, level.side)
        self._trail = [row.replace(OPEN, _UNVISITED) for row in maze.rows]
        self._mark_trail(maze.start)
        self._start_episode()
        self._padded = None

    def _build_observation_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        return gymnasium.spaces.Dict(
            {
                "grid": gymnasium.spaces.Box(0, 2, shape=(MAX_SIDE, MAX_SIDE), dtype=np.int8),
                "position": gymnasium.spaces.Box(0, MAX_SIDE - 1, shape=(2,), dtype=np.int8),
                "goal": gymnasium.spaces.Box(0, MAX_SIDE - 1, shape=(2,), dtype=np.int8),
                "action_mask": gymnasium.spaces.Box(0, 1, shape=(4,), dtype=np.int8),
            }
        )

    def _build_action_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        return gymnasium.spaces.Discrete(4)

    # ------------------------------------------------------------ wire API

    def observe_json(self, agent: str) -> dict[str, Any]:
        """Wire observation (see the module documentation).

        Args:
            agent: ``"player_0"``.

        Returns:
            A fresh dict (the caller may keep or mutate it).

        Raises:
            InvalidArgumentError: Unknown agent.

        """
        if agent != _AGENT:
            self._check_agent(agent)
        row, col = self._position
        return {
            "grid": self._visible_rows(),
            "position": [row, col],
            "goal": list(self._maze.goal),
            "view_radius": self._level.view_radius,
            "steps": self._steps,
            "step_limit": self._step_limit,
        }

    def _visible_rows(self) -> list[str]:
        rows = self._maze.rows
        radius = self._level.view_radius
        if radius is None:
            return list(rows)
        side = len(rows)
        row, col = self._position
        first, last = max(0, row - radius), min(side, row + radius + 1)
        left, right = max(0, col - radius), min(side, col + radius + 1)
        hidden = UNKNOWN * side
        before, after = UNKNOWN * left, UNKNOWN * (side - right)
        visible = [before + rows[r][left:right] + after for r in range(first, last)]
        return [hidden] * first + visible + [hidden] * (side - last)

    def legal_actions(self, agent: str) -> list[str]:
        """List the moves into open cells, in the order N, E, S, W.

        Args:
            agent: ``"player_0"``.

        Returns:
            The legal moves; empty when the episode is over.

        """
        if self._done or agent != _AGENT:
            return []
        rows = self._maze.rows
        row, col = self._position
        return [
            name
            for name, (dr, dc) in zip(ACTIONS, _DELTAS, strict=True)
            if rows[row + dr][col + dc] != WALL
        ]

    def is_legal(self, agent: str, action: Any) -> bool:
        """Whether ``action`` is one of ``"N"``, ``"E"``, ``"S"``, ``"W"`` into an open cell.

        Args:
            agent: The agent that sent the action.
            action: Any decoded JSON value.

        Returns:
            True when the move is legal; never raises.

        """
        if type(action) is not str or self._done or agent != _AGENT:
            return False
        index = _INDEX.get(action)
        if index is None:
            return False
        dr, dc = _DELTAS[index]
        row, col = self._position
        return self._maze.rows[row + dr][col + dc] != WALL

    def render_state(self) -> dict[str, Any]:
        """Full state for replays, compact enough to store at every step.

        Returns:
            ``grid`` (rows of ``"#"`` wall, ``" "`` open and ``"."`` visited, start
            included), ``position``, ``start``, ``goal``, ``steps``, ``step_limit``,
            ``shortest`` (shortest path length), ``view_radius``, ``result``
            (``"ongoing"``, ``"goal"``, ``"truncated"`` or ``"forfeit"``), ``reward``
            (the return so far) and ``forfeit`` (``{"agent", "status"}`` or None).

        """
        maze = self._maze
        return {
            "grid": self._trail[:],
            "position": list(self._position),
            "start": list(maze.start),
            "goal": list(maze.goal),
            "steps": self._steps,
            "step_limit": self._step_limit,
            "shortest": maze.shortest,
            "view_radius": self._level.view_radius,
            "result": self._result,
            "reward": self._reward(),
            "forfeit": None if self._forfeit is None else dict(self._forfeit),
        }

    def _reward(self) -> float:
        if self._result == "goal":
            return self._maze.shortest / self._steps
        return -1.0 if self._result == "forfeit" else 0.0

    # ------------------------------------------------------- PettingZoo API

    def observe(self, agent: str) -> dict[str, np.ndarray[Any, np.dtype[np.int8]]]:
        """PettingZoo observation: padded grid, position, goal and action mask.

        Args:
            agent: ``"player_0"``.

        Returns:
            A value of :meth:`observation_space` (see the module documentation).

        """
        if agent != _AGENT:
            self._check_agent(agent)
        padded = self._padded
        if padded is None:
            padded = self._padded = np.ones((MAX_SIDE, MAX_SIDE), dtype=np.int8)
            rows = self._maze.rows
            side = len(rows)
            padded[:side, :side] = [[ch == WALL for ch in row] for row in rows]
        row, col = self._position
        radius = self._level.view_radius
        if radius is None:
            grid = padded.copy()
        else:
            side = len(self._maze.rows)
            grid = np.ones((MAX_SIDE, MAX_SIDE), dtype=np.int8)
            grid[:side, :side] = 2
            top, left = max(0, row - radius), max(0, col - radius)
            window = (slice(top, row + radius + 1), slice(left, col + radius + 1))
            grid[window] = padded[window]
        mask = np.zeros(4, dtype=np.int8)
        mask[[_INDEX[name] for name in self.legal_actions(agent)]] = 1
        return {
            "grid": grid,
            "position": np.array(self._position, dtype=np.int8),
            "goal": np.array(self._maze.goal, dtype=np.int8),
            "action_mask": mask,
        }

    def step(self, action: Any) -> None:
        """Move the agent one cell (AEC semantics).

        A move into a wall (illegal on the wire, but part of the PettingZoo action
        space) leaves the agent in place and still counts as a step.

        Args:
            action: ``"N"``, ``"E"``, ``"S"``, ``"W"`` or ``0..3`` (any integer type),
                or ``None`` once the episode is over.

        Raises:
            InvalidArgumentError: The action is neither a move name nor ``0..3``.
            FailedPreconditionError: The episode is over and the agent was removed.

        """
        if self._done:
            self._dead_step(action)
            return
        index = _as_index(action)
        if index < 0:
            raise InvalidArgumentError(
                f"action={action!r} is illegal for {_AGENT} in maze-v1: expected one of "
                f"{list(ACTIONS)} or its index 0..3"
            )
        row, col = self._position
        dr, dc = _DELTAS[index]
        if self._maze.rows[row + dr][col + dc] != WALL:
            row, col = row + dr, col + dc
            self._position = (row, col)
            self._mark_trail((row, col))
        self._steps += 1
        self._cumulative_rewards[_AGENT] = 0.0
        if (row, col) == self._maze.goal:
            self._finish("goal", self._maze.shortest / self._steps)
        elif self._steps >= self._step_limit:
            self._done = True
            self._result = "truncated"
            self.truncations[_AGENT] = True

    def _mark_trail(self, cell: tuple[int, int]) -> None:
        row, col = cell
        line = self._trail[row]
        if line[col] != _TRAIL:
            self._trail[row] = line[:col] + _TRAIL + line[col + 1 :]

    @classmethod
    def render_text(cls, state: Any) -> str:
        """Draw a :meth:`render_state` value: ``#`` walls, ``@`` agent, ``G`` goal, ``.`` trail.

        Args:
            state: A :meth:`render_state` value.

        Returns:
            The grid, then one status line.

        """
        lines = [list(row) for row in state["grid"]]
        goal_row, goal_col = state["goal"]
        lines[goal_row][goal_col] = "G"
        row, col = state["position"]
        lines[row][col] = "@"
        status = (
            f"steps {state['steps']}/{state['step_limit']}, shortest {state['shortest']}, "
            f"{state['result']}, reward {state['reward']:.3f}"
        )
        return "\n".join(["".join(line) for line in lines] + [status])


def _as_index(action: Any) -> int:
    """Map an action (wire name or integer of any type) to ``0..3``; -1 if it is neither."""
    if type(action) is str:
        return _INDEX.get(action, -1)
    index = as_integer(action)
    return index if index is not None and 0 <= index <= 3 else -1
