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
