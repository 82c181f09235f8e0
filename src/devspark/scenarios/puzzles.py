"""Puzzles (``puzzles-v1``): arithmetic and logic puzzles with a checkable answer.

Domains: reasoning. Players: 1. Difficulty: 1 to 5.

Rules
    An episode is one procedurally generated puzzle and up to 3 attempts at it. A
    correct attempt ends the episode; a wrong or unreadable one is reported in the next
    observation's ``feedback`` and costs an attempt; the episode fails after 3 of them. Every
    generated puzzle has an answer (and, for ``sequence`` and ``latin``, exactly one).
    There are three kinds, fixed with the ``kind`` option or else drawn uniformly from
    the seeded generator:

    ``make24``
        Combine every given number exactly once with ``+ - * /`` and parentheses to
        reach the target. Arithmetic is exact (fractions allowed in between: ``8 / (3 -
        8 / 3)`` is 24); no unary minus, no joining digits, no division by zero.
        Levels: 3 numbers 1-9 and a target 1-30; 4 numbers 1-9 and target 24; 4
        numbers 1-13 and a target 25-100; 5 numbers 1-13, target 25-200; 5 numbers
        1-25, target 100-999.
    ``sequence``
        Give the next integer term. Levels: arithmetic (5 terms); arithmetic or
        geometric (5); quadratic, geometric, ``a(n+1) = r a(n) + c`` or two
        interleaved arithmetic sequences (6, interleaved 8); cubic, Fibonacci-like,
        ``r a(n) + c`` or arithmetic interleaved with geometric (7, interleaved 9);
        quartic, ``a(n+2) = p a(n+1) + q a(n)``, ``r a(n) + c`` or two interleaved
        sequences of those kinds (8, interleaved 10). The shown terms determine the
        answer: every rule of these families (polynomials of degree <= 4 confirmed by
        one more term, ``r a(n) + c``, ``p a(n+1) + q a(n)``, and two interleaved
        sequences of those) that fits the shown terms predicts the same next term.
    ``latin``
        Fill the blanks (0) of an n x n grid so that every row and every column holds
        each of 1..n once; the completion is unique. Levels (n, blanks): (3, 3),
        (4, 7), (5, 14), (6, 22), (7, 30 to 34: as many as uniqueness allows).

Observation (wire protocol)
    ``{"kind", "prompt", "data", "attempts_left", "feedback"}``: ``prompt`` is the
    puzzle in words; ``data`` is ``{"numbers": [ints], "target": int}`` (make24),
    ``{"terms": [ints]}`` (sequence) or ``{"size": n, "grid": [n rows of n ints]}``
    (latin, 0 for a blank); ``attempts_left`` counts the attempts still allowed (0
    once the episode is over); ``feedback`` is ``None`` before the first attempt,
    then ``"wrong"`` (readable but incorrect), ``"invalid"`` (not readable as an
    answer of this kind: syntax, numbers not used exactly once, grid shape) or
    ``"correct"``.

Observation (PettingZoo)
    ``Dict(kind=Discrete(3), data=Box(int64, (49,)), data_length=Discrete(50),
    attempts_left=Discrete(4), feedback=Discrete(4), prompt=Text(1000))``, the same
    for every kind and difficulty (``prompt`` over :data:`string.printable`): ``kind``
    indexes ``("make24", "sequence", "latin")``; ``data`` holds the numbers then the
    target, the terms, or the grid row-major, zero-padded, of which ``data_length``
    count; ``feedback`` indexes ``(None, "wrong", "invalid", "correct")``.

Actions
    Any string of at most 200 characters is a legal attempt for every kind: an
    expression for make24 (``"(8 - 2) * (3 + 1)"``), an integer for sequence
    (``"-42"``), the grid for latin (``"[[1,2],[2,1]]"`` or any text whose digits,
    separated only by whitespace, commas, brackets or semicolons, are the n*n cells in
    row-major order). Over the wire a sequence answer may also be a JSON integer and a
    latin answer a JSON list (n lists of n integers, or n*n integers). Anything else
    (floats, booleans, null, objects, longer strings, lists of another shape) is
    illegal: a fault. The PettingZoo action space is ``Text(max_length=200)`` over
    ``0-9 + - * / ( ) , [ ]`` and space; ``legal_actions`` is ``None``.

Rewards
    At the end only: 1.0 for a correct first attempt, 0.5 for the second, 0.25 for
    the third, 0.0 when all three are wrong. A fault (timeout, crash, illegal action
    ...) ends the episode with -1.

Version history
    v1: first version.
"""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from typing import Any, Final

