"""Swiss pairing: rematches only when unavoidable (checked by brute force), byes, seats."""

from __future__ import annotations

import random
from collections import Counter
from functools import cache
from itertools import combinations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_arena_formats import drive, names, play, random_strength

from devspark.arena.formats import Swiss
from devspark.arena.formats._matching import matching_size, max_matching
from devspark.rating.outcomes import Outcome


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


@settings(max_examples=150, deadline=None)
@given(
    size=st.integers(0, 9),
    density=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**32),
)
def test_blossom_matching_is_maximum(size: int, density: float, seed: int) -> None:
    rng = random.Random(seed)
    edges = [e for e in combinations(range(size), 2) if rng.random() < density]
    adjacency: list[list[int]] = [[] for _ in range(size)]
    for a, b in edges:
        adjacency[a].append(b)
        adjacency[b].append(a)
    for row in adjacency:
        rng.shuffle(row)
    mate = max_matching(adjacency)
    for v, w in enumerate(mate):
        if w != -1:
            assert mate[w] == v and w in adjacency[v]
    assert matching_size(adjacency) == brute_force_matching(size, edges)


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
