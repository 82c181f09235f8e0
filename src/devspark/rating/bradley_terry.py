"""Bradley-Terry strengths by maximum likelihood, with bootstrap intervals.

The model: agent ``i`` beats agent ``j`` with probability ``sigmoid(theta_i - theta_j)``.
Every outcome is broken into pairwise comparisons by rank (a four-player match gives six);
a draw counts as half a win for each side. Strengths maximise the log-likelihood plus a
small Gaussian (L2) prior, ``-L2_PRIOR / 2 * sum(theta ** 2)``, which fixes the scale's
origin at mean 0 and keeps an agent that won every game finite. Published ratings are on
an Elo-like scale, ``1500 + 400 / ln(10) * theta``, so a gap of 400 points is 10:1 odds.

Intervals are bootstrap percentile intervals: outcomes are resampled with replacement
and refitted; all resamples are fitted at once as one separable L-BFGS problem.

:func:`fit_pair_counts` fits the same model from pairwise counts (:class:`PairCounts`:
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
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt
import scipy  # type: ignore[import-untyped]  # scipy ships no stubs

from devspark.core.errors import InvalidArgumentError
from devspark.rating.models import RatingRow, ranked_rows
from devspark.rating.outcomes import Outcome

if TYPE_CHECKING:
    from scipy import sparse

# scipy.optimize, .sparse and .special are imported where used: together they take
# about a second to import and most users of devspark.rating never fit a model.

ELO_BASE: Final = 1500.0
"""Rating of the average agent (strength 0)."""

ELO_SCALE: Final = 400.0 / math.log(10.0)
"""Rating points per logit: ``1500 + ELO_SCALE * theta``."""

L2_PRIOR: Final = 0.01
"""Precision of the Gaussian prior on strengths (a standard deviation of 10 logits)."""

_CHUNK_CELLS: Final = 4_000_000
"""Largest resample-count matrix (resamples x outcomes) built at once."""

FloatArray = npt.NDArray[np.float64]


def fit_bradley_terry(
    outcomes: Sequence[Outcome],
    *,
    bootstrap: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
) -> list[RatingRow]:
    """Fit Bradley-Terry ratings with bootstrap intervals, ranked by the interval rule.

    Args:
        outcomes: The matches (two or more agents each; equal scores draw).
        bootstrap: Resamples for the intervals; 0 gives point estimates only
            (``lower == upper == rating``).
        confidence: Coverage of the percentile intervals.
        seed: Seed of the resampling (the result is deterministic given it).

    Returns:
        One row per agent on the Elo-like scale, best first.

    Raises:
        InvalidArgumentError: No outcomes, a negative ``bootstrap``, or ``confidence``
            outside (0, 1).

    Examples:
        >>> games = [Outcome(agents=("a", "b"), scores=(1.0, 0.0))] * 3
        >>> games += [Outcome(agents=("a", "b"), scores=(0.0, 1.0))]
        >>> [(row.agent, round(row.rating)) for row in fit_bradley_terry(games, bootstrap=0)]
        [('a', 1595), ('b', 1405)]

    """
    if not outcomes:
        raise InvalidArgumentError("fit_bradley_terry needs at least one outcome, got none")
    if bootstrap < 0:
        raise InvalidArgumentError(f"bootstrap must be 0 or more, got {bootstrap}")
    if not 0.0 < confidence < 1.0:
        raise InvalidArgumentError(f"confidence must lie in (0, 1), got {confidence}")
    agents = sorted({agent for outcome in outcomes for agent in outcome.agents})
    index = {agent: i for i, agent in enumerate(agents)}
    design, pairs = _pair_design(outcomes, index)
    incidence = _incidence(pairs, len(agents))
    with _one_blas_thread():
        theta = _fit_many(np.asarray(design.sum(axis=0)), incidence)[0]
        boot = _bootstrap(design, incidence, bootstrap, seed) if bootstrap else None
    played = np.zeros(len(agents), dtype=np.int64)
    for outcome in outcomes:
        for agent in outcome.agents:
            played[index[agent]] += 1
    return _rows(agents, theta, boot, played.tolist(), confidence)


def _rows(
    agents: Sequence[str],
    theta: FloatArray,
    boot: FloatArray | None,
    played: Sequence[int],
    confidence: float,
) -> list[RatingRow]:
    """Rows on the Elo-like scale with percentile intervals (widened to hold the estimate)."""
    rating = ELO_BASE + ELO_SCALE * theta
    if boot is not None and len(boot):
        samples = ELO_BASE + ELO_SCALE * boot
        tail = (1.0 - confidence) / 2.0
        lower = np.minimum(np.quantile(samples, tail, axis=0), rating)
        upper = np.maximum(np.quantile(samples, 1.0 - tail, axis=0), rating)
    else:
        lower = upper = rating
    return ranked_rows(agents, rating.tolist(), lower.tolist(), upper.tolist(), list(played))


def _pair_design(
    outcomes: Sequence[Outcome], index: dict[str, int]
) -> tuple[sparse.csr_matrix, list[tuple[int, int]]]:
    """Pairwise results per outcome, and the pairs of agents that ever met.

    Returns a sparse (outcomes x 2 * pairs) matrix: for pair ``k = (i, j)`` with
    ``i < j``, column ``2k`` holds the wins of ``i`` over ``j`` in that outcome and
    column ``2k + 1`` the wins of ``j`` over ``i``; a draw adds half to both.
    """
    from scipy import sparse

    pair_index: dict[tuple[int, int], int] = {}
    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for row, outcome in enumerate(outcomes):
        seats = [index[agent] for agent in outcome.agents]
        ranks = outcome.ranks
        for s in range(len(seats)):
            for t in range(s + 1, len(seats)):
                (i, rank_i), (j, rank_j) = sorted(((seats[s], ranks[s]), (seats[t], ranks[t])))
                column = 2 * pair_index.setdefault((i, j), len(pair_index))
                if rank_i == rank_j:
                    rows += (row, row)
                    cols += (column, column + 1)
                    vals += (0.5, 0.5)
                else:
                    rows.append(row)
                    cols.append(column if rank_i < rank_j else column + 1)
                    vals.append(1.0)
    shape = (len(outcomes), 2 * len(pair_index))
    return sparse.csr_matrix((vals, (rows, cols)), shape=shape), list(pair_index)


def _incidence(pairs: list[tuple[int, int]], n: int) -> sparse.csr_matrix:
    """(pairs x agents) matrix with +1 at the pair's first agent and -1 at its second."""
    from scipy import sparse

    count = len(pairs)
    firsts = [i for i, _ in pairs]
    seconds = [j for _, j in pairs]
    return sparse.csr_matrix(
        ([1.0] * count + [-1.0] * count, (list(range(count)) * 2, firsts + seconds)),
        shape=(count, n),
    )


