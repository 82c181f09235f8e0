"""Ratings, statistics and leaderboards: what the playground's verdicts are made of.

- :class:`OpenSkillRatings` (online, Bayesian, with uncertainty) and :class:`EloRatings`.
- :func:`fit_bradley_terry`: maximum-likelihood strengths with bootstrap intervals;
  :func:`fit_pair_counts` the same from pairwise counts (:class:`PairCounts`).
- :func:`compare`, :func:`pairwise_matrix`, :func:`wilson_interval`: head-to-head verdicts.
- :func:`build_leaderboards`: global, per-scenario, per-domain, efficiency and history.

Ranks everywhere follow one rule (:func:`interval_ranks`): ``1 +`` the number of agents
whose interval lies entirely above this one's. See docs/ratings.md.
"""

from devspark.rating.bradley_terry import fit_bradley_terry
from devspark.rating.counts import CountsFit, PairCounts, fit_pair_counts, rows_from_fit
from devspark.rating.leaderboard import (
    EfficiencyRow,
    Leaderboards,
    LeaderRow,
    build_leaderboards,
)
from devspark.rating.models import (
    DEFAULT_BETA,
    OPENSKILL_MODELS,
    EloRatings,
    OpenSkillRatings,
    RatingRow,
    interval_ranks,
)
from devspark.rating.outcomes import Outcome
from devspark.rating.stats import (
    Comparison,
    PairRecord,
    compare,
    decisive_games_needed,
    pairwise_matrix,
    pairwise_results,
    wilson_interval,
)

__all__ = [
    "DEFAULT_BETA",
    "OPENSKILL_MODELS",
    "Comparison",
    "CountsFit",
    "EfficiencyRow",
    "EloRatings",
    "LeaderRow",
    "Leaderboards",
    "OpenSkillRatings",
    "Outcome",
    "PairCounts",
    "PairRecord",
    "RatingRow",
    "build_leaderboards",
    "compare",
    "decisive_games_needed",
    "fit_bradley_terry",
    "fit_pair_counts",
    "interval_ranks",
    "pairwise_matrix",
    "pairwise_results",
    "rows_from_fit",
    "wilson_interval",
]
