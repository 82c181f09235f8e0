"""Uniformly random legal moves, for any scenario with a discrete action set.

Runs inside the sandbox on the standard library only.
"""


def act(observation, context):
    return context.rng.choice(context.legal_actions)
