"""Variation and selection operators on genomes, built on DEAP's ``tools``.

Three frozen dataclasses name an operator and its options, and apply it:

- :class:`Mutation`: ``gaussian`` (``tools.mutGaussian``, step as a fraction of each
  gene's range), ``polynomial`` (``tools.mutPolynomialBounded``) or ``uniform`` (reset to a
  uniform draw). ``bool`` and ``choice`` genes are always reset uniformly
  (``tools.mutUniformInt`` over the choice indices), whatever the name.
- :class:`Crossover`: ``uniform`` (``tools.cxUniform``), ``one_point``
  (``tools.cxOnePoint``), ``two_point`` (``tools.cxTwoPoint``) or ``simulated_binary``
  (``tools.cxSimulatedBinaryBounded`` on ``float``/``int`` genes, uniform swaps for the
  others).
- :class:`Selection`: ``tournament`` (``tools.selTournament``), ``roulette``
  (``tools.selRoulette`` on fitness minus the lowest, so negative fitness works), ``rank``
  (the roulette over average ranks) or ``truncation`` (uniform among the best fraction,
  ``tools.selBest`` then ``tools.selRandom``); and :func:`elite` (``tools.selBest``).

Every result is repaired onto the space (bounds, whole integers and choices), and each
operator draws only from the ``random.Random`` it is given: DEAP draws from the ``random``
module, so its functions run with that module's state swapped for the given generator's
and back (under a lock), and results depend only on the generator's seed. Fitness is
maximised.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from typing import Any, Self, TypeVar, cast

from deap import tools

from devspark.core.errors import InvalidArgumentError, did_you_mean
from devspark.evolution.genome import Genes, GenomeSpace

MUTATIONS = ("gaussian", "polynomial", "uniform")
"""The mutation names :class:`Mutation` accepts."""
CROSSOVERS = ("uniform", "one_point", "two_point", "simulated_binary")
"""The crossover names :class:`Crossover` accepts."""
SELECTIONS = ("tournament", "roulette", "rank", "truncation")
"""The selection names :class:`Selection` accepts."""

_T = TypeVar("_T")
_DEAP_RANDOM = threading.Lock()


def run_seeded(rng: random.Random, function: Callable[..., _T], *args: Any) -> _T:
    """Run a DEAP function so that it draws from ``rng`` instead of the ``random`` module.

    The module's state is set to ``rng``'s for the call, then ``rng`` takes the state the
    call left and the module gets its own back. A lock keeps two such calls apart; other
    code drawing from the ``random`` module in another thread meanwhile would disturb both.
    """
    with _DEAP_RANDOM:
        saved = random.getstate()
        random.setstate(rng.getstate())
        try:
            return function(*args)
        finally:
            rng.setstate(random.getstate())
            random.setstate(saved)


def _check_name(kind: str, name: object, known: Sequence[str]) -> None:
    if name not in known:
        raise InvalidArgumentError(
            f"{kind} {name!r} is not known{did_you_mean(str(name), known)}; "
            f"allowed: {', '.join(known)}"
        )


def _check_number(
    kind: str, field: str, value: object, low: float, high: float, *, open_low: bool = False
) -> None:
    """Refuse a non-number or one outside ``[low, high]`` (``(low, high]`` if ``open_low``)."""
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok:
        assert isinstance(value, int | float)
        ok = math.isfinite(value) and (low < value or (value == low and not open_low))
        ok = ok and value <= high
    if not ok:
        span = f"{'(' if open_low else '['}{low!r}, {high!r}]"
        raise InvalidArgumentError(f"{kind} {field} = {value!r}: allowed: a number in {span}")


class _Options:
    """What the operator dataclasses share: building from and writing to JSON."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> Self:
        """The operator of a name, or of options (what ``to_json`` wrote, or a TOML table).

        Raises:
            InvalidArgumentError: An unknown option (with the nearest known one), or any
                error the operator's own checks raise.

        """
        if isinstance(data, str):
            return cls(data)  # type: ignore[call-arg]  # every subclass takes the name first
        kind = cls.__name__.lower()
        known = [f.name for f in fields(cast(Any, cls))]
        for key in data:
            if key not in known:
                raise InvalidArgumentError(
                    f"{kind} option {key!r} is not known{did_you_mean(str(key), known)}; "
                    f"allowed: {', '.join(known)}"
                )
        return cls(**data)

    def to_json(self) -> dict[str, Any]:
        """The options as JSON-ready data."""
        return asdict(cast(Any, self))


