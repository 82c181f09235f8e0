"""Pair samplers for large ladders: candidate pairs in ``O(n k)``, never all ``n^2`` pairs.

:class:`~devspark.arena.formats.Ladder` keeps the full pair table only for small
ladders. For larger ones each batch builds a :class:`Proposal`: a mixture whose
draws are independent pairs with exactly (or, for ``info_gain``, nearly) the
probabilities of the full table, at a cost that grows like ``n k`` per batch
(``k`` = :data:`WINDOW`), not ``n^2``. The ladder then keeps a batch's agents
disjoint and its pairs distinct by rejecting candidates that break those rules,
which is the same as sampling the full table with those pairs masked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

WINDOW: Final = 32
"""Rating neighbours on each side whose pairs a large ladder scores exactly.

Pairs further apart in the ``mu`` order are either handled exactly by rejection
(``active``: their misorder probability is bounded through the gap to the
``WINDOW + 1``-th neighbour) or left to the exploration floor (``info_gain``: their
``p (1 - p)`` is tiny once the ratings spread). 32 on each side (64 neighbours) keeps a
batch at 1,000 agents to about 50,000 scored pairs, a few milliseconds, while the
misorder probability of the 33rd neighbour of a settled agent is already negligible
(for ``info_gain``, whose tail is truncated, that is what matters).
"""

UNCERTAIN: Final = 16
"""At most this many agents, the most uncertain, have their pairs with everyone scored.

A new entrant is unsure against the whole field, not only against its rating
neighbours: its full row (``n`` pairs each) keeps it played first, and keeps the
rejection bound of the other pairs tight (it is taken over the remaining agents).
Only agents whose ``sigma`` exceeds :data:`OUTLIER` times the median count: when the
field is about equally known the window says all there is to say.
"""

OUTLIER: Final = 1.5
"""How far above the median ``sigma`` an agent's must be to be scored against everyone."""

FAR_PROBES: Final = 256
"""Far pairs drawn per batch to estimate their total weight (for the exploration floor)."""


def misorder(gap: FloatArray, spread: FloatArray) -> FloatArray:
    """``Phi(-|gap| / spread)`` elementwise, 0 where ``spread`` is 0 (or a value is NaN)."""
    from scipy.special import ndtr  # type: ignore[import-untyped]  # scipy ships no stubs

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        z = np.where(spread > 0, np.abs(gap) / spread, np.inf)
        return np.nan_to_num(np.asarray(ndtr(-z), dtype=np.float64))


def pair_key(first: IntArray, second: IntArray, n: int) -> IntArray:
    """One integer per unordered pair of agent indices: ``min * n + max``."""
    return np.minimum(first, second) * n + np.maximum(first, second)


def lookup(keys: IntArray, values: FloatArray, query: IntArray) -> tuple[FloatArray, BoolArray]:
    """``values`` at ``query`` in the sorted ``keys`` (0 where absent), and where found."""
    found = np.zeros(len(query), dtype=bool)
    out = np.zeros(len(query))
    if len(keys):
        at = np.searchsorted(keys, query)
        clipped = np.minimum(at, len(keys) - 1)
        found = (at < len(keys)) & (keys[clipped] == query)
        out[found] = values[clipped[found]]
    return out, found


def candidates(mu: FloatArray, sigma: FloatArray) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """The pairs a large ladder scores exactly, each once, and the agents by ``mu``.

    Every agent with its :data:`WINDOW` next agents in the ``mu`` order, and the
    :data:`UNCERTAIN` agents with the largest ``sigma`` with everyone: at most
    ``n (WINDOW + UNCERTAIN)`` pairs.

    Returns:
        ``(first, second, order, uncertain)``: the pairs' agent indices, the agents
        sorted by ``mu`` (ties by index) and the uncertain agents.

    """
    n = len(mu)
    order = np.argsort(mu, kind="stable").astype(np.int64)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    low = np.repeat(np.arange(n), WINDOW)
    high = low + np.tile(np.arange(1, WINDOW + 1), n)
    inside = high < n
    uncertain = np.flatnonzero(sigma > OUTLIER * float(np.median(sigma)))
    uncertain = uncertain[np.argsort(-sigma[uncertain], kind="stable")[:UNCERTAIN]]
    position = np.full(n, len(uncertain))
    position[uncertain] = np.arange(len(uncertain))
    rows = np.repeat(uncertain, n)
    columns = np.tile(np.arange(n), len(uncertain))
    kept = (np.abs(rank[rows] - rank[columns]) > WINDOW) & (position[columns] > position[rows])
    first = np.concatenate([order[low[inside]], rows[kept]])
    second = np.concatenate([order[high[inside]], columns[kept]])
    return first, second, order, uncertain


