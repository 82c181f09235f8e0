"""Online rating models: OpenSkill (Weng-Lin Bayesian) and Elo.

Both turn a stream of :class:`~devspark.rating.outcomes.Outcome` into a table of
:class:`RatingRow`. OpenSkill carries an uncertainty (``sigma``) per agent, so its table
has honest intervals; Elo is here for familiarity and has none. Ranks follow the rule of
docs/ratings.md (:func:`interval_ranks`): an agent is only ranked below the agents
whose whole interval lies above its own, so agents that cannot be told apart share a rank.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from openskill.models import (
    BradleyTerryFull,
    BradleyTerryPart,
    PlackettLuce,
    ThurstoneMostellerFull,
    ThurstoneMostellerPart,
)

from devspark.core.errors import InvalidArgumentError
from devspark.rating.outcomes import Outcome

Z_95: Final = 1.96
"""Normal quantile of a two-sided 95% interval (``mu -/+ Z_95 * sigma``)."""

OPENSKILL_MODELS: Final[dict[str, Any]] = {
    "BradleyTerryFull": BradleyTerryFull,
    "BradleyTerryPart": BradleyTerryPart,
    "PlackettLuce": PlackettLuce,
    "ThurstoneMostellerFull": ThurstoneMostellerFull,
    "ThurstoneMostellerPart": ThurstoneMostellerPart,
}
"""The openskill models :class:`OpenSkillRatings` accepts, by name."""


@dataclass(frozen=True, slots=True)
class RatingRow:
    """One agent's line in a rating table.

    Attributes:
        agent: Agent id.
        rating: Point estimate (OpenSkill ``mu``, Elo rating or Bradley-Terry strength).
        lower: Lower end of the interval (``rating`` when the model has none).
        upper: Upper end of the interval (``rating`` when the model has none).
        rank: ``1 +`` the number of agents whose ``lower`` lies above this ``upper``.
        matches: Matches the agent played.

    """

    agent: str
    rating: float
    lower: float
    upper: float
    rank: int
    matches: int

    def to_json(self) -> dict[str, Any]:
        """This row as a plain dict (JSON-ready)."""
        return {
            "agent": self.agent,
            "rating": self.rating,
            "lower": self.lower,
            "upper": self.upper,
            "rank": self.rank,
            "matches": self.matches,
        }


def interval_ranks(lower: Sequence[float], upper: Sequence[float]) -> list[int]:
    """Ranks by the interval rule: ``1 +`` agents whose lower bound beats my upper bound.

    Agents whose intervals overlap share a rank; with zero-width intervals this is plain
    competition ranking (ties share the better rank). Runs in ``O(n log n)``.

    Args:
        lower: Lower interval bounds, one per agent.
        upper: Upper interval bounds, in the same order.

    Returns:
        One rank per agent, in the input order.

    Raises:
        InvalidArgumentError: The sequences differ in length.

    Examples:
        >>> interval_ranks([10, 5, 0], [20, 15, 4])
        [1, 1, 3]

    """
    if len(lower) != len(upper):
        raise InvalidArgumentError(
            f"lower has {len(lower)} bounds but upper has {len(upper)}; they must match"
        )
    lows = np.sort(np.asarray(lower, dtype=float))
    highs = np.asarray(upper, dtype=float)
    above = len(lows) - np.searchsorted(lows, highs, side="right")
    return [int(count) + 1 for count in above]


def ranked_rows(
    agents: Sequence[str],
    rating: Sequence[float],
    lower: Sequence[float],
    upper: Sequence[float],
    matches: Sequence[int],
) -> list[RatingRow]:
    """Build rows ranked by :func:`interval_ranks`, best first.

    Rows are ordered by rank, then by rating (higher first), then by agent id.

    Args:
        agents: Agent ids.
        rating: Point estimates.
        lower: Lower interval bounds.
        upper: Upper interval bounds.
        matches: Matches played.

    Returns:
        The table, best first.

    """
    ranks = interval_ranks(lower, upper)
    rows = [
        RatingRow(agent, float(r), float(lo), float(hi), rank, int(m))
        for agent, r, lo, hi, rank, m in zip(
            agents, rating, lower, upper, ranks, matches, strict=True
        )
    ]
    rows.sort(key=lambda row: (row.rank, -row.rating, row.agent))
    return rows


DEFAULT_BETA = 25 / 16
"""DevSpark's default openskill ``beta`` (performance noise per game); see OpenSkillRatings."""


