// A DevSpark agent: DevSpark calls `act` once per move.
//
// `observation` is the scenario's JSON observation; `context` carries `legal_actions`,
// `step`, `role`, `time_left_ms`, `params` (from agent.toml), `rng` (a seeded function
// returning floats in [0, 1)) and `log(message)`. Return one legal action. No npm packages.

export function act(observation, context) {
  const legal = context.legal_actions;
  const centre = 4;
  if (legal.includes(centre) && context.rng() < context.params.greed) {
    return centre;
  }
  return legal[Math.floor(context.rng() * legal.length)];
}
