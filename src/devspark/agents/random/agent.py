"""Uniformly random legal moves, for any scenario with a discrete action set.

Runs inside the sandbox on the standard library only. In a scenario whose actions are
not a discrete set (``legal_actions`` is null, e.g. ``puzzles``) it has nothing to pick
from: it says so in its log and passes (``null``), which the scenario refuses.
"""


def act(observation, context):
    if context.legal_actions is None:
        context.log("builtin:random needs a discrete action set; this scenario has none")
        return None
    return context.rng.choice(context.legal_actions)
