"""A DevSpark agent: DevSpark calls ``act`` once per move.

``observation`` is the scenario's JSON observation; ``context`` carries
``legal_actions``, ``step``, ``role``, ``time_left_ms``, ``params`` (from agent.toml),
``rng`` (a seeded random.Random) and ``log(message)``. Return one legal action.
Standard library only, unless you list ``requirements`` in agent.toml.
"""


def act(observation, context):
    legal = context.legal_actions
    centre = 4
    if centre in legal and context.rng.random() < context.params["greed"]:
        return centre
    return context.rng.choice(legal)


# Messages between the agents of a match (grant them in agent.toml, e.g.
# capabilities = ["bus:publish:team.*", "bus:subscribe:team.*"]):
#
# def on_message(message, context):  # once per delivered message, before act
#     context.log(f"{message['sender']} on {message['channel']}: {message['payload']}")
#
# and in act: context.publish("team.plan", {"move": 4}); read context.messages (what
# arrived since the last move) and context.bus_errors (refused publishes).


# A service agent (add to agent.toml: [service] with handles = ["my.task"]) also, or
# only, defines handle; each task is {"id", "type", "payload"} and the return value is
# its result:
#
# def handle(task, context):
#     context.progress({"started": context.task_id})  # streamed to the task's watchers
#     # context.submit("other.task", payload) runs a sub-task and returns its result, and
#     # context.request("sys.memory", {"op": "get", "space": "s", "key": "k"}) asks the
#     # platform (grant both with capabilities = ["bus:request:..."]); both raise
#     # context.RequestError when refused.
#     return {"echo": task["payload"]}
