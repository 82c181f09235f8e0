"""Synthetic populations of known skill: the draw, the Davidson game, the ladder run."""

from __future__ import annotations

import math
import random
from collections import Counter

import numpy as np
import pytest

from devspark.rating.models import OpenSkillRatings
from devspark.rating.outcomes import Outcome
from devspark.testing.populations import (
    DRAW,
    Population,
    matches_to,
    play_davidson,
    simulate_ladder,
)


def test_a_population_is_drawn_from_its_seed() -> None:
    population = Population.draw(3, size=5, spread=2.0)
    assert population.agents == [f"agent-0{i}" for i in range(5)]
    assert population == Population.draw(3, size=5, spread=2.0)
    assert population.strengths != Population.draw(4, size=5, spread=2.0).strengths
    assert population.strengths == pytest.approx(np.random.default_rng(3).normal(0, 2.0, 5))


def test_davidson_game_frequencies() -> None:
    rng = random.Random(0)
    games = 20_000
    equal = Counter(play_davidson(rng, 0.0, 0.0) for _ in range(games))
    assert equal[(0.5, 0.5)] / games == pytest.approx(DRAW / (2 + DRAW), abs=0.01)  # 13%
    strong = Counter(play_davidson(rng, 1.0, 0.0) for _ in range(games))
    decided = strong[(1.0, 0.0)] + strong[(0.0, 1.0)]
    logistic = 1 / (1 + math.exp(-1.0))
    assert strong[(1.0, 0.0)] / decided == pytest.approx(logistic, abs=0.015)


def test_tau_is_one_for_ratings_in_the_true_order() -> None:
    population = Population(["a", "b", "c"], [0.0, 1.0, 2.0])
    ratings = OpenSkillRatings(keep_history=False)
    for winner, loser in (("b", "a"), ("c", "b"), ("c", "a")):
        ratings.update(Outcome((winner, loser), (1.0, 0.0)))
    assert population.tau(ratings) == pytest.approx(1.0)


def test_simulate_ladder_plays_its_matches_and_checks_the_order() -> None:
    population = Population.draw(1, size=8)
    run = simulate_ladder(population, "uniform", matches=200, seed=1, check=50)
    assert len(run.games) == 200 and len(run.taus) == 4 and run.updating_s > 0
    assert {agent for game in run.games for agent in game.agents} == set(population.agents)
    assert run.taus[-1] > 0.5  # the ratings learn the order
    again = simulate_ladder(population, "uniform", matches=200, seed=1, check=50)
    assert again.taus == run.taus and again.games == run.games  # seeded


def test_matches_to_names_the_first_checkpoint_reached() -> None:
    taus = np.array([0.2, 0.6, 0.91, 0.85, 0.95])
    assert matches_to(0.9, taus, check=25) == 75
    assert matches_to(0.99, taus) is None