def _bootstrap(
    design: sparse.csr_matrix, incidence: sparse.csr_matrix, resamples: int, seed: int
) -> FloatArray:
    """Strengths refitted on ``resamples`` resamples of the outcomes (resamples x agents)."""
    rng = np.random.default_rng(seed)
    count = design.shape[0]
    per_chunk = max(1, _CHUNK_CELLS // count)
    transposed = design.T.tocsr()
    fits = []
    done = 0
    while done < resamples:
        size = min(per_chunk, resamples - done)
        picks = rng.integers(0, count, size=(size, count))
        # How often each outcome was drawn, per resample: one bincount over offset ids.
        offsets = (np.arange(size)[:, None] * count + picks).reshape(-1)
        weights = np.bincount(offsets, minlength=size * count).reshape(size, count)
        fits.append(_fit_many(np.asarray((transposed @ weights.T).T, dtype=np.float64), incidence))
        done += size
    return np.concatenate(fits)


def _fit_many(results: FloatArray, incidence: sparse.csr_matrix) -> FloatArray:
    """Maximum a posteriori strengths for each row of ``results``, centred at mean 0.

    Each row (``2 * pairs`` columns, as :func:`_pair_design` lays them out) is its own
    problem; they are solved together as one L-BFGS problem whose objective is the sum
    of theirs (same solution, batched numpy work).
    """
    from scipy import optimize
    from scipy.special import log_expit  # type: ignore[import-untyped]

    problems = results.shape[0]
    n = incidence.shape[1]
    wins = results[:, 0::2]  # first agent of the pair over the second
    losses = results[:, 1::2]
    games = wins + losses
    forward = incidence.T.tocsr()

    def objective(flat: FloatArray) -> tuple[float, FloatArray]:
        theta = flat.reshape(problems, n)
        diff = np.asarray((incidence @ theta.T).T)  # theta_i - theta_j per pair
        log_p = log_expit(diff)
        # log P(j beats i) = log_p - diff, so the log-likelihood per pair is:
        loglik = float(np.sum(games * log_p - losses * diff))
        nll = -loglik + 0.5 * L2_PRIOR * float(np.sum(theta * theta))
        slope = wins - games * np.exp(log_p)  # d loglik / d diff
        grad = -np.asarray((forward @ slope.T).T) + L2_PRIOR * theta
        return nll, grad.reshape(-1)

    result = optimize.minimize(
        objective,
        np.zeros(problems * n),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 10_000, "gtol": 1e-9, "ftol": 1e-15},
    )
    theta = np.asarray(result.x, dtype=np.float64).reshape(problems, n)
    centred: FloatArray = theta - theta.mean(axis=1, keepdims=True)
    return centred


# --- Fits from pairwise counts ---------------------------------------------------------

_POINT_TOL: Final = 1e-9
"""The point fit stops once its Newton step moves no strength by more than this (logits)."""

_BOOT_TOL: Final = 1e-5
"""A resample has converged once its next step would move no strength by more than this
(logits; 0.002 Elo points, a thousandth of a typical interval's width). Its per-pair work
is single precision, whose rounding moves the steps by about 1e-7."""

_REFACTOR_ABOVE: Final = 0.05
"""Newton refactors the Hessian while its steps are larger than this (logits); below, the
last factor is reused (chord steps: the Hessian barely moves over such distances)."""

_MAX_ITERATIONS: Final = 60
"""Steps a fit may take: then the point fit is handed to L-BFGS, a resample to its own
Newton fit."""

_SINGLE_PRECISION_UP_TO: Final = 1e6
"""Largest ``max(diag(H)) / L2_PRIOR`` (a bound on the Hessian's condition number) for
which it is factored in single precision."""

_FRAGILE_BELOW: Final = 50.0
"""Agents with fewer games than this get an exact Newton step in every resample (their
games change too much between resamples for chord steps)."""

_FRAGILE_MOST: Final = 128
"""At most this many agents are treated so (those with the fewest games; their block is
dense, solved per resample), except on boards of at most ``_FRAGILE_ALL_UP_TO`` agents."""

_FRAGILE_ALL_UP_TO: Final = 320
"""Boards this small treat every agent with few games so, however many there are."""

_NEWTON_CLIP: Final = 2.0
"""Largest Newton step of a fragile agent in one iteration (logits): far from its
optimum a logistic Newton step overshoots."""

_BOOT_STEPS: Final = 15
"""Chord steps a resample may take; one that has not converged by then (a few, where many
agents have few games) is finished by Newton's method with its own Hessian."""

_DIVERGED_ABOVE: Final = 8.0
"""A resample step larger than this (logits) is taken as divergence (it is refitted)."""

_CHUNK_RESAMPLES: Final = 25
"""Resamples drawn and solved together (their per-pair arrays stay in cache)."""

_UNIFORM_BITS: Final = 16
"""Bits of the uniform draws that Poisson counts are read from (inversion by table)."""

_TABLE_MIN_DRAWS: Final = 2048
"""A count value gets its own quantile table when it is drawn at least this often in a
fit (cells x resamples); rarer values are drawn by numpy's Poisson sampler."""


_SPARSE_DENSITY: Final = 0.1
"""Largest share of all pairs that met on a board that takes the sparse path (see
:func:`_sparse_board`)."""

_SPARSE_FRAGILE_ABOVE: Final = 32
"""Sparse path: taken by boards with more agents than this under ``_FRAGILE_BELOW``
games (see :func:`_sparse_board`)."""

