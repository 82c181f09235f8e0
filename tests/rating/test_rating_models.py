"""OpenSkill and Elo ratings, and the interval rank rule."""

from __future__ import annotations

import doctest
import importlib
import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openskill.models import PlackettLuce, ThurstoneMostellerFull
from scipy.stats import kendalltau, rankdata

from devspark.core.errors import InvalidArgumentError
from devspark.rating import (
    DEFAULT_BETA,
    OPENSKILL_MODELS,
    EloRatings,
    OpenSkillRatings,
    Outcome,
    RatingRow,
    interval_ranks,
)


def win(a: str, b: str) -> Outcome:
    return Outcome(agents=(a, b), scores=(1.0, 0.0))


def simulate(strengths: list[float], games: int, seed: int) -> list[Outcome]:
    """Bradley-Terry games between random pairs: P(i beats j) = sigmoid(s_i - s_j)."""
    rng = random.Random(seed)
    names = [f"agent{i}" for i in range(len(strengths))]
    outcomes = []
    for _ in range(games):
        i, j = rng.sample(range(len(strengths)), 2)
        p = 1.0 / (1.0 + math.exp(strengths[j] - strengths[i]))
        first_wins = rng.random() < p
        outcomes.append(
            Outcome(agents=(names[i], names[j]), scores=(float(first_wins), float(not first_wins)))
        )
    return outcomes


# --- interval rank rule -----------------------------------------------------------


def test_interval_ranks_on_hand_made_intervals() -> None:
    # a [10, 20] and b [5, 15] overlap, so they share a rank below d [21, 30], which
    # lies above both; c [0, 4] lies below all three.
    assert interval_ranks([10, 5, 0, 21], [20, 15, 4, 30]) == [2, 2, 4, 1]
    # Touching is not "entirely above": a lower bound equal to my upper bound does not count.
    assert interval_ranks([0, 1], [1, 2]) == [1, 1]
    assert interval_ranks([], []) == []


def test_interval_ranks_rejects_mismatched_lengths() -> None:
    with pytest.raises(InvalidArgumentError, match="lower has 2 bounds but upper has 1"):
        interval_ranks([0, 1], [1])


@given(st.lists(st.tuples(st.floats(-1e6, 1e6), st.floats(0, 1e4)), min_size=1, max_size=30))
def test_interval_ranks_match_the_definition(intervals: list[tuple[float, float]]) -> None:
    lower = [centre - half for centre, half in intervals]
    upper = [centre + half for centre, half in intervals]
    expected = [1 + sum(lo > hi for lo in lower) for hi in upper]
    assert interval_ranks(lower, upper) == expected


@given(st.lists(st.integers(-5, 5), min_size=1, max_size=20))
def test_zero_width_intervals_give_competition_ranks(values: list[int]) -> None:
    expected = rankdata([-v for v in values], method="min").astype(int).tolist()
    assert interval_ranks(values, values) == expected


# --- OpenSkill --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(OPENSKILL_MODELS))
def test_every_openskill_model_can_be_selected(name: str) -> None:
    ratings = OpenSkillRatings(name)
    for _ in range(5):
        ratings.update(win("a", "b"))
    assert type(ratings.model).__name__ == name
    assert ratings.estimate("a")[0] > ratings.estimate("b")[0]
    assert ratings.predict_win("a", "b") > 0.5


def test_unknown_model_lists_the_choices_and_suggests_a_near_name() -> None:
    with pytest.raises(
        InvalidArgumentError,
        match=r"'PlacketLuce' \(did you mean 'PlackettLuce'\?\).*BradleyTerryFull",
    ):
        OpenSkillRatings("PlacketLuce")


def test_model_arguments_pass_through_and_bad_ones_are_rejected() -> None:
    ratings = OpenSkillRatings("ThurstoneMostellerFull", mu=1000.0, sigma=100.0, epsilon=0.2)
    assert ratings.estimate("new") == (1000.0, 100.0)
    with pytest.raises(InvalidArgumentError, match="bad arguments for openskill PlackettLuce"):
        OpenSkillRatings(no_such_option=1)


def test_unseen_agents_get_the_prior_and_ordinal_is_conservative() -> None:
    ratings = OpenSkillRatings()
    mu, sigma = ratings.estimate("nobody")
    assert (mu, sigma) == (25.0, 25.0 / 3.0)
    assert ratings.ordinal("nobody") == pytest.approx(mu - 3 * sigma)
    assert ratings.agents == []
    assert ratings.matches("nobody") == 0
    assert ratings.predict_win("nobody", "nobody else") == pytest.approx(0.5)


