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
