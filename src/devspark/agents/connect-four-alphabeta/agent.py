"""Connect Four by negamax alpha-beta search on bitboards, for any board and line length.

The observation is the ``connect_four`` wire observation: ``board`` (flat, row-major,
row 0 at the top, Kaggle's layout), ``rows``, ``columns``, ``inarow`` and ``mark``.

Search
    Iterative deepening negamax with alpha-beta pruning and a per-move transposition
    table. Each position is a pair of Python ints (the side to move's discs and all
    discs), column-major with ``rows + 1`` bits per column, the spare top bit keeping
    lines from wrapping between columns. At every node the agent plays an immediate
    win, is forced to block a single open threat, loses at once against two, and never
    plays directly under a cell where the opponent would complete a line. Moves are
    tried best-first: the transposition table's move, then the moves creating the most
    threats, then centre-first.

Evaluation
    For the side to move: open threats (empty cells that would complete a line), with
    a bonus for threats on the rows whose parity favours their owner (odd rows from
    the bottom for the first player, even rows for the second), plus a positional
    score counting the lines of ``inarow`` cells through each disc.

Budget
    Each move searches at most ``max_nodes`` nodes (parameter, default 1000: about
    2.5 ms a move on the standard board, 11 ms at difficulty 5, on the 2-core dev
    machine), which makes the agent deterministic given ``context.rng``; a time cap of ``max_ms``
    (parameter, default 100 ms, and never more than half of ``context.time_left_ms``)
    stops it early only on a machine some 40 times slower, where it is no longer
    deterministic. An interrupted iteration is discarded.
    ``context.rng`` breaks ties between mirror-image columns in the move order.

Standard library only: this file runs inside the sandbox.
"""

import time

WIN = 1_000_000
DEFAULT_MAX_NODES = 1000
DEFAULT_MAX_MS = 100
THREAT = 30
PARITY_THREAT = 40

_games = {}


class OutOfBudget(Exception):  # noqa: N818 - control flow, not an error
    """Raised inside the search when the node or time budget is spent."""


class Game:
    """Precomputed masks for one board shape."""

    def __init__(self, rows, columns, inarow):
        self.rows, self.columns, self.inarow = rows, columns, inarow
        height = rows + 1
        self.height = height
        self.cells = rows * columns
        column_bits = (1 << rows) - 1
        self.bottom = sum(1 << (col * height) for col in range(columns))
        self.board_mask = self.bottom * column_bits
        self.column_masks = [column_bits << (col * height) for col in range(columns)]
        centre = (columns - 1) / 2
        self.centre_order = sorted(range(columns), key=lambda col: (abs(col - centre), col))
        even_rows = sum(1 << row for row in range(0, rows, 2))  # rows 1, 3, 5 ... from below
        self.first_rows = self.bottom * even_rows
        self.second_rows = self.board_mask & ~self.first_rows
        self.weight_masks = self._weight_masks()
        self.weights = {
            1 << bit: weight
            for weight, mask in self.weight_masks
            for bit in range(mask.bit_length())
            if mask >> bit & 1
        }
        self.winning_cells = self._compile_winning_cells()

    def _weight_masks(self):
        """Group cells by the number of ``inarow`` lines through them: ``[(weight, mask)]``."""
        rows, columns, inarow = self.rows, self.columns, self.inarow
        weights = {}
        for row in range(rows):
            for col in range(columns):
                lines = 0
                for d_row, d_col in ((0, 1), (1, 0), (1, 1), (1, -1)):
                    for start in range(inarow):
                        r0, c0 = row - start * d_row, col - start * d_col
                        r1, c1 = r0 + (inarow - 1) * d_row, c0 + (inarow - 1) * d_col
                        inside = 0 <= r0 < rows and 0 <= r1 < rows
                        if inside and 0 <= c0 < columns and 0 <= c1 < columns:
                            lines += 1
                bit = 1 << (col * self.height + row)
                weights[lines] = weights.get(lines, 0) | bit
        return [(weight, mask) for weight, mask in sorted(weights.items()) if weight]

    def _compile_winning_cells(self):
        """Build ``winning_cells(position)`` as straight-line code for this shape.

        The function returns the cells (empty or not) where one more disc of
        ``position`` completes a line. Vertically only the discs below a cell count:
        in a legal position the cells above an empty cell are empty.
        """
        inarow, height = self.inarow, self.height
        lines = ["def winning_cells(p):"]
        lines.append("    r = " + " & ".join(f"(p << {step})" for step in range(1, inarow)))
        for d in (height, height - 1, height + 1):
            for step in range(1, inarow):
                before = f"b{step - 1} & " if step > 1 else ""
                after = f"a{step - 1} & " if step > 1 else ""
                lines.append(f"    b{step} = {before}(p << {step * d})")
                lines.append(f"    a{step} = {after}(p >> {step * d})")
            terms = [f"b{inarow - 1}", f"a{inarow - 1}"]
            terms += [f"(b{step} & a{inarow - 1 - step})" for step in range(1, inarow - 1)]
            lines.append("    r |= " + " | ".join(terms))
        lines.append(f"    return r & {self.board_mask}")
        namespace = {}
        exec("\n".join(lines), namespace)  # noqa: S102 - code built from ints above
        return namespace["winning_cells"]

    def positional(self, position):
        """Sum over discs of the number of lines through their cell."""
        return sum(weight * (position & mask).bit_count() for weight, mask in self.weight_masks)