import gymnasium
import numpy as np

from devspark.core.errors import InvalidArgumentError
from devspark.scenarios._shared import SinglePlayerScenario, as_integer
from devspark.scenarios.options import OptionSpec
from devspark.scenarios.registry import register

KINDS: Final = ("make24", "sequence", "latin")
"""The puzzle kinds, in the order of the PettingZoo ``kind`` index."""
FEEDBACK: Final = (None, "wrong", "invalid", "correct")
"""The feedback values, in the order of the PettingZoo ``feedback`` index."""
MAX_ATTEMPTS: Final = 3
ATTEMPT_REWARDS: Final = (1.0, 0.5, 0.25)
MAX_ANSWER_CHARS: Final = 200
ANSWER_CHARSET: Final = "0123456789+-*/() ,[]"
DATA_LENGTH: Final = 49
PROMPT_MAX_CHARS: Final = 1000
MAX_NESTING: Final = 32
MAX_LITERAL_DIGITS: Final = 6
SEQUENCE_BOUND: Final = 10**6

# difficulty -> (count of numbers, largest number, lowest target, highest target)
_MAKE24: Final = {
    1: (3, 9, 1, 30),
    2: (4, 9, 24, 24),
    3: (4, 13, 25, 100),
    4: (5, 13, 25, 200),
    5: (5, 25, 100, 999),
}
_FAMILIES: Final = {
    1: ("arithmetic",),
    2: ("arithmetic", "geometric"),
    3: ("quadratic", "geometric", "affine", "interleaved"),
    4: ("cubic", "fibonacci", "affine", "interleaved"),
    5: ("quartic", "recurrence", "affine", "interleaved"),
}
_TERMS: Final = {1: 5, 2: 5, 3: 6, 4: 7, 5: 8}  # interleaved sequences show 2 more
_LATIN: Final = {1: (3, 3), 2: (4, 7), 3: (5, 14), 4: (6, 22), 5: (7, 34)}  # (n, blanks)
_GRID_TEXT: Final = re.compile(r"[0-9 ,;\[\]\n\r\t]*")
_INT_TEXT: Final = re.compile(r"-?[0-9]{1,20}")
_PROMPT_CHARSET: Final = string.printable


@dataclass(frozen=True, slots=True)
class Puzzle:
    """One generated puzzle.

    Attributes:
        kind: One of :data:`KINDS`.
        prompt: The puzzle in words.
        data: Structured puzzle data (see the module documentation).
        solution: One correct answer (expression string, int or grid).
        vector: ``data`` flattened for the PettingZoo observation.

    """

    kind: str
    prompt: str
    data: dict[str, Any]
    solution: Any
    vector: tuple[int, ...]


# ------------------------------------------------------------------ make24


class _ParseError(Exception):
    """An expression cannot be read (internal)."""


