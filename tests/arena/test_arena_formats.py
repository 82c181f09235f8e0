"""Tournament formats: structure, determinism, never self-pairing, misuse.

Formats are driven by a tiny synthetic loop: every pairing is played by agents with
hidden strengths (a seeded coin weighted by ``logistic(s_a - s_b)``, or a fixed
strength order) and recorded, until the format is done. Swiss and the ladder have
their own files (``test_arena_formats_swiss.py``, ``test_arena_formats_ladder.py``).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devspark.arena.formats import (
    DoubleElimination,
    Gauntlet,
    Ladder,
    Pairing,
    RoundRobin,
    SingleElimination,
    Swiss,
    TournamentFormat,
    match_seed,
)
from devspark.core.errors import ConflictError, FailedPreconditionError, InvalidArgumentError
from devspark.rating.outcomes import Outcome


def names(count: int) -> list[str]:
    return [f"agent-{i:02d}" for i in range(count)]


def play(
    agents: Sequence[str],
    strength: dict[str, float],
    rng: random.Random,
    *,
    noisy: bool = True,
    draws: float = 0.0,
) -> Outcome:
    """One synthetic match: Gumbel-perturbed strengths decide the finishing order."""
    if noisy and len(agents) == 2 and rng.random() < draws:
        return Outcome(tuple(agents), (0.0, 0.0))
    noise = [-math.log(-math.log(rng.random())) if noisy else 0.0 for _ in agents]
    return Outcome(
        tuple(agents), tuple(strength[a] + e for a, e in zip(agents, noise, strict=True))
    )


class FakeRatings:
    """A RatingView with fixed Gaussian beliefs (probit win probability)."""

    def __init__(self, beliefs: dict[str, tuple[float, float]], beta: float = 1.0) -> None:
        self.beliefs = beliefs
        self.beta = beta

    def estimate(self, agent: str) -> tuple[float, float]:
        return self.beliefs[agent]

    def predict_win(self, a: str, b: str) -> float:
        (mu_a, sigma_a), (mu_b, sigma_b) = self.beliefs[a], self.beliefs[b]
        scale = math.sqrt(2 * self.beta**2 + sigma_a**2 + sigma_b**2)
        return 0.5 * math.erfc(-(mu_a - mu_b) / scale / math.sqrt(2))


def drive(
    fmt: TournamentFormat,
    strength: dict[str, float],
    seed: int = 0,
    *,
    noisy: bool = True,
    draws: float = 0.0,
    on_outcome: Callable[[Outcome], None] | None = None,
) -> list[list[Pairing]]:
    """Play ``fmt`` to the end; return its batches."""
    rng = random.Random(seed)
    batches = []
    while not fmt.done:
        batch = fmt.next_round()
        assert batch, "a format that is not done must issue pairings"
        batches.append(batch)
        for pairing in batch:
            outcome = play(pairing.agents, strength, rng, noisy=noisy, draws=draws)
            if on_outcome is not None:
                on_outcome(outcome)
            fmt.record(pairing, outcome)
        assert len(batches) < 10_000
    assert fmt.next_round() == []
    return batches


def random_strength(agents: Sequence[str], seed: int) -> dict[str, float]:
    rng = random.Random(seed)
    return {agent: rng.gauss(0.0, 1.5) for agent in agents}


def make_format(kind: str, agents: list[str], seed: int) -> TournamentFormat:
    if kind == "round_robin":
        return RoundRobin(agents, seed=seed)
    if kind == "round_robin_3":
        return RoundRobin(agents, seed=seed, seats=min(3, len(agents)))
    if kind == "swiss":
        return Swiss(agents, seed=seed)
    if kind == "single":
        return SingleElimination(agents, seed=seed, games=3)
    if kind == "double":
        return DoubleElimination(agents, seed=seed)
    if kind == "gauntlet":
        cut = max(1, len(agents) // 3)
        return Gauntlet(agents[cut:], agents[:cut], games=2, seed=seed)
    beliefs = {a: (25.0 + i, 8.0 - 0.5 * i) for i, a in enumerate(agents)}
    return Ladder(agents, FakeRatings(beliefs), matches=3 * len(agents), seed=seed)


KINDS = ["round_robin", "round_robin_3", "swiss", "single", "double", "gauntlet", "ladder"]


# ----------------------------------------------------------------- every format


@settings(max_examples=150, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    count=st.integers(2, 12),
    seed=st.integers(-(2**40), 2**40),
    play_seed=st.integers(0, 2**16),
)
def test_no_format_pairs_an_agent_with_itself(
    kind: str, count: int, seed: int, play_seed: int
) -> None:
    agents = names(count)
    fmt = make_format(kind, agents, seed)
    batches = drive(fmt, random_strength(agents, play_seed), play_seed, draws=0.1)
    pairings = [p for batch in batches for p in batch]
    assert pairings
    for index, batch in enumerate(batches):
        for pairing in batch:
            assert len(set(pairing.agents)) == len(pairing.agents) >= 2
            assert set(pairing.agents) <= set(agents)
            assert pairing.round == index
            assert 0 <= pairing.seed < 2**31
    assert len({p.seed for p in pairings}) == len(pairings)  # one counter per format
    assert fmt.done


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_same_schedule_other_seed_other_match_seeds(kind: str) -> None:
    agents = names(7)
    strength = random_strength(agents, 3)

    def schedule(seed: int) -> list[Pairing]:
        return [p for b in drive(make_format(kind, agents, seed), strength, 11) for p in b]

    first, again, other = schedule(5), schedule(5), schedule(6)
    assert first == again
    assert [p.seed for p in first] != [p.seed for p in other]


@pytest.mark.parametrize("kind", KINDS)
def test_formats_satisfy_the_protocol_and_guard_their_bookkeeping(kind: str) -> None:
    agents = names(6)
    fmt = make_format(kind, agents, 0)
    assert isinstance(fmt, TournamentFormat)
    assert fmt.name
    batch = fmt.next_round()
    with pytest.raises(FailedPreconditionError, match="not recorded yet"):
        fmt.next_round()
    first = batch[0]
    scores = tuple(float(-i) for i in range(len(first.agents)))
    stranger = Pairing(first.agents, first.round, first.seed + 1, first.label)
    with pytest.raises(InvalidArgumentError, match="was not issued"):
        fmt.record(stranger, Outcome(first.agents, scores))
    others = tuple(a for a in agents if a not in first.agents)[:2]
    with pytest.raises(InvalidArgumentError, match="differ from pairing agents"):
        fmt.record(first, Outcome(others, (1.0, 0.0)))
    fmt.record(first, Outcome(first.agents, scores))
    with pytest.raises(ConflictError, match="already recorded"):
        fmt.record(first, Outcome(first.agents, scores))
    for pairing in batch[1:]:  # any seat order in the outcome is accepted
        fmt.record(pairing, Outcome(tuple(reversed(pairing.agents)), scores))
    assert fmt.pending == ()
    assert fmt.next_round() or fmt.done
    with pytest.raises(ConflictError, match="already recorded"):  # rounds later, too
        fmt.record(first, Outcome(first.agents, scores))


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: RoundRobin(["a"]), "at least 2"),
        (lambda: RoundRobin(["a", "a", "b"]), "repeated: a"),
        (lambda: RoundRobin("abc"), "sequence of agent ids"),
        (lambda: RoundRobin(["a", ""]), "non-empty strings"),
        (lambda: RoundRobin(["a", "b"], legs=0), "legs must be an integer >= 1"),
        (lambda: RoundRobin(["a", "b"], seats=3), "seats=3 needs at least 3 agents"),
        (lambda: RoundRobin(["a", "b"], seed="1"), "seed must be an integer"),  # type: ignore[arg-type]
        (lambda: RoundRobin(names(60), seats=6), "more than 1000000 games"),
        (lambda: Swiss(["a", "b"], rounds=0), "rounds must be an integer >= 1"),
        (lambda: SingleElimination(["a", "b"], games=2), "games must be odd"),
        (lambda: DoubleElimination(["a", "b"], games=0), "games must be an integer >= 1"),
        (lambda: Gauntlet([], ["b"]), "entrants needs at least 1"),
        (lambda: Gauntlet(["a"], ["a", "b"]), "entrant and baseline: a"),
        (lambda: Gauntlet(["a"], ["b"], games=0), "games must be an integer >= 1"),
    ],
)
def test_bad_arguments_are_named(factory: Callable[[], object], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        factory()


def test_match_seeds_are_stable_hashes() -> None:
    assert match_seed(0, 0) == match_seed(0, 0)
    assert match_seed(1, 1) != match_seed(2, 0)  # not seed + counter
    assert len({match_seed(7, i) for i in range(1000)}) == 1000


# ------------------------------------------------------------------ round robin


@pytest.mark.parametrize("count", range(2, 10))
@pytest.mark.parametrize("legs", [1, 2])
def test_round_robin_meets_every_pair_in_both_seat_orders(count: int, legs: int) -> None:
    agents = names(count)
    rr = RoundRobin(agents, legs=legs)
    batches = drive(rr, random_strength(agents, 0))
    games = Counter(p.agents for batch in batches for p in batch)
    assert games == {(a, b): legs for a in agents for b in agents if a != b}
    assert len(batches) == rr.total_rounds == legs * 2 * (count - 1 + count % 2)
    assert rr.total_matches == legs * count * (count - 1)
    for batch in batches:
        seated = [a for p in batch for a in p.agents]
        assert len(seated) == len(set(seated))  # nobody twice in a round
    half = len(batches) // (2 * legs)
    for agent in agents:  # seats balanced within every half leg, equal over a leg
        for start in range(0, len(batches), half):
            firsts = sum(p.agents[0] == agent for b in batches[start : start + half] for p in b)
            seconds = sum(p.agents[1] == agent for b in batches[start : start + half] for p in b)
            assert abs(firsts - seconds) <= 1


@pytest.mark.parametrize(("count", "seats"), [(3, 3), (5, 3), (6, 4), (7, 3)])
def test_multi_seat_round_robin_rotates_every_combination(count: int, seats: int) -> None:
    agents = names(count)
    rr = RoundRobin(agents, seats=seats, legs=2)
    batches = drive(rr, random_strength(agents, 1))
    games = [p.agents for batch in batches for p in batch]
    assert len(games) == 2 * math.comb(count, seats) * seats
    by_combo = Counter(frozenset(g) for g in games)
    assert set(by_combo.values()) == {2 * seats}
    assert len(by_combo) == math.comb(count, seats)
    for combo in combinations(agents, seats):
        for seat in range(seats):
            for agent in combo:  # each agent in each seat once per leg
                sat = sum(1 for g in games if set(g) == set(combo) and g[seat] == agent)
                assert sat == 2
    for batch in batches:
        seated = [a for p in batch for a in p.agents]
        assert len(seated) == len(set(seated))


def test_round_robin_labels_rounds_and_ignores_results() -> None:
    rr = RoundRobin(["a", "b", "c", "d"])
    assert [p.label for p in rr.next_round()] == ["R1", "R1"]
    assert rr.byes == ()


# --------------------------------------------------------------------- gauntlet


@pytest.mark.parametrize(
    ("entrants", "baselines", "games"), [(1, 1, 1), (3, 2, 2), (2, 5, 3), (4, 4, 2)]
)
def test_gauntlet_plays_entrants_against_baselines_only(
    entrants: int, baselines: int, games: int
) -> None:
    agents = names(entrants + baselines)
    new, base = agents[:entrants], agents[entrants:]
    gauntlet = Gauntlet(new, base, games=games)
    batches = drive(gauntlet, random_strength(agents, 2))
    pairings = [p for batch in batches for p in batch]
    assert len(pairings) == gauntlet.total_matches == entrants * baselines * games
    for e in new:
        for b in base:
            met = [p.agents for p in pairings if set(p.agents) == {e, b}]
            assert len(met) == games
            assert sum(g[0] == e for g in met) == (games + 1) // 2  # seats alternate
    assert all(len(set(p.agents) & set(base)) == 1 for p in pairings)  # one of each side
    for batch in batches:
        seated = [a for p in batch for a in p.agents]
        assert len(seated) == len(set(seated))
        assert len(batch) == min(entrants, baselines)


# ------------------------------------------------------------------ elimination


def strength_order(agents: Sequence[str], seed: int) -> dict[str, float]:
    """A fixed strength order that is not the seed order."""
    shuffled = list(agents)
    random.Random(seed).shuffle(shuffled)
    return {agent: float(len(shuffled) - i) for i, agent in enumerate(shuffled)}


@settings(max_examples=40, deadline=None)
@given(count=st.integers(2, 40), seed=st.integers(0, 1000), games=st.sampled_from([1, 3]))
def test_single_elimination_bracket_byes_and_champion(count: int, seed: int, games: int) -> None:
    agents = names(count)
    size = 1 << (count - 1).bit_length()
    knockout = SingleElimination(agents, games=games)
    assert sorted(bye.agent for bye in knockout.byes) == agents[: size - count]  # top seeds
    strength = strength_order(agents, seed)
    batches = drive(knockout, strength, noisy=False)
    assert knockout.champion == max(agents, key=strength.__getitem__)
    losses = knockout.losses
    assert losses[knockout.champion] == 0
    assert sorted(losses.values()) == [0] + [1] * (count - 1)
    ties = Counter(frozenset(p.agents) for b in batches for p in b)
    assert len(ties) == count - 1
    assert set(ties.values()) == {(games + 1) // 2}  # a sweep needs only the clinching games
    assert len(batches) == (size - 1).bit_length()


def test_single_elimination_seeds_the_bracket_conventionally() -> None:
    agents = [f"s{i}" for i in range(1, 9)]
    first = SingleElimination(agents).next_round()
    assert [(p.label, p.agents) for p in first] == [
        ("QF1", ("s1", "s8")),
        ("QF2", ("s4", "s5")),
        ("QF3", ("s2", "s7")),
        ("QF4", ("s3", "s6")),
    ]
    five = SingleElimination(agents[:5])
    assert [b.agent for b in five.byes] == ["s1", "s2", "s3"]
    assert [(p.label, p.agents) for p in five.next_round()] == [
        ("QF2", ("s4", "s5")),
        ("SF2", ("s2", "s3")),  # both had byes: ready at once
    ]


def test_best_of_series_plays_only_what_matters_and_breaks_level_ties_by_seed() -> None:
    knockout = SingleElimination(["high", "low"], games=3)
    wave = knockout.next_round()
    assert [(p.label, p.agents) for p in wave] == [
        ("final-G1", ("high", "low")),
        ("final-G2", ("low", "high")),
    ]
    knockout.record(wave[0], Outcome(wave[0].agents, (0.0, 1.0)))  # low wins
    knockout.record(wave[1], Outcome(wave[1].agents, (0.0, 1.0)))  # high wins
    decider = knockout.next_round()
    assert [(p.label, p.agents) for p in decider] == [("final-G3", ("high", "low"))]
    knockout.record(decider[0], Outcome(decider[0].agents, (0.5, 0.5)))  # a draw: 1.5-1.5
    assert knockout.done
    assert knockout.champion == "high"


def test_a_drawn_single_game_goes_to_the_higher_seed() -> None:
    knockout = SingleElimination(["a", "b", "c", "d"])
    for pairing in knockout.next_round():
        knockout.record(pairing, Outcome(pairing.agents, (0.0, 0.0)))
    final = knockout.next_round()
    assert [p.agents for p in final] == [("a", "b")]


@settings(max_examples=40, deadline=None)
@given(
    count=st.integers(2, 24),
    seed=st.integers(0, 1000),
    reset=st.booleans(),
    noisy=st.booleans(),
)
def test_double_elimination_takes_two_losses_to_go_out(
    count: int, seed: int, reset: bool, noisy: bool
) -> None:
    agents = names(count)
    double = DoubleElimination(agents, bracket_reset=reset)
    strength = strength_order(agents, seed)
    losses = Counter[str]()
    rng = random.Random(seed)
    while not double.done:
        for pairing in double.next_round():
            assert all(losses[a] < 2 for a in pairing.agents), "an agent out played on"
            outcome = play(pairing.agents, strength, rng, noisy=noisy)
            double.record(pairing, outcome)
            losses[min(pairing.agents, key=lambda a: outcome.scores[outcome.agents.index(a)])] += 1
    champion = double.champion
    assert champion is not None
    assert dict(losses) == {a: n for a, n in double.losses.items() if n}
    assert double.losses[champion] <= 1
    out = [a for a in agents if a != champion]
    if reset:
        assert all(double.losses[a] == 2 for a in out)
    else:  # only the winners-bracket champion can fall at its first loss, in the final
        assert sorted(double.losses[a] for a in out)[1:] == [2] * (count - 2)
    if not noisy:
        assert champion == max(agents, key=strength.__getitem__)


def test_double_elimination_structure_for_eight() -> None:
    agents = [f"s{i}" for i in range(1, 9)]
    double = DoubleElimination(agents)
    strength = {a: -i for i, a in enumerate(agents)}  # seed order is strength order
    labels = [p.label for b in drive(double, strength, noisy=False) for p in b]
    assert labels == [
        "WB-QF1", "WB-QF2", "WB-QF3", "WB-QF4",
        "WB-SF1", "WB-SF2", "LB-R1-1", "LB-R1-2",
        "WB-final", "LB-R2-1", "LB-R2-2",
        "LB-R3",
        "LB-R4",
        "final",
    ]  # fmt: skip
    assert double.champion == "s1"
    assert [b.agent for b in double.byes] == []


def test_double_elimination_reset_final_when_the_losers_side_wins() -> None:
    double = DoubleElimination(["a", "b"])
    (final,) = double.next_round()
    assert final.label == "WB-final"
    double.record(final, Outcome(final.agents, (1.0, 0.0)))  # a wins the winners bracket
    (grand,) = double.next_round()
    assert grand.label == "final"
    double.record(
        grand, Outcome(grand.agents, (0.0, 1.0) if grand.agents[0] == "a" else (1.0, 0.0))
    )
    (decider,) = double.next_round()  # b won: both have one loss
    assert decider.label == "final-reset"
    assert double.losses == {"a": 1, "b": 1}
    double.record(
        decider, Outcome(decider.agents, (0.0, 1.0) if decider.agents[0] == "a" else (1.0, 0.0))
    )
    assert double.done
    assert double.champion == "b"
    assert double.losses == {"a": 2, "b": 1}


def test_double_elimination_byes_reach_the_losers_bracket() -> None:
    double = DoubleElimination(names(5))
    assert [b.agent for b in double.byes] == names(3)  # top three seeds skip round one
    drive(double, random_strength(names(5), 4))
    labels = [b.label for b in double.byes]
    assert labels[:3] == ["WB-QF1", "WB-QF3", "WB-QF4"]
    assert any(label.startswith("LB-") for label in labels)  # the dropped loser walks over
