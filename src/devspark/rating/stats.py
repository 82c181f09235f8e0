"""Head-to-head statistics: Wilson intervals, the pairwise matrix and significance tests.

A multi-player outcome counts as every pairwise result by rank (better rank wins, equal
ranks draw), the same decomposition the Bradley-Terry fit and Elo use.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from devspark.core.errors import InvalidArgumentError
from devspark.rating.outcomes import Outcome

# scipy.stats is imported where used: it takes about a second to import.

POWER: Final = 0.8
"""Power :func:`compare` plans for when it estimates the matches still needed."""

_EXACT_SCAN_LIMIT: Final = 4_000
"""Largest sample size searched exactly; beyond it the normal approximation is used."""


def pairwise_results(outcome: Outcome) -> Iterator[tuple[str, str, float]]:
    """Every pair of agents in ``outcome`` with the first one's points (1, 0.5 or 0).

    Args:
        outcome: A match of two or more agents.

    Yields:
        ``(a, b, points of a against b)`` for each unordered pair, in seat order.

    Examples:
        >>> list(pairwise_results(Outcome(agents=("a", "b", "c"), scores=(1, 3, 1))))
        [('a', 'b', 0.0), ('a', 'c', 0.5), ('b', 'c', 1.0)]

    """
    agents = outcome.agents
    ranks = outcome.ranks
    for s in range(len(agents)):
        for t in range(s + 1, len(agents)):
            points = 1.0 if ranks[s] < ranks[t] else 0.5 if ranks[s] == ranks[t] else 0.0
            yield agents[s], agents[t], points


def wilson_interval(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a success rate (scipy's ``binomtest``).

    Draws make half points: a count ending in .5 is not a binomial count, so the interval
    is the union of the intervals of the two neighbouring whole counts (lower bound from
    ``floor``, upper bound from ``ceil``) - slightly conservative, never too narrow.

    Args:
        successes: Successes, possibly with a half point (``wins + draws / 2``).
        n: Trials; 0 gives the uninformative ``(0.0, 1.0)``.
        confidence: Coverage, in (0, 1).

    Returns:
        ``(lower, upper)`` bounds on the rate.

    Raises:
        InvalidArgumentError: ``n`` negative, ``successes`` outside ``[0, n]``, or a bad
            ``confidence``.

    Examples:
        >>> tuple(round(x, 4) for x in wilson_interval(60, 100))
        (0.502, 0.6906)

    """
    from scipy import stats  # type: ignore[import-untyped]  # scipy ships no stubs

    if n < 0:
        raise InvalidArgumentError(f"n must be 0 or more, got {n}")
    if not 0.0 <= successes <= n:
        raise InvalidArgumentError(f"successes must lie in [0, n={n}], got {successes}")
    if not 0.0 < confidence < 1.0:
        raise InvalidArgumentError(f"confidence must lie in (0, 1), got {confidence}")
    if n == 0:
        return (0.0, 1.0)
    low_count, high_count = math.floor(successes), math.ceil(successes)
    low = stats.binomtest(low_count, n).proportion_ci(confidence, method="wilson").low
    if high_count == low_count:
        high = stats.binomtest(low_count, n).proportion_ci(confidence, method="wilson").high
    else:
        high = stats.binomtest(high_count, n).proportion_ci(confidence, method="wilson").high
    return (max(0.0, float(low)), min(1.0, float(high)))


@dataclass(frozen=True, slots=True)
class PairRecord:
    """One agent's head-to-head record against another.

    Attributes:
        wins: Pairwise wins.
        draws: Pairwise draws.
        losses: Pairwise losses.
        n: Pairwise games (``wins + draws + losses``).
        score: ``(wins + draws / 2) / n``.
        lower: Lower Wilson 95% bound on the score.
        upper: Upper Wilson 95% bound on the score.

    """

    wins: int
    draws: int
    losses: int
    n: int
    score: float
    lower: float
    upper: float

    def to_json(self) -> dict[str, Any]:
        """This record as a plain dict."""
        return {
            "wins": self.wins,
            "draws": self.draws,
            "losses": self.losses,
            "n": self.n,
            "score": self.score,
            "lower": self.lower,
            "upper": self.upper,
        }