def game_for(rows, columns, inarow):
    """The (cached) precomputed masks for a board shape."""
    key = (rows, columns, inarow)
    game = _games.get(key)
    if game is None:
        game = _games[key] = Game(rows, columns, inarow)
    return game


class Search:
    """One move's search: budget, transposition table and the recursive negamax.

    A node is the side to move's discs (``position``), all discs (``mask``), the disc
    count, the positional ``material`` balance, and both sides' ``winning_cells``
    (``lines``: computed once, by the parent while ordering its moves, and passed down).
    """

    def __init__(self, game, max_nodes, deadline):
        self.game = game
        self.max_nodes = max_nodes
        self.deadline = deadline
        self.nodes = 0
        self.table = {}

    def analyse(self, mask, played, my_lines, their_lines):
        """Classify a node for the side to move.

        Returns:
            ``(score, moves, mine, theirs)``: ``score`` is final when the side to move
            wins now (positive), cannot avoid losing next move (negative) or the board
            is full (0), else None; ``moves`` is a bitmask of the cells worth playing;
            ``mine`` and ``theirs`` are the open threats (empty winning cells) of each
            side.

        """
        game = self.game
        if played == game.cells:
            return 0, 0, 0, 0
        empty = game.board_mask ^ mask
        possible = (mask + game.bottom) & game.board_mask
        mine = my_lines & empty
        if mine & possible:
            return WIN - played - 1, mine & possible, mine, 0
        theirs = their_lines & empty
        forced = possible & theirs
        if forced:
            if forced & (forced - 1):
                return -(WIN - played - 2), possible, mine, theirs
            possible = forced
        moves = possible & ~(theirs >> 1)
        if not moves:
            return -(WIN - played - 2), possible, mine, theirs
        return None, moves, mine, theirs

    def evaluate(self, played, material, mine, theirs):
        """Heuristic score of a quiet position for the side to move.

        ``material`` is the positional score (lines through each disc) of the side to
        move minus the opponent's, kept up to date move by move.
        """
        game = self.game
        my_rows = game.second_rows if played & 1 else game.first_rows
        their_rows = game.board_mask ^ my_rows
        return (
            THREAT * (mine.bit_count() - theirs.bit_count())
            + PARITY_THREAT * ((mine & my_rows).bit_count() - (theirs & their_rows).bit_count())
            + material
        )

    def children(self, position, mask, moves, first):
        """Moves best-first, as ``(column, move_bit, winning cells after the move)``."""
        game = self.game
        winning_cells = game.winning_cells
        empty = game.board_mask ^ mask
        scored = []
        for rank, col in enumerate(game.centre_order):
            move = moves & game.column_masks[col]
            if move:
                lines = winning_cells(position | move)
                priority = 1000 if col == first else (lines & empty & ~move).bit_count()
                scored.append((-priority, rank, col, move, lines))
        scored.sort()
        return [(col, move, lines) for _, _, col, move, lines in scored]

    def negamax(self, position, mask, played, material, lines, depth, alpha, beta):
        """Fail-soft alpha-beta value of the node for the side to move.

        ``lines`` is ``(winning cells of the side to move, of the opponent)``.
        """
        self.nodes += 1
        if self.nodes > self.max_nodes or (
            not self.nodes & 127 and time.perf_counter() > self.deadline
        ):
            raise OutOfBudget
        score, moves, mine, theirs = self.analyse(mask, played, *lines)
        if score is not None:
            return score
        if depth <= 0:
            return self.evaluate(played, material, mine, theirs)
        key = (position, mask)
        entry = self.table.get(key)
        first = -1
        if entry is not None:
            entry_depth, lower, upper, first = entry
            if entry_depth >= depth and (lower >= beta or lower == upper):
                return lower
            if entry_depth >= depth and upper <= alpha:
                return upper
        original_alpha, best, best_col = alpha, -WIN - 1, first
        other, weights, their_lines = position ^ mask, self.game.weights, lines[1]
        for col, move, after in self.children(position, mask, moves, first):
            value = -self.negamax(
                other,
                mask | move,
                played + 1,
                -material - weights[move],
                (their_lines, after),
                depth - 1,
                -beta,
                -alpha,
            )
            if value > best:
                best, best_col = value, col
                if value > alpha:
                    alpha = value
                    if alpha >= beta:
                        break
        lower = best if best > original_alpha else -WIN - 1
        upper = best if best < beta else WIN + 1
        self.table[key] = (depth, lower, upper, best_col)
        return best