_SEARCH_ABOVE: Final = 2.0
"""Sparse path: a Newton step moving some strength by more than this (logits)
backtracks on its objective; shorter steps are taken as they are (line searches on every
step cost a quarter more time and changed no resample by 1e-6 logits)."""

_CG_MOST: Final = 2000

_CG_CEIL: Final = 0.1
"""Sparse path: conjugate gradients stop once the residual is below ``min(_CG_CEIL,
|gradient|)`` times the gradient (inexact Newton: loose far from the optimum, tight
near it, which keeps Newton's fast convergence) ..."""

_CG_FLOOR: Final = 1e-4
"""... but never asked below this for resamples (single precision); the
point fit asks ``1e-10`` (double precision)."""

_SPARSE_CLIP: Final = 3.0
"""Sparse path: largest move of one strength in one Newton step (logits)."""
"""Sparse path: conjugate-gradient iterations per Newton step at most."""


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


@dataclass(frozen=True, slots=True)
class _Graph:
    """Who met whom: agent count and each pair's first and second agent."""

    n: int
    first: npt.NDArray[np.int64]
    second: npt.NDArray[np.int64]

    def incidence(self) -> sparse.csr_matrix:
        """(pairs x agents) matrix: +1 at the pair's first agent, -1 at its second."""
        from scipy import sparse

        pairs = self.first.size
        columns = np.stack([self.first, self.second], axis=1).reshape(-1)
        signs = np.tile([1.0, -1.0], pairs)
        return sparse.csr_matrix(
            (signs, columns, np.arange(0, 2 * pairs + 1, 2)), shape=(pairs, self.n)
        )

    def spread(self, per_pair: FloatArray) -> FloatArray:
        """Per-agent sums of a per-pair value: + at the first agent, - at the second."""
        n = self.n
        sums = np.bincount(self.first, per_pair, n) - np.bincount(self.second, per_pair, n)
        return np.asarray(sums, dtype=np.float64)

    def factor(self, curvature: FloatArray, size: int | None = None) -> Any:
        """Cholesky factor of the Hessian, ``L2_PRIOR * I`` plus the weighted Laplacian.

        ``curvature`` weighs each pair (``games * p * (1 - p)``); ``size`` keeps the
        block of the first ``size`` agents. In single precision (half the time) unless the Hessian is too ill-conditioned
        for it; callers iterate on a double-precision gradient, so the factor only needs
        to be a good preconditioner.
        """
        from scipy.linalg import cho_factor  # type: ignore[import-untyped]

        n = self.n
        diagonal = np.bincount(self.first, curvature, n) + np.bincount(self.second, curvature, n)
        single = float(diagonal.max(initial=0.0)) <= _SINGLE_PRECISION_UP_TO * L2_PRIOR
        matrix = np.zeros((n, n), dtype=np.float32 if single else np.float64)
        matrix[self.first, self.second] = -curvature
        matrix[self.second, self.first] = -curvature
        matrix[np.diag_indices(n)] = diagonal + L2_PRIOR
        if size is not None and size < n:  # the block of the first ``size`` agents
            matrix = np.ascontiguousarray(matrix[:size, :size])
        return cho_factor(matrix, overwrite_a=True, check_finite=False)


def _solve(factor: Any, gradient: FloatArray) -> FloatArray:
    """Newton-like step ``H^-1 gradient`` (columns: one per problem), centred.

    Strengths have mean 0 at the optimum, and the step's mean is rounding amplified by
    ``1 / L2_PRIOR`` (the Hessian's eigenvalue along it), so it is dropped.
    """
    from scipy.linalg import cho_solve

    step = cho_solve(factor, gradient.astype(factor[0].dtype), check_finite=False)
    return _centred(step.astype(np.float64))


def _centred(step: FloatArray) -> FloatArray:
    """``step`` less its mean (per column)."""
    centred: FloatArray = step - step.mean(axis=0)
    return centred


def _objective(graph: _Graph, score: FloatArray, games: FloatArray, theta: FloatArray) -> float:
    """Negative log-posterior at ``theta`` (up to a constant)."""
    from scipy.special import log_expit

    diff = theta[graph.first] - theta[graph.second]
    # log P(second beats first) = log_expit(diff) - diff. Sums of products, not np.dot:
    # numpy's own BLAS is not held to one thread.
    loglik = float(np.sum(games * log_expit(diff) - (games - score) * diff))
    return -loglik + 0.5 * L2_PRIOR * float(np.sum(theta * theta))


