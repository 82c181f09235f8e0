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

import operator
from typing import Any, Final

import gymnasium
import numpy as np

from devspark.core.errors import InvalidArgumentError
from devspark.scenarios.base import Scenario
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
class TicTacToe(Scenario):
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
        self._marks: dict[str, int] = {"player_0": 1, "player_1": 2}
        self._board: list[int] = [0] * 9
        self._moves: list[int] = []
        self._winner: str | None = None
        self._forfeit: dict[str, str] | None = None
        self._done = False

    def _new_episode(self, options: dict[str, Any]) -> None:
        self._board = [0] * 9
        self._moves = []
        self._winner = None
        self._forfeit = None
        self._done = False

    def _build_observation_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        return gymnasium.spaces.Dict(
            {
                "observation": gymnasium.spaces.Box(0, 1, shape=(3, 3, 2), dtype=np.int8),
                "action_mask": gymnasium.spaces.Box(0, 1, shape=(9,), dtype=np.int8),
            }
        )

    def _build_action_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        return gymnasium.spaces.Discrete(9)

    # ------------------------------------------------------------ wire API

    def observe_json(self, agent: str) -> dict[str, Any]:
        """Wire observation: ``{"board": [9 ints], "mark": 1 or 2}``.

        Args:
            agent: ``"player_0"`` or ``"player_1"``.

        Returns:
            A fresh dict (the caller may keep or mutate it).

        Raises:
            InvalidArgumentError: Unknown agent.

        """
        mark = self._marks.get(agent)
        if mark is None:
            self._check_agent(agent)
        return {"board": self._board[:], "mark": mark}

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

    def forfeit(self, agent: str, status: str) -> None:
        """End the game: ``agent`` loses (-1) and its opponent wins (+1).

        A no-op when the game is already over.

        Args:
            agent: The faulting agent.
            status: One of :data:`~devspark.scenarios.base.FAULT_STATUSES`.

        Raises:
            InvalidArgumentError: Unknown agent or status.

        """
        if not self._check_fault(agent, status):
            return
        opponent = "player_1" if agent == "player_0" else "player_0"
        self._done = True
        self._winner = opponent
        self._forfeit = {"agent": agent, "status": status}
        self._end_episode({agent: -1.0, opponent: 1.0})

    def render_state(self) -> dict[str, Any]:
        """Full state for replays.

        Returns:
            ``board``, ``moves`` (cells in play order), ``to_move`` (None when over),
            ``result`` (``"ongoing"``, ``"win"``, ``"draw"`` or ``"forfeit"``),
            ``winner`` (agent or None) and ``forfeit`` (``{"agent", "status"}`` or None).

        """
        if not self._done:
            result = "ongoing"
        elif self._forfeit is not None:
            result = "forfeit"
        else:
            result = "draw" if self._winner is None else "win"
        return {
            "board": self._board[:],
            "moves": self._moves[:],
            "to_move": None if self._done else self.agent_selection,
            "result": result,
            "winner": self._winner,
            "forfeit": None if self._forfeit is None else dict(self._forfeit),
        }

    # ------------------------------------------------------- PettingZoo API

    def observe(self, agent: str) -> dict[str, np.ndarray[Any, np.dtype[np.int8]]]:
        """PettingZoo observation: own/opponent planes and the action mask.

        Args:
            agent: ``"player_0"`` or ``"player_1"``.

        Returns:
            ``{"observation": int8 (3, 3, 2), "action_mask": int8 (9,)}``.

        """
        mark = self._marks.get(agent)
        if mark is None:
            self._check_agent(agent)
            mark = 1
        board = np.array(self._board, dtype=np.int8).reshape(3, 3)
        observation = np.empty((3, 3, 2), dtype=np.int8)
        observation[:, :, 0] = board == mark
        observation[:, :, 1] = board == 3 - mark
        action_mask = np.zeros(9, dtype=np.int8)
        action_mask[self.legal_actions(agent)] = 1
        return {"observation": observation, "action_mask": action_mask}

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
        cell = action if type(action) is int else _as_cell(action)
        board = self._board
        if not 0 <= cell <= 8 or board[cell]:
            raise InvalidArgumentError(
                f"action={action!r} is illegal for {agent} in tictactoe-v1: "
                "expected an empty cell 0..8"
            )
        mark = 1 if agent == "player_0" else 2
        board[cell] = mark
        self._moves.append(cell)
        self._cumulative_rewards[agent] = 0.0
        opponent = "player_1" if mark == 1 else "player_0"
        for a, b in _LINES_THROUGH[cell]:
            if board[a] == mark and board[b] == mark:
                self._done = True
                self._winner = agent
                self._end_episode({agent: 1.0, opponent: -1.0})
                break
        else:
            if len(self._moves) == 9:
                self._done = True
                self._end_episode({})
        self.agent_selection = opponent

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


def _as_cell(action: Any) -> int:
    """Convert a non-``int`` integer (e.g. a NumPy integer) to a cell; -1 if impossible."""
    if isinstance(action, bool):
        return -1
    try:
        return operator.index(action)
    except TypeError:
        return -1
