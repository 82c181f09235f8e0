// Uniformly random legal moves, for any scenario with a discrete action set.
// context.rng is a seeded function returning floats in [0, 1).
export function act(observation, context) {
  return context.legal_actions[Math.floor(context.rng() * context.legal_actions.length)];
}
