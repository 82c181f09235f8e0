// Plays one legal move, then calls process.exit(3) at its second move.
let moves = 0;

export function act(observation, context) {
  moves += 1;
  if (moves === 2) process.exit(3);
  return context.legal_actions[0];
}
