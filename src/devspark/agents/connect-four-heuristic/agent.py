"""One-ply Connect Four heuristic, for any board size and line length.

The observation is the ``connect_four`` wire observation: ``board`` (flat, row-major,
row 0 at the top, Kaggle's layout), ``rows``, ``columns``, ``inarow`` and ``mark``.
In order, the agent:

1. wins now when a move completes a line;
2. else blocks a column where the opponent would complete a line next move;
3. else avoids moves that let the opponent win by playing on top of the new disc;
4. among what is left, prefers the centre: it draws a column at random with a weight
   that grows with closeness to the centre, ``(columns / 2 - distance) ** 2``.

Its ``[parameters]`` (``context.params``) are the knobs evolution and tuning turn:
``win``, ``block`` and ``avoid_traps`` switch steps 1 to 3 on or off, and step 4's
weight of a column is ``centre * (columns / 2 - distance) ** 2 + threes * n3 + twos * n2``
(at least 0), where ``n3`` and ``n2`` count the lines in which the new disc makes a run of
``inarow - 1`` and ``inarow - 2`` of its own discs. The defaults (all on, ``centre = 1``,
``threes = twos = 0``) are exactly the behaviour described above; when every weight is
0 it plays the last column left.

Every random choice draws ``context.rng.random()``, so the agent is deterministic for
a given match seed, and ``builtin:connect-four-heuristic-js`` makes the same moves. Standard library only: this file runs inside the sandbox.
"""

DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))
DEFAULTS = {
    "win": True,
    "block": True,
    "avoid_traps": True,
    "centre": 1.0,
    "threes": 0.0,
    "twos": 0.0,
}
"""The manifest's defaults (the worker sends them; these cover a bare call)."""


def landing_row(board, rows, columns, col):
    """The row a disc dropped in ``col`` lands on, or -1 when the column is full."""
    for row in range(rows - 1, -1, -1):
        if not board[row * columns + col]:
            return row
    return -1


def runs(board, rows, columns, row, col, mark):
    """The length of the run of ``mark`` discs through (``row``, ``col``) per direction."""
    lengths = []
    for d_row, d_col in DIRECTIONS:
        count = 1
        for sign in (1, -1):
            r, c = row + sign * d_row, col + sign * d_col
            while 0 <= r < rows and 0 <= c < columns and board[r * columns + c] == mark:
                count += 1
                r += sign * d_row
                c += sign * d_col
        lengths.append(count)
    return lengths


def completes_line(board, rows, columns, inarow, row, col, mark):
    """Whether a ``mark`` disc at (``row``, ``col``) would be part of ``inarow`` in a line."""
    return max(runs(board, rows, columns, row, col, mark)) >= inarow


def pick(items, rng):
    """A uniformly random item, drawn with ``rng.random()`` (as the JavaScript twin does)."""
    return items[int(rng.random() * len(items))]


def weighted_centre_choice(columns_to_pick, columns, rng, weights=None):
    """Pick a column at random, weighted towards the centre of the board (or by ``weights``)."""
    if weights is None:
        weights = [centre_weight(col, columns) for col in columns_to_pick]
    target = rng.random() * sum(weights)
    for col, weight in zip(columns_to_pick, weights, strict=True):
        target -= weight
        if target < 0:
            return col
    return columns_to_pick[-1]


def centre_weight(col, columns):
    """How strongly the centre term prefers ``col``: ``(columns / 2 - distance) ** 2``."""
    return (columns / 2 - abs(col - (columns - 1) / 2)) ** 2


def column_weights(board, rows, columns, inarow, landing, moves, mark, params):
    """Step 4's weight of each column in ``moves`` under ``params``."""
    centre, threes, twos = params["centre"], params["threes"], params["twos"]
    weights = []
    for col in moves:
        weight = centre * centre_weight(col, columns)
        if threes or twos:
            lengths = runs(board, rows, columns, landing[col], col, mark)
            weight += threes * lengths.count(inarow - 1) + twos * lengths.count(inarow - 2)
        weights.append(max(0, weight))
    return weights


def choose(observation, legal, rng, params=None):
    """The heuristic's move among ``legal`` columns, with ``params`` over :data:`DEFAULTS`."""
    params = {**DEFAULTS, **(params or {})}
    board = list(observation["board"])
    rows, columns = observation["rows"], observation["columns"]
    inarow, mark = observation["inarow"], observation["mark"]
    other = 3 - mark
    landing = {col: landing_row(board, rows, columns, col) for col in legal}
    landing = {col: row for col, row in landing.items() if row >= 0}
    if not landing:  # the legal columns disagree with the board: trust them
        return pick(list(legal), rng)
    moves = sorted(landing)
    if params["win"]:
        wins = [
            c for c in moves if completes_line(board, rows, columns, inarow, landing[c], c, mark)
        ]
        if wins:
            return pick(wins, rng)
    if params["block"]:
        blocks = [
            c for c in moves if completes_line(board, rows, columns, inarow, landing[c], c, other)
        ]
        if blocks:
            return pick(blocks, rng)
    safe = []
    for col in moves:
        row = landing[col]
        if row == 0 or not params["avoid_traps"]:
            safe.append(col)
            continue
        board[row * columns + col] = mark
        if not completes_line(board, rows, columns, inarow, row - 1, col, other):
            safe.append(col)
        board[row * columns + col] = 0
    left = safe or moves
    weights = column_weights(board, rows, columns, inarow, landing, left, mark, params)
    return weighted_centre_choice(left, columns, rng, weights)


def act(observation, context):
    legal = context.legal_actions
    if not legal:
        columns = observation["columns"]
        legal = [col for col in range(columns) if not observation["board"][col]]
    return choose(observation, legal, context.rng, getattr(context, "params", None))