def to_bitboards(game, board, mark):
    """Convert Kaggle's flat board (row 0 at the top) to ``(position, mask)``."""
    rows, columns, height = game.rows, game.columns, game.height
    position = mask = 0
    for index, value in enumerate(board):
        if value:
            row, col = divmod(index, columns)
            bit = 1 << (col * height + rows - 1 - row)
            mask |= bit
            if value == mark:
                position |= bit
    return position, mask


def root_order(game, moves, rng):
    """Columns in ``moves``, centre-first, mirror-image ties broken with ``rng``."""
    centre = (game.columns - 1) / 2
    keyed = [(abs(col - centre), rng.random(), col) for col in range(game.columns)]
    return [col for _, _, col in sorted(keyed) if moves & game.column_masks[col]]


def best_move(observation, rng, max_nodes=DEFAULT_MAX_NODES, budget_ms=DEFAULT_MAX_MS):
    """The column the search picks, and the depth of its last finished iteration."""
    col, finished, _ = search_move(observation, rng, max_nodes, budget_ms)
    return col, finished


def search_move(observation, rng, max_nodes=DEFAULT_MAX_NODES, budget_ms=DEFAULT_MAX_MS):
    """``(column, depth of the last finished iteration, its score for the side to move)``.

    The score is the search's: positive is good for ``mark``, above ``WIN - cells`` a
    forced win, below ``-(WIN - cells)`` a forced loss, 0 when nothing was searched.
    """
    game = game_for(observation["rows"], observation["columns"], observation["inarow"])
    position, mask = to_bitboards(game, observation["board"], observation["mark"])
    search = Search(game, max_nodes, time.perf_counter() + budget_ms / 1000)
    root = Root(game, position, mask)
    score, moves, _, _ = search.analyse(mask, root.played, *root.lines)
    order = root_order(game, moves, rng)
    if score is not None or len(order) == 1:  # decided: win now, or every move loses
        return order[0], 0, score or 0
    best_col, finished, best_value = order[0], 0, 0
    for depth in range(1, game.cells - root.played + 1):
        try:
            col, value = root.search(search, order, depth)
        except OutOfBudget:
            break
        best_col, finished, best_value = col, depth, value
        order.remove(col)
        order.insert(0, col)
        if abs(value) > WIN - game.cells - 2:  # a forced result: deeper cannot change it
            break
    return best_col, finished, best_value


