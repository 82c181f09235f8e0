"""One-ply Connect Four heuristic, for any board size and line length.

The observation is the ``connect_four`` wire observation: ``board`` (flat, row-major,
row 0 at the top, Kaggle's layout), ``rows``, ``columns``, ``inarow`` and ``mark``.
In order, the agent:

1. wins now when a move completes a line;
2. else blocks a column where the opponent would complete a line next move;
3. else avoids moves that let the opponent win by playing on top of the new disc;
4. among what is left, prefers the centre: it draws a column at random with a weight
   that grows with closeness to the centre, ``(columns / 2 - distance) ** 2``.

Every random choice draws ``context.rng.random()``, so the agent is deterministic for
a given match seed, and ``builtin:connect-four-heuristic-js`` makes the same moves. Standard library only: this file runs inside the sandbox.
"""

DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))


def landing_row(board, rows, columns, col):
    """The row a disc dropped in ``col`` lands on, or -1 when the column is full."""
    for row in range(rows - 1, -1, -1):
        if not board[row * columns + col]:
            return row
    return -1


def completes_line(board, rows, columns, inarow, row, col, mark):
    """Whether a ``mark`` disc at (``row``, ``col``) would be part of ``inarow`` in a line."""
    for d_row, d_col in DIRECTIONS:
        count = 1
        for sign in (1, -1):
            r, c = row + sign * d_row, col + sign * d_col
            while 0 <= r < rows and 0 <= c < columns and board[r * columns + c] == mark:
                count += 1
                r += sign * d_row
                c += sign * d_col
        if count >= inarow:
            return True
    return False


def pick(items, rng):
    """A uniformly random item, drawn with ``rng.random()`` (as the JavaScript twin does)."""
    return items[int(rng.random() * len(items))]


def weighted_centre_choice(columns_to_pick, columns, rng):
    """Pick a column at random, weighted towards the centre of the board."""
    centre = (columns - 1) / 2
    weights = [(columns / 2 - abs(col - centre)) ** 2 for col in columns_to_pick]
    target = rng.random() * sum(weights)
    for col, weight in zip(columns_to_pick, weights, strict=True):
        target -= weight
        if target < 0:
            return col
    return columns_to_pick[-1]


def choose(observation, legal, rng):
    """The heuristic's move among ``legal`` columns."""
    board = list(observation["board"])
    rows, columns = observation["rows"], observation["columns"]
    inarow, mark = observation["inarow"], observation["mark"]
    other = 3 - mark
    landing = {col: landing_row(board, rows, columns, col) for col in legal}
    landing = {col: row for col, row in landing.items() if row >= 0}
    if not landing:  # the legal columns disagree with the board: trust them
        return pick(list(legal), rng)
    moves = sorted(landing)
    wins = [c for c in moves if completes_line(board, rows, columns, inarow, landing[c], c, mark)]
    if wins:
        return pick(wins, rng)
    blocks = [
        c for c in moves if completes_line(board, rows, columns, inarow, landing[c], c, other)
    ]
    if blocks:
        return pick(blocks, rng)
    safe = []
    for col in moves:
        row = landing[col]
        if row == 0:
            safe.append(col)
            continue
        board[row * columns + col] = mark
        if not completes_line(board, rows, columns, inarow, row - 1, col, other):
            safe.append(col)
        board[row * columns + col] = 0
    return weighted_centre_choice(safe or moves, columns, rng)


def act(observation, context):
    legal = context.legal_actions
    if not legal:
        columns = observation["columns"]
        legal = [col for col in range(columns) if not observation["board"][col]]
    return choose(observation, legal, context.rng)