@dataclass(frozen=True)
class Mutation(_Options):
    """A mutation operator and its options.

    Attributes:
        name: ``gaussian``, ``polynomial`` or ``uniform`` (for ``float`` and ``int``
            genes; ``bool`` and ``choice`` genes are reset uniformly in every case).
        rate: The probability that each gene mutates; None means one over the number of
            genes (one gene on average).
        sigma: ``gaussian``: the step's standard deviation as a fraction of each gene's
            range (in log space for log-scale parameters).
        eta: ``polynomial``: the crowding degree (higher: children nearer the parent).

    Raises:
        InvalidArgumentError: An unknown name (with the nearest known one) or an option
            out of range.

    """

    name: str = "gaussian"
    rate: float | None = None
    sigma: float = 0.1
    eta: float = 20.0

    def __post_init__(self) -> None:
        _check_name("mutation", self.name, MUTATIONS)
        if self.rate is not None:
            _check_number("mutation", "rate", self.rate, 0.0, 1.0)
        _check_number("mutation", "sigma", self.sigma, 0.0, math.inf, open_low=True)
        _check_number("mutation", "eta", self.eta, 0.0, math.inf)

    def apply(self, space: GenomeSpace, genes: Sequence[float], rng: random.Random) -> Genes:
        """A mutated copy of ``genes``, repaired onto ``space``."""
        space.check_genes(genes)
        rate = self.rate if self.rate is not None else 1.0 / max(len(space), 1)
        child = list(genes)
        numeric = [i for i, gene in enumerate(space.genes) if gene.numeric and not gene.fixed]
        if numeric:
            part = [child[i] for i in numeric]
            lows = [space.lows[i] for i in numeric]
            highs = [space.highs[i] for i in numeric]
            if self.name == "gaussian":
                sigmas = [self.sigma * (high - low) for low, high in zip(lows, highs, strict=True)]
                run_seeded(rng, tools.mutGaussian, part, 0.0, sigmas, rate)
            elif self.name == "polynomial":
                run_seeded(rng, tools.mutPolynomialBounded, part, self.eta, lows, highs, rate)
            else:
                for j, i in enumerate(numeric):
                    if rng.random() < rate:
                        part[j] = space.genes[i].draw(rng)
            for j, i in enumerate(numeric):
                child[i] = part[j]
        others = [i for i, gene in enumerate(space.genes) if not gene.numeric and not gene.fixed]
        if others:
            indices = [round(child[i]) for i in others]
            highs_int = [round(space.highs[i]) for i in others]
            run_seeded(rng, tools.mutUniformInt, indices, [0] * len(others), highs_int, rate)
            for j, i in enumerate(others):
                child[i] = float(indices[j])
        return space.repair(child)


@dataclass(frozen=True)
class Crossover(_Options):
    """A crossover operator and its options.

    Attributes:
        name: ``uniform``, ``one_point``, ``two_point`` or ``simulated_binary``.
        rate: The probability that a pair of parents is crossed (the caller draws it, see
            :meth:`devspark.evolution.engine.Evolution`); otherwise children copy them.
        swap: ``uniform``: the probability that each gene is swapped; ``simulated_binary``:
            the same for its ``bool`` and ``choice`` genes.
        eta: ``simulated_binary``: the crowding degree (higher: children nearer parents).

    Raises:
        InvalidArgumentError: An unknown name (with the nearest known one) or an option
            out of range.

    """

    name: str = "uniform"
    rate: float = 0.9
    swap: float = 0.5
    eta: float = 15.0

    def __post_init__(self) -> None:
        _check_name("crossover", self.name, CROSSOVERS)
        _check_number("crossover", "rate", self.rate, 0.0, 1.0)
        _check_number("crossover", "swap", self.swap, 0.0, 1.0)
        _check_number("crossover", "eta", self.eta, 0.0, math.inf)

    def apply(
        self, space: GenomeSpace, first: Sequence[float], second: Sequence[float],
        rng: random.Random,
    ) -> tuple[Genes, Genes]:  # fmt: skip
        """Two children of two parents, repaired onto ``space``.

        ``one_point`` and ``two_point`` need two genes at least; with one they copy the
        parents.
        """
        space.check_genes(first)
        space.check_genes(second)
        a, b = list(first), list(second)
        if self.name == "uniform":
            run_seeded(rng, tools.cxUniform, a, b, self.swap)
        elif self.name == "one_point" and len(a) >= 2:
            run_seeded(rng, tools.cxOnePoint, a, b)
        elif self.name == "two_point" and len(a) >= 2:
            run_seeded(rng, tools.cxTwoPoint, a, b)
        elif self.name == "simulated_binary":
            numeric = [i for i, gene in enumerate(space.genes) if gene.numeric and not gene.fixed]
            others = [i for i in range(len(a)) if i not in set(numeric)]
            pa, pb = [a[i] for i in numeric], [b[i] for i in numeric]
            lows = [space.lows[i] for i in numeric]
            highs = [space.highs[i] for i in numeric]
            run_seeded(rng, tools.cxSimulatedBinaryBounded, pa, pb, self.eta, lows, highs)
            oa, ob = [a[i] for i in others], [b[i] for i in others]
            run_seeded(rng, tools.cxUniform, oa, ob, self.swap)
            for part_a, part_b, where in ((pa, pb, numeric), (oa, ob, others)):
                for j, i in enumerate(where):
                    a[i], b[i] = part_a[j], part_b[j]
        return space.repair(a), space.repair(b)


