"""Continuous ladder: rating-aware matchmaking (active ranking, information gain)."""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import Final

import numpy as np

from devspark.arena.formats._base import (
    FormatBase,
    Pairing,
    RatingView,
    check_agents,
    check_count,
)
from devspark.arena.formats._ladder_sampling import (
    BoolArray,
    FarPairs,
    FloatArray,
    IntArray,
    Proposal,
    candidates,
    lookup,
    misorder,
    pair_key,
)
from devspark.core.errors import InvalidArgumentError
from devspark.rating.outcomes import Outcome

MATCHMAKING: Final = ("info_gain", "uniform", "active")
"""The ladder's matchmaking rules."""


def information_gain(p: FloatArray, variance: FloatArray, played: FloatArray) -> FloatArray:
    """Expected information a game gives about two agents' strength difference.

    With a Gaussian belief on the difference ``d = s_i - s_j`` (variance
    ``v = sigma_i^2 + sigma_j^2``) and a win probability that is a logistic or probit
    function of ``d / scale``, one game carries Fisher information
    ``p (1 - p) / scale^2`` about ``d``, so the expected entropy reduction of the
    belief is ``0.5 * log(1 + v p (1 - p) / scale^2)``, which to first order is
    ``v p (1 - p) / (2 scale^2)``. This returns ``v p (1 - p)``: proportional to that
    gain, so sampling by it needs no knowledge of the model's ``scale``. It is large
    for close pairs (``p`` near 1/2) and for uncertain agents (new entrants), small
    for foregone conclusions between agents that are well known.

    The rating model keeps one ``sigma`` per agent and forgets whom the information
    came from, but ``n`` games between the same two agents measure the same
    difference over and over: its information grows like ``log n``, so the next game
    is worth about ``1 / (1 + n)`` of the first. The score is divided by
    ``1 + played`` (the games the pair already has); Chatbot Arena's sampling rule,
    ``sqrt(var / n) - sqrt(var / (n + 1))``, encodes the same diminishing return.

    Args:
        p: Predicted win probabilities.
        variance: ``sigma_i^2 + sigma_j^2`` for the same pairs.
        played: Games each pair has already been scheduled.

    Returns:
        The scores, elementwise.

    Examples:
        >>> gain = information_gain(np.array([0.5, 0.9, 0.5]), np.full(3, 2.0), np.array([0, 0, 1]))
        >>> gain.round(2).tolist()
        [0.5, 0.18, 0.25]

    """
    return variance * p * (1.0 - p) / (1.0 + played)


def misorder_probability(mu: FloatArray, sigma: FloatArray) -> FloatArray:
    """Probability that each pair's estimated order is wrong, as an ``n x n`` matrix.

    With Gaussian beliefs ``Normal(mu_i, sigma_i^2)`` on the strengths, the order of
    ``i`` and ``j`` given by their ``mu`` is wrong with probability
    ``Phi(-|mu_i - mu_j| / sqrt(sigma_i^2 + sigma_j^2))``: 1/2 for a pair the ratings
    cannot tell apart, near 0 for a pair that is settled. The diagonal is 0.

    Args:
        mu: Estimated strengths.
        sigma: Their standard deviations (all positive).

    Returns:
        The symmetric matrix of probabilities.

    Examples:
        >>> misorder_probability(np.array([0.0, 0.0, 10.0]), np.ones(3)).round(3).tolist()
        [[0.0, 0.5, 0.0], [0.5, 0.0, 0.0], [0.0, 0.0, 0.0]]

    """
    spread = np.sqrt(sigma[:, None] ** 2 + sigma[None, :] ** 2)
    probability = misorder(mu[:, None] - mu[None, :], spread)
    np.fill_diagonal(probability, 0.0)
    return probability


