"""A Kaggle ConnectX submission, unmodified: one file, the last callable is the agent.

It plays like many public ConnectX notebooks: win if it can, block the opponent's
win, otherwise score each column with a small look-ahead and take the best (ties go
to the centre). Standard library only, so it runs without ``requirements``.
"""

import random

EMPTY = 0


def drop_row(grid, col, config):
    """The row a checker dropped in ``col`` lands on (rows count from the top)."""
    for row in range(config.rows - 1, -1, -1):
        if grid[row][col] == EMPTY:
            return row
    return -1


def is_win(grid, row, col, mark, config):
    """Whether ``mark`` at (``row``, ``col``) completes ``config.inarow`` in a line."""
    for d_row, d_col in ((0, 1), (1, 0), (1, 1), (1, -1)):
        count = 1
        for sign in (1, -1):
            r, c = row + sign * d_row, col + sign * d_col
            while 0 <= r < config.rows and 0 <= c < config.columns and grid[r][c] == mark:
                count += 1
                r, c = r + sign * d_row, c + sign * d_col
        if count >= config.inarow:
            return True
    return False


def window_score(grid, mark, config):
    """Count open windows of ``config.inarow`` cells, weighting by how full they are."""
    score = 0
    n = config.inarow
    for row in range(config.rows):
        for col in range(config.columns):
            for d_row, d_col in ((0, 1), (1, 0), (1, 1), (1, -1)):
                end_r, end_c = row + (n - 1) * d_row, col + (n - 1) * d_col
                if not (0 <= end_r < config.rows and 0 <= end_c < config.columns):
                    continue
                cells = [grid[row + i * d_row][col + i * d_col] for i in range(n)]
                if cells.count(3 - mark) == 0:
                    score += 4 ** cells.count(mark)
                elif cells.count(mark) == 0:
                    score -= 4 ** cells.count(3 - mark)
    return score


def my_agent(obs, config):
    """Return the column to play (Kaggle calls the file's last callable)."""
    # Typical Kaggle idioms: attribute access on obs/config, item access too.
    mark = obs["mark"]
    grid = [obs.board[r * config.columns : (r + 1) * config.columns] for r in range(config.rows)]
    valid = [c for c in range(config.columns) if obs.board[c] == EMPTY]
    for who in (mark, 3 - mark):  # win now, else block
        for col in valid:
            row = drop_row(grid, col, config)
            if is_win(grid, row, col, who, config):
                return col
    centre = config.columns // 2
    best, best_score = valid[0], None
    for col in sorted(valid, key=lambda c: abs(c - centre)):
        row = drop_row(grid, col, config)
        grid[row][col] = mark
        score = window_score(grid, mark, config)
        if row > 0 and is_win(grid, row - 1, col, 3 - mark, config):
            score -= 10**6  # never let the opponent win on top
        grid[row][col] = EMPTY
        if best_score is None or score > best_score:
            best, best_score = col, score
    if obs.remainingOverageTime < 1:  # out of banked time: any legal move will do
        return random.choice(valid)
    return best