@pytest.mark.parametrize("first_wins", [True, False])
def test_two_player_update_equals_openskill_rate_with_ranks(first_wins: bool) -> None:
    # Our fast path reorders teams instead of passing ranks; the numbers must not change.
    model = PlackettLuce(beta=DEFAULT_BETA)
    ours = OpenSkillRatings()
    ref = {"a": model.rating(), "b": model.rating()}
    history = [(True, "a", "b"), (first_wins, "a", "b"), (first_wins, "b", "a"), (True, "b", "a")]
    for a_wins, a, b in history:
        ours.update(Outcome(agents=(a, b), scores=(1.0, 0.0) if a_wins else (0.0, 1.0)))
        (ref[a],), (ref[b],) = model.rate([[ref[a]], [ref[b]]], ranks=[1, 2] if a_wins else [2, 1])
    for agent in ("a", "b"):
        assert ours.estimate(agent) == pytest.approx((ref[agent].mu, ref[agent].sigma), rel=1e-12)


def test_multiplayer_update_with_ties_equals_openskill_rate() -> None:
    model = ThurstoneMostellerFull(beta=DEFAULT_BETA)
    ours = OpenSkillRatings("ThurstoneMostellerFull")
    outcome = Outcome(agents=("a", "b", "c", "d"), scores=(2.0, 5.0, 2.0, -1.0))
    ours.update(outcome)
    teams = [[model.rating()] for _ in range(4)]
    expected = model.rate(teams, ranks=[2, 1, 2, 4])
    for agent, (player,) in zip(outcome.agents, expected, strict=True):
        assert ours.estimate(agent) == pytest.approx((player.mu, player.sigma), rel=1e-12)
    # The tied pair moved together.
    assert ours.estimate("a") == pytest.approx(ours.estimate("c"))


def test_a_two_player_draw_between_equals_changes_no_mean() -> None:
    ratings = OpenSkillRatings()
    ratings.update(Outcome(agents=("a", "b"), scores=(0.0, 0.0)))
    (mu_a, sigma_a), (mu_b, _) = ratings.estimate("a"), ratings.estimate("b")
    assert mu_a == pytest.approx(25.0) and mu_b == pytest.approx(25.0)
    assert sigma_a < 25.0 / 3.0


def test_predict_win_uses_the_model_and_is_complementary() -> None:
    ratings = OpenSkillRatings()
    for _ in range(3):
        ratings.update(win("a", "b"))
    model = ratings.model
    a = model.rating(*ratings.estimate("a"))
    b = model.rating(*ratings.estimate("b"))
    assert ratings.predict_win("a", "b") == pytest.approx(model.predict_win([[a], [b]])[0])
    assert ratings.predict_win("a", "b") + ratings.predict_win("b", "a") == pytest.approx(1.0)


def test_table_rows_have_95_intervals_ranks_and_match_counts() -> None:
    ratings = OpenSkillRatings()
    for outcome in simulate([3.0, 0.0, 0.0, -3.0], 400, seed=1):
        ratings.update(outcome)
    table = ratings.table()
    assert [row.rank for row in table] == sorted(row.rank for row in table)
    assert table[0].agent == "agent0" and table[-1].agent == "agent3"
    for row in table:
        mu, sigma = ratings.estimate(row.agent)
        assert (row.rating, row.lower, row.upper) == pytest.approx(
            (mu, mu - 1.96 * sigma, mu + 1.96 * sigma)
        )
        assert row.matches == ratings.matches(row.agent)
    assert sum(row.matches for row in table) == 800
    assert [r.rank for r in table] == interval_ranks(
        [r.lower for r in table], [r.upper for r in table]
    )
    with pytest.raises(AttributeError):
        table[0].rank = 5  # type: ignore[misc]  # frozen dataclass


def test_history_has_one_entry_per_agent_per_match() -> None:
    ratings = OpenSkillRatings()
    ratings.update(win("a", "b"))
    ratings.update(Outcome(agents=("a", "b", "c"), scores=(1.0, 1.0, 0.0)))
    ratings.update(Outcome(agents=("c", "b"), scores=(0.5, 0.5)))
    assert [(match, agent) for match, agent, _, _ in ratings.history] == [
        (1, "a"),
        (1, "b"),
        (2, "a"),
        (2, "b"),
        (2, "c"),
        (3, "c"),
        (3, "b"),
    ]
    last = {agent: (mu, sigma) for _, agent, mu, sigma in ratings.history}
    assert all(last[agent] == ratings.estimate(agent) for agent in ratings.agents)
    assert ratings.updates == 3

    quiet = OpenSkillRatings(keep_history=False)
    quiet.update(win("a", "b"))
    assert quiet.history == [] and quiet.estimate("a") == ratings.history[0][2:]


