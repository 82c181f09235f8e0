"""Tit for tat: cooperate first, then do what the others did last round.

Against one opponent it repeats the opponent's last executed action. Against several
it cooperates when at least half of the other players cooperated in the last round
and defects otherwise. It sees executed actions, so under noise a flipped move is
answered like a chosen one. Standard library only: this file runs inside the sandbox.
"""


def act(observation, context):
    history = observation["history"]
    if not history:
        return "C"
    last = history[-1]
    me = observation["me"]
    others = len(last) - 1
    cooperators = last.count("C") - (last[me] == "C")
    return "C" if 2 * cooperators >= others else "D"
