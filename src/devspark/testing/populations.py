"""Synthetic populations with known skills, to measure how well ratings recover them.

A population is ``size`` agents with hidden strengths ``s ~ Normal(0, spread)`` (logits)
drawn from a seed. They play a stochastic two-player game, Davidson's model: a
Bradley-Terry game with draws, where i beats j, loses or draws in proportion to
``e^s_i``, ``e^s_j`` and ``draw * sqrt(e^s_i e^s_j)`` (a win probability of
``logistic(s_i - s_j)`` once draws are set aside). :func:`simulate_ladder` schedules the
population with a :class:`~devspark.arena.formats.Ladder`, rates every game online with
:class:`~devspark.rating.models.OpenSkillRatings` (DevSpark's defaults unless told) and
records the Kendall tau between the ratings' order and the hidden strengths as it goes.
The ladder sees only the ratings' estimates, never the strengths.

Used by the ranking-fidelity benchmark (``benchmarks/ranking_fidelity.py``) and by the
ladder's tests (the active ladder needs fewer matches than uniform pairing).
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field

import numpy as np

from devspark.arena.formats import Ladder
from devspark.rating.models import DEFAULT_BETA, OpenSkillRatings
from devspark.rating.outcomes import Outcome

DRAW = 0.3
"""Draw weight of the Davidson game: 13% draws between equals."""


@dataclass(frozen=True, slots=True)
class Population:
    """Agents and their hidden strengths (logits), in the same order.

    Attributes:
        agents: The agents' names, ``agent-00`` and on.
        strengths: Each agent's hidden strength.

    """

    agents: list[str]
    strengths: list[float]

    @classmethod
    def draw(cls, seed: int, size: int = 32, spread: float = 3.0) -> Population:
        """``size`` agents with strengths ``~ Normal(0, spread)`` from ``seed``."""
        strengths = np.random.default_rng(seed).normal(0.0, spread, size).tolist()
        return cls([f"agent-{i:02d}" for i in range(size)], strengths)

    def tau(self, ratings: OpenSkillRatings) -> float:
        """Kendall tau between the ratings' order (``mu``) and the hidden strengths."""
        from scipy.stats import kendalltau  # type: ignore[import-untyped]  # no stubs; slow

        mus = [ratings.estimate(agent)[0] for agent in self.agents]
        return float(kendalltau(mus, self.strengths).statistic)


def play_davidson(
    rng: random.Random, s_a: float, s_b: float, draw: float = DRAW
) -> tuple[float, float]:
    """One game of the Davidson model: ``(1, 0)``, ``(0, 1)`` or a draw ``(0.5, 0.5)``."""
    pi_a, pi_b = math.exp(s_a), math.exp(s_b)
    tie = draw * math.sqrt(pi_a * pi_b)
    u = rng.random() * (pi_a + pi_b + tie)
    if u < pi_a:
        return (1.0, 0.0)
    if u < pi_a + pi_b:
        return (0.0, 1.0)
    return (0.5, 0.5)


@dataclass(frozen=True, slots=True)
class LadderSettings:
    """The rating and ladder settings of a simulation (the defaults are DevSpark's).

    Attributes:
        beta: OpenSkill's ``beta``.
        batch: Pairs per batch (``None``: the ladder's default).
        warmup: Games per agent before ``active`` matchmaking focuses.
        exploration: The ladder's exploration weight.
        concentration: The ladder's concentration.

    """

    beta: float = DEFAULT_BETA
    batch: int | None = None
    warmup: int = 4
    exploration: float = 0.05
    concentration: float = 2.0


@dataclass(slots=True)
class LadderRun:
    """What one population scheduled by one matchmaking gave.

    Attributes:
        taus: Kendall tau after every ``check`` matches.
        games: Every game, in the order played.
        updating_s: Wall seconds spent inside ``OpenSkillRatings.update``.

    """

    taus: list[float] = field(default_factory=list)
    games: list[Outcome] = field(default_factory=list)
    updating_s: float = 0.0


def simulate_ladder(
    population: Population,
    matchmaking: str,
    *,
    matches: int,
    seed: int,
    check: int = 50,
    settings: LadderSettings | None = None,
) -> LadderRun:
    """Schedule ``matches`` games of ``population`` with a ladder, rating them online.

    Args:
        population: The agents and their hidden strengths.
        matchmaking: The ladder's ``"uniform"``, ``"info_gain"`` or ``"active"``.
        matches: Games to play.
        seed: Seeds the ladder; the games' own draws use ``seed + 1_000_003``.
        check: Take the tau after every ``check`` games.
        settings: Rating and ladder settings (DevSpark's defaults by default).

    Returns:
        The taus at every checkpoint, the games and the time spent rating them.

    """
    settings = settings or LadderSettings()
    ratings = OpenSkillRatings(keep_history=False, beta=settings.beta)
    ladder = Ladder(
        population.agents,
        ratings,
        matches=matches,
        seed=seed,
        batch=settings.batch,
        matchmaking=matchmaking,
        exploration=settings.exploration,
        concentration=settings.concentration,
        warmup=settings.warmup,
    )
    hidden = dict(zip(population.agents, population.strengths, strict=True))
    rng = random.Random(seed + 1_000_003)
    run = LadderRun()
    while not ladder.done:
        for pairing in ladder.next_round():
            a, b = pairing.agents
            outcome = Outcome(pairing.agents, play_davidson(rng, hidden[a], hidden[b]))
            start = time.perf_counter()
            ratings.update(outcome)
            run.updating_s += time.perf_counter() - start
            ladder.record(pairing, outcome)
            run.games.append(outcome)
            if len(run.games) % check == 0:
                run.taus.append(population.tau(ratings))
    return run


def matches_to(target: float, mean_taus: np.ndarray, check: int = 50) -> int | None:
    """Matches at the first checkpoint whose mean tau reaches ``target`` (None: never)."""
    reached = np.flatnonzero(mean_taus >= target)
    return int(reached[0] + 1) * check if len(reached) else None
