"""Always cooperates, in every round and against any number of players.

The unconditional cooperator of the iterated prisoner's dilemma: the best partner for
reciprocators, the favourite victim of defectors. Standard library only: this file
runs inside the sandbox.
"""


def act(observation, context):
    return "C"
