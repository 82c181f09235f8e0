"""Greedy foraging baseline (``foraging-v1``).

Each round: target the nearest visible food item it can lift alone, else the nearest
visible item; ``LOAD`` when next to the target, else step towards it; with no food in
view, take a random step. It keeps no memory and always sends signal 0.

Runs inside the sandbox on the standard library only.
"""

STEPS = {"N": (-1, 0), "E": (0, 1), "S": (1, 0), "W": (0, -1)}


def act(observation, context):
    legal = context.legal_actions
    moves = []
    for action in legal:
        if action["move"] not in moves:
            moves.append(action["move"])
    me = observation["me"]
    row, col = observation["positions"][me]
    level = observation["levels"][me]
    food = observation["food"]
    if food:
        liftable = [item for item in food if item[2] <= level]
        target = min(
            liftable or food, key=lambda item: (abs(item[0] - row) + abs(item[1] - col), item)
        )
        distance = abs(target[0] - row) + abs(target[1] - col)
        if distance == 1 and "LOAD" in moves:
            return {"move": "LOAD", "signal": 0}
        closer = [
            move
            for move in moves
            if move in STEPS
            and abs(target[0] - row - STEPS[move][0]) + abs(target[1] - col - STEPS[move][1])
            < distance
        ]
        if closer:
            return {"move": context.rng.choice(closer), "signal": 0}
    steps = [move for move in moves if move in STEPS] or moves
    return {"move": context.rng.choice(steps), "signal": 0}