class _Parser:
    """Recursive-descent parser of ``+ - * /`` expressions over Fractions (never eval)."""

    def __init__(self, text: str, max_literals: int) -> None:
        self.tokens = _tokenize(text)
        self.position = 0
        self.literals: list[int] = []
        self.max_literals = max_literals

    def parse(self) -> Fraction:
        value = self._expression(0)
        if self.position != len(self.tokens):
            raise _ParseError
        return value

    def _peek(self) -> int | str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _expression(self, depth: int) -> Fraction:
        value = self._term(depth)
        while (symbol := self._peek()) in ("+", "-"):
            self.position += 1
            right = self._term(depth)
            value = value + right if symbol == "+" else value - right
        return value

    def _term(self, depth: int) -> Fraction:
        value = self._factor(depth)
        while (symbol := self._peek()) in ("*", "/"):
            self.position += 1
            right = self._factor(depth)
            if symbol == "*":
                value *= right
            elif right == 0:
                raise _ParseError
            else:
                value /= right
        return value

    def _factor(self, depth: int) -> Fraction:
        symbol = self._peek()
        self.position += 1
        if type(symbol) is int:
            if len(self.literals) == self.max_literals:
                raise _ParseError
            self.literals.append(symbol)
            return Fraction(symbol)
        if symbol != "(" or depth >= MAX_NESTING:
            raise _ParseError
        value = self._expression(depth + 1)
        if self._peek() != ")":
            raise _ParseError
        self.position += 1
        return value


def _tokenize(text: str) -> list[int | str]:
    tokens: list[int | str] = []
    index, length = 0, len(text)
    while index < length:
        char = text[index]
        if char in "0123456789":
            end = index
            while end < length and text[end] in "0123456789":
                end += 1
            if end - index > MAX_LITERAL_DIGITS:
                raise _ParseError
            tokens.append(int(text[index:end]))
            index = end
            continue
        if char in "+-*/()":
            tokens.append(char)
        elif char not in " \t\n":
            raise _ParseError
        index += 1
    return tokens


def check_expression(text: str, numbers: Sequence[int], target: int) -> str:
    """Judge a make24 answer without ``eval``; bounded work, never raises.

    Args:
        text: The proposed expression (at most :data:`MAX_ANSWER_CHARS` characters).
        numbers: The numbers to use, each exactly once.
        target: The value to reach.

    Returns:
        ``"correct"``, ``"wrong"`` (a valid expression of another value) or
        ``"invalid"`` (unreadable, too long or nested, numbers not used exactly once).

    """
    if not isinstance(text, str) or len(text) > MAX_ANSWER_CHARS:
        return "invalid"
    try:
        parser = _Parser(text, len(numbers))
        value = parser.parse()
    except _ParseError:
        return "invalid"
    if sorted(parser.literals) != sorted(numbers):
        return "invalid"
    return "correct" if value == target else "wrong"


def _apply(op: str, a: Fraction, b: Fraction) -> Fraction | None:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    return None if b == 0 else a / b


def _random_expression(rng: random.Random, numbers: list[int]) -> tuple[Fraction, str] | None:
    """Combine ``numbers`` in a random binary tree; None on a division by zero."""
    items = [(Fraction(x), str(x)) for x in numbers]
    while len(items) > 1:
        i, j = rng.sample(range(len(items)), 2)
        (a, text_a), (b, text_b) = items[i], items[j]
        op = rng.choice("+-*/")
        value = _apply(op, a, b)
        if value is None:
            return None
        items = [item for k, item in enumerate(items) if k not in (i, j)]
        items.append((value, f"({text_a} {op} {text_b})"))
    value, text = items[0]
    return value, text[1:-1]


def generate_make24(rng: random.Random, difficulty: int) -> Puzzle:
    """Generate a solvable make24 puzzle (its solution is the generating expression)."""
    count, high, low_target, high_target = _MAKE24[difficulty]
    while True:
        numbers = sorted(rng.randint(1, high) for _ in range(count))
        found = _random_expression(rng, numbers)
        if found is None:
            continue
        value, text = found
        if value.denominator == 1 and low_target <= value <= high_target:
            target = int(value)
            break
    listed = ", ".join(map(str, numbers))
    prompt = (
        f"Use each of the numbers {listed} exactly once, with + - * / and parentheses, "
        f"to make {target}. Answer with the expression, for example (a + b) * c - d."
    )
    return Puzzle(
        "make24",
        prompt,
        {"numbers": numbers, "target": target},
        text,
        (*numbers, target),
    )


# ---------------------------------------------------------------- sequence


