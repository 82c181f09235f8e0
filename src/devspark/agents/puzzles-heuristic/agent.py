"""Cheap heuristics for the ``puzzles`` scenario: better than guessing, far from exact.

* make24: up to ``TRIES`` random chains ``((a op b) op c) op d`` (a random order of the
  numbers and random operators, no other bracketing); the first that hits the target,
  else the closest one;
* sequence: the k-th distinct guess (k = attempts used) among constant first
  differences, constant second differences, a constant integer ratio, then
  ``2 last - previous`` and ``last + (last - previous) * 2``;
* latin: naive fill: repeatedly write the only candidate of a blank that has one;
  when none has, write a random candidate of the most constrained blank (no
  backtracking).

Deterministic given ``context.rng``. Standard library only: this file runs inside the
sandbox.
"""

from fractions import Fraction
from itertools import pairwise

TRIES = 40


def _apply(op, a, b):
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return a / b if b else None


def make24(numbers, target, rng):
    best, best_gap = None, None
    for _ in range(TRIES):
        order = rng.sample(numbers, len(numbers))
        value, text = Fraction(order[0]), str(order[0])
        for number in order[1:]:
            op = rng.choice("+-*/")
            value = _apply(op, value, Fraction(number))
            if value is None:
                break
            text = f"({text} {op} {number})"
        if value is None:
            continue
        gap = abs(value - target)
        if best_gap is None or gap < best_gap:
            best, best_gap = text, gap
        if gap == 0:
            break
    return best if best is not None else " + ".join(map(str, numbers))


def sequence_guesses(terms):
    first = [b - a for a, b in pairwise(terms)]
    second = [b - a for a, b in pairwise(first)]
    last, previous = terms[-1], terms[-2]
    guesses = []
    if len(set(first)) == 1:
        guesses.append(last + first[-1])
    if len(second) >= 2 and len(set(second)) == 1:
        guesses.append(last + first[-1] + second[-1])
    if previous and last % previous == 0:
        ratio = last // previous
        if all(b == a * ratio for a, b in pairwise(terms)):
            guesses.append(last * ratio)
    guesses.append(2 * last - previous)
    guesses.append(last + (last - previous) * 2)
    distinct = []
    for guess in guesses:
        if guess not in distinct:
            distinct.append(guess)
    return distinct


def latin(grid, rng):
    n = len(grid)
    grid = [row[:] for row in grid]
    while True:
        blanks = [(r, c) for r in range(n) for c in range(n) if not grid[r][c]]
        if not blanks:
            return grid
        options = []
        for r, c in blanks:
            used = set(grid[r]) | {grid[i][c] for i in range(n)}
            options.append(([v for v in range(1, n + 1) if v not in used], r, c))
        options.sort(key=lambda item: len(item[0]))
        candidates, r, c = options[0]
        if len(candidates) == 1:
            grid[r][c] = candidates[0]
        else:
            grid[r][c] = rng.choice(candidates) if candidates else rng.randint(1, n)


def act(observation, context):
    kind, data = observation["kind"], observation["data"]
    if kind == "make24":
        return make24(data["numbers"], data["target"], context.rng)
    if kind == "sequence":
        guesses = sequence_guesses(data["terms"])
        used = 3 - observation["attempts_left"]
        return guesses[min(used, len(guesses) - 1)]
    return latin(data["grid"], context.rng)