def _tally(outcomes: Sequence[Outcome]) -> dict[tuple[str, str], list[int]]:
    """``(a, b) -> [wins, draws, losses]`` of ``a`` against ``b``, both orders."""
    tally: dict[tuple[str, str], list[int]] = {}
    for outcome in outcomes:
        for a, b, points in pairwise_results(outcome):
            mine = tally.setdefault((a, b), [0, 0, 0])
            theirs = tally.setdefault((b, a), [0, 0, 0])
            slot = 0 if points == 1.0 else 1 if points == 0.5 else 2
            mine[slot] += 1
            theirs[2 - slot] += 1
    return tally


def pairwise_matrix(outcomes: Sequence[Outcome]) -> dict[tuple[str, str], PairRecord]:
    """Win/draw/loss records with Wilson intervals for every pair that met.

    Args:
        outcomes: The matches.

    Returns:
        ``(a, b) -> a's record against b``; both orders are present for every pair
        that played at least once, pairs that never met are absent.

    Raises:
        InvalidArgumentError: No outcomes.

    """
    if not outcomes:
        raise InvalidArgumentError("pairwise_matrix needs at least one outcome, got none")
    matrix = {}
    for key, (wins, draws, losses) in sorted(_tally(outcomes).items()):
        n = wins + draws + losses
        points = wins + draws / 2
        lower, upper = wilson_interval(points, n)
        matrix[key] = PairRecord(wins, draws, losses, n, points / n, lower, upper)
    return matrix


@dataclass(frozen=True, slots=True)
class Comparison:
    """The verdict of a head-to-head significance test.

    Attributes:
        a: First agent.
        b: Second agent.
        wins: ``a``'s pairwise wins against ``b``.
        draws: Pairwise draws.
        losses: ``a``'s pairwise losses against ``b``.
        p_value: Two-sided exact binomial test of ``wins`` out of the decisive games
            against a fair coin (draws excluded); 1.0 without decisive games.
        significant: ``p_value < alpha``.
        verdict: ``"a is better than b (p = 0.003)"`` or ``"not distinguishable yet
            (p = 0.41)"``.
        matches_to_separate: More head-to-head matches expected to make the test
            significant with 80% power if the observed win rate holds; 0 when already
            significant, ``None`` when it cannot be estimated (no decisive games yet, or
            an observed rate of exactly one half).

    """

    a: str
    b: str
    wins: int
    draws: int
    losses: int
    p_value: float
    significant: bool
    verdict: str
    matches_to_separate: int | None

    def to_json(self) -> dict[str, Any]:
        """This comparison as a plain dict."""
        return {
            "a": self.a,
            "b": self.b,
            "wins": self.wins,
            "draws": self.draws,
            "losses": self.losses,
            "p_value": self.p_value,
            "significant": self.significant,
            "verdict": self.verdict,
            "matches_to_separate": self.matches_to_separate,
        }


def compare(outcomes: Sequence[Outcome], a: str, b: str, *, alpha: float = 0.05) -> Comparison:
    """Is ``a`` better than ``b`` in their head-to-head games, and how sure are we?

    Only the games in which both took part count (multi-player games by rank).

    Args:
        outcomes: The matches.
        a: One agent.
        b: The other agent.
        alpha: Significance level of the two-sided test.

    Returns:
        Record, p-value, verdict and the estimated matches still needed.

    Raises:
        InvalidArgumentError: No outcomes, ``a == b``, or ``alpha`` outside (0, 1).

    Examples:
        >>> games = [Outcome(agents=("x", "y"), scores=(1, 0))] * 9
        >>> compare(games, "x", "y").verdict
        'x is better than y (p = 0.0039)'

    """
    from scipy import stats

    if not outcomes:
        raise InvalidArgumentError("compare needs at least one outcome, got none")
    if a == b:
        raise InvalidArgumentError(f"compare needs two different agents, got {a!r} twice")
    if not 0.0 < alpha < 1.0:
        raise InvalidArgumentError(f"alpha must lie in (0, 1), got {alpha}")
    wins = draws = losses = 0
    for outcome in outcomes:
        if a not in outcome.agents or b not in outcome.agents:
            continue
        ranks = outcome.ranks
        mine, theirs = ranks[outcome.agents.index(a)], ranks[outcome.agents.index(b)]
        if mine < theirs:
            wins += 1
        elif mine == theirs:
            draws += 1
        else:
            losses += 1
    decisive = wins + losses
    p_value = float(stats.binomtest(wins, decisive).pvalue) if decisive else 1.0
    significant = p_value < alpha
    if significant:
        better, worse = (a, b) if wins > losses else (b, a)
        verdict = f"{better} is better than {worse} ({_format_p(p_value)})"
        needed: int | None = 0
    else:
        verdict = f"not distinguishable yet ({_format_p(p_value)})"
        needed = _matches_to_separate(wins, draws, losses, alpha)
    return Comparison(a, b, wins, draws, losses, p_value, significant, verdict, needed)