def _gradient(
    graph: _Graph, score: FloatArray, games: FloatArray, theta: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Gradient at ``theta`` and per-pair curvature ``games * p * (1 - p)``."""
    from scipy.special import expit

    p = expit(theta[graph.first] - theta[graph.second])
    gradient = L2_PRIOR * theta - graph.spread(score - games * p)
    return gradient, games * p * (1.0 - p)


def _point_fit(
    graph: _Graph,
    score: FloatArray,
    games: FloatArray,
    start: FloatArray | None,
    *,
    dense: bool = False,
) -> FloatArray:
    """MAP strengths by damped Newton (chord steps once the steps are small), centred.

    On a sparse board (:func:`_sparse_board`; unless ``dense``) the steps are solved by
    conjugate gradients (:class:`_Sparse`) to the same tolerance; should that fail to
    converge, the dense method below takes over.
    """
    theta = np.zeros(graph.n) if start is None else start - start.mean()
    if not dense and _sparse_board(graph, games):
        fits, converged = _Sparse.of(graph).fit(
            score[:, None], games[:, None], theta[:, None], tol=_POINT_TOL, exact=True
        )
        if converged[0]:
            fitted: FloatArray = fits[:, 0] - fits[:, 0].mean()
            return fitted
    gradient, curvature = _gradient(graph, score, games, theta)
    factor = None
    moved = math.inf
    for _ in range(_MAX_ITERATIONS):
        if factor is None or moved > _REFACTOR_ABOVE:
            factor = graph.factor(curvature)
        step = _solve(factor, gradient)
        size = float(np.max(np.abs(step), initial=0.0))
        scale = 1.0
        if size > _REFACTOR_ABOVE:  # far from the optimum: backtrack until the objective falls
            value = _objective(graph, score, games, theta)
            slope = 1e-4 * float(np.sum(gradient * step))
            while (
                scale * size > _REFACTOR_ABOVE
                and _objective(graph, score, games, theta - scale * step) > value - scale * slope
            ):
                scale /= 2.0
        theta = theta - scale * step
        gradient, curvature = _gradient(graph, score, games, theta)
        moved = size * scale
        if moved <= _POINT_TOL:
            centred: FloatArray = theta - theta.mean()
            return centred
    incidence = graph.incidence()
    fitted = _fit_many(_interleave(score[None, :], games[None, :]), incidence)[0]
    return fitted


def _interleave(score: FloatArray, games: FloatArray) -> FloatArray:
    """Rows of per-pair (first's wins, second's wins) as :func:`_fit_many` reads them."""
    results = np.empty((score.shape[0], 2 * score.shape[1]))
    results[:, 0::2] = score
    results[:, 1::2] = games - score
    return results


def _sparse_board(graph: _Graph, games: FloatArray) -> bool:
    """Whether a board takes the sparse path (:class:`_Sparse`) rather than the dense one.

    It does where at most ``_SPARSE_DENSITY`` of the ``n (n - 1) / 2`` pairs met and
    more than ``_SPARSE_FRAGILE_ABOVE`` agents have fewer than ``_FRAGILE_BELOW``
    games: the dense path's chord steps cannot follow such agents (a resample changes
    their games wholesale), and its exact block for them costs a dense factorisation
    per resample and step. Measured on the synthetic boards of
    ``benchmarks/counts_fit.py`` (100 resamples; docs/ratings.md has the figures): at
    1,000 agents the sparse path is 2-3 times faster with 15,000 or 30,000 matches (30
    or 60 games per agent; 1,000 and 90 agents under 50 games), the dense one about
    twice as fast with 40,000 or more (none under 50 games).
    """
    n = graph.n
    if graph.first.size > _SPARSE_DENSITY * n * (n - 1) / 2:
        return False
    played = np.bincount(graph.first, games, n) + np.bincount(graph.second, games, n)
    few = np.count_nonzero((played > 0.0) & (played < _FRAGILE_BELOW))
    return bool(few > _SPARSE_FRAGILE_ABOVE)


@dataclass(frozen=True, slots=True)
class _Sparse:
    """Newton's method with conjugate gradients, for many problems at once (sparse path).

    Each column of ``score``/``games`` (per-pair, ``(pairs, problems)``) is its own fit.
    A Newton step solves ``H x = g`` for every column together by conjugate gradients
    with a Jacobi preconditioner (``diag(H)``): the Hessian ``L2_PRIOR * I`` plus the
    Laplacian weighted by ``games * p * (1 - p)`` is applied as two sparse products with
    the pair incidence, one for all columns, and is never formed. The prior keeps it
    positive definite (an agent with no games in a resample has ``H_ii = L2_PRIOR``).
    Steps move no strength by more than ``_SPARSE_CLIP`` (each strength's step is
    clipped) and, while some strength moves by more than ``_SEARCH_ABOVE``, backtrack
    until the column's objective falls.
    """

    graph: _Graph
    down: sparse.csr_matrix  # (pairs, n): +1 at the pair's first agent, -1 at its second
    up: sparse.csr_matrix  # (n, pairs): its transpose
    touch: sparse.csr_matrix  # (n, pairs): |up|, sums a per-pair value into both agents
    down32: sparse.csr_matrix  # single-precision copies for the resamples' products
    up32: sparse.csr_matrix

    @classmethod
    def of(cls, graph: _Graph) -> _Sparse:
        down = graph.incidence()
        up = down.T.tocsr()
        return cls(graph, down, up, abs(up), down.astype(np.float32), up.astype(np.float32))

    def fit(
        self,
        score: npt.NDArray[np.floating[Any]],
        games: npt.NDArray[np.floating[Any]],
        start: FloatArray,
        *,
        tol: float,
        exact: bool,
    ) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """MAP strengths of each column (``(n, problems)``, not centred) and which converged.

        A column has converged once its step moves no strength by more than ``tol``
        (logits). ``exact``: double precision throughout and conjugate gradients run to
        a residual of ``1e-10`` of the gradient; otherwise per-pair work and conjugate
        gradients in single precision (a resample's counts are whole numbers; sums in
        double) to residuals of ``1e-4`` at the least, which leaves each Newton step
        within 1e-4 of its size (under 1e-7 logits once steps reach ``tol``); the
        gradient stays double precision. Columns that did not converge in ``_MAX_ITERATIONS`` steps,
        or went non-finite, are returned as they are and flagged.
        """
        from scipy.special import expit

        theta = np.array(start, dtype=np.float64)
        fits = theta.copy()
        converged = np.zeros(theta.shape[1], dtype=bool)
        columns = np.arange(theta.shape[1])
        floor = 1e-10 if exact else _CG_FLOOR
        wide = np.float64 if exact else np.float32
        for _ in range(_MAX_ITERATIONS):
            diff = (self.down @ theta).astype(wide)
            p, q = expit(diff), expit(-diff)  # q apart: 1 - p loses q where p is near 1
            # score - games * p, as the difference of two products that keep their
            # precision where p or q is tiny (records of all wins or all losses).
            gradient = L2_PRIOR * theta - self.up @ (score * q - (games - score) * p)
            curvature = games * p * q
            norm = np.sqrt(np.sum(gradient * gradient, axis=0))
            step = self._cg(curvature, gradient, np.clip(norm, floor, _CG_CEIL), exact)
            np.clip(step, -_SPARSE_CLIP, _SPARSE_CLIP, out=step)
            size = np.max(np.abs(step), axis=0)
            scale = np.ones_like(size)
            far = np.flatnonzero(size > _SEARCH_ABOVE)
            if far.size:
                scale[far] = self._backtrack(
                    theta[:, far],
                    step[:, far],
                    scale[far],
                    np.sum(gradient[:, far] * step[:, far], axis=0),
                    score[:, far],
                    games[:, far],
                )
            theta -= scale * step
            moved = scale * size
            done = (moved <= tol) | ~np.isfinite(moved)
            if not done.any():
                continue
            fits[:, columns[done]] = theta[:, done]
            converged[columns[done]] = moved[done] <= tol
            keep = np.flatnonzero(~done)
            if not keep.size:
                break
            columns, theta = columns[keep], theta[:, keep]
            score, games = score[:, keep], games[:, keep]
        else:
            fits[:, columns] = theta
        converged &= np.all(np.isfinite(fits), axis=0)
        return fits, converged

    def bootstrap(
        self,
        score: npt.NDArray[np.float32],
        games: npt.NDArray[np.float32],
        theta: FloatArray,
    ) -> FloatArray:
        """Each resample's MAP strengths from ``theta`` (resamples x agents, centred).

        Converged to ``_BOOT_TOL``; a resample that did not converge (none in the
        tests and benchmarks) gets the point fit's method, L-BFGS included.
        """
        start = np.repeat(theta[:, None], score.shape[1], axis=1)
        fits, converged = self.fit(score, games, start, tol=_BOOT_TOL, exact=False)
        for column in np.flatnonzero(~converged):
            fits[:, column] = _point_fit(
                self.graph,
                score[:, column].astype(np.float64),
                games[:, column].astype(np.float64),
                theta,
                dense=True,
            )
        centred: FloatArray = (fits - fits.mean(axis=0)).T
        return centred

    def _cg(
        self, curvature: FloatArray, gradient: FloatArray, rtol: FloatArray, exact: bool
    ) -> FloatArray:
        """``H^-1 gradient`` per column, to a residual of ``rtol`` times the gradient's."""
        kind: type[np.floating[Any]] = np.float64 if exact else np.float32
        down, up = (self.down, self.up) if exact else (self.down32, self.up32)
        weights: npt.NDArray[np.floating[Any]] = curvature.astype(kind)
        inverse: npt.NDArray[np.floating[Any]] = (1.0 / (L2_PRIOR + self.touch @ curvature)).astype(
            kind
        )
        solution: npt.NDArray[np.floating[Any]] = np.zeros(gradient.shape, dtype=kind)
        residual: npt.NDArray[np.floating[Any]] = gradient.astype(kind)
        direction = inverse * residual
        rz = np.sum(residual * direction, axis=0, dtype=np.float64)
        goal = rtol * rtol * np.sum(gradient * gradient, axis=0)
        for _ in range(_CG_MOST):
            active = np.sum(residual * residual, axis=0, dtype=np.float64) > goal
            if not active.any():
                break
            image = up @ (weights * (down @ direction))
            image += L2_PRIOR * direction
            curve = np.sum(direction * image, axis=0, dtype=np.float64)
            alpha = np.where(active & (curve > 0.0), rz / np.where(curve > 0.0, curve, 1.0), 0.0)
            solution += alpha.astype(kind) * direction
            residual -= alpha.astype(kind) * image
            preconditioned = inverse * residual
            rz_next = np.sum(residual * preconditioned, axis=0, dtype=np.float64)
            beta = np.where(rz > 0.0, rz_next / np.where(rz > 0.0, rz, 1.0), 0.0)
            direction = preconditioned + beta.astype(kind) * direction
            rz = rz_next
        return solution.astype(np.float64)

    def _backtrack(
        self,
        theta: FloatArray,
        step: FloatArray,
        scale: FloatArray,
        slope: FloatArray,
        score: npt.NDArray[np.floating[Any]],
        games: npt.NDArray[np.floating[Any]],
    ) -> FloatArray:
        """Step scales, halved per column until its objective falls (Armijo, 1e-4)."""
        value = self._objective(theta, score, games)
        for _ in range(30):
            worse = self._objective(theta - scale * step, score, games) > (
                value - 1e-4 * scale * slope
            )
            if not worse.any():
                break
            scale = np.where(worse, scale / 2.0, scale)
        return scale

    def _objective(
        self,
        theta: FloatArray,
        score: npt.NDArray[np.floating[Any]],
        games: npt.NDArray[np.floating[Any]],
    ) -> FloatArray:
        """Negative log-posterior of each column (up to a constant)."""
        from scipy.special import log_expit

        diff = (self.down @ theta).astype(score.dtype)
        terms = games * log_expit(diff) - (games - score) * diff
        loglik = np.sum(terms, axis=0, dtype=np.float64)
        prior = 0.5 * L2_PRIOR * np.sum(theta * theta, axis=0)
        total: FloatArray = prior - loglik
        return total


