"""Ranking fidelity: how fast ratings recover a known order, uniform pairing vs the ladder.

A synthetic population of 32 agents with hidden strengths ``s ~ Normal(0, SPREAD)``
(logits) plays a stochastic two-player game: Davidson's model, a Bradley-Terry game
with draws, where i beats j, loses or draws in proportion to ``e^s_i``, ``e^s_j`` and
``DRAW * sqrt(e^s_i e^s_j)`` (a win probability of ``logistic(s_i - s_j)`` once draws
are set aside; 13% draws between equals). Ratings are ``OpenSkillRatings()`` with
DevSpark's defaults (PlackettLuce, ``beta = DEFAULT_BETA = 25/16``), updated after
every match, the same for every arm and the same as a real tournament uses. With
openskill's own ``beta`` (25/6) the prior (``sigma = 25/3``) spans only about 1.4
logits of skill, far narrower than this population, and the online ``mu`` spreads out
slowly; 25/16 puts the prior's spread near the population's (uniform pairing is
indifferent to it, within noise). The
same populations and seeds are scheduled by :class:`~devspark.arena.formats.Ladder`
in this run with ``matchmaking="uniform"`` (uniformly random pairs), ``"info_gain"``
and ``"active"`` (the ladder's default), in the ladder's default batches of four pairs
(four matches in flight; the ladder reads the ratings before each batch).
The ladder never sees the hidden strengths, only the ratings' estimates.

Every CHECK matches the Kendall tau between the ratings' order (``mu``) and the hidden
strengths is taken and averaged over SEEDS populations (0 .. SEEDS-1). Reported: the
first checkpoint where the mean tau reaches 0.9 for each matchmaking, their ratio
(``active`` over uniform) and ``OpenSkillRatings.update`` calls per second (wall time
inside ``update`` over the whole run, so the figure is end to end through our
wrapper). Set BATCH = 16 to see bigger batches (every agent plays every batch, so
only who meets whom is chosen; the gain is smaller).
Prints one JSON object: uniform_matches_to_tau_0_9, ladder_matches_to_tau_0_9, ratio,
rating_updates_per_s.
"""

from __future__ import annotations

import math
import random
import time

import numpy as np
from scipy.stats import kendalltau

from _util import emit

AGENTS = 32
SPREAD = 3.0
DRAW = 0.3
SEEDS = 80
BATCH: int | None = None  # the ladder's default (4)
CHECK = 50
HORIZON = 1500
TARGET = 0.9
MODES = ("uniform", "info_gain", "active")


def play(rng: random.Random, s_a: float, s_b: float) -> tuple[float, float]:
    """One game of the Davidson model: ``(1, 0)``, ``(0, 1)`` or a draw ``(0.5, 0.5)``."""
    pi_a, pi_b = math.exp(s_a), math.exp(s_b)
    draw = DRAW * math.sqrt(pi_a * pi_b)
    u = rng.random() * (pi_a + pi_b + draw)
    if u < pi_a:
        return (1.0, 0.0)
    if u < pi_a + pi_b:
        return (0.0, 1.0)
    return (0.5, 0.5)


def run(mode: str, seed: int, batch: int | None = None) -> tuple[list[float], int, float]:
    """Taus at every checkpoint, the number of rating updates and the seconds they took."""
    from devspark.arena.formats import Ladder
    from devspark.rating.models import OpenSkillRatings
    from devspark.rating.outcomes import Outcome

    strength = np.random.default_rng(seed).normal(0.0, SPREAD, AGENTS)
    agents = [f"agent-{i:02d}" for i in range(AGENTS)]
    hidden = dict(zip(agents, strength.tolist(), strict=True))
    ratings = OpenSkillRatings(keep_history=False)
    ladder = Ladder(agents, ratings, matches=HORIZON, seed=seed, batch=batch, matchmaking=mode)
    rng = random.Random(seed + 1_000_003)
    taus: list[float] = []
    played, updating = 0, 0.0
    while not ladder.done:
        for pairing in ladder.next_round():
            a, b = pairing.agents
            outcome = Outcome(pairing.agents, play(rng, hidden[a], hidden[b]))
            start = time.perf_counter()
            ratings.update(outcome)
            updating += time.perf_counter() - start
            ladder.record(pairing, outcome)
            played += 1
            if played % CHECK == 0:
                mus = [ratings.estimate(agent)[0] for agent in agents]
                taus.append(float(kendalltau(mus, strength).statistic))
    return taus, played, updating


def matches_to(target: float, mean_taus: np.ndarray) -> int | None:
    """Matches at the first checkpoint whose mean tau reaches ``target``."""
    reached = np.flatnonzero(mean_taus >= target)
    return int(reached[0] + 1) * CHECK if len(reached) else None


def mean_curves(batch: int | None, seeds: int) -> tuple[dict[str, np.ndarray], int, float]:
    """Mean tau per checkpoint for each matchmaking, and the rating updates timed."""
    curves: dict[str, list[list[float]]] = {mode: [] for mode in MODES}
    updates, seconds = 0, 0.0
    for seed in range(seeds):
        for mode in MODES:
            taus, count, spent = run(mode, seed, batch)
            curves[mode].append(taus)
            updates += count
            seconds += spent
    return {mode: np.mean(curves[mode], axis=0) for mode in MODES}, updates, seconds


def main() -> None:
    from devspark.arena.formats._ladder import DEFAULT_BATCH

    mean, updates, seconds = mean_curves(BATCH, SEEDS)
    print(f"{AGENTS} agents, strengths ~ N(0, {SPREAD}) logits, draw weight {DRAW}, {SEEDS} seeds")
    print(
        f"batches of {BATCH or DEFAULT_BATCH} pairs; "
        "mean Kendall tau of the ratings' order against the truth"
    )
    print("matches    uniform  info_gain     active")
    for index in range(1, len(mean["uniform"]), 2):
        row = "  ".join(f"{mean[mode][index]:9.3f}" for mode in MODES)
        print(f"{(index + 1) * CHECK:7d}  {row}")
    uniform = matches_to(TARGET, mean["uniform"])
    ladder = matches_to(TARGET, mean["active"])
    ratio = ladder / uniform if uniform and ladder else None
    print(f"matches to tau >= {TARGET}: uniform {uniform}, ladder {ladder}, ratio {ratio}")
    print(f"OpenSkillRatings.update: {updates / seconds:,.0f} updates/s over {updates} updates")
    emit(
        {
            "uniform_matches_to_tau_0_9": uniform,
            "ladder_matches_to_tau_0_9": ladder,
            "ratio": ratio,
            "rating_updates_per_s": updates / seconds,
        }
    )


if __name__ == "__main__":
    main()
