"""Bradley-Terry strengths from pairwise counts, with Poisson-bootstrap intervals.

:func:`fit_pair_counts` fits the model of
:func:`~devspark.rating.bradley_terry.fit_bradley_terry` from pairwise counts (:class:`PairCounts`:
per pair of agents, wins, losses and draws), at a cost that grows with the pairs that
met instead of the matches. Its point fit is Newton's method on the exact Hessian (a
weighted graph Laplacian plus ``L2_PRIOR * I``, dense Cholesky), warm-startable from a
previous fit. Its intervals come from a **Poisson bootstrap**: each count ``c`` (every
pair's wins, losses and draws separately) is redrawn as ``Poisson(c)``, the large-sample
form of resampling the matches with replacement (each match's weight, Binomial(N, 1/N),
tends to Poisson(1), and the weights of the ``c`` matches of a cell sum to Poisson(c)).
Unlike resampling outcomes, the number of matches varies between resamples and the
pairs of one multi-player match are redrawn independently; intervals agree with the
outcome bootstrap within noise (see the tests). Every resample starts at the estimate
and takes chord steps on the Hessian factored there, all resamples of a chunk as one
matrix right-hand side; agents with few games (whose games a resample changes most) get
exact Newton steps on their own block of each resample's Hessian, and any resample that
does not converge is refitted by Newton's method with its own Hessian.

Sparse boards (more than a few dozen agents under 50 games, at most a tenth of the pairs
met: per-scenario and per-domain boards) take a sparse path instead: no dense Hessian;
the point fit and every resample are fitted by Newton's method whose steps are solved by
Jacobi-preconditioned conjugate gradients, all resamples at once (the Hessian of each is
applied as two sparse products with the pair incidence and its per-resample weights).

The Newton fits (dense and sparse path) live in :mod:`devspark.rating.counts_newton`,
the Poisson bootstrap in :mod:`devspark.rating.counts_resampling`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from devspark.core.errors import InvalidArgumentError
from devspark.rating.bradley_terry import FloatArray, _one_blas_thread, _rows
from devspark.rating.counts_newton import _Graph, _point_fit
from devspark.rating.counts_resampling import _poisson_bootstrap
from devspark.rating.models import RatingRow


@dataclass(frozen=True, slots=True)
class PairCounts:
    """Pairwise results among ``n`` agents: one entry per pair that met (first < second).

    A multi-player match adds one result to every pair of its agents, by rank (as
    :func:`fit_bradley_terry` breaks it up); a draw counts in ``draws`` only. Counts need
    not be whole numbers (weights), but must be finite and non-negative.

    Attributes:
        first: The pair's lower agent index, per pair.
        second: The pair's higher agent index (``first < second``), per pair.
        wins: ``first``'s wins over ``second``.
        losses: ``second``'s wins over ``first``.
        draws: Draws between the two.

    Raises:
        InvalidArgumentError: Arrays of different lengths or not one-dimensional,
            negative or non-integer indices, ``first >= second``, a pair listed twice,
            or a negative or non-finite count.

    """

    first: npt.NDArray[np.int64]
    second: npt.NDArray[np.int64]
    wins: FloatArray
    losses: FloatArray
    draws: FloatArray

    def __post_init__(self) -> None:
        for name in ("first", "second"):
            object.__setattr__(self, name, _index_array(name, getattr(self, name)))
        for name in ("wins", "losses", "draws"):
            object.__setattr__(self, name, _count_array(name, getattr(self, name)))
        sizes = {name: len(getattr(self, name)) for name in _COUNT_FIELDS}
        if len(set(sizes.values())) > 1:
            shown = ", ".join(f"{name}={size}" for name, size in sizes.items())
            raise InvalidArgumentError(f"PairCounts arrays must have one length, got {shown}")
        unordered = np.flatnonzero(self.first >= self.second)
        if unordered.size:
            k = int(unordered[0])
            raise InvalidArgumentError(
                f"PairCounts needs first < second in every pair; pair {k} has "
                f"first={self.first[k]}, second={self.second[k]}"
            )
        if self.first.size:
            keys = np.sort(self.first * (int(self.second.max()) + 1) + self.second)
            repeated = np.flatnonzero(keys[1:] == keys[:-1])
            if repeated.size:
                key = int(keys[repeated[0]])
                first, second = divmod(key, int(self.second.max()) + 1)
                raise InvalidArgumentError(
                    f"PairCounts lists pair ({first}, {second}) more than once; "
                    "add its counts into one entry"
                )

    @property
    def games(self) -> FloatArray:
        """Games per pair: ``wins + losses + draws``."""
        total: FloatArray = self.wins + self.losses + self.draws
        return total


_COUNT_FIELDS: Final = ("first", "second", "wins", "losses", "draws")


def _index_array(name: str, values: object) -> npt.NDArray[np.int64]:
    array = np.asarray(values)
    if array.ndim != 1:
        raise InvalidArgumentError(f"PairCounts.{name} must be one-dimensional, got {array.ndim}")
    if array.size and array.dtype.kind not in "iu":
        raise InvalidArgumentError(
            f"PairCounts.{name} must hold agent indices (integers), got dtype {array.dtype}"
        )
    if array.size and int(array.min()) < 0:
        raise InvalidArgumentError(
            f"PairCounts.{name} must hold indices 0 or more, got {int(array.min())}"
        )
    return array.astype(np.int64)


def _count_array(name: str, values: object) -> FloatArray:
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(f"PairCounts.{name} must hold numbers: {exc}") from exc
    if array.ndim != 1:
        raise InvalidArgumentError(f"PairCounts.{name} must be one-dimensional, got {array.ndim}")
    bad = np.flatnonzero(~(np.isfinite(array) & (array >= 0.0)))
    if bad.size:
        raise InvalidArgumentError(
            f"PairCounts.{name} must be finite and 0 or more; pair {int(bad[0])} has "
            f"{array[bad[0]]}"
        )
    return array


@dataclass(frozen=True, slots=True)
class CountsFit:
    """Bradley-Terry strengths fitted from :class:`PairCounts`.

    Attributes:
        theta: MAP strengths in logits, one per agent, mean 0.
        samples: Strengths refitted on each Poisson resample of the counts
            (``(bootstrap, n)``, each row centred); ``(0, n)`` without bootstrap.

    """

    theta: FloatArray
    samples: FloatArray


def fit_pair_counts(
    counts: PairCounts,
    n: int,
    *,
    bootstrap: int = 100,
    seed: int = 0,
    start: FloatArray | None = None,
) -> CountsFit:
    """Fit Bradley-Terry strengths from pairwise counts, with a Poisson bootstrap.

    The same model and prior as :func:`fit_bradley_terry` (a draw is half a win to
    each side), so the strengths equal that function's on the outcomes the counts
    were taken from. The cost grows with the pairs and agents, not the matches.

    Args:
        counts: The results per pair of agents.
        n: The number of agents (indices ``0 .. n - 1``; an agent in no pair gets 0).
        bootstrap: Poisson resamples of the counts for intervals (0: none).
        seed: Seed of the resampling (the result is deterministic given it).
        start: Strengths to start the point fit from (a previous fit's ``theta``,
            when the counts have grown a little): fewer steps, same answer.

    Returns:
        The strengths and their resamples.

    Raises:
        InvalidArgumentError: ``n`` below 1 or below an index in ``counts``, a negative
            ``bootstrap``, or a ``start`` of the wrong shape or not finite.

    Examples:
        >>> counts = PairCounts(np.array([0]), np.array([1]), np.array([3.0]),
        ...                     np.array([1.0]), np.array([0.0]))
        >>> fit = fit_pair_counts(counts, 2, bootstrap=0)
        >>> [round(float(x), 3) for x in fit.theta]
        [0.546, -0.546]

    """
    if n < 1:
        raise InvalidArgumentError(f"n must be 1 or more, got {n}")
    if counts.second.size and int(counts.second.max()) >= n:
        raise InvalidArgumentError(
            f"counts name agent {int(counts.second.max())} but n={n}; n must exceed every index"
        )
    if bootstrap < 0:
        raise InvalidArgumentError(f"bootstrap must be 0 or more, got {bootstrap}")
    if start is not None:
        start = np.asarray(start, dtype=np.float64)
        if start.shape != (n,) or not np.all(np.isfinite(start)):
            raise InvalidArgumentError(
                f"start must hold {n} finite strengths, got shape {start.shape}"
            )
    graph = _Graph(n, counts.first, counts.second)
    score = counts.wins + 0.5 * counts.draws
    with _one_blas_thread():
        theta = _point_fit(graph, score, counts.games, start)
        if bootstrap and counts.first.size:
            samples = _poisson_bootstrap(counts, theta, bootstrap, seed)
        else:  # without pairs every resample is empty: all strengths stay 0
            samples = np.zeros((bootstrap, n))
    return CountsFit(theta=theta, samples=samples)


def rows_from_fit(
    agents: Sequence[str],
    fit: CountsFit,
    played: Sequence[int],
    *,
    confidence: float = 0.95,
) -> list[RatingRow]:
    """The rating table of a :class:`CountsFit`, as :func:`fit_bradley_terry` builds it.

    Elo-like scale, percentile intervals of the resamples widened to contain the
    estimate (none without resamples), ranked by the interval rule, best first.

    Args:
        agents: Agent ids, by index.
        fit: The fit.
        played: Matches each agent played, by index.
        confidence: Coverage of the percentile intervals.

    Returns:
        One row per agent, best first.

    Raises:
        InvalidArgumentError: ``agents`` or ``played`` not one per strength, or
            ``confidence`` outside (0, 1).

    """
    n = len(fit.theta)
    if len(agents) != n or len(played) != n:
        raise InvalidArgumentError(
            f"rows_from_fit needs one agent and one played count per strength ({n}), got "
            f"{len(agents)} agents and {len(played)} played counts"
        )
    if not 0.0 < confidence < 1.0:
        raise InvalidArgumentError(f"confidence must lie in (0, 1), got {confidence}")
    return _rows(agents, fit.theta, fit.samples, played, confidence)