@dataclass(frozen=True, slots=True)
class FarPairs:
    """Pairs beyond the window, sampled exactly by their misorder probability.

    Agents are taken in ``mu`` order (ranks). The misorder probability of rank ``r``
    with any rank more than :data:`WINDOW` away is at most
    ``bound[r] = Phi(-gap_r / sqrt(sigma_r^2 + sigma_max^2))``, with ``gap_r`` the
    ``mu`` gap to its ``WINDOW + 1``-th neighbour on either side and ``sigma_max`` the
    largest ``sigma`` outside the skipped (uncertain) agents, whose pairs are scored
    exactly elsewhere. A proposal draws rank ``r`` by ``bound[r]`` times its far
    count, then a far rank ``s`` uniformly, so pair ``{r, s}`` is proposed with
    weight ``bound[r] + bound[s]`` (from either end) and accepted with probability
    ``P_rs / (bound[r] + bound[s])``: accepted pairs follow ``P`` exactly.

    Attributes:
        order: Agent index at each rank.
        mu: ``mu`` by rank.
        sigma: ``sigma`` by rank.
        skip: Ranks whose pairs are scored elsewhere (never accepted here).
        bound: The bound above, by rank (0 for skipped ranks).
        count: Far ranks of each rank.
        cumulative: Running sum of ``bound * count`` (the proposal's focal weights).

    """

    order: IntArray
    mu: FloatArray
    sigma: FloatArray
    skip: BoolArray
    bound: FloatArray
    count: IntArray
    cumulative: FloatArray = field(repr=False)

    @classmethod
    def build(cls, order: IntArray, mu: FloatArray, sigma: FloatArray, skip: BoolArray) -> FarPairs:
        """The far pairs of agents ranked by ``order`` (``mu``, ``sigma``, ``skip`` by rank)."""
        n = len(order)
        rank = np.arange(n)
        left = np.maximum(rank - WINDOW, 0)
        count = left + np.maximum(n - 1 - rank - WINDOW, 0)
        below = np.where(left > 0, mu - mu[np.maximum(rank - WINDOW - 1, 0)], np.inf)
        above_rank = np.minimum(rank + WINDOW + 1, n - 1)
        above = np.where(rank + WINDOW + 1 < n, mu[above_rank] - mu, np.inf)
        widest = float(sigma[~skip].max()) if (~skip).any() else 0.0
        bound = misorder(np.minimum(below, above), np.sqrt(sigma**2 + widest**2))
        bound[skip | (count == 0)] = 0.0
        return cls(order, mu, sigma, skip, bound, count, np.cumsum(bound * count))

    @property
    def mass(self) -> float:
        """Total proposal weight (an upper bound of the far pairs' total ``P``)."""
        return float(self.cumulative[-1]) if len(self.cumulative) else 0.0

    def propose(self, rng: np.random.Generator, size: int) -> tuple[IntArray, IntArray, FloatArray]:
        """``size`` proposed pairs (agent indices) and their acceptance probabilities."""
        r = np.minimum(
            np.searchsorted(self.cumulative, rng.random(size) * self.mass, side="right"),
            len(self.order) - 1,
        )
        pick = np.minimum((rng.random(size) * self.count[r]).astype(np.int64), self.count[r] - 1)
        left = np.maximum(r - WINDOW, 0)
        s = np.where(pick < left, pick, pick - left + r + WINDOW + 1)
        p = misorder(self.mu[s] - self.mu[r], np.sqrt(self.sigma[r] ** 2 + self.sigma[s] ** 2))
        with np.errstate(divide="ignore", invalid="ignore"):
            accept = np.where(
                self.skip[s] | (self.count[r] == 0), 0.0, p / (self.bound[r] + self.bound[s])
            )
        return self.order[r], self.order[s], np.nan_to_num(accept)

    def estimate(self, rng: np.random.Generator) -> float:
        """An unbiased estimate of the far pairs' total misorder probability."""
        if self.mass <= 0:
            return 0.0
        return self.mass * float(self.propose(rng, FAR_PROBES)[2].mean())


@dataclass(frozen=True, slots=True)
class Proposal:
    """Independent candidate pairs from a mixture of up to four components.

    Pair ``(i, j)`` gets the sum of its weights in: ``near`` (explicit pairs with
    weights), ``focal`` (agent ``i`` by its weight, then a uniform opponent: pair weight
    ``(w_i + w_j) / (n - 1)``), ``far`` (see :class:`FarPairs`) and ``floor`` (the same
    weight for every pair, ``floor`` in all).

    Attributes:
        n: Agents.
        first: First agents of the near pairs.
        second: Their opponents.
        near: Running sum of the near pairs' weights.
        focal: Running sum of the agents' focal weights (empty: none).
        far: Far pairs sampled by rejection, or None.
        floor: Total weight spread evenly over all pairs.

    """

    n: int
    first: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    second: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    near: FloatArray = field(default_factory=lambda: np.zeros(0))
    focal: FloatArray = field(default_factory=lambda: np.zeros(0))
    far: FarPairs | None = None
    floor: float = 0.0

    def masses(self) -> FloatArray:
        """The components' total weights: near, focal, far (proposal), floor."""
        near = float(self.near[-1]) if len(self.near) else 0.0
        focal = float(self.focal[-1]) if len(self.focal) else 0.0
        far = self.far.mass if self.far is not None else 0.0
        return np.array([near, focal, far, self.floor])

    def draw(self, rng: np.random.Generator, size: int) -> tuple[IntArray, IntArray]:
        """Up to ``size`` independent pairs (fewer when far proposals are rejected)."""
        cumulative = np.cumsum(self.masses())
        component = np.minimum(
            np.searchsorted(cumulative, rng.random(size) * cumulative[-1], side="right"), 3
        )
        first = rng.integers(self.n, size=size)
        second = rng.integers(self.n - 1, size=size)
        second += second >= first  # the floor's uniform pairs, overwritten elsewhere
        kept = np.ones(size, dtype=bool)
        near = np.flatnonzero(component == 0)
        if len(near):
            at = np.searchsorted(self.near, rng.random(len(near)) * self.near[-1], side="right")
            at = np.minimum(at, len(self.near) - 1)
            first[near], second[near] = self.first[at], self.second[at]
        focal = np.flatnonzero(component == 1)
        if len(focal):
            at = np.searchsorted(self.focal, rng.random(len(focal)) * self.focal[-1], side="right")
            agent = np.minimum(at, self.n - 1)
            opponent = rng.integers(self.n - 1, size=len(focal))
            first[focal], second[focal] = agent, opponent + (opponent >= agent)
        far = np.flatnonzero(component == 2)
        if len(far) and self.far is not None:
            first[far], second[far], accept = self.far.propose(rng, len(far))
            kept[far] = rng.random(len(far)) < accept
        return first[kept], second[kept]
