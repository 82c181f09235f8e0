// One-ply Connect Four heuristic, for any board size and line length: the JavaScript
// twin of builtin:connect-four-heuristic (same rules, same draws from context.rng, so
// the same moves for the same seed).
//
// The observation is the connect_four wire observation: board (flat, row-major, row 0
// at the top, Kaggle's layout), rows, columns, inarow and mark. In order, the agent:
// 1. wins now when a move completes a line;
// 2. else blocks a column where the opponent would complete a line next move;
// 3. else avoids moves that let the opponent win by playing on top of the new disc;
// 4. among what is left, prefers the centre: it draws a column at random with a
//    weight (columns / 2 - distance to the centre) ** 2.
// Node builtins only: this file runs inside the sandbox.

const DIRECTIONS = [
  [0, 1],
  [1, 0],
  [1, 1],
  [1, -1],
];

/** The row a disc dropped in `col` lands on, or -1 when the column is full. */
export function landingRow(board, rows, columns, col) {
  for (let row = rows - 1; row >= 0; row--) {
    if (!board[row * columns + col]) return row;
  }
  return -1;
}

/** Whether a `mark` disc at (row, col) would be part of `inarow` in a line. */
export function completesLine(board, rows, columns, inarow, row, col, mark) {
  for (const [dRow, dCol] of DIRECTIONS) {
    let count = 1;
    for (const sign of [1, -1]) {
      let r = row + sign * dRow;
      let c = col + sign * dCol;
      while (r >= 0 && r < rows && c >= 0 && c < columns && board[r * columns + c] === mark) {
        count += 1;
        r += sign * dRow;
        c += sign * dCol;
      }
    }
    if (count >= inarow) return true;
  }
  return false;
}

function pick(items, rng) {
  return items[Math.floor(rng() * items.length)];
}

function weightedCentreChoice(candidates, columns, rng) {
  const centre = (columns - 1) / 2;
  const weights = candidates.map((col) => (columns / 2 - Math.abs(col - centre)) ** 2);
  let target = rng() * weights.reduce((sum, weight) => sum + weight, 0);
  for (let i = 0; i < candidates.length; i++) {
    target -= weights[i];
    if (target < 0) return candidates[i];
  }
  return candidates[candidates.length - 1];
}

/** The heuristic's move among the `legal` columns. */
export function choose(observation, legal, rng) {
  const board = [...observation.board];
  const { rows, columns, inarow, mark } = observation;
  const other = 3 - mark;
  const landing = new Map();
  for (const col of legal) {
    const row = landingRow(board, rows, columns, col);
    if (row >= 0) landing.set(col, row);
  }
  // The legal columns disagree with the board: trust them.
  if (!landing.size) return pick([...legal], rng);
  const moves = [...landing.keys()].sort((a, b) => a - b);
  const wins = moves.filter((c) =>
    completesLine(board, rows, columns, inarow, landing.get(c), c, mark),
  );
  if (wins.length) return pick(wins, rng);
  const blocks = moves.filter((c) =>
    completesLine(board, rows, columns, inarow, landing.get(c), c, other),
  );
  if (blocks.length) return pick(blocks, rng);
  const safe = [];
  for (const col of moves) {
    const row = landing.get(col);
    if (row === 0) {
      safe.push(col);
      continue;
    }
    board[row * columns + col] = mark;
    if (!completesLine(board, rows, columns, inarow, row - 1, col, other)) safe.push(col);
    board[row * columns + col] = 0;
  }
  return weightedCentreChoice(safe.length ? safe : moves, columns, rng);
}

export function act(observation, context) {
  let legal = context.legal_actions;
  if (!legal || !legal.length) {
    legal = [];
    for (let col = 0; col < observation.columns; col++) {
      if (!observation.board[col]) legal.push(col);
    }
  }
  return choose(observation, legal, context.rng);
}
