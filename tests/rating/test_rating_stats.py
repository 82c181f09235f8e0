"""Wilson intervals, the pairwise matrix and head-to-head significance tests."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binom, binomtest, norm

from devspark.core.errors import InvalidArgumentError
from devspark.rating import (
    Outcome,
    compare,
    decisive_games_needed,
    pairwise_matrix,
    pairwise_results,
    wilson_interval,
)


def record(a: str, b: str, wins: int, draws: int, losses: int) -> list[Outcome]:
    return (
        [Outcome(agents=(a, b), scores=(1.0, 0.0))] * wins
        + [Outcome(agents=(b, a), scores=(1.0, 1.0))] * draws
        + [Outcome(agents=(b, a), scores=(2.0, 0.0))] * losses
    )


def wilson_formula(k: float, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


# --- Wilson -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [
        (60, 100, (0.5020, 0.6906)),
        (0, 10, (0.0, 0.2775)),
        (10, 10, (0.7225, 1.0)),
        (5, 10, (0.2366, 0.7634)),
    ],
)
def test_wilson_known_values(k: int, n: int, expected: tuple[float, float]) -> None:
    assert wilson_interval(k, n) == pytest.approx(expected, abs=1e-4)


@given(n=st.integers(1, 500), data=st.data())
def test_wilson_matches_the_formula_for_whole_counts(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n))
    assert wilson_interval(k, n) == pytest.approx(wilson_formula(k, n), abs=1e-9)


@given(n=st.integers(1, 300), data=st.data())
def test_half_points_cover_both_neighbouring_counts(n: int, data: st.DataObject) -> None:
    k = data.draw(st.integers(0, n - 1)) + 0.5
    low, high = wilson_interval(k, n)
    assert low == pytest.approx(wilson_interval(math.floor(k), n)[0])
    assert high == pytest.approx(wilson_interval(math.ceil(k), n)[1])
    assert low < k / n < high


def test_wilson_confidence_and_empty_samples() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    narrow, wide = wilson_interval(30, 60, confidence=0.5), wilson_interval(30, 60, 0.99)
    assert wide[0] < narrow[0] < narrow[1] < wide[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((5, 4), r"successes must lie in \[0, n=4\], got 5"),
        ((-1, 4), r"successes must lie in \[0, n=4\], got -1"),
        ((0, -1), "n must be 0 or more, got -1"),
        ((1, 4, 1.5), r"confidence must lie in \(0, 1\), got 1.5"),
    ],
)
def test_wilson_rejects_bad_input(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        wilson_interval(*args)


# --- pairwise matrix --------------------------------------------------------------


def test_pairwise_results_decompose_by_rank() -> None:
    outcome = Outcome(agents=("a", "b", "c", "d"), scores=(1.0, 3.0, 1.0, 0.0))
    assert list(pairwise_results(outcome)) == [
        ("a", "b", 0.0),
        ("a", "c", 0.5),
        ("a", "d", 1.0),
        ("b", "c", 1.0),
        ("b", "d", 1.0),
        ("c", "d", 1.0),
    ]


def test_pairwise_matrix_records_both_sides_with_wilson_bounds() -> None:
    outcomes = [*record("a", "b", 6, 2, 2), Outcome(agents=("a", "b", "c"), scores=(0.0, 1.0, 1.0))]
    matrix = pairwise_matrix(outcomes)
    ab, ba = matrix[("a", "b")], matrix[("b", "a")]
    assert (ab.wins, ab.draws, ab.losses, ab.n) == (6, 2, 3, 11)
    assert (ba.wins, ba.draws, ba.losses, ba.n) == (3, 2, 6, 11)
    assert ab.score == pytest.approx(7 / 11) and ab.score + ba.score == pytest.approx(1.0)
    assert (ab.lower, ab.upper) == pytest.approx(wilson_interval(7, 11))
    assert matrix[("b", "c")].draws == 1 and matrix[("c", "a")].wins == 1
    assert ("a", "a") not in matrix
    assert set(matrix) == {("a", "b"), ("b", "a"), ("a", "c"), ("c", "a"), ("b", "c"), ("c", "b")}


@given(
    st.lists(
        st.tuples(st.sampled_from("abc"), st.sampled_from("abc"), st.integers(0, 2)),
        min_size=1,
        max_size=30,
    )
)
def test_pairwise_matrix_is_antisymmetric(games: list[tuple[str, str, int]]) -> None:
    outcomes = [Outcome(agents=(a, b), scores=(float(s), 1.0)) for a, b, s in games if a != b]
    if not outcomes:
        return
    matrix = pairwise_matrix(outcomes)
    for (a, b), rec in matrix.items():
        other = matrix[(b, a)]
        assert (rec.wins, rec.draws, rec.losses) == (other.losses, other.draws, other.wins)
        assert 0.0 <= rec.lower <= rec.score <= rec.upper <= 1.0


def test_pairwise_matrix_needs_outcomes() -> None:
    with pytest.raises(InvalidArgumentError, match="pairwise_matrix needs at least one outcome"):
        pairwise_matrix([])


# --- compare ----------------------------------------------------------------------


def test_a_60_40_split_over_400_games_is_significant() -> None:
    result = compare(record("a", "b", 240, 0, 160), "a", "b")
    assert result.significant and result.p_value < 0.001
    assert result.p_value == pytest.approx(binomtest(240, 400).pvalue)
    assert result.verdict == "a is better than b (p < 0.0001)"
    assert result.matches_to_separate == 0
    flipped = compare(record("a", "b", 240, 0, 160), "b", "a")
    assert (flipped.wins, flipped.losses) == (160, 240)
    assert flipped.verdict.startswith("a is better than b")


def test_26_24_is_not_distinguishable_yet() -> None:
    result = compare(record("a", "b", 26, 0, 24), "a", "b")
    assert not result.significant
    assert result.p_value == pytest.approx(binomtest(26, 50).pvalue)
    assert result.verdict == "not distinguishable yet (p = 0.89)"
    assert result.matches_to_separate is not None and result.matches_to_separate > 1000


def test_verdict_example_format() -> None:
    result = compare(record("x", "y", 9, 0, 0), "x", "y")
    assert result.verdict == "x is better than y (p = 0.0039)"


def test_draws_are_excluded_from_the_test_but_cost_matches() -> None:
    plain = compare(record("a", "b", 30, 0, 20), "a", "b")
    drawish = compare(record("a", "b", 30, 50, 20), "a", "b")
    assert drawish.p_value == plain.p_value and drawish.draws == 50
    assert plain.matches_to_separate is not None and drawish.matches_to_separate is not None
    # Half the games are decisive, so about twice as many matches are needed.
    assert drawish.matches_to_separate == pytest.approx(2 * plain.matches_to_separate, abs=2)


def test_even_records_and_strangers_cannot_be_separated() -> None:
    even = compare(record("a", "b", 10, 3, 10), "a", "b")
    assert even.matches_to_separate is None and even.p_value == pytest.approx(1.0)
    strangers = compare(record("a", "b", 3, 0, 1), "a", "c")
    assert (strangers.wins, strangers.draws, strangers.losses) == (0, 0, 0)
    assert strangers.p_value == 1.0 and strangers.matches_to_separate is None
    assert strangers.verdict == "not distinguishable yet (p = 1)"


def test_multiplayer_games_count_by_rank() -> None:
    outcomes = [Outcome(agents=("c", "a", "b"), scores=(5.0, 2.0, 1.0))] * 7
    result = compare(outcomes, "a", "b")
    assert (result.wins, result.losses) == (7, 0) and result.significant


def test_matches_to_separate_shrinks_as_the_gap_grows() -> None:
    needed = []
    for wins in range(51, 61):  # 60-40 is still not significant (p = 0.057)
        result = compare(record("a", "b", wins, 0, 100 - wins), "a", "b")
        assert not result.significant and result.matches_to_separate is not None
        needed.append(result.matches_to_separate)
    assert needed == sorted(needed, reverse=True) and needed[0] > needed[-1] > 0


@given(wins=st.integers(1, 30), extra=st.integers(1, 15))
def test_matches_to_separate_shrinks_as_evidence_accumulates(wins: int, extra: int) -> None:
    # Same observed rate (2:1), more games so far: fewer matches still needed.
    small = compare(record("a", "b", 2 * wins, 0, wins), "a", "b").matches_to_separate
    large = compare(
        record("a", "b", 2 * (wins + extra), 0, wins + extra), "a", "b"
    ).matches_to_separate
    assert small is not None and large is not None and large <= small


@pytest.mark.parametrize("rate", [0.6, 0.7, 0.9])
def test_the_estimate_reaches_significance_at_the_observed_rate(rate: float) -> None:
    wins = int(rate * 20)
    result = compare(record("a", "b", wins, 0, 20 - wins), "a", "b")
    assert result.matches_to_separate is not None
    total = 20 + result.matches_to_separate
    projected = compare(
        record("a", "b", round(rate * total), 0, total - round(rate * total)), "a", "b"
    )
    assert projected.significant


@pytest.mark.parametrize("rate", [0.0, 0.3, 0.55, 0.6, 0.8, 1.0])
def test_decisive_games_needed_is_the_smallest_size_with_80_percent_power(rate: float) -> None:
    n = decisive_games_needed(rate)

    def power(size: int) -> float:
        edge = -1
        while 2 * binom.cdf(edge + 1, size, 0.5) < 0.05:
            edge += 1
        return float(binom.cdf(edge, size, rate) + binom.sf(size - edge - 1, size, rate))

    assert power(n) >= 0.8 > power(n - 1)


def test_decisive_games_needed_uses_the_normal_formula_near_one_half() -> None:
    z = norm.ppf(0.975) / 2 + norm.ppf(0.8) * math.sqrt(0.51 * 0.49)
    assert decisive_games_needed(0.51) == math.ceil((z / 0.01) ** 2)
    assert decisive_games_needed(1.0) == 6  # 6-0 is the first perfect record with p < 0.05


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (([], "a", "b"), {}, "compare needs at least one outcome, got none"),
        ((record("a", "b", 1, 0, 0), "a", "a"), {}, "two different agents, got 'a' twice"),
        ((record("a", "b", 1, 0, 0), "a", "b"), {"alpha": 0.0}, r"alpha must lie in \(0, 1\)"),
    ],
)
def test_compare_rejects_bad_input(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        compare(*args, **kwargs)


def test_decisive_games_needed_rejects_a_fair_coin() -> None:
    with pytest.raises(InvalidArgumentError, match=r"differ from 0\.5, got 0\.5"):
        decisive_games_needed(0.5)