class OpenSkillRatings:
    """OpenSkill ratings updated online, one outcome at a time.

    Every agent is a one-player team and the outcome's scores give the finishing order
    (equal scores tie), so any number of agents from two up can meet. Unseen agents
    start at the model's prior (``mu = 25``, ``sigma = 25 / 3`` by default). Intervals
    are ``mu -/+ 1.96 sigma``. The performance noise ``beta`` defaults to
    :data:`DEFAULT_BETA` (25/16) rather than openskill's 25/6: agents' games are far
    less noisy than human players', and with openskill's value the prior covers only
    about 1.4 logits of skill, so ratings of a population spread over several logits
    converge slowly (docs/ratings.md has the measurements). Pass ``beta=`` to change it.

    Args:
        model: Name of the openskill model, one of :data:`OPENSKILL_MODELS`.
        keep_history: Record ``(match, agent, mu, sigma)`` after every update in
            :attr:`history` (turn off for the fastest ladders).
        **model_kwargs: Passed to the model (``mu``, ``sigma``, ``beta``, ``tau``, ...).

    Raises:
        InvalidArgumentError: Unknown model name, or arguments the model rejects.

    Examples:
        >>> ratings = OpenSkillRatings()
        >>> ratings.update(Outcome(agents=("a", "b"), scores=(1.0, 0.0)))
        >>> ratings.predict_win("a", "b") > 0.5
        True
        >>> [row.agent for row in ratings.table()]
        ['a', 'b']

    """

    def __init__(
        self, model: str = "PlackettLuce", *, keep_history: bool = True, **model_kwargs: Any
    ) -> None:
        factory = OPENSKILL_MODELS.get(model)
        if factory is None:
            near = difflib.get_close_matches(model, OPENSKILL_MODELS, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise InvalidArgumentError(
                f"unknown openskill model {model!r}{hint}; "
                f"choose one of {', '.join(sorted(OPENSKILL_MODELS))}"
            )
        model_kwargs.setdefault("beta", DEFAULT_BETA)
        try:
            self._model: Any = factory(**model_kwargs)
        except (TypeError, ValueError) as exc:
            raise InvalidArgumentError(f"bad arguments for openskill {model}: {exc}") from exc
        self.model_name = model
        self._rate = self._model.rate
        self._ratings: dict[str, Any] = {}
        self._matches: dict[str, int] = {}
        self._count = 0
        self.keep_history = keep_history
        self.history: list[tuple[int, str, float, float]] = []
        """``(match, agent, mu, sigma)`` after each update; ``match`` counts from 1."""

    @property
    def model(self) -> Any:
        """The underlying openskill model object."""
        return self._model

    @property
    def agents(self) -> list[str]:
        """Ids of every agent seen so far, sorted."""
        return sorted(self._ratings)

    @property
    def updates(self) -> int:
        """How many outcomes have been applied."""
        return self._count

    def update(self, outcome: Outcome) -> None:
        """Apply one match (two or more agents; equal scores tie).

        Args:
            outcome: The match to learn from.

        """
        ratings = self._ratings
        agents = outcome.agents
        scores = outcome.scores
        self._count += 1
        matches = self._matches
        if len(agents) == 2 and scores[0] != scores[1]:
            # Fast path: winner first and no ranks, so openskill skips its sort and unwind.
            a, b = agents
            ra = ratings.get(a)
            if ra is None:
                ra = self._model.rating()
            rb = ratings.get(b)
            if rb is None:
                rb = self._model.rating()
            if scores[0] > scores[1]:
                (ra,), (rb,) = self._rate([[ra], [rb]])
            else:
                (rb,), (ra,) = self._rate([[rb], [ra]])
            ratings[a] = ra
            ratings[b] = rb
            matches[a] = matches.get(a, 0) + 1
            matches[b] = matches.get(b, 0) + 1
            if self.keep_history:
                index = self._count
                self.history.append((index, a, ra.mu, ra.sigma))
                self.history.append((index, b, rb.mu, rb.sigma))
            return
        teams = []
        for agent in agents:
            player = ratings.get(agent)
            teams.append([self._model.rating() if player is None else player])
        new = [team[0] for team in self._rate(teams, ranks=list(outcome.ranks))]
        for agent, player in zip(agents, new, strict=True):
            ratings[agent] = player
            matches[agent] = matches.get(agent, 0) + 1
            if self.keep_history:
                self.history.append((self._count, agent, player.mu, player.sigma))

    def restore(self, agent: str, mu: float, sigma: float, matches: int) -> None:
        """Set ``agent``'s rating as a previous run left it (ratings kept in a database).

        Args:
            agent: The agent.
            mu: Its mean skill.
            sigma: Its uncertainty (positive).
            matches: Matches behind the rating.

        """
        self._ratings[agent] = self._model.rating(mu=mu, sigma=sigma)
        self._matches[agent] = matches

    def estimate(self, agent: str) -> tuple[float, float]:
        """``(mu, sigma)`` for ``agent``; the model's prior when it has not played."""
        player = self._ratings.get(agent)
        if player is None:
            return (float(self._model.mu), float(self._model.sigma))
        return (float(player.mu), float(player.sigma))

    def ordinal(self, agent: str) -> float:
        """Conservative skill ``mu - 3 sigma`` (what leaderboards that hide sigma show)."""
        mu, sigma = self.estimate(agent)
        return mu - 3.0 * sigma

    def matches(self, agent: str) -> int:
        """Matches ``agent`` has played (0 when unseen)."""
        return self._matches.get(agent, 0)

    def predict_win(self, a: str, b: str) -> float:
        """Probability that ``a`` beats ``b`` under the model (0.5 when ``a == b``)."""
        if a == b:
            return 0.5
        ra = self._ratings.get(a)
        rb = self._ratings.get(b)
        if ra is None:
            ra = self._model.rating()
        if rb is None:
            rb = self._model.rating()
        return float(self._model.predict_win([[ra], [rb]])[0])

    def table(self) -> list[RatingRow]:
        """Every agent's ``mu`` with its 95% interval, ranked by the interval rule."""
        agents = self.agents
        mus = [self._ratings[agent].mu for agent in agents]
        sigmas = [self._ratings[agent].sigma for agent in agents]
        return ranked_rows(
            agents,
            mus,
            [mu - Z_95 * sigma for mu, sigma in zip(mus, sigmas, strict=True)],
            [mu + Z_95 * sigma for mu, sigma in zip(mus, sigmas, strict=True)],
            [self._matches[agent] for agent in agents],
        )


class EloRatings:
    """Classic Elo ratings, for familiarity (no uncertainty, so no intervals).

    A match of ``n`` agents counts as every pairwise result by rank (better rank wins,
    equal ranks draw), each with ``K / (n - 1)``; all changes are computed from the
    ratings before the match, so every pair's exchange is zero-sum.

    Args:
        k: Update step (points won for an unexpected win against an equal).
        initial: Rating of an agent that has not played.

    Raises:
        InvalidArgumentError: ``k`` not positive or not finite.

    Examples:
        >>> elo = EloRatings()
        >>> elo.update(Outcome(agents=("a", "b"), scores=(1.0, 0.0)))
        >>> elo.rating("a"), elo.rating("b")
        (1516.0, 1484.0)

    """

    def __init__(self, k: float = 32.0, initial: float = 1500.0) -> None:
        if not (math.isfinite(k) and k > 0):
            raise InvalidArgumentError(f"k must be a positive number, got {k!r}")
        if not math.isfinite(initial):
            raise InvalidArgumentError(f"initial must be finite, got {initial!r}")
        self.k = k
        self.initial = initial
        self._ratings: dict[str, float] = {}
        self._matches: dict[str, int] = {}

    @property
    def agents(self) -> list[str]:
        """Ids of every agent seen so far, sorted."""
        return sorted(self._ratings)

    def rating(self, agent: str) -> float:
        """``agent``'s rating (``initial`` when it has not played)."""
        return self._ratings.get(agent, self.initial)

    def expected(self, a: str, b: str) -> float:
        """Expected score of ``a`` against ``b``: ``1 / (1 + 10^((Rb - Ra) / 400))``."""
        return 1.0 / (1.0 + math.pow(10.0, (self.rating(b) - self.rating(a)) / 400.0))

    def update(self, outcome: Outcome) -> None:
        """Apply one match (two or more agents; equal scores draw).

        Args:
            outcome: The match to learn from.

        """
        agents = outcome.agents
        ranks = outcome.ranks
        before = [self.rating(agent) for agent in agents]
        step = self.k / (len(agents) - 1)
        delta = [0.0] * len(agents)
        for i in range(len(agents)):
            for j in range(i + 1, len(agents)):
                actual = 1.0 if ranks[i] < ranks[j] else 0.5 if ranks[i] == ranks[j] else 0.0
                expected = 1.0 / (1.0 + math.pow(10.0, (before[j] - before[i]) / 400.0))
                change = step * (actual - expected)
                delta[i] += change
                delta[j] -= change
        for agent, old, change in zip(agents, before, delta, strict=True):
            self._ratings[agent] = old + change
            self._matches[agent] = self._matches.get(agent, 0) + 1

    def table(self) -> list[RatingRow]:
        """Every agent's rating (``lower == upper == rating``), ties sharing a rank."""
        agents = self.agents
        ratings = [self._ratings[agent] for agent in agents]
        return ranked_rows(agents, ratings, ratings, ratings, [self._matches[a] for a in agents])
