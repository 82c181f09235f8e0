// Uniformly random legal moves, for any scenario with a discrete action set.
// context.rng is a seeded function returning floats in [0, 1). In a scenario whose
// actions are not a discrete set (legal_actions is null) it logs that and passes.
export function act(observation, context) {
  const legal = context.legal_actions;
  if (legal === null || legal === undefined) {
    context.log("builtin:random-js needs a discrete action set; this scenario has none");
    return null;
  }
  return legal[Math.floor(context.rng() * legal.length)];
}