@settings(max_examples=15, deadline=None)
@given(
    gap=st.floats(1.0, 3.0),
    seed=st.integers(0, 2**32 - 1),
    model=st.sampled_from(sorted(OPENSKILL_MODELS)),
)
def test_a_clearly_stronger_agent_ends_higher(gap: float, seed: int, model: str) -> None:
    strengths = [gap, 0.0, -gap]
    ratings = OpenSkillRatings(model, keep_history=False)
    for outcome in simulate(strengths, 300, seed):
        ratings.update(outcome)
    assert ratings.estimate("agent0")[0] > ratings.estimate("agent2")[0]


def test_ordering_of_a_population_is_recovered() -> None:
    strengths = [i * 0.5 for i in range(10)]
    ratings = OpenSkillRatings(keep_history=False)
    for outcome in simulate(strengths, 3000, seed=7):
        ratings.update(outcome)
    tau = kendalltau(strengths, [ratings.estimate(f"agent{i}")[0] for i in range(10)]).statistic
    assert tau >= 0.8


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_sigma_shrinks_as_matches_accumulate(seed: int) -> None:
    ratings = OpenSkillRatings()
    widths = []
    for count, outcome in enumerate(simulate([1.0, 0.0, -1.0, 0.5], 400, seed), start=1):
        ratings.update(outcome)
        if count in (10, 100, 400):
            widths.append(sum(r.upper - r.lower for r in ratings.table()))
    assert widths[0] > widths[1] > widths[2]


# --- Elo --------------------------------------------------------------------------


def test_elo_first_game_and_expected_score() -> None:
    elo = EloRatings()
    assert elo.expected("a", "b") == pytest.approx(0.5)
    elo.update(win("a", "b"))
    assert (elo.rating("a"), elo.rating("b")) == (1516.0, 1484.0)
    assert elo.rating("unseen") == 1500.0
    assert elo.expected("a", "b") == pytest.approx(1 / (1 + 10 ** (-32 / 400)))


@given(
    games=st.lists(
        st.tuples(
            st.sampled_from("abcd"), st.sampled_from("abcd"), st.sampled_from([0.0, 0.5, 1.0])
        ),
        max_size=40,
    ),
    k=st.floats(1.0, 64.0),
)
def test_elo_is_zero_sum(games: list[tuple[str, str, float]], k: float) -> None:
    elo = EloRatings(k=k)
    for a, b, points in games:
        if a == b:
            continue
        before = elo.rating(a) + elo.rating(b)
        elo.update(Outcome(agents=(a, b), scores=(points, 1.0 - points)))
        assert elo.rating(a) + elo.rating(b) == pytest.approx(before)
    assert sum(elo.rating(agent) for agent in "abcd") == pytest.approx(4 * 1500.0)


def test_elo_multiplayer_is_pairwise_with_scaled_k() -> None:
    elo = EloRatings(k=32.0)
    elo.update(Outcome(agents=("a", "b", "c"), scores=(3.0, 2.0, 2.0)))
    # a beats two equals with K/2 each: 2 * 16 * 0.5; b and c draw each other.
    assert elo.rating("a") == pytest.approx(1516.0)
    assert elo.rating("b") == pytest.approx(1492.0) == pytest.approx(elo.rating("c"))


def test_elo_table_shares_ranks_on_equal_ratings() -> None:
    elo = EloRatings()
    elo.update(win("a", "b"))
    elo.update(win("c", "d"))
    table = elo.table()
    assert [(row.agent, row.rank) for row in table] == [("a", 1), ("c", 1), ("b", 3), ("d", 3)]
    assert all(row.lower == row.rating == row.upper for row in table)
    assert table[0] == RatingRow("a", 1516.0, 1516.0, 1516.0, 1, 1)


def test_elo_rejects_a_bad_k() -> None:
    with pytest.raises(InvalidArgumentError, match="k must be a positive number, got -1"):
        EloRatings(k=-1)


@pytest.mark.parametrize(
    "module", ["models", "bradley_terry", "counts", "stats", "leaderboard", "outcomes"]
)
def test_docstring_examples_run(module: str) -> None:
    result = doctest.testmod(importlib.import_module(f"devspark.rating.{module}"))
    assert result.failed == 0
