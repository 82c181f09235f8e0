"""Newton fits of Bradley-Terry strengths from pairwise counts (the point fit and its solvers).

Used by :mod:`devspark.rating.counts` (the point fit) and
:mod:`devspark.rating.counts_resampling` (the resamples). Dense path: Newton's method on
the exact Hessian (a weighted graph Laplacian plus ``L2_PRIOR * I``, Cholesky). Sparse
path (:func:`_sparse_board`, :class:`_Sparse`): Newton's method whose steps are solved by
Jacobi-preconditioned conjugate gradients, many problems at once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from devspark.rating.bradley_terry import L2_PRIOR, FloatArray, _fit_many

if TYPE_CHECKING:
    from scipy import sparse  # type: ignore[import-untyped]

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
"""Sparse path: conjugate-gradient iterations per Newton step at most."""

_CG_CEIL: Final = 0.1
"""Sparse path: conjugate gradients stop once the residual is below ``min(_CG_CEIL,
|gradient|)`` times the gradient (inexact Newton: loose far from the optimum, tight
near it, which keeps Newton's fast convergence) ..."""

_CG_FLOOR: Final = 1e-4
"""... but never asked below this for resamples (single precision); the
point fit asks ``1e-10`` (double precision)."""

_SPARSE_CLIP: Final = 3.0
"""Sparse path: largest move of one strength in one Newton step (logits)."""


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
    from scipy.special import log_expit  # type: ignore[import-untyped]

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