def _fit_polynomial(terms: Sequence[Fraction]) -> Fraction | None:
    """Next term of a polynomial of degree <= 4 confirmed by one extra term."""
    rows = [list(terms)]
    while len(rows[-1]) >= 2 and len(rows) <= 5:
        row = rows[-1]
        if all(value == row[0] for value in row):
            return sum((r[-1] for r in rows), Fraction(0))
        rows.append([b - a for a, b in pairwise(row)])
    return None


def _fit_affine(terms: Sequence[Fraction]) -> Fraction | None:
    """Next term of ``a(n+1) = r a(n) + c`` fitted on 3 terms, confirmed by a 4th."""
    if len(terms) < 4 or terms[1] == terms[0]:
        return None
    r = (terms[2] - terms[1]) / (terms[1] - terms[0])
    c = terms[1] - r * terms[0]
    if any(terms[i + 1] != r * terms[i] + c for i in range(len(terms) - 1)):
        return None
    return r * terms[-1] + c


def _fit_recurrence(terms: Sequence[Fraction]) -> Fraction | None:
    """Next term of ``a(n+2) = p a(n+1) + q a(n)`` fitted on 4 terms, confirmed by a 5th."""
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


_BASE_FITS: Final = (_fit_polynomial, _fit_affine, _fit_recurrence)


def _base_predictions(terms: Sequence[Fraction]) -> set[Fraction]:
    return {p for fit in _BASE_FITS if (p := fit(terms)) is not None}


def sequence_predictions(terms: Sequence[int]) -> set[Fraction]:
    """Every next term predicted by a documented rule that fits ``terms``.

    Args:
        terms: The shown terms.

    Returns:
        The predictions of every fitting rule; a generated puzzle has exactly one.

    """
    values = [Fraction(t) for t in terms]
    predictions = _base_predictions(values)
    if len(values) >= 6:
        upcoming, other = values[len(values) % 2 :: 2], values[1 - len(values) % 2 :: 2]
        if _base_predictions(other):
            predictions |= _base_predictions(upcoming)
    return predictions


def _polynomial(rng: random.Random, degree: int, count: int) -> list[int]:
    coefficients = [rng.randint(-9, 9) for _ in range(degree)]
    coefficients.append(rng.choice((-3, -2, -1, 1, 2, 3)) if degree > 1 else rng.randint(1, 9))
    start = rng.randint(0, 3)
    return [sum(c * (n + start) ** k for k, c in enumerate(coefficients)) for n in range(count)]


def _recurrence(first: list[int], p: int, q: int, count: int) -> list[int]:
    terms = first[:]
    while len(terms) < count:
        terms.append(p * terms[-1] + q * terms[-2])
    return terms


def _affine(rng: random.Random, difficulty: int, count: int) -> list[int]:
    r = rng.choice((2, 3) if difficulty < 5 else (-3, -2, 2, 3))
    c = rng.choice((-1, 1)) * rng.randint(1, 9)
    terms = [rng.randint(1, 9)]
    while len(terms) < count:
        terms.append(r * terms[-1] + c)
    return terms


def _family_terms(rng: random.Random, family: str, difficulty: int, count: int) -> list[int]:
    if family == "arithmetic":
        step = rng.randint(1, 9) if difficulty == 1 else rng.choice((-1, 1)) * rng.randint(2, 15)
        first = rng.randint(0, 20) if difficulty == 1 else rng.randint(-20, 50)
        return [first + step * n for n in range(count)]
    if family == "geometric":
        ratio = rng.choice((2, 3) if difficulty < 3 else (-3, -2, 2, 3, 4))
        first = rng.randint(1, 6)
        return [first * ratio**n for n in range(count)]
    if family in ("quadratic", "cubic", "quartic"):
        return _polynomial(rng, ("quadratic", "cubic", "quartic").index(family) + 2, count)
    if family == "fibonacci":
        return _recurrence([rng.randint(1, 9), rng.randint(1, 9)], 1, 1, count)
    if family == "recurrence":
        p, q = rng.choice((-2, -1, 1, 2, 3)), rng.choice((-2, -1, 1, 2))
        return _recurrence([rng.randint(-5, 9), rng.randint(1, 9)], p, q, count)
    return _affine(rng, difficulty, count)


