"""Bradley-Terry fits with bootstrap intervals, from outcomes and from pairwise counts."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq, minimize
from scipy.stats import kendalltau, poisson

from devspark.core.errors import InvalidArgumentError
from devspark.rating import (
    Outcome,
    PairCounts,
    RatingRow,
    bradley_terry,
    counts_newton,
    counts_resampling,
    fit_bradley_terry,
    fit_pair_counts,
    interval_ranks,
    rows_from_fit,
)
from devspark.rating.bradley_terry import ELO_BASE, ELO_SCALE, L2_PRIOR, _scipy_openblas

W = (1.0, 0.0)
L = (0.0, 1.0)
D = (0.5, 0.5)


def games(a: str, b: str, wins: int, draws: int, losses: int) -> list[Outcome]:
    return (
        [Outcome(agents=(a, b), scores=W)] * wins
        + [Outcome(agents=(a, b), scores=D)] * draws
        + [Outcome(agents=(a, b), scores=L)] * losses
    )


def simulate(
    strengths: np.ndarray, matches: int, seed: int, draw_rate: float = 0.0
) -> list[Outcome]:
    """Random pairs; P(i beats j) = sigmoid(s_i - s_j); a share of games drawn."""
    rng = np.random.default_rng(seed)
    pairs = np.array([rng.choice(len(strengths), 2, replace=False) for _ in range(matches)])
    p = 1.0 / (1.0 + np.exp(strengths[pairs[:, 1]] - strengths[pairs[:, 0]]))
    u = rng.random(matches)
    drawn = rng.random(matches) < draw_rate
    return [
        Outcome(agents=(f"a{i:02d}", f"a{j:02d}"), scores=D if d else W if x < q else L)
        for (i, j), q, x, d in zip(pairs, p, u, drawn, strict=True)
    ]


def by_agent(rows: list[RatingRow]) -> dict[str, RatingRow]:
    return {row.agent: row for row in rows}


def test_two_agents_match_the_closed_form() -> None:
    # MLE difference is ln(wins / losses); the L2 prior shrinks it only a little.
    rows = by_agent(fit_bradley_terry(games("a", "b", 30, 0, 10), bootstrap=0))
    gap = rows["a"].rating - rows["b"].rating
    assert gap == pytest.approx(ELO_SCALE * math.log(3.0), rel=1e-3)
    assert gap == pytest.approx(400 * math.log10(3.0), rel=1e-3)  # the Elo-like scale
    assert rows["a"].rating + rows["b"].rating == pytest.approx(2 * ELO_BASE)  # centred


def test_draws_count_as_half_a_win_each() -> None:
    with_draws = by_agent(fit_bradley_terry(games("a", "b", 10, 20, 0), bootstrap=0))
    halves = by_agent(fit_bradley_terry(games("a", "b", 20, 0, 10), bootstrap=0))
    assert with_draws["a"].rating == pytest.approx(halves["a"].rating, abs=1e-6)


def test_matches_a_direct_maximum_likelihood_fit() -> None:
    outcomes = simulate(np.array([1.0, 0.3, 0.0, -0.4, -1.2]), 300, seed=3, draw_rate=0.1)
    agents = sorted({a for o in outcomes for a in o.agents})
    index = {a: i for i, a in enumerate(agents)}

    def nll(theta: np.ndarray) -> float:
        total = 0.5 * L2_PRIOR * float(theta @ theta)
        for o in outcomes:
            i, j = index[o.agents[0]], index[o.agents[1]]
            share = o.points(o.agents[0])
            d = theta[i] - theta[j]
            total -= share * -np.logaddexp(0, -d) + (1 - share) * -np.logaddexp(0, d)
        return total

    theta = minimize(nll, np.zeros(len(agents)), method="BFGS").x
    expected = ELO_BASE + ELO_SCALE * (theta - theta.mean())
    rows = by_agent(fit_bradley_terry(outcomes, bootstrap=0))
    assert [rows[a].rating for a in agents] == pytest.approx(expected.tolist(), abs=1e-2)


def test_multiplayer_outcomes_decompose_into_pairs() -> None:
    multi = [Outcome(agents=("a", "b", "c"), scores=(3.0, 2.0, 2.0))] * 4 + [
        Outcome(agents=("c", "a", "b"), scores=(9.0, 1.0, 0.0))
    ]
    pairs = games("a", "b", 4, 0, 0) + games("a", "c", 4, 0, 0) + games("b", "c", 0, 4, 0)
    pairs += games("c", "a", 1, 0, 0) + games("c", "b", 1, 0, 0) + games("a", "b", 1, 0, 0)
    one = fit_bradley_terry(multi, bootstrap=0)
    two = fit_bradley_terry(pairs, bootstrap=0)
    assert [r.agent for r in one] == [r.agent for r in two]
    assert [r.rating for r in one] == pytest.approx([r.rating for r in two])
    assert by_agent(one)["a"].matches == 5


def test_an_agent_that_won_everything_stays_finite_and_on_top() -> None:
    outcomes = games("ace", "b", 12, 0, 0) + games("ace", "c", 12, 0, 0) + games("b", "c", 6, 0, 6)
    rows = fit_bradley_terry(outcomes, bootstrap=50)
    assert rows[0].agent == "ace" and rows[0].rank == 1
    assert all(math.isfinite(v) for r in rows for v in (r.rating, r.lower, r.upper))
    assert rows[0].lower > max(r.upper for r in rows[1:])
    assert [r.rank for r in rows] == [1, 2, 2]


def test_rows_are_ranked_by_the_interval_rule_best_first() -> None:
    rows = fit_bradley_terry(simulate(np.linspace(-2, 2, 12), 1500, seed=5), bootstrap=100)
    assert [r.rank for r in rows] == interval_ranks(
        [r.lower for r in rows], [r.upper for r in rows]
    )
    assert [r.rank for r in rows] == sorted(r.rank for r in rows)
    assert all(r.lower <= r.rating <= r.upper for r in rows)
    assert sum(r.matches for r in rows) == 3000
    assert rows[0].rank == 1 and rows[-1].rank > 1  # the extremes are told apart


def test_recovers_the_hidden_order_of_32_agents() -> None:
    strengths = np.linspace(-2.0, 2.0, 32)
    rows = by_agent(fit_bradley_terry(simulate(strengths, 2000, seed=11), bootstrap=0))
    estimated = [rows[f"a{i:02d}"].rating for i in range(32)]
    assert kendalltau(strengths, estimated).statistic >= 0.8


@settings(max_examples=12, deadline=None)
@given(gap=st.floats(1.0, 3.0), seed=st.integers(0, 2**32 - 1))
def test_a_clearly_stronger_agent_ends_higher(gap: float, seed: int) -> None:
    rows = by_agent(fit_bradley_terry(simulate(np.array([gap, 0.0, -gap]), 150, seed), bootstrap=0))
    assert rows["a00"].rating > rows["a02"].rating


def test_intervals_shrink_with_more_matches() -> None:
    strengths = np.array([1.0, 0.5, 0.0, -0.5, -1.0])
    widths = []
    for matches in (100, 400, 1600):
        rows = fit_bradley_terry(simulate(strengths, matches, seed=matches), bootstrap=100)
        widths.append(np.mean([r.upper - r.lower for r in rows]))
    assert widths[0] > widths[1] > widths[2]
    assert widths[0] / widths[2] == pytest.approx(4.0, rel=0.35)  # ~ 1 / sqrt(n)


def test_wider_confidence_gives_wider_intervals() -> None:
    outcomes = simulate(np.array([0.5, 0.0, -0.5]), 300, seed=2)
    narrow = by_agent(fit_bradley_terry(outcomes, bootstrap=100, confidence=0.5))
    wide = by_agent(fit_bradley_terry(outcomes, bootstrap=100, confidence=0.99))
    for agent, row in narrow.items():
        assert wide[agent].lower <= row.lower and wide[agent].upper >= row.upper


def test_deterministic_given_the_seed() -> None:
    outcomes = simulate(np.array([0.4, 0.0, -0.4, 0.1]), 200, seed=9, draw_rate=0.2)
    first = fit_bradley_terry(outcomes, bootstrap=60, seed=4)
    assert fit_bradley_terry(outcomes, bootstrap=60, seed=4) == first
    other = fit_bradley_terry(outcomes, bootstrap=60, seed=5)
    assert [r.rating for r in other] == [r.rating for r in first]  # the fit itself has no seed
    assert [r.lower for r in other] != [r.lower for r in first]


def test_no_bootstrap_gives_point_estimates_only() -> None:
    rows = fit_bradley_terry(games("a", "b", 3, 0, 1) + games("b", "c", 1, 0, 1), bootstrap=0)
    assert all(r.lower == r.rating == r.upper for r in rows)
    assert [r.rank for r in rows] == [1, 2, 3]


def test_200_bootstraps_of_2000_matches_among_32_agents_are_fast() -> None:
    outcomes = simulate(np.linspace(-2.0, 2.0, 32), 2000, seed=1, draw_rate=0.1)
    fit_bradley_terry(outcomes[:100], bootstrap=2)  # warm imports
    start = time.perf_counter()
    rows = fit_bradley_terry(outcomes, bootstrap=200)
    assert time.perf_counter() - start < 5.0
    assert len(rows) == 32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"bootstrap": -1}, "bootstrap must be 0 or more, got -1"),
        ({"confidence": 1.0}, r"confidence must lie in \(0, 1\), got 1.0"),
        ({"confidence": 0.0}, r"confidence must lie in \(0, 1\), got 0.0"),
    ],
)
def test_bad_arguments_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        fit_bradley_terry(games("a", "b", 1, 0, 1), **kwargs)


def test_no_outcomes_is_a_clear_error() -> None:
    with pytest.raises(InvalidArgumentError, match="needs at least one outcome, got none"):
        fit_bradley_terry([])


def test_blas_threads_are_restored_after_a_fit() -> None:
    # The fit runs scipy's OpenBLAS on one thread (many tiny calls); it must put it back.
    library = _scipy_openblas()
    if library is None:
        pytest.skip("this scipy build does not bundle OpenBLAS")
    before = library.scipy_openblas_get_num_threads()
    fit_bradley_terry(games("a", "b", 3, 1, 2), bootstrap=5)
    assert library.scipy_openblas_get_num_threads() == before


# --- fits from pairwise counts -------------------------------------------------------------


def to_counts(outcomes: list[Outcome]) -> tuple[PairCounts, list[str], list[int]]:
    """Pairwise counts of ``outcomes`` (every pair of a match by rank), agents, matches played."""
    agents = sorted({a for o in outcomes for a in o.agents})
    index = {a: i for i, a in enumerate(agents)}
    tally: dict[tuple[int, int], list[float]] = {}
    played = [0] * len(agents)
    for outcome in outcomes:
        seats = [(index[a], rank) for a, rank in zip(outcome.agents, outcome.ranks, strict=True)]
        for i, _ in seats:
            played[i] += 1
        for s, (i, rank_i) in enumerate(seats):
            for j, rank_j in seats[s + 1 :]:
                (lo, rank_lo), (hi, rank_hi) = sorted(((i, rank_i), (j, rank_j)))
                cell = tally.setdefault((lo, hi), [0.0, 0.0, 0.0])
                cell[2 if rank_lo == rank_hi else 0 if rank_lo < rank_hi else 1] += 1
    keys = sorted(tally)
    cells = np.array([tally[k] for k in keys])
    counts = PairCounts(
        np.array([k[0] for k in keys]), np.array([k[1] for k in keys]), *cells.T.copy()
    )
    return counts, agents, played


def logits(rows: list[RatingRow], agents: list[str]) -> np.ndarray:
    by = by_agent(rows)
    return (np.array([by[a].rating for a in agents]) - ELO_BASE) / ELO_SCALE


def mixed_outcomes() -> list[Outcome]:
    outcomes = simulate(np.linspace(-1.5, 1.5, 8), 400, seed=21, draw_rate=0.15)
    outcomes += [Outcome(agents=("a00", "a03", "a05"), scores=(2.0, 5.0, 2.0))] * 3
    outcomes += [Outcome(agents=("a07", "a01", "a02", "a06"), scores=(1.0, 4.0, 4.0, 0.0))] * 2
    return outcomes


def test_counts_fit_equals_the_outcome_fit() -> None:
    outcomes = mixed_outcomes()
    counts, agents, played = to_counts(outcomes)
    fit = fit_pair_counts(counts, len(agents), bootstrap=0)
    expected = logits(fit_bradley_terry(outcomes, bootstrap=0), agents)
    assert fit.theta == pytest.approx(expected.tolist(), abs=1e-6)
    assert fit.theta.mean() == pytest.approx(0.0, abs=1e-12)
    assert fit.samples.shape == (0, len(agents))
    rows, expected_rows = (
        rows_from_fit(agents, fit, played),
        fit_bradley_terry(outcomes, bootstrap=0),
    )
    assert [(r.agent, r.rank, r.matches) for r in rows] == [
        (r.agent, r.rank, r.matches) for r in expected_rows
    ]
    assert [r.rating for r in rows] == pytest.approx([r.rating for r in expected_rows], abs=1e-4)
    assert all(r.lower == r.rating == r.upper for r in rows)


def test_rows_from_fit_builds_the_table_as_the_outcome_fit_does() -> None:
    outcomes = mixed_outcomes()
    counts, agents, played = to_counts(outcomes)
    rows = rows_from_fit(agents, fit_pair_counts(counts, len(agents), bootstrap=80), played)
    expected = fit_bradley_terry(outcomes, bootstrap=0)
    assert [r.agent for r in rows] == [r.agent for r in sorted(rows, key=lambda r: r.rank)]
    assert [r.rank for r in rows] == interval_ranks(
        [r.lower for r in rows], [r.upper for r in rows]
    )
    assert all(r.lower <= r.rating <= r.upper for r in rows)
    assert any(r.lower < r.rating for r in rows)
    assert {r.agent: r.matches for r in rows} == {r.agent: r.matches for r in expected}
    assert {r.agent: r.rating for r in rows} == pytest.approx(
        {r.agent: r.rating for r in expected}, abs=1e-4
    )


def test_counts_fit_of_an_agent_that_won_every_game_stays_finite() -> None:
    outcomes = games("ace", "b", 12, 0, 0) + games("ace", "c", 12, 0, 0) + games("b", "c", 6, 0, 6)
    counts, agents, played = to_counts(outcomes)
    fit = fit_pair_counts(counts, 3, bootstrap=50)
    assert np.all(np.isfinite(fit.theta)) and np.all(np.isfinite(fit.samples))
    assert fit.theta == pytest.approx(logits(fit_bradley_terry(outcomes, bootstrap=0), agents))
    rows = rows_from_fit(agents, fit, played)
    assert rows[0].agent == "ace" and rows[0].lower > max(r.upper for r in rows[1:])


def interval_summary(rows: list[RatingRow], truth: dict[str, float]) -> tuple[float, float]:
    """Mean interval width (Elo points) and the share of intervals holding the true rating."""
    widths = [r.upper - r.lower for r in rows]
    held = [r.lower <= truth[r.agent] <= r.upper for r in rows]
    return float(np.mean(widths)), float(np.mean(held))


def test_poisson_intervals_agree_with_the_outcome_bootstrap() -> None:
    strengths = np.random.default_rng(7).normal(0.0, 1.0, 20)
    truth = {
        f"a{i:02d}": ELO_BASE + ELO_SCALE * s for i, s in enumerate(strengths - strengths.mean())
    }
    poisson, outcome = [], []
    for seed in range(3):
        outcomes = simulate(strengths, 2000, seed=100 + seed, draw_rate=0.1)
        counts, agents, played = to_counts(outcomes)
        fit = fit_pair_counts(counts, len(agents), bootstrap=200, seed=seed)
        poisson.append(interval_summary(rows_from_fit(agents, fit, played), truth))
        outcome.append(interval_summary(fit_bradley_terry(outcomes, seed=seed), truth))
    (width_p, held_p), (width_o, held_o) = np.mean(poisson, axis=0), np.mean(outcome, axis=0)
    assert width_p == pytest.approx(width_o, rel=0.2)
    assert held_p == pytest.approx(held_o, abs=0.1)
    assert held_p >= 0.8


def test_warm_start_gives_the_cold_answer() -> None:
    outcomes = simulate(np.linspace(-2.0, 2.0, 16), 3000, seed=4, draw_rate=0.1)
    before, _, _ = to_counts(outcomes[:2900])
    counts, agents, _ = to_counts(outcomes)
    assert before.first.tolist() == counts.first.tolist()  # the same pairs met in both
    previous = fit_pair_counts(before, len(agents), bootstrap=0).theta
    cold = fit_pair_counts(counts, len(agents), bootstrap=40, seed=3)
    warm = fit_pair_counts(counts, len(agents), bootstrap=40, seed=3, start=previous)
    assert warm.theta == pytest.approx(cold.theta.tolist(), abs=1e-9)
    assert warm.samples == pytest.approx(cold.samples, abs=1e-5)


def test_counts_fit_is_deterministic_given_the_seed() -> None:
    counts, agents, _ = to_counts(mixed_outcomes())
    first = fit_pair_counts(counts, len(agents), bootstrap=30, seed=4)
    again = fit_pair_counts(counts, len(agents), bootstrap=30, seed=4)
    other = fit_pair_counts(counts, len(agents), bootstrap=30, seed=5)
    assert np.array_equal(first.samples, again.samples)
    assert np.array_equal(first.theta, other.theta)
    assert not np.array_equal(first.samples, other.samples)
    assert first.samples.shape == (30, len(agents))
    assert first.samples.mean(axis=1) == pytest.approx(0.0, abs=1e-9)


def test_resamples_that_do_not_converge_are_refitted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counts, agents, _ = to_counts(mixed_outcomes())
    fit = fit_pair_counts(counts, len(agents), bootstrap=20, seed=1)
    monkeypatch.setattr(counts_newton, "_MAX_ITERATIONS", 1)  # L-BFGS for the Newton fits
    monkeypatch.setattr(counts_resampling, "_BOOT_STEPS", 1)
    refit = fit_pair_counts(counts, len(agents), bootstrap=20, seed=1)
    assert refit.theta == pytest.approx(fit.theta, abs=1e-6)
    assert refit.samples == pytest.approx(fit.samples, abs=1e-5)


def test_agents_in_no_pair_get_strength_zero() -> None:
    counts = PairCounts(np.array([0]), np.array([2]), np.array([3.0]), np.array([1.0]), np.zeros(1))
    fit = fit_pair_counts(counts, 4, bootstrap=10)
    assert fit.theta[1] == fit.theta[3] == pytest.approx(0.0, abs=1e-12)
    assert fit.theta[0] > 0 > fit.theta[2]
    empty = PairCounts(*(np.zeros(0, dtype=np.int64),) * 2, *(np.zeros(0),) * 3)
    assert fit_pair_counts(empty, 2, bootstrap=5).theta.tolist() == [0.0, 0.0]


def pair_counts(**changes: Any) -> PairCounts:
    fields: dict[str, Any] = {
        "first": [0, 0],
        "second": [1, 2],
        "wins": [1.0, 2.0],
        "losses": [0.0, 1.0],
        "draws": [0.0, 0.0],
    }
    return PairCounts(**{**fields, **changes})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"second": [1]}, "must have one length, got first=2, second=1"),
        ({"second": [1, 0]}, "first < second in every pair; pair 1 has first=0, second=0"),
        ({"second": [1, 1]}, r"lists pair \(0, 1\) more than once"),
        ({"first": [0.0, 0.0]}, "first must hold agent indices"),
        ({"first": [-1, 0]}, "first must hold indices 0 or more, got -1"),
        ({"wins": [1.0, -2.0]}, "wins must be finite and 0 or more; pair 1 has -2.0"),
        ({"draws": [math.nan, 0.0]}, "draws must be finite and 0 or more; pair 0 has nan"),
        ({"losses": [[0.0, 1.0]]}, "losses must be one-dimensional, got 2"),
        ({"losses": ["x", "y"]}, "losses must hold numbers"),
    ],
)
def test_bad_pair_counts_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        pair_counts(**changes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n": 2}, "counts name agent 2 but n=2"),
        ({"n": 0}, "n must be 1 or more, got 0"),
        ({"bootstrap": -1}, "bootstrap must be 0 or more, got -1"),
        ({"start": np.zeros(2)}, r"start must hold 3 finite strengths, got shape \(2,\)"),
        ({"start": np.array([0.0, math.inf, 0.0])}, "start must hold 3 finite strengths"),
    ],
)
def test_bad_fit_arguments_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        fit_pair_counts(pair_counts(), **{"n": 3, **kwargs})


def test_bad_table_arguments_are_refused() -> None:
    fit = fit_pair_counts(pair_counts(), 3, bootstrap=4)
    with pytest.raises(InvalidArgumentError, match="one agent and one played count per strength"):
        rows_from_fit(["a", "b"], fit, [1, 2, 3])
    with pytest.raises(InvalidArgumentError, match=r"confidence must lie in \(0, 1\), got 1.5"):
        rows_from_fit(["a", "b", "c"], fit, [2, 1, 1], confidence=1.5)


@pytest.mark.parametrize("mean", [0.3, 1.0, 7.0, 55.0, 2500.0])
def test_poisson_tables_follow_the_poisson_cdf_within_2_to_the_minus_17(mean: float) -> None:
    table = counts_resampling._poisson_table(mean)
    assert table.size == 1 << 16 and np.all(np.diff(table) >= 0)
    values = np.arange(int(table.max()) + 1)
    sampled = np.searchsorted(table, values, side="right") / table.size  # P(X <= k)
    assert np.max(np.abs(sampled - poisson.cdf(values, mean))) <= 2**-17 + 1e-12


@pytest.mark.parametrize("resamples", [60, 3000])  # numpy's sampler / quantile tables
def test_resampled_counts_are_poisson(resamples: int) -> None:
    counts = PairCounts(
        np.array([0, 0, 1]),
        np.array([1, 2, 2]),
        np.array([5.0, 40.0, 0.5]),
        np.array([3.0, 0.0, 0.0]),
        np.array([2.0, 1.0, 0.0]),
    )
    resampling = counts_resampling._Resampling.of(counts, np.zeros(3), np.arange(3), resamples, 3)
    score, games = resampling.draw(np.random.default_rng(0), 40_000)
    assert games.mean(axis=1) == pytest.approx([10.0, 41.0, 0.5], rel=0.02)
    assert games.var(axis=1) == pytest.approx([10.0, 41.0, 0.5], rel=0.05)
    assert score.mean(axis=1) == pytest.approx([6.0, 40.5, 0.5], rel=0.02)
    assert score.var(axis=1) == pytest.approx([5.5, 40.25, 0.5], rel=0.05)  # wins + draws / 4


def test_huge_counts_are_fitted_exactly() -> None:
    # 100,000 games in one pair: the Hessian is factored in double precision.
    wins, losses = 60_000.0, 40_000.0
    counts = PairCounts(
        np.array([0]), np.array([1]), np.array([wins]), np.array([losses]), np.zeros(1)
    )
    fit = fit_pair_counts(counts, 2, bootstrap=20)

    def slope(t: float) -> float:  # d/dt of the objective at theta = (t, -t)
        return -2.0 * (wins - (wins + losses) / (1.0 + math.exp(-2.0 * t))) + 2.0 * L2_PRIOR * t

    assert fit.theta[0] == pytest.approx(brentq(slope, 0.0, 5.0), abs=1e-9)
    assert np.all(np.abs(fit.samples[:, 0] - fit.theta[0]) < 0.05)


def with_newcomers() -> tuple[PairCounts, int]:
    """A 20-agent population of 2,000 matches, and 4 newcomers with one to three games."""
    outcomes = simulate(np.linspace(-1.5, 1.5, 20), 2000, seed=8, draw_rate=0.1)
    outcomes += games("a03", "new0", 1, 0, 0) + games("a11", "new1", 0, 1, 2)
    outcomes += games("a17", "new2", 2, 0, 1) + games("new2", "new3", 1, 0, 0)
    counts, agents, _ = to_counts(outcomes)
    return counts, len(agents)


def test_newcomers_resamples_converge_without_refits(monkeypatch: pytest.MonkeyPatch) -> None:
    # A Poisson resample may give a newcomer none of its games or twice as many: chord
    # steps on the Hessian at theta would crawl or overshoot; their exact block must not.
    counts, n = with_newcomers()
    refits: list[int] = []
    refit = counts_resampling._Resampling._refit

    def counting(self: Any, stuck: list[Any]) -> Any:
        refits.append(len(stuck))
        return refit(self, stuck)

    monkeypatch.setattr(counts_resampling._Resampling, "_refit", counting)
    fit = fit_pair_counts(counts, n, bootstrap=100, seed=2)
    assert sum(refits) <= 5
    monkeypatch.setattr(counts_resampling, "_BOOT_STEPS", 1)  # every resample: its own Newton fit
    exact = fit_pair_counts(counts, n, bootstrap=100, seed=2)
    assert fit.samples == pytest.approx(exact.samples, abs=1e-4)


def test_groups_that_never_met_are_fitted_as_separate_boards() -> None:
    # With no games between them, each group's strengths have mean 0 at the optimum.
    one, _, _ = to_counts(simulate(np.linspace(-1.0, 1.0, 6), 600, seed=12, draw_rate=0.1))
    two, _, _ = to_counts(simulate(np.linspace(-2.0, 2.0, 5), 500, seed=13))
    both = PairCounts(
        np.concatenate([one.first, two.first + 6]),
        np.concatenate([one.second, two.second + 6]),
        np.concatenate([one.wins, two.wins]),
        np.concatenate([one.losses, two.losses]),
        np.concatenate([one.draws, two.draws]),
    )
    fit = fit_pair_counts(both, 11, bootstrap=50)
    assert fit.theta[:6] == pytest.approx(fit_pair_counts(one, 6, bootstrap=0).theta, abs=1e-9)
    assert fit.theta[6:] == pytest.approx(fit_pair_counts(two, 5, bootstrap=0).theta, abs=1e-9)
    assert fit.samples[:, :6].mean(axis=1) == pytest.approx(0.0, abs=1e-4)
    assert np.all(np.isfinite(fit.samples))


def sparse_board(agents: int, matches: int, seed: int) -> PairCounts:
    """A per-scenario board: random opponents, a handful of games per agent, 10% drawn."""
    rng = np.random.default_rng(seed)
    strength = rng.normal(0.0, 1.5, agents)
    a = rng.integers(0, agents, matches)
    b = (a + rng.integers(1, agents, matches)) % agents
    a_won = rng.random(matches) < 1.0 / (1.0 + np.exp(strength[b] - strength[a]))
    cell = np.where(rng.random(matches) < 0.1, 2, np.where(a_won == (a < b), 0, 1))
    keys, pair = np.unique(np.minimum(a, b) * agents + np.maximum(a, b), return_inverse=True)
    cells = np.bincount(pair * 3 + cell, minlength=3 * keys.size).reshape(-1, 3).astype(float)
    return PairCounts(keys // agents, keys % agents, cells[:, 0], cells[:, 1], cells[:, 2])


@pytest.mark.filterwarnings("error")  # an overflow or NaN in any resample fails the test
def test_sparse_boards_fit_exact_finite_resamples_in_under_a_second() -> None:
    # 1,000 agents with 6 games each on average, as per-scenario boards have: the
    # sparse path (conjugate gradients, no dense Hessian) fits every resample.
    n = 1000
    counts = sparse_board(n, 3000, seed=3)
    graph = counts_newton._Graph(n, counts.first, counts.second)
    assert counts_newton._sparse_board(graph, counts.games)
    fit_pair_counts(counts, n, bootstrap=2)  # warm imports
    started = time.perf_counter()
    fit = fit_pair_counts(counts, n, bootstrap=100, seed=5)
    assert time.perf_counter() - started < 1.0
    assert np.all(np.isfinite(fit.theta)) and np.all(np.isfinite(fit.samples))
    dense = counts_newton._point_fit(
        graph, counts.wins + 0.5 * counts.draws, counts.games, None, dense=True
    )
    assert fit.theta == pytest.approx(dense, abs=1e-8)
    rows = rows_from_fit([f"a{i}" for i in range(n)], fit, [1] * n)
    assert all(math.isfinite(r.lower) and r.lower <= r.rating <= r.upper for r in rows)
    # The first resamples again, with the fit's generator, each fitted alone by L-BFGS.
    rank, solid = counts_resampling._labelling(counts, fit.theta, True)
    resampling = counts_resampling._Resampling.of(
        counts, fit.theta[np.argsort(rank)], rank, 100, solid, factored=False
    )
    score, played = resampling.draw(np.random.default_rng(5), 25)
    incidence = resampling.graph.incidence()
    for j in (0, 9, 24):
        results = counts_newton._interleave(
            score[:, j][None].astype(float), played[:, j][None].astype(float)
        )
        alone = bradley_terry._fit_many(results, incidence)[0]
        assert fit.samples[j] == pytest.approx(alone[rank], abs=1e-4)
