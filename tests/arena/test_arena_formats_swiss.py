"""Swiss pairing: rematches only when unavoidable (checked by brute force), byes, seats.

The pairing before issue 14 (a full maximum matching for every candidate tried) is the
reference the fast pairing must agree with; it is the baseline of
``benchmarks/swiss_pairing.py`` and imported from there, so one copy serves both.
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from functools import cache
from itertools import combinations
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_arena_formats import drive, names, play, random_strength

from devspark.arena.formats import Swiss
from devspark.arena.formats._matching import matching_size, max_matching, without
from devspark.arena.formats._swiss import choose_bye, pair_round
from devspark.rating.outcomes import Outcome

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from swiss_pairing import (  # benchmarks/ is not a package, so it goes on the path
    ExactSwiss,
    exact_choose_bye,
    exact_pair_round,
)


def perfect_matching_exists(players: frozenset[int], fresh: frozenset[frozenset[int]]) -> bool:
    """Brute force: can ``players`` be split into pairs that are all in ``fresh``?"""

    @cache
    def search(left: frozenset[int]) -> bool:
        if not left:
            return True
        first = min(left)
        return any(
            frozenset((first, other)) in fresh and search(left - {first, other})
            for other in left - {first}
        )

    return search(players)


def brute_force_matching(size: int, edges: list[tuple[int, int]]) -> int:
    best = 0
    for count in range(size // 2, 0, -1):
        for chosen in combinations(edges, count):
            ends = [v for edge in chosen for v in edge]
            if len(ends) == len(set(ends)):
                return count
    return best


def random_graph(
    rng: random.Random, size: int, density: float
) -> tuple[list[tuple[int, int]], list[list[int]]]:
    """A random graph on ``0 .. size-1``: its edges and its adjacency lists."""
    edges = [e for e in combinations(range(size), 2) if rng.random() < density]
    adjacency: list[list[int]] = [[] for _ in range(size)]
    for a, b in edges:
        adjacency[a].append(b)
        adjacency[b].append(a)
    return edges, adjacency


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(0, 9),
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32),
)
def test_blossom_matching_is_maximum(size: int, density: float, seed: int) -> None:
    rng = random.Random(seed)
    edges, adjacency = random_graph(rng, size, density)
    for row in adjacency:
        rng.shuffle(row)
    mate = max_matching(adjacency)
    for v, w in enumerate(mate):
        if w != -1:
            assert mate[w] == v and w in adjacency[v]
    assert matching_size(adjacency) == brute_force_matching(size, edges)


@settings(max_examples=200, deadline=None)
@given(
    size=st.integers(2, 9),
    density=st.floats(0.3, 1.0),
    seed=st.integers(0, 2**32),
    two=st.booleans(),
)
def test_a_matching_without_one_or_two_vertices_is_found_from_the_old_one(
    size: int, density: float, seed: int, two: bool
) -> None:
    rng = random.Random(seed)
    edges, adjacency = random_graph(rng, size, density)
    mate = max_matching(adjacency)
    old = sum(v != -1 for v in mate) // 2
    gone = tuple(rng.sample(range(size), 2 if two else 1))
    kept = [(a, b) for a, b in edges if a not in gone and b not in gone]
    best = brute_force_matching(size, kept)
    removed = [False] * size
    for keep in range(old - len(gone), old + 1):
        found = without(adjacency, mate, removed, gone, keep)
        assert removed == [False] * size  # restored
        assert (found is not None) == (best >= keep)
        if found is not None:
            assert keep <= sum(v != -1 for v in found) // 2 <= best
            assert all(found[v] == -1 for v in gone)
            assert all(found[w] == v and w in adjacency[v] for v, w in enumerate(found) if w != -1)


def test_blossom_matching_needs_blossoms() -> None:
    # Two triangles joined by an edge: the greedy start leaves an odd cycle to shrink.
    adjacency = [[1, 2], [0, 2], [0, 1, 3], [2, 4, 5], [3, 5], [3, 4]]
    assert matching_size(adjacency) == 3
    pentagon_with_tail = [[1, 4], [0, 2], [1, 3], [2, 4], [3, 0, 5], [4]]
    assert matching_size(pentagon_with_tail) == 3


@settings(max_examples=200, deadline=None)
@example(count=16, extra_rounds=0, seed=5, draws=0.0)  # exactly exhaustion
@example(count=15, extra_rounds=3, seed=7, draws=0.3)  # past it: rematches forced
@given(
    count=st.integers(2, 16),
    extra_rounds=st.integers(-2, 3),
    seed=st.integers(0, 2**16),
    draws=st.sampled_from([0.0, 0.3]),
)
def test_swiss_never_repeats_a_pairing_when_avoidable(
    count: int, extra_rounds: int, seed: int, draws: float
) -> None:
    agents = names(count)
    index = {a: i for i, a in enumerate(agents)}
    rounds = max(1, count - 1 + count % 2 + extra_rounds)  # up to and past exhaustion
    swiss = Swiss(agents, rounds=rounds, seed=seed)
    strength = random_strength(agents, seed)
    rng = random.Random(seed)
    met: set[frozenset[int]] = set()
    byes = Counter[str]()
    while not swiss.done:
        before = len(swiss.byes)
        batch = swiss.next_round()
        new_byes = [b.agent for b in swiss.byes[before:]]
        assert len(new_byes) == count % 2
        seated = [a for p in batch for a in p.agents] + new_byes
        assert sorted(seated) == agents  # everyone plays or sits out, once
        if new_byes:  # the bye goes to an agent with the fewest byes
            assert byes[new_byes[0]] == min(byes[a] for a in agents)
        fresh = frozenset(
            frozenset((index[a], index[b])) for a, b in combinations(agents, 2)
        ) - frozenset(met)
        eligible = [a for a in agents if byes[a] == min(byes[x] for x in agents)]
        avoidable = any(
            perfect_matching_exists(frozenset(range(count)) - {index[c]}, fresh)
            for c in (eligible if count % 2 else [None])
            if c is not None
        ) or (count % 2 == 0 and perfect_matching_exists(frozenset(range(count)), fresh))
        rematches = [p for p in batch if frozenset(index[a] for a in p.agents) in met]
        if avoidable:
            assert not rematches, f"round {swiss.rounds_issued}: {rematches}"
        for pairing in batch:
            met.add(frozenset(index[a] for a in pairing.agents))
            swiss.record(pairing, play(pairing.agents, strength, rng, draws=draws))
        byes.update(new_byes)
    assert max(byes.values(), default=0) - min(byes[a] for a in agents) <= 1


def test_swiss_scores_byes_and_buchholz() -> None:
    swiss = Swiss(["a", "b", "c"], rounds=3)
    strength = {"a": 3.0, "b": 2.0, "c": 1.0}
    drive(swiss, strength, noisy=False)
    table = swiss.standings()
    assert [(row.agent, row.points, row.byes) for row in table] == [
        ("a", 3.0, 1),
        ("b", 2.0, 1),
        ("c", 1.0, 1),
    ]
    assert [row.games for row in table] == [2, 2, 2]
    assert table[0].buchholz == 3.0  # met b (2) and c (1)
    assert [b.label for b in swiss.byes] == ["bye", "bye", "bye"]
    assert [b.round for b in swiss.byes] == [0, 1, 2]


def test_swiss_points_add_up() -> None:
    agents = names(9)
    swiss = Swiss(agents, seed=3)
    batches = drive(swiss, random_strength(agents, 1), seed=2, draws=0.2)
    games = sum(len(b) for b in batches)
    total = sum(row.points for row in swiss.standings())
    assert total == games + len(swiss.byes)  # every game hands out one point
    assert swiss.rounds == 5 == len(batches)


def test_swiss_round_one_folds_the_order_given_and_alternates_seats() -> None:
    agents = [f"s{i}" for i in range(1, 9)]
    first = Swiss(agents).next_round()
    assert [p.agents for p in first] == [
        ("s1", "s5"),
        ("s6", "s2"),
        ("s3", "s7"),
        ("s8", "s4"),
    ]


def test_swiss_pairs_leaders_together() -> None:
    agents = [f"s{i}" for i in range(1, 9)]
    swiss = Swiss(agents)
    for pairing in swiss.next_round():  # the higher seed wins every board
        winner = min(pairing.agents, key=agents.index)
        swiss.record(
            pairing, Outcome(pairing.agents, tuple(float(a == winner) for a in pairing.agents))
        )
    assert swiss.has_met("s1", "s5") and not swiss.has_met("s1", "s2")
    second = swiss.next_round()  # winners meet winners, losers meet losers, by rank
    assert [sorted(p.agents) for p in second] == [
        ["s1", "s2"],
        ["s3", "s4"],
        ["s5", "s6"],
        ["s7", "s8"],
    ]


@pytest.mark.parametrize("count", [4, 7, 10, 16])
def test_swiss_keeps_seats_balanced(count: int) -> None:
    agents = names(count)
    swiss = Swiss(agents, rounds=count - 1)
    batches = drive(swiss, random_strength(agents, count), seed=count)
    for agent in agents:
        firsts = sum(p.agents[0] == agent for b in batches for p in b)
        seconds = sum(p.agents[1] == agent for b in batches for p in b)
        assert abs(firsts - seconds) <= 2, (agent, firsts, seconds)


def test_two_agents_rematch_because_nothing_else_is_possible() -> None:
    swiss = Swiss(["a", "b"])
    batches = drive(swiss, {"a": 1.0, "b": 0.0})
    assert swiss.rounds == 2
    assert [sorted(p.agents) for b in batches for p in b] == [["a", "b"], ["a", "b"]]
    assert [p.agents for b in batches for p in b] == [("a", "b"), ("b", "a")]


def fewest_rematches(players: Sequence[str], met: Mapping[str, Collection[str]]) -> int:
    """Brute force: the fewest rematches over every way to pair ``players``."""

    @cache
    def search(left: frozenset[str]) -> int:
        if not left:
            return 0
        first = min(left, key=players.index)
        return min(
            int(other in met[first]) + search(left - {first, other}) for other in left - {first}
        )

    return search(frozenset(players))


def random_history(rng: random.Random, count: int) -> tuple[list[str], dict[str, set[str]]]:
    """``count`` players in a random order and a random set of pairs that have met."""
    players = names(count)
    density = rng.choice([0.2, 0.5, 0.7, 0.85, 0.95])
    met: dict[str, set[str]] = {p: set() for p in players}
    for a, b in combinations(players, 2):
        if rng.random() < density:
            met[a].add(b)
            met[b].add(a)
    rng.shuffle(players)
    return players, met


def test_pairing_has_the_fewest_rematches_and_matches_the_exact_pairing() -> None:
    rng = random.Random(14)
    for _ in range(300):
        players, met = random_history(rng, rng.choice([6, 8, 10, 12, 14]))
        pairs = pair_round(players, met)
        assert pairs == exact_pair_round(players, met)
        assert sorted(p for pair in pairs for p in pair) == sorted(players)
        assert sum(b in met[a] for a, b in pairs) == fewest_rematches(players, met)


def test_pairing_matches_the_exact_pairing_where_blossoms_abound() -> None:
    rng = random.Random(16)
    for _ in range(40):
        players, met = random_history(rng, rng.choice([16, 20, 24, 30]))
        assert pair_round(players, met) == exact_pair_round(players, met)


def test_bye_is_the_lowest_ranked_eligible_with_the_fewest_rematches_left() -> None:
    rng = random.Random(15)
    for _ in range(300):
        order, met = random_history(rng, rng.choice([7, 9, 11, 13]))
        byes = {p: rng.choice([0, 0, 1]) for p in order}
        bye = choose_bye(order, met, byes)
        assert bye == exact_choose_bye(order, met, byes)
        eligible = [p for p in reversed(order) if byes[p] == min(byes.values())]
        left = {p: fewest_rematches([q for q in order if q != p], met) for p in eligible}
        assert bye == min(eligible, key=lambda p: (left[p], eligible.index(p)))


@pytest.mark.parametrize("count", [2, 5, 8, 11, 14, 17])
def test_swiss_issues_the_same_rounds_as_the_exact_pairing(count: int) -> None:
    agents = names(count)
    rounds = count + 2  # past exhaustion: rematches forced
    fast, exact = Swiss(agents, rounds=rounds), ExactSwiss(agents, rounds=rounds)
    strength, rng = random_strength(agents, count), random.Random(count)
    while not fast.done:
        batch = fast.next_round()
        assert [p.agents for p in batch] == [p.agents for p in exact.next_round()]
        assert fast.byes == exact.byes
        for pairing in batch:
            outcome = play(pairing.agents, strength, rng, draws=0.2)
            fast.record(pairing, outcome)
            exact.record(pairing, outcome)
    assert exact.done


def fresh_graph(players: Sequence[str], swiss: Swiss) -> list[list[int]]:
    return [
        [j for j, q in enumerate(players) if q != p and not swiss.has_met(p, q)] for p in players
    ]


@pytest.mark.parametrize("count", [1024, 1023])
def test_a_thousand_agent_swiss_keeps_every_promise(count: int) -> None:
    agents = names(count)
    swiss = Swiss(agents)
    rng = random.Random(count)
    firsts, seconds, byes = Counter[str](), Counter[str](), Counter[str]()
    while not swiss.done:
        order = [row.agent for row in swiss.standings()]
        before = len(swiss.byes)
        batch = swiss.next_round()
        rematches = sum(swiss.has_met(*p.agents) for p in batch) - len(batch)  # met now
        new_byes = [b.agent for b in swiss.byes[before:]]
        assert len(new_byes) == count % 2
        playing = [a for a in order if a not in new_byes]
        if rematches:  # only as many as no pairing of these players could avoid
            assert len(batch) - rematches == matching_size(fresh_graph(playing, swiss))
        for bye in new_byes:  # fewest byes; nobody lower with fewest leaves a fresh pairing
            assert byes[bye] == min(byes[a] for a in agents)
            lower = order[order.index(bye) + 1 :]
            for other in (a for a in lower if byes[a] == byes[bye] and not rematches):
                rest = [a for a in order if a != other]
                assert 2 * matching_size(fresh_graph(rest, swiss)) < len(rest) - 1
        byes.update(new_byes)
        for pairing in batch:
            firsts[pairing.agents[0]] += 1
            seconds[pairing.agents[1]] += 1
            draw, first = rng.random() < 0.1, rng.random() < 0.5
            scores = (0.5, 0.5) if draw else (float(first), float(not first))
            swiss.record(pairing, Outcome(pairing.agents, scores))
    # The seat rule alternates, but agents with the same surplus of first seats must
    # meet now and then: over 11 rounds a few end 3 apart, as they did before issue 14
    # (same pairings, same rule); the small tournaments above stay within 2.
    assert all(abs(firsts[a] - seconds[a]) <= 3 for a in agents)
    assert max(byes.values(), default=0) <= 1
