"""The Poisson bootstrap of a pairwise-counts fit (:func:`devspark.rating.counts.fit_pair_counts`).

Each count is redrawn as ``Poisson(count)`` (by table inversion of 16-bit uniform draws
where a value is drawn often), and each resample is refitted from the point estimate:
chord steps on the Hessian factored there with exact Newton steps for the agents with few
games (:class:`_Resampling`, :class:`_Fragile`) on the dense path, Newton's method with
conjugate gradients (:class:`~devspark.rating.counts_newton._Sparse`) on the sparse one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, NamedTuple

import numpy as np
import numpy.typing as npt

from devspark.rating.bradley_terry import _CHUNK_CELLS, L2_PRIOR, FloatArray
from devspark.rating.counts_newton import (
    _BOOT_TOL,
    _FRAGILE_BELOW,
    _centred,
    _Graph,
    _point_fit,
    _solve,
    _Sparse,
    _sparse_board,
)

if TYPE_CHECKING:
    from scipy import sparse  # type: ignore[import-untyped]

    from devspark.rating.counts import PairCounts

_FRAGILE_MOST: Final = 128
"""At most this many agents under ``_FRAGILE_BELOW`` games get exact Newton steps in every
resample (those with the fewest games; their block is
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
        from scipy.special import expit  # type: ignore[import-untyped]

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
        from scipy.linalg import cho_factor, cho_solve  # type: ignore[import-untyped]
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