_INTERLEAVED: Final = {
    3: (("arithmetic",), ("arithmetic",)),
    4: (("arithmetic",), ("geometric",)),
    5: (("arithmetic", "quadratic", "geometric"), ("affine", "geometric", "quadratic")),
}


def _interleaved(rng: random.Random, difficulty: int, count: int) -> list[int]:
    first, second = (rng.choice(options) for options in _INTERLEAVED[difficulty])
    if rng.random() < 0.5:
        first, second = second, first
    evens = _family_terms(rng, first, max(difficulty - 1, 2), (count + 1) // 2)
    odds = _family_terms(rng, second, max(difficulty - 1, 2), count // 2)
    return [evens[n // 2] if n % 2 == 0 else odds[n // 2] for n in range(count)]


def generate_sequence(rng: random.Random, difficulty: int) -> Puzzle:
    """Generate a next-term puzzle whose shown terms determine the answer."""
    while True:
        family = rng.choice(_FAMILIES[difficulty])
        count = _TERMS[difficulty] + (2 if family == "interleaved" else 0)
        if family == "interleaved":
            terms = _interleaved(rng, difficulty, count + 1)
        else:
            terms = _family_terms(rng, family, difficulty, count + 1)
        shown, answer = terms[:-1], terms[-1]
        if len(set(shown)) < 3 or max(abs(t) for t in terms) > SEQUENCE_BOUND:
            continue
        if sequence_predictions(shown) == {Fraction(answer)}:
            break
    prompt = (
        f"What is the next term of the sequence {', '.join(map(str, shown))}, ...? "
        "Answer with an integer."
    )
    return Puzzle("sequence", prompt, {"terms": shown}, answer, tuple(shown))


# ------------------------------------------------------------------- latin


def count_latin_solutions(grid: list[list[int]], limit: int = 2) -> int:
    """Count completions of a partial Latin square, stopping at ``limit``.

    Args:
        grid: n rows of n ints, 0 for a blank (not modified).
        limit: Stop counting there.

    Returns:
        The number of completions, at most ``limit``.

    """
    n = len(grid)
    full = (1 << (n + 1)) - 2
    rows, cols, empty = [0] * n, [0] * n, []
    for r in range(n):
        for c in range(n):
            if grid[r][c]:
                rows[r] |= 1 << grid[r][c]
                cols[c] |= 1 << grid[r][c]
            else:
                empty.append((r, c))

    def search(remaining: list[tuple[int, int]], budget: int) -> int:
        if not remaining:
            return 1
        best, best_free, best_count = 0, 0, n + 1
        for index, (r, c) in enumerate(remaining):
            free = full & ~(rows[r] | cols[c])
            free_count = free.bit_count()
            if free_count < best_count:
                best, best_free, best_count = index, free, free_count
                if free_count <= 1:
                    break
        r, c = remaining[best]
        rest = remaining[:best] + remaining[best + 1 :]
        found = 0
        while best_free and found < budget:
            bit = best_free & -best_free
            best_free ^= bit
            rows[r] |= bit
            cols[c] |= bit
            found += search(rest, budget - found)
            rows[r] ^= bit
            cols[c] ^= bit
        return found

    return search(empty, limit)


def _random_latin(rng: random.Random, n: int) -> list[list[int]]:
    """A random Latin square: a shuffled cyclic square with random intercalate swaps."""
    symbols = rng.sample(range(1, n + 1), n)
    row_order, col_order = rng.sample(range(n), n), rng.sample(range(n), n)
    grid = [[symbols[(row_order[r] + col_order[c]) % n] for c in range(n)] for r in range(n)]
    for _ in range(4 * n):  # swap 2x2 sub-squares [[a, b], [b, a]] to leave the cyclic class
        r1, r2 = rng.sample(range(n), 2)
        c1, c2 = rng.sample(range(n), 2)
        a, b = grid[r1][c1], grid[r1][c2]
        if grid[r2][c1] == b and grid[r2][c2] == a:
            grid[r1][c1], grid[r1][c2], grid[r2][c1], grid[r2][c2] = b, a, a, b
    return grid


def generate_latin(rng: random.Random, difficulty: int) -> Puzzle:
    """Generate a Latin square completion with a unique solution."""
    n, blanks = _LATIN[difficulty]
    solution = _random_latin(rng, n)
    grid = [row[:] for row in solution]
    removed = 0
    for cell in rng.sample(range(n * n), n * n):
        if removed == blanks:
            break
        r, c = divmod(cell, n)
        grid[r][c] = 0
        if count_latin_solutions(grid) == 1:
            removed += 1
        else:
            grid[r][c] = solution[r][c]
    lines = "\n".join(" ".join(str(v) if v else "." for v in row) for row in grid)
    prompt = (
        f"Fill the blanks (.) of this {n}x{n} grid so that every row and every column holds "
        f"each of 1..{n} exactly once:\n{lines}\n"
        "Answer with the full grid as a JSON list of rows."
    )
    vector = tuple(v for row in grid for v in row)
    return Puzzle("latin", prompt, {"size": n, "grid": grid}, solution, vector)


def _read_grid(answer: Any, n: int) -> list[list[int]] | None:
    """An answer as n rows of n ints (from a list or text); None if it is not one."""
    if isinstance(answer, str):
        if len(answer) > MAX_ANSWER_CHARS or not _GRID_TEXT.fullmatch(answer):
            return None
        cells: list[int] = [int(ch) for ch in answer if ch.isdigit()]
    elif isinstance(answer, list) and len(answer) == n and all(isinstance(r, list) for r in answer):
        cells = [
            x for row in answer if len(row) == n for x in map(as_integer, row) if x is not None
        ]
    elif isinstance(answer, list) and len(answer) == n * n:
        cells = [x for x in map(as_integer, answer) if x is not None]
    else:
        return None
    if len(cells) != n * n:
        return None
    return [cells[r * n : r * n + n] for r in range(n)]


GENERATORS: Final[dict[str, Callable[[random.Random, int], Puzzle]]] = {
    "make24": generate_make24,
    "sequence": generate_sequence,
    "latin": generate_latin,
}


def judge(puzzle: Puzzle, answer: Any) -> str:
    """Judge an answer (any value) to ``puzzle``; never raises.

    Args:
        puzzle: The puzzle.
        answer: A string, or an int (sequence) or a list (latin).

    Returns:
        ``"correct"``, ``"wrong"`` or ``"invalid"``.

    """
    if puzzle.kind == "make24":
        data = puzzle.data
        return check_expression(answer, data["numbers"], data["target"])
    if puzzle.kind == "sequence":
        value = as_integer(answer)
        if value is None:
            if not isinstance(answer, str) or not _INT_TEXT.fullmatch(answer.strip()):
                return "invalid"
            value = int(answer.strip())
        return "correct" if value == puzzle.solution else "wrong"
    grid = _read_grid(answer, puzzle.data["size"])
    if grid is None:
        return "invalid"
    return "correct" if grid == puzzle.solution else "wrong"


# ---------------------------------------------------------------- scenario


@register
class Puzzles(SinglePlayerScenario):
    """One arithmetic or logic puzzle, three attempts; see the module documentation.

    Args:
        render_mode: ``"ansi"`` or ``None``.
        **options: Reset defaults (see :class:`~devspark.scenarios.base.Scenario`),
            plus ``kind``.

    """

    scenario_id = "puzzles"
    version = 1
    domains = ("reasoning",)
    players = (1, 1)
    difficulties = (1, 2, 3, 4, 5)

    @classmethod
    def option_specs(cls) -> tuple[OptionSpec, ...]:
        """``difficulty`` and ``kind`` (one puzzle kind; null: drawn)."""
        kind = OptionSpec(
            "kind", "the kind of puzzle instead of a drawn one", str, KINDS, nullable=True
        )
        return (*super().option_specs(), kind)

    def __init__(self, *, render_mode: str | None = None, **options: Any) -> None:
        super().__init__(render_mode=render_mode, **options)
        self._check_kind(options.get("kind"))
        self._puzzle = Puzzle("make24", "", {"numbers": [], "target": 0}, "", ())
        self._attempts: list[dict[str, Any]] = []
        self._done = True  # no puzzle before the first reset

    @staticmethod
    def _check_kind(kind: Any) -> str | None:
        if kind is not None and (not isinstance(kind, str) or kind not in KINDS):
            raise InvalidArgumentError(
                f"kind={kind!r} is not a puzzle kind; expected one of {list(KINDS)} or None"
            )
        return kind

    def _new_episode(self, options: dict[str, Any]) -> None:
        kind = self._check_kind(options.get("kind")) or self.rng.choice(KINDS)
        self._puzzle = GENERATORS[kind](self.rng, self.difficulty)
        self._attempts = []
        self._start_episode()

    def _build_observation_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        return gymnasium.spaces.Dict(
            {
                "kind": gymnasium.spaces.Discrete(len(KINDS)),
                "data": gymnasium.spaces.Box(-(10**9), 10**9, shape=(DATA_LENGTH,), dtype=np.int64),
                "data_length": gymnasium.spaces.Discrete(DATA_LENGTH + 1),
                "attempts_left": gymnasium.spaces.Discrete(MAX_ATTEMPTS + 1),
                "feedback": gymnasium.spaces.Discrete(len(FEEDBACK)),
                "prompt": gymnasium.spaces.Text(
                    PROMPT_MAX_CHARS, min_length=0, charset=_PROMPT_CHARSET
                ),
            }
        )

    def _build_action_space(self, agent: str) -> gymnasium.spaces.Space[Any]:
        return gymnasium.spaces.Text(MAX_ANSWER_CHARS, min_length=0, charset=ANSWER_CHARSET)

    @property
    def puzzle(self) -> Puzzle:
        """The current puzzle (its ``solution`` included)."""
        return self._puzzle

    def _attempts_left(self) -> int:
        return 0 if self._done else MAX_ATTEMPTS - len(self._attempts)

    def _feedback(self) -> str | None:
        return self._attempts[-1]["verdict"] if self._attempts else None

    # ------------------------------------------------------------ wire API

    def observe_json(self, agent: str) -> dict[str, Any]:
        """Wire observation: ``{"kind", "prompt", "data", "attempts_left", "feedback"}``.

        Args:
            agent: ``"player_0"``.

        Returns:
            A fresh dict (the caller may keep or mutate it).

        Raises:
            InvalidArgumentError: Unknown agent.

        """
        if agent != "player_0":
            self._check_agent(agent)
        puzzle = self._puzzle
        return {
            "kind": puzzle.kind,
            "prompt": puzzle.prompt,
            "data": _copy_data(puzzle.data),
            "attempts_left": self._attempts_left(),
            "feedback": self._feedback(),
        }

    def legal_actions(self, agent: str) -> None:
        """Answers are free text: the action set is not discrete.

        Args:
            agent: ``"player_0"``.

        Returns:
            ``None`` always.

        """
        return None

    def is_legal(self, agent: str, action: Any) -> bool:
        """Whether ``action`` is a well-formed attempt (right or wrong) now.

        Args:
            agent: The agent that sent the action.
            action: Any decoded JSON value.

        Returns:
            True for a string of at most 200 characters, a JSON int (sequence) or a
            list of the grid's shape (latin), while the episode runs; never raises.

        """
        if self._done or agent != "player_0":
            return False
        return self._accepts(action)

    def _accepts(self, action: Any) -> bool:
        if isinstance(action, str):
            return len(action) <= MAX_ANSWER_CHARS
        kind = self._puzzle.kind
        if kind == "sequence":
            return as_integer(action) is not None
        return (
            kind == "latin"
            and isinstance(action, list)
            and (_read_grid(action, self._puzzle.data["size"]) is not None)
        )

    def render_state(self) -> dict[str, Any]:
        """Full state for replays.

        Returns:
            ``kind``, ``difficulty``, ``prompt``, ``data``, ``solution`` (one correct
            answer), ``attempts`` (``{"answer", "verdict"}`` each), ``attempts_left``,
            ``result`` (``"ongoing"``, ``"solved"``, ``"failed"`` or ``"forfeit"``) and
            ``forfeit`` (``{"agent", "status"}`` or None).

        """
        puzzle = self._puzzle
        solution = puzzle.solution
        return {
            "kind": puzzle.kind,
            "difficulty": self.difficulty,
            "prompt": puzzle.prompt,
            "data": _copy_data(puzzle.data),
            "solution": [row[:] for row in solution] if puzzle.kind == "latin" else solution,
            "attempts": [dict(attempt) for attempt in self._attempts],
            "attempts_left": self._attempts_left(),
            "result": self._result,
            "forfeit": None if self._forfeit is None else dict(self._forfeit),
        }

    # ------------------------------------------------------- PettingZoo API

    def observe(self, agent: str) -> dict[str, Any]:
        """PettingZoo observation (see the module documentation).

        Args:
            agent: ``"player_0"``.

        Returns:
            A value of :meth:`observation_space`.

        """
        if agent != "player_0":
            self._check_agent(agent)
        puzzle = self._puzzle
        data = np.zeros(DATA_LENGTH, dtype=np.int64)
        data[: len(puzzle.vector)] = puzzle.vector
        return {
            "kind": KINDS.index(puzzle.kind),
            "data": data,
            "data_length": len(puzzle.vector),
            "attempts_left": self._attempts_left(),
            "feedback": FEEDBACK.index(self._feedback()),
            "prompt": puzzle.prompt,
        }

    def step(self, action: Any) -> None:
        """Make one attempt for ``player_0`` (AEC semantics).

        Args:
            action: An answer (see Actions in the module documentation), or ``None``
                once the episode is over.

        Raises:
            InvalidArgumentError: The action is not a well-formed attempt.
            FailedPreconditionError: The episode is over and the agent was removed.

        """
        agent = self.agent_selection
        if self._done:
            self._dead_step(action)
            return
        if not self._accepts(action):
            raise InvalidArgumentError(
                f"action={str(action)[:100]!r} is illegal for {agent} in {self.full_id}: "
                f"expected a string of at most {MAX_ANSWER_CHARS} characters"
            )
        verdict = judge(self._puzzle, action)
        self._attempts.append({"answer": _json_answer(action), "verdict": verdict})
        self._cumulative_rewards[agent] = 0.0
        if verdict == "correct":
            self._finish("solved", ATTEMPT_REWARDS[len(self._attempts) - 1])
        elif len(self._attempts) == MAX_ATTEMPTS:
            self._finish("failed", 0.0)

    @classmethod
    def render_text(cls, state: Any) -> str:
        """Draw a :meth:`render_state` value: the prompt, the attempts and the result.

        Args:
            state: A :meth:`render_state` value.

        Returns:
            Several lines of text.

        """
        lines = [f"puzzles: {state['kind']}, difficulty {state['difficulty']}", state["prompt"]]
        for number, attempt in enumerate(state["attempts"], 1):
            answer = json.dumps(attempt["answer"])
            lines.append(f"attempt {number}: {answer} -> {attempt['verdict']}")
        solution = state["solution"]
        if state["kind"] == "latin":
            shown = "\n" + "\n".join(" ".join(map(str, row)) for row in solution)
        else:
            shown = " " + str(solution)
        result = state["result"]
        if state["forfeit"]:
            result += f" ({state['forfeit']['agent']}: {state['forfeit']['status']})"
        lines.append(f"result: {result}; a solution:{shown}")
        return "\n".join(lines)


def _copy_data(data: dict[str, Any]) -> dict[str, Any]:
    return {
        key: [row[:] if isinstance(row, list) else row for row in value]
        if isinstance(value, list)
        else value
        for key, value in data.items()
    }


def _json_answer(action: Any) -> Any:
    """An accepted action as plain JSON (NumPy integers become ints)."""
    if isinstance(action, str):
        return action
    value = as_integer(action)
    if value is not None:
        return value
    return [
        [as_integer(x) for x in row] if isinstance(row, list) else as_integer(row) for row in action
    ]
