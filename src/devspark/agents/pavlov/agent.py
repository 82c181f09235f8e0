"""Pavlov (win-stay, lose-shift): repeat the last action if it paid well, else switch.

It cooperates first. Afterwards it computes its own payoff of the last round from the
executed actions (the scenario's averaged payoff: a cooperator scores ``3k / m`` and a
defector ``(5k + m - k) / m`` when ``k`` of the ``m`` others cooperated) and keeps its
last executed action when that payoff was at least 2 (between the mutual-defection
payoff 1 and the mutual-cooperation payoff 3), else plays the other action. Against
one opponent this is the classic rule: cooperate exactly when both players did the
same thing last round. Standard library only: this file runs inside the sandbox.
"""

ASPIRATION = 2


def act(observation, context):
    history = observation["history"]
    if not history:
        return "C"
    last = history[-1]
    me = observation["me"]
    mine = last[me]
    others = len(last) - 1
    cooperators = last.count("C") - (mine == "C")
    if mine == "C":
        won = 3 * cooperators >= ASPIRATION * others
    else:
        won = 5 * cooperators + (others - cooperators) >= ASPIRATION * others
    if won:
        return mine
    return "D" if mine == "C" else "C"