@dataclass(frozen=True, order=True)
class _Fitness:
    values: tuple[float]


@dataclass(frozen=True)
class _Scored:
    """What DEAP's selections read: an object with a comparable ``fitness.values``."""

    index: int
    fitness: _Fitness


def _scored(weights: Sequence[float]) -> list[_Scored]:
    return [_Scored(i, _Fitness((float(w),))) for i, w in enumerate(weights)]


def _check_fitnesses(fitnesses: Sequence[float]) -> None:
    if not fitnesses:
        raise InvalidArgumentError("selection needs one individual at least, got none")
    for index, value in enumerate(fitnesses):
        if not math.isfinite(value):
            raise InvalidArgumentError(f"fitness[{index}] = {value!r}: allowed: a finite number")


def _average_ranks(fitnesses: Sequence[float]) -> list[float]:
    """Ranks from 1 (lowest) to n; tied fitnesses share the average of their ranks."""
    order = sorted(range(len(fitnesses)), key=fitnesses.__getitem__)
    ranks = [0.0] * len(fitnesses)
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and fitnesses[order[end + 1]] == fitnesses[order[start]]:
            end += 1
        for position in range(start, end + 1):
            ranks[order[position]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def _roulette(weights: Sequence[float], k: int, rng: random.Random) -> list[int]:
    """``tools.selRoulette`` on non-negative weights (all equal, or all zero: uniform)."""
    if max(weights) <= 0:
        weights = [1.0] * len(weights)
    scored = _scored(weights)
    chosen: list[_Scored] = []
    while len(chosen) < k:  # a spin can fall past the last slice by rounding; spin again
        chosen += run_seeded(rng, tools.selRoulette, scored, k - len(chosen))
    return [item.index for item in chosen]


def elite(fitnesses: Sequence[float], count: int) -> list[int]:
    """The indices of the ``count`` fittest (``tools.selBest``; ties: the earlier first).

    Raises:
        InvalidArgumentError: No fitness, or a NaN or infinite one.

    """
    _check_fitnesses(fitnesses)
    best = tools.selBest(_scored(fitnesses), count)
    return [item.index for item in best]


@dataclass(frozen=True)
class Selection(_Options):
    """A parent selection operator and its options (fitness is maximised).

    Attributes:
        name: ``tournament``, ``roulette``, ``rank`` or ``truncation``.
        tournament_size: ``tournament``: how many individuals meet in each tournament.
        truncation: ``truncation``: the fraction of the fittest that parents are drawn from.

    Raises:
        InvalidArgumentError: An unknown name (with the nearest known one) or an option
            out of range.

    """

    name: str = "tournament"
    tournament_size: int = 3
    truncation: float = 0.5

    def __post_init__(self) -> None:
        _check_name("selection", self.name, SELECTIONS)
        size = self.tournament_size
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise InvalidArgumentError(
                f"selection tournament_size = {size!r}: allowed: an integer >= 1"
            )
        _check_number("selection", "truncation", self.truncation, 0.0, 1.0, open_low=True)

    def select(self, fitnesses: Sequence[float], k: int, rng: random.Random) -> list[int]:
        """Choose ``k`` parents (with replacement) by fitness; returns their indices.

        Raises:
            InvalidArgumentError: No fitness, or a NaN or infinite one.

        """
        _check_fitnesses(fitnesses)
        if self.name == "tournament":
            chosen = run_seeded(
                rng, tools.selTournament, _scored(fitnesses), k, self.tournament_size
            )
            return [item.index for item in chosen]
        if self.name == "roulette":
            lowest = min(fitnesses)
            return _roulette([f - lowest for f in fitnesses], k, rng)
        if self.name == "rank":
            return _roulette(_average_ranks(fitnesses), k, rng)
        keep = max(1, math.ceil(self.truncation * len(fitnesses)))
        best = tools.selBest(_scored(fitnesses), keep)
        chosen = run_seeded(rng, tools.selRandom, best, k)
        return [item.index for item in chosen]
