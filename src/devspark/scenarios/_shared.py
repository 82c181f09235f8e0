"""Building blocks shared by the built-in scenarios (internal, not a public API).

* :class:`TwoPlayerBoardGame`: two agents alternate placing their marks on a flat board
  until one wins, the board is full (a draw) or one faults (tic-tac-toe, Connect Four).
* :class:`SinglePlayerScenario`: one agent plays an episode that ends with a named
  result, or with -1 on a fault (maze, puzzles).
* :func:`as_integer`: read an action of any integer type (NumPy integers included).
"""

from __future__ import annotations

import abc
import operator
from typing import Any, Final

import gymnasium
import numpy as np

from devspark.scenarios.base import Scenario

SOLE_AGENT: Final = "player_0"
"""The agent of a :class:`SinglePlayerScenario`."""


def as_integer(value: Any) -> int | None:
    """``value`` as an int (NumPy integers included, bools excluded), else None.

    Args:
        value: Any value, typically a PettingZoo action.

    Returns:
        The integer, or None when ``value`` is not an integer.

    """
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


class TwoPlayerBoardGame(Scenario):
    """Two players alternate marks on a board until a win, a draw or a forfeit.

    ``player_0`` moves first and marks ``1``; ``player_1`` marks ``2``. The board is
    the flat, row-major list ``_board`` (``0`` for an empty cell). The game ends with
    +1 for the winner and -1 for the loser, 0 each for a draw, and a fault ends it at
    once with -1 for the faulting agent and +1 for its opponent.

    Subclasses call :meth:`_start_game` when a game starts (construction included) and
    implement :meth:`_board_shape`, :meth:`_action_count` and :meth:`_board_json`.
    Their :meth:`step` appends each move to ``_moves`` (as the action was given),
    calls :meth:`_end_game` on the move that wins or fills the board and passes the
    turn; it stays whole in the subclass, as the hot path of a match. This class
    provides the spaces, :meth:`observe_json`, :meth:`forfeit`, :meth:`render_state`
    and :meth:`observe`.

    """

    _board: list[int]
    _moves: list[int]
    _winner: str | None
    _forfeit: dict[str, str] | None
    _done: bool

    def __init__(self, *, render_mode: str | None = None, **options: Any) -> None:
        super().__init__(render_mode=render_mode, **options)
        self._marks: dict[str, int] = {"player_0": 1, "player_1": 2}

    def _start_game(self, cells: int) -> None:
        """Empty the board (``cells`` cells) and clear the moves and the result."""
        self._board = [0] * cells
        self._moves = []
        self._winner = None
        self._forfeit = None
        self._done = False

    @abc.abstractmethod
    def _board_shape(self) -> tuple[int, int]:
        """``(rows, columns)`` of the board of the current game."""

    @abc.abstractmethod
    def _action_count(self) -> int:
        """The number of actions (cells or columns) of the current game."""

    @abc.abstractmethod
    def _board_json(self) -> dict[str, Any]:
        """A fresh dict: the board and whatever describes its shape, for the wire."""

    def _end_game(self, agent: str, won: bool) -> None:
        """End the game after ``agent``'s move: a win for it when ``won``, else a draw.

        Args:
            agent: The agent that just moved.
            won: Whether the move made a line for ``agent`` (else the board is full).

        """
        self._done = True
        if won:
            self._winner = agent
            opponent = "player_1" if agent == "player_0" else "player_0"
            self._end_episode({agent: 1.0, opponent: -1.0})
        else:
            self._end_episode({})

    def _build_observation_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        rows, columns = self._board_shape()
        return gymnasium.spaces.Dict(
            {
                "observation": gymnasium.spaces.Box(0, 1, shape=(rows, columns, 2), dtype=np.int8),
                "action_mask": gymnasium.spaces.Box(
                    0, 1, shape=(self._action_count(),), dtype=np.int8
                ),
            }
        )

    def _build_action_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        return gymnasium.spaces.Discrete(self._action_count())

    # ------------------------------------------------------------ wire API

    def observe_json(self, agent: str) -> dict[str, Any]:
        """Wire observation: the board (with its shape, if any) and the agent's mark.

        Args:
            agent: ``"player_0"`` or ``"player_1"``.

        Returns:
            A fresh dict, ``"mark"`` last (the caller may keep or mutate it).

        Raises:
            InvalidArgumentError: Unknown agent.

        """
        mark = self._marks.get(agent)
        if mark is None:
            self._check_agent(agent)
        observation = self._board_json()
        observation["mark"] = mark
        return observation

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
            The board keys of :meth:`_board_json`, then ``moves`` (in play order),
            ``to_move`` (None when over), ``result`` (``"ongoing"``, ``"win"``,
            ``"draw"`` or ``"forfeit"``), ``winner`` (agent or None) and ``forfeit``
            (``{"agent", "status"}`` or None).

        """
        if not self._done:
            result = "ongoing"
        elif self._forfeit is not None:
            result = "forfeit"
        else:
            result = "draw" if self._winner is None else "win"
        state = self._board_json()
        state["moves"] = self._moves[:]
        state["to_move"] = None if self._done else self.agent_selection
        state["result"] = result
        state["winner"] = self._winner
        state["forfeit"] = None if self._forfeit is None else dict(self._forfeit)
        return state

    # ------------------------------------------------------- PettingZoo API

    def observe(self, agent: str) -> dict[str, np.ndarray[Any, np.dtype[np.int8]]]:
        """PettingZoo observation: own/opponent planes and the action mask.

        Args:
            agent: ``"player_0"`` or ``"player_1"``.

        Returns:
            ``{"observation": int8 (rows, columns, 2), "action_mask": int8 (actions,)}``:
            plane 0 holds the agent's marks, plane 1 the opponent's; the mask is 1 on
            the legal actions.

        """
        mark = self._marks.get(agent)
        if mark is None:
            self._check_agent(agent)
            mark = 1
        rows, columns = self._board_shape()
        board = np.array(self._board, dtype=np.int8).reshape(rows, columns)
        observation = np.empty((rows, columns, 2), dtype=np.int8)
        observation[:, :, 0] = board == mark
        observation[:, :, 1] = board == 3 - mark
        action_mask = np.zeros(self._action_count(), dtype=np.int8)
        action_mask[self.legal_actions(agent)] = 1
        return {"observation": observation, "action_mask": action_mask}


class SinglePlayerScenario(Scenario):
    """One agent (:data:`SOLE_AGENT`) plays an episode that ends with a named result.

    ``_result`` is ``"ongoing"`` until the episode ends, then the subclass's name for
    the outcome, or ``"forfeit"``: a fault ends the episode at once with -1.

    Subclasses call :meth:`_start_episode` when an episode starts and
    :meth:`_finish` when it ends (or set ``_done`` and ``_result`` themselves, e.g.
    on truncation). This class provides :meth:`forfeit`.

    """

    def __init__(self, *, render_mode: str | None = None, **options: Any) -> None:
        super().__init__(render_mode=render_mode, **options)
        self._result = "ongoing"
        self._forfeit: dict[str, str] | None = None
        self._done = False

    def _start_episode(self) -> None:
        """Mark the episode as running, with no result and no forfeit yet."""
        self._result = "ongoing"
        self._forfeit = None
        self._done = False

    def _finish(self, result: str, reward: float) -> None:
        """End the episode with ``result``, giving the agent ``reward``."""
        self._done = True
        self._result = result
        self._end_episode({SOLE_AGENT: reward})

    def forfeit(self, agent: str, status: str) -> None:
        """End the episode with -1 for ``agent``; a no-op when it is already over.

        Args:
            agent: The faulting agent.
            status: One of :data:`~devspark.scenarios.base.FAULT_STATUSES`.

        Raises:
            InvalidArgumentError: Unknown agent or status.

        """
        if not self._check_fault(agent, status):
            return
        self._forfeit = {"agent": agent, "status": status}
        self._finish("forfeit", -1.0)
