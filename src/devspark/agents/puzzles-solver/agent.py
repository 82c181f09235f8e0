"""Exact solvers for every kind of the ``puzzles`` scenario.

* make24: exhaustive search over exact fractions. The values each subset of up to 3
  numbers can make are tabulated; a larger set is split in two, and for each value
  ``x`` of the smaller part and each operator the value ``y`` the other part must make
  is solved for (``t - x``, ``x - t``, ``t + x``, ``t / x``, ``x / t``, ``t * x``) and
  looked for recursively. Complete, and a few milliseconds for 5 numbers.
* sequence: fits, in order, a polynomial of degree <= 4 (finite differences), the
  affine recurrence ``a(n+1) = r a(n) + c``, the linear recurrence
  ``a(n+2) = p a(n+1) + q a(n)`` and two interleaved sequences of those; the scenario
  guarantees that every fitting rule predicts the same next term.
* latin: backtracking with the most constrained blank first (bitmasks).

Deterministic (it never needs ``context.rng``). Standard library only: this file runs
inside the sandbox.
"""

from fractions import Fraction
from itertools import pairwise

# ------------------------------------------------------------------ make24


class Make24:
    """Search for an expression of ``numbers`` (each used once) equal to ``target``."""

    def __init__(self, numbers):
        self.numbers = list(numbers)
        self.tables = {}
        for index, number in enumerate(self.numbers):
            self.tables[1 << index] = {number: str(number)}
        self.reached = {}

    def values(self, mask):
        """Every value the numbers in ``mask`` make, each with one expression."""
        table = self.tables.get(mask)
        if table is not None:
            return table
        table = {}
        low = mask & -mask
        side = (mask - 1) & mask
        while side:
            if side & low:
                rest = mask ^ side
                right_items = list(self.values(rest).items())
                for a, text_a in self.values(side).items():
                    for b, text_b in right_items:
                        _combine(table, a, text_a, b, text_b)
            side = (side - 1) & mask
        self.tables[mask] = table
        return table

    def reach(self, mask, target):
        """One expression of the numbers in ``mask`` equal to ``target``, or None."""
        size = bin(mask).count("1")
        if size <= 3:
            return self.values(mask).get(target)
        key = (mask, target)
        if key in self.reached:
            return self.reached[key]
        found = None
        low = mask & -mask
        side = (mask - 1) & mask
        while side and found is None:
            rest = mask ^ side
            side_size = bin(side).count("1")
            if side_size < size - side_size or (side_size * 2 == size and side & low):
                found = self._split(side, rest, target)
            side = (side - 1) & mask
        self.reached[key] = found
        return found

    def _split(self, side, rest, target):
        for x, text_x in self.values(side).items():
            for y, template in _needed(x, target):
                if y is None:
                    text_y = "(" + " + ".join(self._bits(rest)) + ")"
                else:
                    text_y = self.reach(rest, y)
                    if text_y is None:
                        continue
                return template.format(x=text_x, y=text_y)
        return None

    def _bits(self, mask):
        return [str(n) for i, n in enumerate(self.numbers) if mask >> i & 1]


def _exact(value):
    """A Fraction that is an integer as an int (ints hash and add much faster)."""
    if type(value) is Fraction and value.denominator == 1:
        return value.numerator
    return value


def _divide(a, b):
    if type(a) is int and type(b) is int:
        return a // b if a % b == 0 else Fraction(a, b)
    return _exact(Fraction(a) / b)


def _combine(table, a, text_a, b, text_b):
    ints = type(a) is int and type(b) is int
    for value, text in (
        (a + b, f"({text_a} + {text_b})"),
        (a - b, f"({text_a} - {text_b})"),
        (b - a, f"({text_b} - {text_a})"),
        (a * b, f"({text_a} * {text_b})"),
    ):
        table.setdefault(value if ints else _exact(value), text)
    if b:
        table.setdefault(_divide(a, b), f"({text_a} / {text_b})")
    if a:
        table.setdefault(_divide(b, a), f"({text_b} / {text_a})")