def _format_p(p_value: float) -> str:
    return "p < 0.0001" if p_value < 1e-4 else f"p = {p_value:.2g}"


def _matches_to_separate(wins: int, draws: int, losses: int, alpha: float) -> int | None:
    """Extra matches for 80% power at the observed win rate (see docs/ratings.md)."""
    decisive = wins + losses
    if decisive == 0 or wins == losses:
        return None
    rate = wins / decisive
    needed = decisive_games_needed(rate, alpha=alpha)
    # Extra decisive games, scaled up by the share of games that were decisive so far
    # (ceil(extra / (decisive / total)), in integers to avoid rounding surprises).
    extra = max(0, needed - decisive)
    return max(1, -(-extra * (wins + draws + losses) // decisive))


def decisive_games_needed(rate: float, *, alpha: float = 0.05, power: float = POWER) -> int:
    """Decisive games needed for the two-sided test to reach ``power`` at win rate ``rate``.

    The test is the exact binomial test against 1/2 at level ``alpha``; the answer is the
    smallest number of games at which it rejects with probability ``power``.

    With ``approx = ((z_{1-alpha/2} / 2 + z_power * sqrt(rate (1 - rate))) /
    (rate - 1/2)) ** 2`` (the normal approximation), sizes up to ``2 * approx + 64`` are
    searched exactly (binomial rejection regions and power, vectorised with scipy) when
    that is at most 4,000 games; otherwise (rates within about 0.03 of 1/2, where the
    approximation is accurate) ``ceil(approx)`` is returned.

    Args:
        rate: Win rate among decisive games, ``!= 0.5``.
        alpha: Significance level.
        power: Wanted probability of rejecting.

    Returns:
        The number of decisive games.

    Raises:
        InvalidArgumentError: ``rate`` is 1/2 or outside [0, 1].

    Examples:
        >>> decisive_games_needed(1.0)
        6

    """
    from scipy import stats

    if not 0.0 <= rate <= 1.0 or rate == 0.5:
        raise InvalidArgumentError(f"rate must lie in [0, 1] and differ from 0.5, got {rate}")
    z_alpha = float(stats.norm.ppf(1.0 - alpha / 2.0))
    z_power = float(stats.norm.ppf(power))
    approx = ((z_alpha / 2.0 + z_power * math.sqrt(rate * (1.0 - rate))) / (rate - 0.5)) ** 2
    limit = 2 * math.ceil(approx) + 64
    if limit > _EXACT_SCAN_LIMIT:
        return math.ceil(approx)
    n = np.arange(1, limit + 1)
    edge = _rejection_edge(n, alpha)
    reject = stats.binom.cdf(edge, n, rate) + stats.binom.sf(n - edge - 1, n, rate)
    hits = np.flatnonzero(reject >= power)
    return int(n[hits[0]]) if hits.size else math.ceil(approx)


def _rejection_edge(n: npt.NDArray[np.int64], alpha: float) -> npt.NDArray[np.float64]:
    """Largest ``k`` with ``P(Bin(n, 1/2) <= k) < alpha / 2`` (-1 when none), per ``n``.

    The exact two-sided test against 1/2 rejects ``k`` wins out of ``n`` exactly when
    ``k <= edge`` or ``k >= n - edge``.
    """
    from scipy import stats

    half = alpha / 2.0
    edge: npt.NDArray[np.float64] = stats.binom.ppf(half, n, 0.5) - 1.0
    edge -= stats.binom.cdf(edge, n, 0.5) >= half  # guard against ppf's rounding
    return edge