class Root:
    """The position to move from, and one alpha-beta iteration over its moves."""

    def __init__(self, game, position, mask):
        self.game, self.position, self.mask = game, position, mask
        self.played = mask.bit_count()
        self.material = game.positional(position) - game.positional(position ^ mask)
        self.lines = (game.winning_cells(position), game.winning_cells(position ^ mask))

    def search(self, search, order, depth):
        """Search every column in ``order`` to ``depth``: ``(best column, its value)``."""
        game, position, mask = self.game, self.position, self.mask
        possible = (mask + game.bottom) & game.board_mask
        alpha, beta = -WIN - 1, WIN + 1
        best_col, best = order[0], -WIN - 1
        for col in order:
            move = possible & game.column_masks[col]
            value = -search.negamax(
                position ^ mask,
                mask | move,
                self.played + 1,
                -self.material - game.weights[move],
                (self.lines[1], game.winning_cells(position | move)),
                depth - 1,
                -beta,
                -alpha,
            )
            if value > best:
                best, best_col = value, col
                alpha = max(alpha, value)
        return best_col, best


def act(observation, context):
    params = getattr(context, "params", None) or {}
    max_nodes = params.get("max_nodes", DEFAULT_MAX_NODES)
    budget_ms = params.get("max_ms", DEFAULT_MAX_MS)
    time_left = getattr(context, "time_left_ms", None)
    if time_left is not None:
        budget_ms = min(budget_ms, time_left / 2)
    col, _ = best_move(observation, context.rng, max_nodes, budget_ms)
    legal = context.legal_actions
    if legal and col not in legal:  # cannot happen with a consistent observation
        return legal[0]
    return col


def task_observation(payload):
    """The ``connect_four`` observation a ``connect_four.best_move`` payload describes.

    ``board`` is either the observation's flat row-major list (with ``rows``,
    ``columns`` and ``inarow``; 6, 7 and 4 by default) or a list of rows, top row first.
    """
    if not isinstance(payload, dict):
        raise ValueError("payload must be an object with board and mark")
    board, mark = payload.get("board"), payload.get("mark")
    if mark not in (1, 2):
        raise ValueError(f"mark must be 1 or 2, got {mark!r}")
    if isinstance(board, list) and board and all(isinstance(row, list) for row in board):
        rows, columns = len(board), len(board[0])
        if any(len(row) != columns for row in board):
            raise ValueError("every row of board must have the same length")
        board = [cell for row in board for cell in row]
    else:
        rows, columns = payload.get("rows", 6), payload.get("columns", 7)
    inarow = payload.get("inarow", 4)
    for name, value in (("rows", rows), ("columns", columns), ("inarow", inarow)):
        if not isinstance(value, int) or isinstance(value, bool) or not 2 <= value <= 16:
            raise ValueError(f"{name} must be an integer in 2..16, got {value!r}")
    if not isinstance(board, list) or len(board) != rows * columns:
        raise ValueError(f"board must hold {rows} x {columns} cells")
    if any(cell not in (0, 1, 2) for cell in board):
        raise ValueError("board cells must be 0 (empty), 1 or 2")
    if all(board[col] for col in range(columns)):
        raise ValueError("the board is full: no move to make")
    return {"board": board, "rows": rows, "columns": columns, "inarow": inarow, "mark": mark}


def handle(task, context):
    """``connect_four.best_move``: ``{"column": c, "score": s}`` for the payload's position."""
    if task["type"] != "connect_four.best_move":
        raise ValueError(f"unknown task type {task['type']!r}")
    observation = task_observation(task["payload"])
    params = getattr(context, "params", None) or {}
    budget_ms = min(params.get("max_ms", DEFAULT_MAX_MS), context.time_left_ms / 2)
    col, _, score = search_move(
        observation, context.rng, params.get("max_nodes", DEFAULT_MAX_NODES), budget_ms
    )
    return {"column": col, "score": score}
