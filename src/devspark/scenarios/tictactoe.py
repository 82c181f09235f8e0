"""Tic-tac-toe (``tictactoe-v1``).

Domains: game. Players: 2. Difficulty: not meaningful (only level 1).

Rules
    Two players take turns marking an empty cell of a 3x3 grid. ``player_0`` moves
    first and marks ``1`` (X); ``player_1`` marks ``2`` (O). The first player with
    three marks in a row, column or diagonal wins; a full grid without a line is a
    draw. There is no randomness: the seed does not change the game.

Cells
    Cells are numbered row-major::

         0 | 1 | 2
        ---+---+---
         3 | 4 | 5
        ---+---+---
         6 | 7 | 8

Observation (wire protocol)
    ``{"board": [9 ints], "mark": 1 or 2}``: ``board[i]`` is ``0`` (empty), ``1``
    (``player_0``) or ``2`` (``player_1``); ``mark`` is the observing agent's own mark.

Observation (PettingZoo)
    ``{"observation": int8 array (3, 3, 2), "action_mask": int8 array (9,)}`` as in
    PettingZoo's ``tictactoe_v3``: plane 0 holds the observing agent's marks, plane 1
    the opponent's; the mask is 1 on empty cells when it is the agent's turn, else 0.

Actions
    An int ``0..8``, the cell to mark; legal when the cell is empty and it is the
    agent's turn. Over the wire only a JSON integer is legal (not ``4.0``, ``"4"`` nor
    ``true``). ``legal_actions`` lists the empty cells in increasing order.

Rewards
    At the end only: +1 for the winner and -1 for the loser, 0 each for a draw.
    A fault (timeout, crash, invalid action ...) ends the episode at once: the faulting
    agent gets -1 and its opponent +1.

Version history
    v1: first version.
"""

from __future__ import annotations

from typing import Any, Final

from devspark.core.errors import InvalidArgumentError
from devspark.scenarios._shared import TwoPlayerBoardGame, as_integer
from devspark.scenarios.registry import register

_LINES: Final = (
    (0, 1, 2),
    (3, 4, 5),
    (6, 7, 8),
    (0, 3, 6),
    (1, 4, 7),
    (2, 5, 8),
    (0, 4, 8),
    (2, 4, 6),
)
# For each cell, the two other cells of every line through it.
_LINES_THROUGH: Final = tuple(
    tuple(tuple(c for c in line if c != cell) for line in _LINES if cell in line)
    for cell in range(9)
)
_SYMBOLS: Final = (".", "X", "O")


@register
class TicTacToe(TwoPlayerBoardGame):
    """Tic-tac-toe on a 3x3 grid; see the module documentation for the rules.

    Args:
        render_mode: ``"ansi"`` or ``None``.
        **options: Reset defaults (see :class:`~devspark.scenarios.base.Scenario`).

    """

    scenario_id = "tictactoe"
    version = 1
    domains = ("game",)
    players = (2, 2)
    difficulties = (1,)

    def __init__(self, *, render_mode: str | None = None, **options: Any) -> None:
        super().__init__(render_mode=render_mode, **options)
        self._start_game(9)

    def _new_episode(self, options: dict[str, Any]) -> None:
        self._start_game(9)

    def _board_shape(self) -> tuple[int, int]:
        return 3, 3

    def _action_count(self) -> int:
        return 9

    def _board_json(self) -> dict[str, Any]:
        """``{"board": [9 ints]}``, cells row-major."""
        return {"board": self._board[:]}

    # ------------------------------------------------------------ wire API

    def legal_actions(self, agent: str) -> list[int]:
        """List the empty cells, in increasing order, when it is ``agent``'s turn.

        Args:
            agent: ``"player_0"`` or ``"player_1"``.

        Returns:
            The legal cells; empty when it is not the agent's turn or the game is over.

        """
        if self._done or agent != self.agent_selection:
            return []
        return [cell for cell, value in enumerate(self._board) if not value]

    def is_legal(self, agent: str, action: Any) -> bool:
        """Whether ``action`` is a JSON int naming an empty cell on ``agent``'s turn.

        Args:
            agent: The agent that sent the action.
            action: Any decoded JSON value.

        Returns:
            True when the move is legal; never raises.

        """
        return (
            type(action) is int
            and 0 <= action <= 8
            and not self._done
            and agent == self.agent_selection
            and not self._board[action]
        )

    # ------------------------------------------------------- PettingZoo API

    def step(self, action: Any) -> None:
        """Mark cell ``action`` for :attr:`agent_selection` (AEC semantics).

        Args:
            action: A cell ``0..8`` (any integer type), or ``None`` for an agent that
                is already terminated.

        Raises:
            InvalidArgumentError: The action is not a legal cell.
            FailedPreconditionError: The episode is over and every agent was removed.

        """
        agent = self.agent_selection
        if self._done:
            self._dead_step(action)
            return
        cell = action if type(action) is int else as_integer(action)
        board = self._board
        if cell is None or not 0 <= cell <= 8 or board[cell]:
            raise InvalidArgumentError(
                f"action={action!r} is illegal for {agent} in tictactoe-v1: "
                "expected an empty cell 0..8"
            )
        mark = 1 if agent == "player_0" else 2
        board[cell] = mark
        self._moves.append(cell)
        self._cumulative_rewards[agent] = 0.0
        for a, b in _LINES_THROUGH[cell]:
            if board[a] == mark and board[b] == mark:
                self._end_game(agent, won=True)
                break
        else:
            if len(self._moves) == 9:
                self._end_game(agent, won=False)
        self.agent_selection = "player_1" if mark == 1 else "player_0"

    @classmethod
    def render_text(cls, state: Any) -> str:
        """Draw a :meth:`render_state` board as text, X for ``player_0``, O for ``player_1``.

        Args:
            state: A :meth:`render_state` value.

        Returns:
            Three rows separated by ``---+---+---`` lines.

        """
        board = state["board"]
        rows = []
        for row in range(3):
            cells = board[3 * row : 3 * row + 3]
            rows.append(" " + " | ".join(_SYMBOLS[value] for value in cells))
        return "\n---+---+---\n".join(rows)
