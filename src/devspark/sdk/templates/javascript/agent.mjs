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

// A service agent (add to agent.toml: [service] with handles = ["my.task"]) also, or
// only, exports handle; each task is {id, type, payload} and the return value is its
// result:
//
// export function handle(task, context) {
//   context.progress({ started: context.task_id }); // streamed to the task's watchers
//   // context.submit("other.task", payload) runs a sub-task and returns its result, and
//   // context.request("sys.memory", { op: "get", space: "s", key: "k" }) asks the
//   // platform (grant both with capabilities = ["bus:request:..."]); both throw a
//   // context.RequestError when refused.
//   return { echo: task.payload };
// }
