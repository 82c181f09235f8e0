"""Perfect-play tic-tac-toe: negamax over the whole game tree, memoised by board.

The observation is ``{"board": [9 ints], "mark": 1 or 2}`` (0 empty, 1 for
``player_0``, 2 for ``player_1``). Scores prefer faster wins and slower losses; among
equally good moves the agent picks with ``context.rng`` (seeded by the match), so it is
deterministic for a given seed. It never loses. Standard library only: this file runs
inside the sandbox.
"""

LINES = (
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
LINES_THROUGH = tuple(
    tuple(tuple(c for c in line if c != cell) for line in LINES if cell in line)
    for cell in range(9)
)

_memo = {}


def _wins(board, cell, mark):
    """Whether ``mark`` just completed a line by playing ``cell``."""
    return any(board[a] == mark and board[b] == mark for a, b in LINES_THROUGH[cell])


def _move_score(board, cell, mark, empties):
    """Score of ``mark`` playing ``cell`` on ``board`` (before the move), for ``mark``.

    A win scores the number of empty cells before the move (sooner is higher), a draw
    0, a loss the negative of the winner's score.
    """
    child = (*board[:cell], mark, *board[cell + 1 :])
    if _wins(child, cell, mark):
        return empties
    if empties == 1:
        return 0
    return -value(child, 3 - mark)


def value(board, mark):
    """Negamax value of ``board`` (a tuple, game not over) with ``mark`` to move."""
    key = (board, mark)
    score = _memo.get(key)
    if score is None:
        cells = [cell for cell in range(9) if not board[cell]]
        empties = len(cells)
        score = max(_move_score(board, cell, mark, empties) for cell in cells)
        _memo[key] = score
    return score


def best_moves(board, mark, legal=None):
    """Every optimal move of ``mark`` on ``board``, in increasing cell order."""
    board = tuple(board)
    cells = [cell for cell in range(9) if not board[cell]]
    if legal is not None:
        cells = [cell for cell in cells if cell in legal] or list(legal)
    empties = sum(1 for v in board if not v)
    scores = {cell: _move_score(board, cell, mark, empties) for cell in cells}
    best = max(scores.values())
    return [cell for cell in cells if scores[cell] == best]


def act(observation, context):
    moves = best_moves(observation["board"], observation["mark"], context.legal_actions)
    rng = getattr(context, "rng", None)
    if rng is None or len(moves) == 1:
        return moves[0]
    return rng.choice(moves)