def _poisson_bootstrap(
    counts: PairCounts, theta: FloatArray, resamples: int, seed: int
) -> FloatArray:
    """Strengths refitted on Poisson resamples of the counts (resamples x agents).

    Agents are relabelled by strength first, so that pairs of rating neighbours (most
    pairs, where matchmaking pairs by rating) touch nearby memory; on the dense path
    agents with few games come last (their block of each resample's Hessian is solved
    exactly, see :class:`_Fragile`). Resamples are drawn a chunk at a time (the same
    draws on both paths); the dense path solves each chunk by chord steps (the per-pair
    arrays of a chunk stay in cache), the sparse path (:func:`_sparse_board`) solves
    groups of chunks by Newton's method with conjugate gradients (:class:`_Sparse`).
    """
    n = theta.size
    sparse_path = _sparse_board(_Graph(n, counts.first, counts.second), counts.games)
    rank, solid = _labelling(counts, theta, sparse_path)
    order = np.argsort(rank)
    resampling = _Resampling.of(
        counts, theta[order], rank, resamples, solid, factored=not sparse_path
    )
    rng = np.random.default_rng(seed)
    fits = np.empty((resamples, n))
    if sparse_path:
        solver = _Sparse.of(resampling.graph)
        group = _CHUNK_RESAMPLES * max(1, _CHUNK_CELLS // (_CHUNK_RESAMPLES * counts.first.size))
        for begin in range(0, resamples, group):
            draws = [
                resampling.draw(rng, min(_CHUNK_RESAMPLES, resamples - at))
                for at in range(begin, min(begin + group, resamples), _CHUNK_RESAMPLES)
            ]
            score = np.concatenate([drawn[0] for drawn in draws], axis=1)
            games = np.concatenate([drawn[1] for drawn in draws], axis=1)
            fits[begin : begin + score.shape[1]] = solver.bootstrap(score, games, resampling.theta)
    else:
        for begin in range(0, resamples, _CHUNK_RESAMPLES):
            size = min(_CHUNK_RESAMPLES, resamples - begin)
            score, games = resampling.draw(rng, size)
            fits[begin : begin + size] = resampling.solve(score, games)
    samples: FloatArray = fits[:, rank]
    return samples


def _labelling(
    counts: PairCounts, theta: FloatArray, sparse_path: bool
) -> tuple[npt.NDArray[np.int64], int]:
    """Each agent's label in the resampling (``rank``) and the first fragile label.

    By strength, best first; on the dense path the fragile agents
    (:func:`_fragile_agents`) come last, labelled from the returned ``solid`` on.
    """
    n = theta.size
    if sparse_path:
        fragile = np.zeros(n, dtype=bool)
    else:
        per_pair = counts.games
        played = np.bincount(counts.first, per_pair, n) + np.bincount(counts.second, per_pair, n)
        fragile = _fragile_agents(np.asarray(played, dtype=np.float64))
    order = np.lexsort((-theta, fragile))  # the others by strength, then the fragile ones
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    return rank, n - int(np.count_nonzero(fragile))


@dataclass(frozen=True, slots=True)
class _Resampling:
    """The Poisson bootstrap of one fit, in the strength-ordered labelling of the agents.

    Per-pair work is single precision: resampled counts are whole numbers (exact in
    float32), and rounding strengths to float32 moves them by under 1e-6 logits, far
    below ``_BOOT_TOL`` and further below the bootstrap's own noise (hundredths of a
    logit). Convergence is judged on the steps, whose rounding noise is about 1e-7.
    """

    theta: FloatArray  # (n,) point strengths, relabelled
    graph: _Graph  # the pairs, relabelled
    up: sparse.csr_matrix  # (n, pairs) float32: +1 at the first agent, -1 at the second
    neg_down: sparse.csr_matrix  # (pairs, n) float32: -(theta_first - theta_second)
    p0: npt.NDArray[np.float32]  # sigmoid(d0) per pair
    factor: Any  # Cholesky factor of the Hessian at theta (None: not factored)
    fragile: _Fragile | None  # the agents with few games (labelled last)
    mixing: sparse.csr_matrix  # (2 pairs, cells): cell draws -> per-pair score and games
    tables: list[tuple[int, int, npt.NDArray[np.float32]]]  # cell range, its quantile table
    rare: tuple[int, FloatArray]  # first cell drawn by numpy, and those cells' counts

    @classmethod
    def of(
        cls,
        counts: PairCounts,
        theta: FloatArray,
        rank: npt.NDArray[np.int64],
        resamples: int,
        solid: int,
        *,
        factored: bool = True,
    ) -> _Resampling:
        from scipy import sparse
        from scipy.special import expit

        n, pairs = theta.size, counts.first.size
        first, second = rank[counts.first], rank[counts.second]
        order = np.argsort(_small(np.minimum(first, second)), kind="stable")
        first, second = first[order], second[order]
        neg_down = sparse.csr_matrix(
            (
                np.tile(np.array([-1.0, 1.0], dtype=np.float32), pairs),
                np.stack([first, second], axis=1).reshape(-1),
                np.arange(0, 2 * pairs + 1, 2),
            ),
            shape=(pairs, n),
        )
        d0 = theta[first] - theta[second]
        p0 = expit(d0)
        games = counts.games[order]
        graph = _Graph(n, first, second)
        factor = graph.factor(games * p0 * (1.0 - p0)) if factored else None
        fragile = _Fragile.of(neg_down, first, second, solid) if factored and solid < n else None
        values = np.concatenate([counts.wins[order], counts.losses[order], counts.draws[order]])
        cell_pair = np.tile(np.arange(pairs), 3)
        weight = np.repeat(np.array([1.0, 0.0, 0.5], dtype=np.float32), pairs)
        drawn = values > 0.0
        values, cell_pair, weight = values[drawn], cell_pair[drawn], weight[drawn]
        distinct, which, often = _distinct(values)
        tabled = often * resamples >= _TABLE_MIN_DRAWS
        cells = np.argsort(
            _small(np.where(tabled[which], which, which + often.size)), kind="stable"
        )
        values, cell_pair, weight = values[cells], cell_pair[cells], weight[cells]
        tables = []
        stop = 0
        for mean, cells_with_it in zip(distinct[tabled], often[tabled], strict=True):
            tables.append((stop, stop + int(cells_with_it), _poisson_table(float(mean))))
            stop += int(cells_with_it)
        scored = weight > 0.0
        mixing = sparse.csr_matrix(
            (
                np.concatenate([weight[scored], np.ones(values.size, dtype=np.float32)]),
                (
                    np.concatenate([cell_pair[scored], pairs + cell_pair]),
                    np.concatenate([np.flatnonzero(scored), np.arange(values.size)]),
                ),
            ),
            shape=(2 * pairs, values.size),
        )
        up = (-neg_down).T.tocsr()
        return cls(
            theta,
            graph,
            up,
            neg_down,
            p0.astype(np.float32),
            factor,
            fragile,
            mixing,
            tables,
            (stop, values[stop:]),
        )

    def draw(
        self, rng: np.random.Generator, size: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Per-pair score and games of ``size`` resamples: each count ``c`` is Poisson(c)."""
        cells = self.mixing.shape[1]
        drawn = np.empty((cells, size), dtype=np.float32)
        # 16-bit uniforms: the generator's raw 64-bit words, four draws each.
        words = -(-cells * size // 4)
        uniform = rng.bit_generator.random_raw(words).view(np.uint16)[: cells * size]
        uniform = uniform.reshape(cells, size)
        for start, stop, table in self.tables:
            np.take(table, uniform[start:stop], out=drawn[start:stop], mode="wrap")  # in range
        start, means = self.rare
        if means.size:
            drawn[start:] = rng.poisson(means[:, None], size=(means.size, size))
        both = self.mixing @ drawn
        pairs = both.shape[0] // 2
        return both[:pairs], both[pairs:]

    def solve(self, score: npt.NDArray[np.float32], games: npt.NDArray[np.float32]) -> FloatArray:
        """Each column's MAP strengths (resamples x agents, centred), by chord steps.

        A column has converged when its step (see :meth:`_step`) moves no strength by
        more than ``_BOOT_TOL``. Finished columns (converged, or diverged and left to
        :meth:`_refit`) are dropped once they are a quarter of the columns: dropping
        copies the arrays, which costs more than stepping a few finished columns along.
        """
        fits = np.zeros((score.shape[1], self.theta.size))  # stuck rows are set last
        delta = np.zeros((self.theta.size, score.shape[1]))
        columns = np.arange(score.shape[1])
        finished = np.zeros(columns.size, dtype=bool)
        stuck: list[_Stuck] = []
        for iteration in range(_BOOT_STEPS):
            step = self._step(score, games, delta, iteration)
            delta -= step
            moved = np.max(np.abs(step), axis=0)
            diverged = np.flatnonzero(~(moved <= _DIVERGED_ABOVE) & ~finished)
            stuck += [
                _Stuck(columns[j], score[:, j].copy(), games[:, j].copy(), self.theta)
                for j in diverged
            ]
            converged = np.flatnonzero((moved <= _BOOT_TOL) & ~finished)
            fits[columns[converged]] = delta[:, converged].T
            finished[diverged] = finished[converged] = True
            if 4 * np.count_nonzero(finished) < finished.size and iteration + 1 < _BOOT_STEPS:
                continue
            keep = np.flatnonzero(~finished)
            if not keep.size:
                break
            score, games = np.take(score, keep, axis=1), np.take(games, keep, axis=1)
            delta = np.take(delta, keep, axis=1)
            columns, finished = columns[keep], finished[keep]
        else:  # not converged yet: on from where they got to, with their own Hessian
            stuck += [
                _Stuck(columns[j], score[:, j].copy(), games[:, j].copy(), self.theta + delta[:, j])
                for j in range(columns.size)
            ]
        fits += self.theta
        if stuck:
            fits[[entry.column for entry in stuck]] = self._refit(stuck)
        centred: FloatArray = fits - fits.mean(axis=1, keepdims=True)
        return centred

    def _step(
        self,
        score: npt.NDArray[np.float32],
        games: npt.NDArray[np.float32],
        delta: FloatArray,
        iteration: int,
    ) -> FloatArray:
        """Step of each column at ``theta + delta``.

        The gradient through the factor (a chord step) for most agents, an exact Newton
        step for the fragile ones.
        """
        strengths = (self.theta[:, None] + delta).astype(np.float32)
        if iteration == 0:  # delta is 0: p is p0
            residual = score - games * self.p0[:, None]
        else:
            residual = self.neg_down @ strengths  # -(theta_first - theta_second)
            with np.errstate(over="ignore"):  # a diverging column; it is refitted
                np.exp(residual, out=residual)
            residual += 1.0
            np.divide(games, residual, out=residual)  # games * p
            np.subtract(score, residual, out=residual)
        with np.errstate(invalid="ignore", over="ignore"):
            gradient = L2_PRIOR * (self.theta[:, None] + delta) - self.up @ residual
            step = _solve(self.factor, gradient)
            if self.fragile is not None:
                start = self.fragile.start
                newton = self.fragile.step(strengths, games, gradient[start:])
                step[start:] = np.clip(newton, -_NEWTON_CLIP, _NEWTON_CLIP)
                step = _centred(step)
        return step

    def _refit(self, stuck: list[_Stuck]) -> FloatArray:
        """Newton fits, each with its own Hessian, of resamples whose chord steps failed.

        The point fit's method, from where the chord steps got to (from ``theta`` if
        they diverged); L-BFGS where that fails too.
        """
        return np.array(
            [
                _point_fit(
                    self.graph,
                    entry.score.astype(np.float64),
                    entry.games.astype(np.float64),
                    entry.start,
                )
                for entry in stuck
            ]
        )


class _Stuck(NamedTuple):
    """A resample left to :meth:`_Resampling._refit`."""

    column: int
    score: npt.NDArray[np.float32]
    games: npt.NDArray[np.float32]
    start: FloatArray


def _fragile_agents(played: FloatArray) -> npt.NDArray[np.bool_]:
    """Agents with some but fewer than ``_FRAGILE_BELOW`` games.

    At most ``_FRAGILE_MOST`` of them, those with the fewest games, unless there are at
    most ``_FRAGILE_ALL_UP_TO`` agents in all.
    """
    candidates = np.flatnonzero((played > 0.0) & (played < _FRAGILE_BELOW))
    if candidates.size > _FRAGILE_MOST and played.size > _FRAGILE_ALL_UP_TO:
        fewest = np.argsort(played[candidates], kind="stable")[:_FRAGILE_MOST]
        candidates = candidates[fewest]
    fragile = np.zeros(played.size, dtype=bool)
    fragile[candidates] = True
    return fragile


@dataclass(frozen=True, slots=True)
class _Fragile:
    """Agents with few games, whose block of each resample's Hessian is solved exactly.

    A Poisson resample changes an agent's games by about their square root: little for
    an agent with thousands, everything for one with three (who may have none in a
    resample, or twice as many). Chord steps with the Hessian at ``theta`` crawl or
    overshoot on such agents, so they come last in the labelling and get a Newton step
    on their own block of the resample's Hessian, at the current iterate (the block is
    small: at most ``_FRAGILE_MOST`` agents, and their pairs are few).
    """

    start: int  # the first fragile agent: they are ``start .. n - 1``
    pairs: npt.NDArray[np.int64]  # the pairs that have a fragile agent
    neg_down: sparse.csr_matrix  # their rows of the difference matrix
    rows: npt.NDArray[np.int64]  # block Hessian entries: row, column (block indices),
    columns: npt.NDArray[np.int64]
    signs: FloatArray  # +1 on the diagonal, -1 off it,
    entry_pair: npt.NDArray[np.int64]  # and the pair (index into ``pairs``) they come from

    @classmethod
    def of(
        cls,
        neg_down: sparse.csr_matrix,
        first: npt.NDArray[np.int64],
        second: npt.NDArray[np.int64],
        start: int,
    ) -> _Fragile:
        pairs = np.flatnonzero((first >= start) | (second >= start))
        low, high = first[pairs] - start, second[pairs] - start  # negative: not fragile
        index = np.arange(pairs.size)
        both = (low >= 0) & (high >= 0)
        rows = np.concatenate([low[low >= 0], high[high >= 0], low[both], high[both]])
        columns = np.concatenate([low[low >= 0], high[high >= 0], high[both], low[both]])
        signs = np.repeat(
            [1.0, 1.0, -1.0, -1.0],
            [
                np.count_nonzero(low >= 0),
                np.count_nonzero(high >= 0),
                np.count_nonzero(both),
                np.count_nonzero(both),
            ],
        )
        entry_pair = np.concatenate([index[low >= 0], index[high >= 0], index[both], index[both]])
        return cls(start, pairs, neg_down[pairs], rows, columns, signs, entry_pair)

    def step(
        self,
        strengths: npt.NDArray[np.float32],
        games: npt.NDArray[np.float32],
        gradient: FloatArray,
    ) -> FloatArray:
        """Newton steps of the fragile agents (rows of ``gradient``), one per column."""
        from scipy.linalg import cho_factor, cho_solve
        from scipy.special import expit

        size, columns = gradient.shape
        p = expit(-(self.neg_down @ strengths).astype(np.float64))
        curvature = games[self.pairs] * p * (1.0 - p)  # (pairs, columns)
        cells = self.rows * size + self.columns
        flat = (np.arange(columns) * size * size)[None, :] + cells[:, None]
        weights = self.signs[:, None] * curvature[self.entry_pair]
        entries = np.bincount(flat.ravel(), weights.ravel(), columns * size * size)
        hessian = np.asarray(entries, dtype=np.float64).reshape(columns, size, size)
        hessian[:, np.arange(size), np.arange(size)] += L2_PRIOR
        step = np.empty_like(gradient)
        for column in range(columns):  # numpy.linalg.solve on the stack took 4x as long
            factor = cho_factor(hessian[column], overwrite_a=True, check_finite=False)
            step[:, column] = cho_solve(factor, gradient[:, column], check_finite=False)
        return step


def _small(keys: npt.NDArray[np.int64]) -> npt.NDArray[np.integer[Any]]:
    """Non-negative ``keys`` as 16-bit integers when they fit (numpy radix-sorts those)."""
    if keys.size and int(keys.max()) < 1 << 16:  # keys are never negative
        return keys.astype(np.uint16)
    return keys


def _distinct(
    values: FloatArray,
) -> tuple[FloatArray, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Distinct values, each value's index among them, and how often each occurs.

    As ``np.unique(..., return_inverse=True, return_counts=True)``, by counting where
    the values are small whole numbers (as match counts are; no sort needed).
    """
    whole = values.astype(np.int64)
    if values.size and int(whole.max()) < 1 << 16 and np.array_equal(whole, values):
        often = np.bincount(whole)
        present = np.flatnonzero(often)
        index = np.cumsum(often > 0) - 1
        return present.astype(np.float64), index[whole], often[present]
    distinct, which, often = np.unique(values, return_inverse=True, return_counts=True)
    return distinct, which.astype(np.int64), often.astype(np.int64)


