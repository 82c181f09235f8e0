"""Random guesses for the ``puzzles`` scenario (a baseline).

* make24: the numbers in the given order joined by random operators, no parentheses;
* sequence: the last term plus a random integer in [-10, 10];
* latin: every blank filled with a random value in 1..n.

Deterministic given ``context.rng``. Standard library only: this file runs inside the
sandbox.
"""


def act(observation, context):
    rng = context.rng
    kind, data = observation["kind"], observation["data"]
    if kind == "make24":
        parts = [str(data["numbers"][0])]
        for number in data["numbers"][1:]:
            parts.append(rng.choice("+-*/"))
            parts.append(str(number))
        return " ".join(parts)
    if kind == "sequence":
        return data["terms"][-1] + rng.randint(-10, 10)
    n = data["size"]
    return [[value or rng.randint(1, n) for value in row] for row in data["grid"]]