def _needed(x, t):
    """(value y must have, template) for each way ``x op y`` or ``y op x`` makes ``t``.

    ``None`` as the value means any value works (a product or quotient with 0), as long
    as it is not zero for a divisor; a sum of positive numbers is used then.
    """
    ints = type(x) is int and type(t) is int
    options = [
        (t - x, "({x} + {y})"),
        (x - t, "({x} - {y})"),
        (t + x, "({y} - {x})"),
    ]
    if not ints:
        options = [(_exact(value), template) for value, template in options]
    if x:
        options.append((_divide(t, x), "({x} * {y})"))
        options.append((t * x if ints else _exact(t * x), "({y} / {x})"))
        if t:
            options.append((_divide(x, t), "({x} / {y})"))
    elif not t:
        options.append((None, "({x} * {y})"))
    return options


def solve_make24(numbers, target):
    solver = Make24(numbers)
    found = solver.reach((1 << len(numbers)) - 1, target)
    return found if found is not None else " + ".join(map(str, numbers))


# ---------------------------------------------------------------- sequence


def fit_polynomial(terms):
    rows = [list(terms)]
    while len(rows[-1]) >= 2 and len(rows) <= 5:
        row = rows[-1]
        if all(value == row[0] for value in row):
            return sum((r[-1] for r in rows), Fraction(0))
        rows.append([b - a for a, b in pairwise(row)])
    return None


def fit_affine(terms):
    if len(terms) < 4 or terms[1] == terms[0]:
        return None
    r = (terms[2] - terms[1]) / (terms[1] - terms[0])
    c = terms[1] - r * terms[0]
    if any(terms[i + 1] != r * terms[i] + c for i in range(len(terms) - 1)):
        return None
    return r * terms[-1] + c


def fit_recurrence(terms):
    if len(terms) < 5:
        return None
    a0, a1, a2, a3 = terms[:4]
    det = a1 * a1 - a0 * a2
    if det == 0:
        return None
    p = (a1 * a2 - a0 * a3) / det
    q = (a1 * a3 - a2 * a2) / det
    if any(terms[i + 2] != p * terms[i + 1] + q * terms[i] for i in range(len(terms) - 2)):
        return None
    return p * terms[-1] + q * terms[-2]


def fit_base(terms):
    for fit in (fit_polynomial, fit_affine, fit_recurrence):
        prediction = fit(terms)
        if prediction is not None:
            return prediction
    return None


def solve_sequence(terms):
    values = [Fraction(t) for t in terms]
    prediction = fit_base(values)
    if prediction is None and len(values) >= 6:
        parity = len(values) % 2
        if fit_base(values[1 - parity :: 2]) is not None:
            prediction = fit_base(values[parity::2])
    if prediction is None or prediction.denominator != 1:
        return terms[-1] + (terms[-1] - terms[-2])
    return int(prediction)


# ------------------------------------------------------------------- latin


def solve_latin(grid):
    n = len(grid)
    grid = [row[:] for row in grid]
    full = (1 << (n + 1)) - 2
    rows, cols, empty = [0] * n, [0] * n, []
    for r in range(n):
        for c in range(n):
            if grid[r][c]:
                rows[r] |= 1 << grid[r][c]
                cols[c] |= 1 << grid[r][c]
            else:
                empty.append((r, c))

    def search(remaining):
        if not remaining:
            return True
        best, best_free, best_count = 0, 0, n + 1
        for index, (r, c) in enumerate(remaining):
            free = full & ~(rows[r] | cols[c])
            count = bin(free).count("1")
            if count < best_count:
                best, best_free, best_count = index, free, count
                if count <= 1:
                    break
        r, c = remaining[best]
        rest = remaining[:best] + remaining[best + 1 :]
        while best_free:
            bit = best_free & -best_free
            best_free ^= bit
            rows[r] |= bit
            cols[c] |= bit
            grid[r][c] = bit.bit_length() - 1
            if search(rest):
                return True
            rows[r] ^= bit
            cols[c] ^= bit
        grid[r][c] = 0
        return False

    search(empty)
    return grid


def act(observation, context):
    kind, data = observation["kind"], observation["data"]
    if kind == "make24":
        return solve_make24(data["numbers"], data["target"])
    if kind == "sequence":
        return solve_sequence(data["terms"])
    return solve_latin(data["grid"])
