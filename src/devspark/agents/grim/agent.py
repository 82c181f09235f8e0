"""Grim trigger: cooperate until any other player defects once, then defect forever.

It reads the episode-long cooperation counts of the observation (so it remembers
defections older than the history window): another player that has cooperated in
fewer rounds than have been played has defected at least once. With several players
one defection by anybody triggers it; under noise a flipped move triggers it too.
Standard library only: this file runs inside the sandbox.
"""


def act(observation, context):
    rounds = observation["round"]
    me = observation["me"]
    for seat, cooperations in enumerate(observation["cooperations"]):
        if seat != me and cooperations < rounds:
            return "D"
    return "C"
