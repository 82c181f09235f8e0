"""Always defects, in every round and against any number of players.

The baseline exploiter of the iterated prisoner's dilemma: it never scores less than
its opponent head-to-head, yet scores poorly against reciprocators. Standard library
only: this file runs inside the sandbox.
"""


def act(observation, context):
    return "D"
