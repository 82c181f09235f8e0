"""Bradley-Terry strengths by maximum likelihood, with bootstrap intervals.

The model: agent ``i`` beats agent ``j`` with probability ``sigmoid(theta_i - theta_j)``.
Every outcome is broken into pairwise comparisons by rank (a four-player match gives six);
a draw counts as half a win for each side. Strengths maximise the log-likelihood plus a
small Gaussian (L2) prior, ``-L2_PRIOR / 2 * sum(theta ** 2)``, which fixes the scale's
origin at mean 0 and keeps an agent that won every game finite. Published ratings are on
an Elo-like scale, ``1500 + 400 / ln(10) * theta``, so a gap of 400 points is 10:1 odds.

Intervals are bootstrap percentile intervals: outcomes are resampled with replacement
and refitted; all resamples are fitted at once as one separable L-BFGS problem.

The same model fitted from pairwise counts (:func:`~devspark.rating.counts.fit_pair_counts`)
lives in :mod:`devspark.rating.counts`.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final

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