def _poisson_table(mean: float) -> npt.NDArray[np.float32]:
    """Poisson(``mean``) quantiles at the midpoints of ``2**16`` equal slices of (0, 1).

    A uniform 16-bit draw ``u`` read through the table is Poisson distributed up to the
    rounding of each probability to slices: for every ``k`` the sampled ``P(X <= k)``
    lies within ``2**-17`` of the Poisson CDF (slice ``j`` holds the smallest ``k`` with
    ``CDF(k) > (j + 1/2) / 2**16``).
    """
    from scipy.special import gammaln

    slices = 1 << _UNIFORM_BITS
    spread = 12.0 * math.sqrt(mean) + 12.0  # beyond it the tails hold < 1e-30
    low, high = max(0, math.floor(mean - spread)), math.ceil(mean + spread)
    values = np.arange(low, high + 1)
    cdf = np.cumsum(np.exp(values * math.log(mean) - mean - gammaln(values + 1.0)))
    below = np.clip(np.ceil(cdf * slices - 0.5), 0, slices).astype(np.int64)
    below[-1] = slices
    return np.repeat(values.astype(np.float32), np.diff(below, prepend=0))


@functools.cache
def _scipy_openblas() -> ctypes.CDLL | None:
    """The OpenBLAS bundled with scipy's wheels, or ``None`` for other builds."""
    folder = Path(scipy.__file__).resolve().parent.parent / "scipy.libs"
    for path in sorted(folder.glob("libscipy_openblas*.so*")):
        try:
            library = ctypes.CDLL(str(path))
            library.scipy_openblas_get_num_threads.restype = ctypes.c_int
            library.scipy_openblas_set_num_threads.argtypes = [ctypes.c_int]
        except (OSError, AttributeError):
            continue
        return library
    return None


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Run scipy's BLAS on one thread for the duration (a no-op where it cannot).

    L-BFGS-B makes many tiny BLAS and LAPACK calls; multithreaded OpenBLAS wakes its
    threads for each, which costs more than the call. ``benchmarks/rating_fit.py``
    times a fit both ways in one run (on a loaded two-CPU machine the fit took about a
    quarter of the time on one thread). Our problems are far too small to gain from
    threads.
    """
    library = _scipy_openblas()
    if library is None:
        yield
        return
    before = library.scipy_openblas_get_num_threads()
    library.scipy_openblas_set_num_threads(1)
    try:
        yield
    finally:
        library.scipy_openblas_set_num_threads(before)