def _finite(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


DEFAULT_BATCH = 4
"""Pairs per ladder batch unless told otherwise (the ranking-fidelity benchmark's setting)."""

EXACT_AGENTS = 64
"""Ladders of up to this many agents weigh every pair each batch (at most 2,016 pairs).

At that size the full table costs no more than the sampler's setup (well under a
millisecond), and it keeps small ladders' schedules exactly as they were, so the
ranking fidelity benchmark (32 agents) replays the same games. Larger ladders sample
candidate pairs (:mod:`devspark.arena.formats._ladder_sampling`): ``O(n k)`` per batch.
"""

_BLOCK = 64
"""Candidate pairs drawn at once when sampling a large ladder's batch."""

_TRIES = 4
"""Blocks tried for a pair that keeps the batch disjoint before taking a uniform one."""


class Ladder(FormatBase):
    """A continuous ladder that keeps scheduling ``matches`` matches in batches.

    Each :meth:`next_round` returns ``batch`` pairs (fewer at the very end), sampled
    without replacement and with disjoint agents while the batch allows it, so a
    batch can run in parallel. ``"uniform"`` gives every pair the same weight.
    ``"active"`` (the default) is active ranking: until every agent has ``warmup``
    games, pairs are weighted by the agents' missing warm-up games (coverage, random
    opponents); then pair ``(i, j)`` is weighted by :func:`misorder_probability`, the
    chance that the ratings order the two wrongly, plus ``exploration`` times the mean
    weight. That is the same as drawing a focal agent by the misordered pairs it is
    expected to be part of and an opponent by its misorder probability with it:
    agents whose rank is settled (their interval clear of their neighbours') stop
    being sampled, except through the floor. ``"info_gain"`` scores pair ``(i, j)`` by :func:`information_gain` of its
    predicted win probability and the agents' uncertainty, read from ``ratings`` at
    scheduling time and discounted by the games the pair already has. Pairs are
    *sampled* with weight ``score ** concentration`` plus ``exploration`` times the
    mean weight, rather than taken by argmax: sampling keeps the schedule robust to a
    miscalibrated model and keeps some long-range games, which the ratings need to
    place distant agents (pairing only neighbours converges far slower than uniform
    pairing), while the floor means no pair, and so no agent, ever starves.
    ``concentration`` 2 was tuned on held-out populations of the ranking fidelity
    benchmark (1 is proportional sampling, larger values approach argmax). New entrants have a large ``sigma`` and get played first; between
    known agents close ratings get played most, as on Kaggle's ladders.

    Ladders of up to :data:`EXACT_AGENTS` agents weigh every pair each batch. Larger
    ones draw candidate pairs with the same probabilities in ``O(n k)`` per batch
    (:mod:`devspark.arena.formats._ladder_sampling`): uniform pairs; warm-up by agent
    deficit and a uniform opponent; ``active`` exactly, by scoring each agent's
    :data:`~devspark.arena.formats._ladder_sampling.WINDOW` rating neighbours and the
    outlying-``sigma`` agents' pairs with everyone, the farther pairs by rejection
    against a bound of their misorder probability; ``info_gain`` on the same
    candidates, farther pairs getting the floor only. Candidates that break the batch
    rules are rejected, which samples the masked table as small ladders do.

    The ladder never updates ratings itself: the runner applies every outcome to the
    rating model behind ``ratings`` (e.g. ``OpenSkillRatings.update``) as well as to
    :meth:`record`, and the next batch reads the new estimates. Seats: the agent with
    the lower seat balance (first seats minus second seats so far) sits first, a
    seeded coin deciding between equals.

    Args:
        agents: Distinct agent ids (at least two).
        ratings: Read-only view of the ratings (``estimate``, ``predict_win``).
        matches: Total matches to schedule.
        seed: Seeds the sampling and the match seeds.
        batch: Pairs per batch; default :data:`DEFAULT_BATCH` (at most ``n // 2``):
            small batches schedule on fresher ratings; raise it to keep a large
            cluster busy.
        matchmaking: ``"active"``, ``"info_gain"`` or ``"uniform"``.
        exploration: Floor added to every pair's weight, as a fraction of the mean
            weight (``active`` and ``info_gain``).
        concentration: Exponent applied to the scores before sampling
            (``info_gain`` only).
        warmup: Games every agent plays against random opponents before ``active``
            matchmaking focuses (``active`` only).

    Raises:
        InvalidArgumentError: Bad agents, ``matches`` or ``batch`` below 1, an
            unknown ``matchmaking``, a negative ``exploration`` or ``warmup``, or a
            ``concentration`` that is not positive.

    """

    name = "ladder"

    def __init__(
        self,
        agents: Sequence[str],
        ratings: RatingView,
        matches: int,
        seed: int = 0,
        batch: int | None = None,
        matchmaking: str = "active",
        *,
        exploration: float = 0.05,
        concentration: float = 2.0,
        warmup: int = 4,
    ) -> None:
        found = check_agents(agents)
        super().__init__(found, seed)
        self.matches = check_count(matches, "matches")
        self.batch = (
            max(1, min(DEFAULT_BATCH, len(found) // 2))
            if batch is None
            else check_count(batch, "batch")
        )
        if matchmaking not in MATCHMAKING:
            near = difflib.get_close_matches(str(matchmaking), MATCHMAKING, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise InvalidArgumentError(
                f"unknown matchmaking {matchmaking!r}{hint}; choose one of {', '.join(MATCHMAKING)}"
            )
        if not _finite(exploration) or exploration < 0:
            raise InvalidArgumentError(f"exploration must be a number >= 0, got {exploration!r}")
        if not _finite(concentration) or concentration <= 0:
            raise InvalidArgumentError(f"concentration must be a number > 0, got {concentration!r}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise InvalidArgumentError(f"warmup must be an integer >= 0, got {warmup!r}")
        self.matchmaking = matchmaking
        self.warmup = warmup
        self.exploration = float(exploration)
        self.concentration = float(concentration)
        self._ratings = ratings
        self._rng = np.random.default_rng(seed % 2**63)
        n = len(found)
        self._exact = n <= EXACT_AGENTS
        self._first, self._second = np.triu_indices(n if self._exact else 0, 1)
        self._seat_balance = np.zeros(n, dtype=np.int64)
        self._estimates = np.full((n, 2), np.nan)
        self._p = np.full(len(self._first), 0.5)
        self._pair_games = np.zeros(len(self._first))
        self._games = np.zeros(n)
        # Large ladders: games per pair that has played, and the cached win
        # probabilities of the last batch's candidate pairs (sorted pair keys).
        self._played_keys: IntArray = np.zeros(0, dtype=np.int64)
        self._played_counts: FloatArray = np.zeros(0)
        self._p_keys: IntArray = np.zeros(0, dtype=np.int64)
        self._p_values: FloatArray = np.zeros(0)

    def pair_weights(self) -> dict[tuple[str, str], float]:
        """The weight each unordered pair would get in the next batch (for inspection).

        A full table: ``O(n^2)`` time and memory (about two seconds and 70 MB at
        1,000 agents), so it is for tests and debugging, never the scheduling
        path. Above :data:`EXACT_AGENTS` it is the rule the sampler draws from; for
        ``active`` the sampler's exploration floor uses an estimate of the total
        weight of pairs beyond the rating window, and for ``info_gain`` pairs beyond
        the window get the floor only (as here).
        """
        if self._exact:
            weights = self._weights()
            first, second = self._first, self._second
        else:
            first, second = np.triu_indices(len(self._agents), 1)
            weights = self._table(first, second)
        return {
            (self._agents[i], self._agents[j]): float(w)
            for i, j, w in zip(first, second, weights, strict=True)
        }

    def _finished(self) -> bool:
        return self._issued >= self.matches

    def _weights(self) -> FloatArray:
        if self.matchmaking == "uniform":
            return np.ones(len(self._first))
        if self.matchmaking == "active":
            return self._active_weights()
        estimates = np.array([self._ratings.estimate(agent) for agent in self._agents], dtype=float)
        changed = np.any(estimates != self._estimates, axis=1)
        stale = np.flatnonzero(changed[self._first] | changed[self._second])
        for k in stale:  # predict_win only where an estimate moved since the last batch
            a, b = self._agents[self._first[k]], self._agents[self._second[k]]
            self._p[k] = self._ratings.predict_win(a, b)
        self._estimates = estimates
        p = np.clip(self._p, 0.0, 1.0)
        variance = estimates[:, 1] ** 2
        pair_variance = variance[self._first] + variance[self._second]
        scores = information_gain(p, pair_variance, self._pair_games)
        scores = np.nan_to_num(np.maximum(scores, 0.0)) ** self.concentration
        mean = float(scores.mean())
        return scores + self.exploration * mean if mean > 0 else np.ones(len(scores))

    def _active_weights(self) -> FloatArray:
        """Pair weights of active ranking: warm-up first, then the unsettled pairs."""
        deficit = np.maximum(self.warmup - self._games, 0.0)
        if deficit.any():  # coverage: agents short of their warm-up games, random opponents
            return deficit[self._first] + deficit[self._second]
        estimates = np.array([self._ratings.estimate(agent) for agent in self._agents], dtype=float)
        # A focal agent drawn by its expected misordered pairs (sum_j P_ij), then an
        # opponent by P_ij, picks pair (i, j) with probability proportional to P_ij.
        misorder = misorder_probability(estimates[:, 0], estimates[:, 1])
        scores = misorder[self._first, self._second]
        mean = float(scores.mean())
        return scores + self.exploration * mean if mean > 0 else np.ones(len(scores))

    def _schedule(self) -> list[tuple[tuple[str, ...], str]]:
        count = min(self.batch, self.matches - self._issued)
        label = f"B{self._round + 1}"
        if self._exact:
            chosen = self._sample(self._weights(), count)
        else:
            chosen = self._sample_sparse(self._proposal(), count)
        return [(self._seat(i, j), label) for i, j in chosen]

    def _sample(self, weights: FloatArray, count: int) -> list[tuple[int, int]]:
        """``count`` pairs by weight, without replacement, disjoint while possible."""
        unused = np.ones(len(weights), dtype=bool)
        busy = np.zeros(len(self._agents), dtype=bool)
        chosen = []
        for _ in range(count):
            if not unused.any():
                unused[:] = True
            allowed = unused & ~busy[self._first] & ~busy[self._second]
            if not allowed.any():
                busy[:] = False
                allowed = unused
            masked = np.where(allowed, weights, 0.0)
            total = masked.sum()
            probabilities = masked / total if total > 0 else allowed / allowed.sum()
            k = int(self._rng.choice(len(weights), p=probabilities))
            i, j = int(self._first[k]), int(self._second[k])
            unused[k] = False
            busy[i] = busy[j] = True
            self._pair_games[k] += 1
            self._games[i] += 1
            self._games[j] += 1
            chosen.append((i, j))
        return chosen

    def _read_estimates(self) -> tuple[FloatArray, BoolArray]:
        """``mu`` and ``sigma`` of every agent now, and which moved since the last read."""
        estimates = np.array([self._ratings.estimate(agent) for agent in self._agents], dtype=float)
        changed: BoolArray = np.any(estimates != self._estimates, axis=1)
        self._estimates = estimates
        return estimates, changed

    def _proposal(self) -> Proposal:
        """The next batch's pair distribution, in ``O(n k)`` (large ladders)."""
        n = len(self._agents)
        if self.matchmaking == "uniform":
            return Proposal(n, floor=1.0)
        deficit = np.maximum(self.warmup - self._games, 0.0)
        if self.matchmaking == "active" and deficit.any():
            # Agent i by its missing games, then a uniform opponent: pair (i, j) gets
            # (d_i + d_j) / (n - 1), the warm-up weight of the full table.
            return Proposal(n, focal=np.cumsum(deficit))
        estimates, changed = self._read_estimates()
        mu, sigma = estimates[:, 0], estimates[:, 1]
        first, second, order, uncertain = candidates(mu, sigma)
        far = None
        if self.matchmaking == "active":
            weights = misorder(mu[first] - mu[second], np.hypot(sigma[first], sigma[second]))
            skip = np.zeros(n, dtype=bool)
            skip[uncertain] = True  # their pairs with everyone are among the candidates
            far = FarPairs.build(order, mu[order], sigma[order], skip[order])
            total = float(weights.sum()) + far.estimate(self._rng)
            if total <= 0 and far.mass <= 0:
                return Proposal(n, floor=1.0)
        else:
            first, second, weights = self._gains(first, second, estimates, changed)
            total = float(weights.sum())
            if total <= 0:
                return Proposal(n, floor=1.0)
        return Proposal(
            n, first, second, np.cumsum(weights), far=far, floor=self.exploration * total
        )

    def _gains(
        self, first: IntArray, second: IntArray, estimates: FloatArray, changed: BoolArray
    ) -> tuple[IntArray, IntArray, FloatArray]:
        """The candidate pairs (reordered) and their ``information_gain ** concentration``."""
        n = len(self._agents)
        keys = np.sort(pair_key(first, second, n))  # sorted: faster lookups, the next cache
        first, second = np.divmod(keys, n)
        # Win probabilities of the last batch's candidates whose agents did not move
        # are reused; predict_win is asked only for the others.
        p, known = lookup(self._p_keys, self._p_values, keys)
        known &= ~(changed[first] | changed[second])
        for k in np.flatnonzero(~known):
            p[k] = self._ratings.predict_win(self._agents[first[k]], self._agents[second[k]])
        self._p_keys, self._p_values = keys, p
        variance = estimates[:, 1] ** 2
        played = lookup(self._played_keys, self._played_counts, keys)[0]
        scores = information_gain(np.clip(p, 0.0, 1.0), variance[first] + variance[second], played)
        weights: FloatArray = np.nan_to_num(np.maximum(scores, 0.0)) ** self.concentration
        return first, second, weights

    def _table(self, first: IntArray, second: IntArray) -> FloatArray:
        """Every pair's weight in a large ladder (``O(n^2)``, for :meth:`pair_weights`)."""
        n = len(self._agents)
        deficit = np.maximum(self.warmup - self._games, 0.0)
        if self.matchmaking == "uniform" or (self.matchmaking == "active" and deficit.any()):
            return (
                np.ones(len(first))
                if self.matchmaking == "uniform"
                else deficit[first] + deficit[second]
            )
        if self.matchmaking == "active":
            estimates = self._read_estimates()[0]
            scores = misorder_probability(estimates[:, 0], estimates[:, 1])[first, second]
        else:
            proposal = self._proposal()
            scores = np.zeros(len(first))
            low = np.minimum(proposal.first, proposal.second)
            high = np.maximum(proposal.first, proposal.second)
            at = low * n - low * (low + 1) // 2 + high - low - 1  # index in triu order
            scores[at] = np.diff(proposal.near, prepend=0.0)
        mean = float(scores.mean())
        return scores + self.exploration * mean if mean > 0 else np.ones(len(scores))

    def _sample_sparse(self, proposal: Proposal, count: int) -> list[tuple[int, int]]:
        """``count`` pairs from ``proposal``, without replacement, disjoint while possible."""
        n = len(self._agents)
        busy = np.zeros(n, dtype=bool)
        used: set[int] = set()
        chosen = []
        free = n
        for _ in range(count):
            if len(used) >= n * (n - 1) // 2:
                used.clear()
            among = sum(not (busy[k // n] or busy[k % n]) for k in used) if free < 64 else 0
            if free * (free - 1) // 2 <= among:  # no unused pair among the free agents
                busy[:] = False
                free = n
            i, j = self._draw(proposal, busy, used)
            used.add(i * n + j if i < j else j * n + i)
            busy[i] = busy[j] = True
            free -= 2
            self._games[i] += 1
            self._games[j] += 1
            self._note_played(min(i, j) * n + max(i, j))
            chosen.append((i, j))
        return chosen

    def _draw(self, proposal: Proposal, busy: BoolArray, used: set[int]) -> tuple[int, int]:
        """The first candidate whose agents are free and whose pair is unused.

        Rejecting the others samples the proposal restricted to the allowed pairs,
        as masking the full table does. If no allowed candidate turns up in
        ``_TRIES * _BLOCK`` draws (the allowed pairs hold a tiny share of the
        weight), an allowed pair is taken uniformly.
        """
        n = len(self._agents)
        for _ in range(_TRIES):
            first, second = proposal.draw(self._rng, _BLOCK)
            for k in np.flatnonzero(~busy[first] & ~busy[second]):
                i, j = int(first[k]), int(second[k])
                if min(i, j) * n + max(i, j) not in used:
                    return i, j
        free = np.flatnonzero(~busy)
        while True:
            i, j = (int(a) for a in self._rng.choice(free, 2, replace=False))
            if min(i, j) * n + max(i, j) not in used:
                return i, j

    def _note_played(self, key: int) -> None:
        """One more game for the pair ``key`` (sorted sparse counts, large ladders)."""
        at = int(np.searchsorted(self._played_keys, key))
        if at < len(self._played_keys) and self._played_keys[at] == key:
            self._played_counts[at] += 1
        else:
            self._played_keys = np.insert(self._played_keys, at, key)
            self._played_counts = np.insert(self._played_counts, at, 1.0)

    def _seat(self, i: int, j: int) -> tuple[str, str]:
        if self._seat_balance[i] == self._seat_balance[j]:
            swap = bool(self._rng.integers(2))
        else:
            swap = bool(self._seat_balance[j] < self._seat_balance[i])
        first, second = (j, i) if swap else (i, j)
        self._seat_balance[first] += 1
        self._seat_balance[second] -= 1
        return (self._agents[first], self._agents[second])

    def _apply(self, pairing: Pairing, outcome: Outcome) -> None:
        """Nothing to learn here: the runner updates the ratings the ladder reads."""
