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

// Messages between the agents of a match (grant them in agent.toml, e.g.
// capabilities = ["bus:publish:team.*", "bus:subscribe:team.*"]):
//
// export function on_message(message, context) { // once per message, before act
//   context.log(`${message.sender} on ${message.channel}: ${JSON.stringify(message.payload)}`);
// }
//
// and in act: context.publish("team.plan", { move: 4 }); read context.messages (what
// arrived since the last move) and context.bus_errors (refused publishes).
