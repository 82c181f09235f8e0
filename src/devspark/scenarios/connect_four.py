"""Connect Four (``connect_four-v1``), also known as ConnectX.

Domains: game. Players: 2. Difficulty: 1 to 5 (board size and line length).

Rules
    Two players take turns dropping a disc into a column of an upright grid; the disc
    falls to the lowest empty cell of that column. ``player_0`` moves first and plays
    mark ``1`` (X); ``player_1`` plays mark ``2`` (O). The first player with ``inarow``
    discs in a line (horizontal, vertical or either diagonal) wins; a full grid without
    such a line is a draw. There is no randomness in the rules: the seed changes
    nothing (it is accepted, and seeds :attr:`rng`, for the common API only).

Difficulty
    Level 1 is the standard game, identical to Kaggle's ConnectX defaults and
    PettingZoo's ``connect_four_v3``. Higher levels grow the board and then the line,
    which makes games longer and search harder:

    ==========  ======  =========  =========
    difficulty  rows    columns    ``inarow``
    ==========  ======  =========  =========
    1           6       7          4
    2           7       8          4
    3           8       9          4
    4           8       10         5
    5           9       11         5
    ==========  ======  =========  =========

Cells
    Cells are numbered row-major with row 0 at the **top**, exactly as Kaggle lays out
    ``observation.board``: cell ``row * columns + col``. A disc dropped in column ``c``
    lands in the highest-numbered empty row of that column. For the standard board::

         0  1  2  3  4  5  6      <- row 0 (top)
         7  8  9 10 11 12 13
        ...
        35 36 37 38 39 40 41      <- row 5 (bottom), the first disc of a column lands here

Observation (wire protocol)
    ``{"board": [rows*columns ints], "rows": R, "columns": C, "inarow": K,
    "mark": 1 or 2}``: ``board[i]`` is ``0`` (empty), ``1`` (``player_0``) or ``2``
    (``player_1``); ``mark`` is the observing agent's own mark. ``board`` and ``mark``
    are Kaggle's ConnectX observation; ``rows``, ``columns`` and ``inarow`` are
    Kaggle's configuration, included so an agent works at every difficulty.

Observation (PettingZoo)
    ``{"observation": int8 array (rows, columns, 2), "action_mask": int8 array
    (columns,)}`` as in PettingZoo's ``connect_four_v3``: plane 0 holds the observing
    agent's discs, plane 1 the opponent's; the mask is 1 on the columns that are not
    full when it is the agent's turn, else 0. The spaces follow the difficulty of the
    current episode (they are rebuilt when a reset changes the board size).

Actions
    An int ``0..columns-1``, the column to drop a disc in; legal when the column is not
    full and it is the agent's turn. Over the wire only a JSON integer is legal (not
    ``3.0``, ``"3"`` nor ``true``). ``legal_actions`` lists the open columns in
    increasing order.

Rewards
    At the end only: +1 for the winner and -1 for the loser, 0 each for a draw.
    A fault (timeout, crash, invalid action ...) ends the episode at once: the faulting
    agent gets -1 and its opponent +1.

Version history
    v1: first version.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Final

from devspark.core.errors import InvalidArgumentError
from devspark.scenarios._shared import TwoPlayerBoardGame, as_integer
from devspark.scenarios.registry import register

GEOMETRY: Final[dict[int, tuple[int, int, int]]] = {
    1: (6, 7, 4),
    2: (7, 8, 4),
    3: (8, 9, 4),
    4: (8, 10, 5),
    5: (9, 11, 5),
}
"""``(rows, columns, inarow)`` per difficulty."""

_SYMBOLS: Final = (".", "X", "O")
_DIRECTIONS: Final = ((0, 1), (1, 0), (1, 1), (1, -1))  # (d_row, d_col), one per line axis


@dataclass(frozen=True, slots=True)
class _Geometry:
    """A board shape and, per cell, the cells to scan for a line through it."""

    rows: int
    columns: int
    inarow: int
    rays: tuple[tuple[tuple[tuple[int, ...], tuple[int, ...]], ...], ...]
    """``rays[cell]``: per axis, the cells ahead and behind (nearest first, at most
    ``inarow - 1`` each)."""


@functools.cache
def _geometry(rows: int, columns: int, inarow: int) -> _Geometry:
    def ray(row: int, col: int, d_row: int, d_col: int) -> tuple[int, ...]:
        cells = []
        for step in range(1, inarow):
            r, c = row + step * d_row, col + step * d_col
            if not (0 <= r < rows and 0 <= c < columns):
                break
            cells.append(r * columns + c)
        return tuple(cells)

    rays = tuple(
        tuple(
            (ray(row, col, dr, dc), ray(row, col, -dr, -dc))
            for dr, dc in _DIRECTIONS
            if len(ray(row, col, dr, dc)) + len(ray(row, col, -dr, -dc)) + 1 >= inarow
        )
        for row in range(rows)
        for col in range(columns)
    )
    return _Geometry(rows, columns, inarow, rays)


@register
class ConnectFour(TwoPlayerBoardGame):
    """Connect Four on a board sized by difficulty; see the module documentation.

    Args:
        render_mode: ``"ansi"`` or ``None``.
        **options: Reset defaults (see :class:`~devspark.scenarios.base.Scenario`).

    """

    scenario_id = "connect_four"
    version = 1
    domains = ("game",)
    players = (2, 2)
    difficulties = (1, 2, 3, 4, 5)

    def __init__(self, *, render_mode: str | None = None, **options: Any) -> None:
        super().__init__(render_mode=render_mode, **options)
        self._geo = _geometry(*GEOMETRY[self.default_options.get("difficulty", 1)])
        self._start_board()

    def _start_board(self) -> None:
        geo = self._geo
        self._start_game(geo.rows * geo.columns)
        self._next_row: list[int] = [geo.rows - 1] * geo.columns  # -1 once a column is full
        self._open: list[int] = list(range(geo.columns))

    def _new_episode(self, options: dict[str, Any]) -> None:
        geo = _geometry(*GEOMETRY[self.difficulty])
        if geo is not self._geo:  # the spaces depend on the board size
            self._geo = geo
            self._observation_spaces.clear()
            self._action_spaces.clear()
        self._start_board()

    def _board_shape(self) -> tuple[int, int]:
        return self._geo.rows, self._geo.columns

    def _action_count(self) -> int:
        return self._geo.columns

    def _board_json(self) -> dict[str, Any]:
        """``board`` (Kaggle layout), ``rows``, ``columns`` and ``inarow``."""
        geo = self._geo
        return {
            "board": self._board[:],
            "rows": geo.rows,
            "columns": geo.columns,
            "inarow": geo.inarow,
        }

    # ------------------------------------------------------------ wire API

    def legal_actions(self, agent: str) -> list[int]:
        """List the columns that are not full, in increasing order, on ``agent``'s turn.

        Args:
            agent: ``"player_0"`` or ``"player_1"``.

        Returns:
            The legal columns; empty when it is not the agent's turn or the game is over.

        """
        if self._done or agent != self.agent_selection:
            return []
        return self._open[:]

    def is_legal(self, agent: str, action: Any) -> bool:
        """Whether ``action`` is a JSON int naming an open column on ``agent``'s turn.

        Args:
            agent: The agent that sent the action.
            action: Any decoded JSON value.

        Returns:
            True when the move is legal; never raises.

        """
        return (
            type(action) is int
            and 0 <= action < self._geo.columns
            and not self._done
            and agent == self.agent_selection
            and self._next_row[action] >= 0
        )

    # ------------------------------------------------------- PettingZoo API

    def step(self, action: Any) -> None:
        """Drop a disc in column ``action`` for :attr:`agent_selection` (AEC semantics).

        Args:
            action: A column ``0..columns-1`` (any integer type), or ``None`` for an
                agent that is already terminated.

        Raises:
            InvalidArgumentError: The action is not an open column.
            FailedPreconditionError: The episode is over and every agent was removed.

        """
        agent = self.agent_selection
        if self._done:
            self._dead_step(action)
            return
        geo = self._geo
        col = action if type(action) is int else as_integer(action)
        if col is None or not 0 <= col < geo.columns or self._next_row[col] < 0:
            raise InvalidArgumentError(
                f"action={action!r} is illegal for {agent} in {self.full_id}: "
                f"expected an open column in {self._open}"
            )
        row = self._next_row[col]
        self._next_row[col] = row - 1
        if not row:
            self._open.remove(col)
        cell = row * geo.columns + col
        board = self._board
        mark = 1 if agent == "player_0" else 2
        board[cell] = mark
        self._moves.append(col)
        self._cumulative_rewards[agent] = 0.0
        if _completes_line(board, geo.rays[cell], mark, geo.inarow):
            self._end_game(agent, won=True)
        elif not self._open:
            self._end_game(agent, won=False)
        self.agent_selection = "player_1" if mark == 1 else "player_0"

    @classmethod
    def render_text(cls, state: Any) -> str:
        """Draw a :meth:`render_state` board, X for ``player_0``, O for ``player_1``.

        Args:
            state: A :meth:`render_state` value.

        Returns:
            One line per row, top row first, then a line of column numbers.

        """
        board, rows, columns = state["board"], state["rows"], state["columns"]
        width = len(str(columns - 1)) + 1
        lines = [
            "".join(
                f"{_SYMBOLS[value]:>{width}}"
                for value in board[row * columns : (row + 1) * columns]
            )
            for row in range(rows)
        ]
        lines.append("".join(f"{col:>{width}}" for col in range(columns)))
        return "\n".join(lines)


def _completes_line(
    board: list[int],
    rays: tuple[tuple[tuple[int, ...], tuple[int, ...]], ...],
    mark: int,
    inarow: int,
) -> bool:
    """Whether the disc ``mark`` just placed (whose ``rays`` are given) makes a line."""
    for ahead, behind in rays:
        count = 1
        for cell in ahead:
            if board[cell] != mark:
                break
            count += 1
        for cell in behind:
            if board[cell] != mark:
                break
            count += 1
        if count >= inarow:
            return True
    return False
