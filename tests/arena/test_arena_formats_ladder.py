"""The continuous ladder: batches, matchmaking by information gain, and its contract."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import kendalltau
from test_arena_formats import FakeRatings, names, play

from devspark.arena.formats import Ladder, Pairing, _ladder, _ladder_sampling, information_gain
from devspark.arena.formats._ladder import DEFAULT_BATCH, misorder_probability
from devspark.core.errors import InvalidArgumentError
from devspark.rating.models import OpenSkillRatings
from devspark.testing.populations import Population, matches_to, simulate_ladder


def run_ladder(
    ladder: Ladder, ratings: OpenSkillRatings, strength: dict[str, float], seed: int
) -> list[list[Pairing]]:
    """The runner's loop: play, update the ratings, record."""
    rng = random.Random(seed)
    batches = []
    while not ladder.done:
        batch = ladder.next_round()
        batches.append(batch)
        for pairing in batch:
            outcome = play(pairing.agents, strength, rng, draws=0.1)
            ratings.update(outcome)
            ladder.record(pairing, outcome)
    return batches


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(2, 12),
    matches=st.integers(1, 60),
    batch=st.one_of(st.none(), st.integers(1, 8)),
    matchmaking=st.sampled_from(["active", "info_gain", "uniform"]),
    seed=st.integers(0, 2**32),
    sampled=st.booleans(),
)
def test_ladder_batches_are_well_formed(
    count: int, matches: int, batch: int | None, matchmaking: str, seed: int, sampled: bool
) -> None:
    agents = names(count)
    ratings = OpenSkillRatings(keep_history=False)
    with pytest.MonkeyPatch.context() as patch:
        if sampled:  # the large ladders' sampler, on ladders small enough to check
            patch.setattr(_ladder, "EXACT_AGENTS", 1)
        ladder = Ladder(agents, ratings, matches, seed=seed, batch=batch, matchmaking=matchmaking)
    strength = {a: random.Random(seed + i).gauss(0, 2) for i, a in enumerate(agents)}
    batches = run_ladder(ladder, ratings, strength, seed)
    size = max(1, min(DEFAULT_BATCH, count // 2)) if batch is None else batch
    assert sum(len(b) for b in batches) == matches == ratings.updates
    assert [len(b) for b in batches[:-1]] == [size] * (len(batches) - 1)
    for number, pairs in enumerate(batches):
        assert {p.label for p in pairs} == {f"B{number + 1}"}
        for pairing in pairs:
            assert len(pairing.agents) == 2 and pairing.agents[0] != pairing.agents[1]
        seated = [a for p in pairs for a in p.agents]
        if len(pairs) <= count // 2:  # disjoint whenever the batch allows it
            assert len(seated) == len(set(seated))
        if len(pairs) <= count * (count - 1) // 2:  # no pair twice in a batch
            assert len({frozenset(p.agents) for p in pairs}) == len(pairs)


def close_pair_world() -> tuple[list[str], FakeRatings]:
    """Eight agents far apart and well known, plus two close ones."""
    beliefs = {f"far-{i}": (10.0 * i, 1.0) for i in range(8)}
    beliefs |= {"close-a": (100.0, 1.0), "close-b": (100.3, 1.0)}
    return list(beliefs), FakeRatings(beliefs)


def test_info_gain_concentrates_on_close_pairs() -> None:
    agents, ratings = close_pair_world()
    counts = {}
    for matchmaking in ("info_gain", "uniform"):
        ladder = Ladder(agents, ratings, 400, seed=1, batch=1, matchmaking=matchmaking)
        games = Counter[frozenset[str]]()
        while not ladder.done:
            (pairing,) = ladder.next_round()
            games[frozenset(pairing.agents)] += 1
            ladder.record(
                pairing, play(pairing.agents, dict.fromkeys(agents, 0.0), random.Random(0))
            )
        counts[matchmaking] = games[frozenset(("close-a", "close-b"))]
    assert counts["uniform"] < 20  # about 400 / 45
    assert counts["info_gain"] > 5 * counts["uniform"]


def test_info_gain_favours_new_entrants() -> None:
    beliefs = {f"known-{i}": (25.0 + 2.0 * i, 1.0) for i in range(9)}
    beliefs["newcomer"] = (33.0, 8.0)
    agents = list(beliefs)
    played = {}
    for matchmaking in ("info_gain", "uniform"):
        ratings = FakeRatings(beliefs, beta=4.0)
        ladder = Ladder(agents, ratings, 300, seed=2, batch=2, matchmaking=matchmaking)
        games = Counter[str]()
        while not ladder.done:
            for pairing in ladder.next_round():
                games.update(pairing.agents)
                ladder.record(
                    pairing, play(pairing.agents, dict.fromkeys(agents, 0.0), random.Random(1))
                )
        played[matchmaking] = games["newcomer"]
    assert played["info_gain"] > 1.3 * played["uniform"]


def test_nobody_starves_under_info_gain() -> None:
    beliefs = {f"a{i}": (10.0 * i, 0.5) for i in range(10)}  # only neighbours are close
    beliefs["outcast"] = (1000.0, 0.5)  # a foregone conclusion against everyone
    ladder = Ladder(list(beliefs), FakeRatings(beliefs), 2000, seed=3, matchmaking="info_gain")
    games = Counter[str]()
    while not ladder.done:
        for pairing in ladder.next_round():
            games.update(pairing.agents)
            ladder.record(
                pairing, play(pairing.agents, dict.fromkeys(beliefs, 0.0), random.Random(2))
            )
    assert set(games) == set(beliefs)
    assert games["outcast"] >= 20


@pytest.mark.parametrize("sampled", [False, True])
def test_ladder_reads_estimates_when_scheduling(
    sampled: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if sampled:
        monkeypatch.setattr(_ladder, "EXACT_AGENTS", 1)
    agents, ratings = close_pair_world()
    ladder = Ladder(agents, ratings, 10, seed=0, matchmaking="info_gain")
    before = ladder.pair_weights()
    best = max(before, key=before.__getitem__)
    assert set(best) == {"close-a", "close-b"}
    ratings.beliefs["close-b"] = (300.0, 1.0)  # the runner updated the ratings
    after = ladder.pair_weights()
    assert after[best] < before[best] / 100
    uniform = Ladder(agents, ratings, 10, matchmaking="uniform").pair_weights()
    assert set(uniform.values()) == {1.0}
    assert len(uniform) == 45


def test_information_gain_prefers_close_uncertain_fresh_pairs() -> None:
    p = np.array([0.5, 0.7, 0.9, 0.5, 0.5])
    variance = np.array([2.0, 2.0, 2.0, 8.0, 2.0])
    played = np.array([0.0, 0.0, 0.0, 0.0, 3.0])
    gain = information_gain(p, variance, played)
    assert gain[0] > gain[1] > gain[2] > 0  # closer is better
    assert gain[3] == 4 * gain[0]  # more uncertainty, more to learn
    assert gain[4] == gain[0] / 4  # a pair that has met three times is worth less
    assert information_gain(np.array([0.3]), np.ones(1), np.zeros(1)) == pytest.approx(
        information_gain(np.array([0.7]), np.ones(1), np.zeros(1))
    )


@pytest.mark.parametrize("sampled", [False, True])
def test_ladder_seats_stay_balanced(sampled: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if sampled:
        monkeypatch.setattr(_ladder, "EXACT_AGENTS", 1)
    agents = names(9)
    ratings = OpenSkillRatings(keep_history=False)
    ladder = Ladder(agents, ratings, 600, seed=4)
    batches = run_ladder(ladder, ratings, {a: float(i) for i, a in enumerate(agents)}, 4)
    for agent in agents:  # about 133 games each; coin-flip seats would drift by ~11
        firsts = sum(p.agents[0] == agent for b in batches for p in b)
        seconds = sum(p.agents[1] == agent for b in batches for p in b)
        assert abs(firsts - seconds) <= 3


def test_info_gain_ladder_recovers_the_order() -> None:
    agents = names(10)
    strength = {a: 0.8 * i for i, a in enumerate(agents)}
    taus = []
    for seed in range(3):
        ratings = OpenSkillRatings(keep_history=False)
        run_ladder(Ladder(agents, ratings, 400, seed=seed), ratings, strength, seed)
        mus = [ratings.estimate(a)[0] for a in agents]
        taus.append(kendalltau(mus, [strength[a] for a in agents]).statistic)
    assert np.mean(taus) > 0.7
    ordered = sorted(agents, key=lambda a: ratings.estimate(a)[0])
    assert ordered.index(agents[-1]) > ordered.index(agents[0])


def test_active_needs_fewer_matches_than_uniform_with_real_openskill() -> None:
    """The ladder's claim, with real OpenSkill ratings on populations of known skill.

    A smaller run of benchmarks/ranking_fidelity.py (32 agents, 80 populations there):
    16 agents with strengths ~ N(0, 3) logits, 8 seeded populations, 800 Davidson games
    each, the Kendall tau of the ratings' order against the truth every 25 games.
    """
    horizon, check, populations = 800, 25, range(8)
    curves = {
        mode: np.mean(
            [
                simulate_ladder(
                    Population.draw(seed, 16), mode, matches=horizon, seed=seed, check=check
                ).taus
                for seed in populations
            ],
            axis=0,
        )
        for mode in ("uniform", "active")
    }
    quality = curves["uniform"][-1]  # what uniform pairing reaches in all its matches
    assert quality > 0.85  # the ratings really learn the order
    active = matches_to(quality, curves["active"], check)
    assert active is not None and active <= 0.6 * horizon, active
    uniform_09, active_09 = (matches_to(0.9, curves[m], check) for m in ("uniform", "active"))
    assert uniform_09 is not None and active_09 is not None
    assert active_09 <= 0.6 * uniform_09, (active_09, uniform_09)  # the benchmark's target


def test_other_seed_other_schedule() -> None:
    agents, ratings = close_pair_world()

    def schedule(seed: int) -> list[tuple[str, ...]]:
        ladder = Ladder(agents, ratings, 40, seed=seed, matchmaking="uniform")
        out = []
        while not ladder.done:
            for pairing in ladder.next_round():
                out.append(pairing.agents)
                ladder.record(
                    pairing, play(pairing.agents, dict.fromkeys(agents, 0.0), random.Random(0))
                )
        return out

    assert schedule(1) == schedule(1) != schedule(2)


def test_ladder_defaults_to_active_ranking() -> None:
    agents, ratings = close_pair_world()
    assert Ladder(agents, ratings, 10).matchmaking == "active"


def test_misorder_probability() -> None:
    p = misorder_probability(np.array([0.0, 0.0, 1.0, 50.0]), np.array([1.0, 1.0, 1.0, 1.0]))
    assert np.allclose(p, p.T) and np.all(np.diag(p) == 0)
    assert p[0, 1] == pytest.approx(0.5)
    assert 0.0 < p[1, 3] < p[1, 2] < 0.5
    wide = misorder_probability(np.array([0.0, 1.0]), np.array([5.0, 5.0]))
    assert wide[0, 1] > p[1, 2]  # the same gap is less settled when the ratings are unsure


def run_active(
    agents: list[str], ratings: FakeRatings, matches: int, **kwargs: int
) -> Counter[str]:
    """Games per agent under active matchmaking (the fake ratings never move)."""
    ladder = Ladder(agents, ratings, matches, matchmaking="active", **kwargs)
    games = Counter[str]()
    while not ladder.done:
        for pairing in ladder.next_round():
            assert pairing.agents[0] != pairing.agents[1]
            games.update(pairing.agents)
            ladder.record(
                pairing, play(pairing.agents, dict.fromkeys(agents, 0.0), random.Random(0))
            )
    return games


def test_active_focuses_on_uncertain_agents() -> None:
    agents, ratings = close_pair_world()  # eight settled agents and one unsettled pair
    games = run_active(agents, ratings, 400, seed=1, batch=1, warmup=0)
    assert games["close-a"] > 0.4 * 400 and games["close-b"] > 0.4 * 400
    assert sum(games[f"far-{i}"] for i in range(8)) < 0.2 * 2 * 400


def test_active_warms_up_every_agent_first() -> None:
    agents, ratings = close_pair_world()
    ladder = Ladder(agents, ratings, 100, seed=5, batch=1, matchmaking="active", warmup=3)
    games = Counter[str]()
    for _ in range(15):  # 3 games for each of 10 agents take 15 matches
        (pairing,) = ladder.next_round()
        games.update(pairing.agents)
        ladder.record(pairing, play(pairing.agents, dict.fromkeys(agents, 0.0), random.Random(0)))
    assert min(games[a] for a in agents) >= 2  # random opponents can leave one short
    assert sum(games.values()) == 30


def test_nobody_starves_under_active() -> None:
    beliefs = {f"a{i}": (10.0 * i, 0.5) for i in range(10)}
    beliefs["outcast"] = (1000.0, 0.5)  # settled against everyone
    games = run_active(list(beliefs), FakeRatings(beliefs), 2000, seed=3, warmup=0)
    assert set(games) == set(beliefs)
    assert games["outcast"] >= 10


@pytest.mark.parametrize("large", [False, True])
def test_active_is_deterministic(large: bool) -> None:
    agents, ratings = spread_world(100, newcomers=1) if large else close_pair_world()

    def schedule(seed: int) -> list[tuple[str, ...]]:
        ladder = Ladder(
            agents, ratings, 200 if large else 60, seed=seed, batch=3, warmup=1 if large else 4
        )
        out = []
        while not ladder.done:
            for pairing in ladder.next_round():
                out.append(pairing.agents)
                ladder.record(
                    pairing, play(pairing.agents, dict.fromkeys(agents, 0.0), random.Random(0))
                )
        return out

    assert schedule(7) == schedule(7) != schedule(8)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"matches": 0}, "matches must be an integer >= 1"),
        ({"batch": 0}, "batch must be an integer >= 1"),
        ({"matchmaking": "info-gain"}, "did you mean 'info_gain'"),
        ({"matchmaking": "elo"}, "choose one of info_gain, uniform"),
        ({"exploration": -0.1}, "exploration must be a number >= 0"),
        ({"exploration": float("nan")}, "exploration must be a number >= 0"),
        ({"concentration": 0}, "concentration must be a number > 0"),
        ({"warmup": -1}, "warmup must be an integer >= 0"),
        ({"matchmaking": "activ"}, "did you mean 'active'"),
    ],
)
def test_ladder_rejects_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    agents, ratings = close_pair_world()
    arguments: dict[str, object] = {"matches": 10} | kwargs
    with pytest.raises(InvalidArgumentError, match=message):
        Ladder(agents, ratings, **arguments)  # type: ignore[arg-type]


# Large ladders (more than EXACT_AGENTS agents) sample candidate pairs instead of
# weighing all n (n - 1) / 2 pairs: the same rules, in O(n k) per batch.


def spread_world(
    count: int, newcomers: int = 0, step: float = 1.0
) -> tuple[list[str], FakeRatings]:
    """``count`` agents ``step`` apart in ``mu``, ``sigma`` 1 to 2, and uncertain newcomers."""
    rng = random.Random(count)
    beliefs = {f"a{i}": (step * i, 1.0 + rng.random()) for i in range(count)}
    beliefs |= {f"new-{i}": (step * count / (i + 2), 12.0) for i in range(newcomers)}
    return list(beliefs), FakeRatings(beliefs)


def drawn_frequencies(ladder: Ladder, draws: int) -> dict[tuple[str, str], float]:
    """Frequencies of the pairs the ladder's next-batch sampler proposes (before batch rules)."""
    proposal = ladder._proposal()
    rng = np.random.default_rng(0)
    counts = Counter[tuple[str, str]]()
    while sum(counts.values()) < draws:
        first, second = proposal.draw(rng, 50_000)
        for i, j in zip(first.tolist(), second.tolist(), strict=True):
            counts[(ladder.agents[min(i, j)], ladder.agents[max(i, j)])] += 1
    total = sum(counts.values())
    return {pair: count / total for pair, count in counts.items()}


def matches_weights(
    frequencies: dict[tuple[str, str], float], weights: dict[tuple[str, str], float], draws: int
) -> bool:
    """Whether the pairs' frequencies are as close to ``weights`` as sampling noise allows.

    The total variation distance to the normalised weights, against the distance a
    multinomial sample of the same size from the weights themselves has (fixed seed).
    """
    pairs = list(weights)
    p = np.array([weights[pair] for pair in pairs]) / sum(weights.values())
    drawn = np.array([frequencies.get(pair, 0.0) for pair in pairs])
    noise = np.random.default_rng(1).multinomial(draws, p) / draws
    distance = 0.5 * np.abs(drawn - p).sum() + 0.5 * sum(
        f for pair, f in frequencies.items() if pair not in weights
    )
    return bool(distance < 1.1 * 0.5 * np.abs(noise - p).sum())


def test_large_active_ladder_samples_the_full_tables_weights() -> None:
    """The sampler's pairs follow misorder probability plus the floor over all pairs."""
    agents, ratings = spread_world(150, newcomers=2, step=0.1)  # far pairs matter too
    ladder = Ladder(agents, ratings, 10, seed=0, warmup=0)
    assert len(agents) > _ladder.EXACT_AGENTS
    mu, sigma = (np.array([ratings.estimate(a)[k] for a in agents]) for k in (0, 1))
    misorder = misorder_probability(mu, sigma)  # the rule, computed in full here
    first, second = np.triu_indices(len(agents), 1)
    exact = misorder[first, second] + 0.05 * misorder[first, second].mean()
    weights = {(agents[i], agents[j]): w for i, j, w in zip(first, second, exact, strict=True)}
    assert ladder.pair_weights() == pytest.approx(weights)
    frequencies = drawn_frequencies(ladder, 400_000)
    assert matches_weights(frequencies, weights, 400_000)
    rank = {a: i for i, a in enumerate(sorted(agents, key=lambda a: ratings.estimate(a)[0]))}
    far = [
        pair
        for pair in weights
        if abs(rank[pair[0]] - rank[pair[1]]) > _ladder_sampling.WINDOW
        and not any(a.startswith("new") for a in pair)
    ]
    far_share = sum(weights[pair] for pair in far) / sum(weights.values())
    assert far_share > 0.05  # the far pairs matter here ...
    assert sum(frequencies.get(pair, 0.0) for pair in far) == pytest.approx(far_share, rel=0.05)
    for newcomer in ("new-0", "new-1"):  # ... and so do the newcomers' rows
        share = sum(w for pair, w in weights.items() if newcomer in pair) / sum(weights.values())
        drawn = sum(f for pair, f in frequencies.items() if newcomer in pair)
        assert drawn == pytest.approx(share, rel=0.05)


@pytest.mark.parametrize("matchmaking", ["info_gain", "uniform"])
def test_large_ladder_samples_its_pair_weights(matchmaking: str) -> None:
    agents, ratings = spread_world(120, newcomers=1)
    ladder = Ladder(agents, ratings, 10, seed=0, matchmaking=matchmaking)
    weights = ladder.pair_weights()
    assert len(weights) == len(agents) * (len(agents) - 1) // 2
    assert min(weights.values()) > 0  # the floor: no pair starves
    assert matches_weights(drawn_frequencies(ladder, 300_000), weights, 300_000)


def test_large_ladder_warmup_weights_pairs_by_missing_games() -> None:
    agents, ratings = spread_world(100)
    ladder = Ladder(agents, ratings, 10, seed=0, warmup=2)
    weights = ladder.pair_weights()
    assert set(weights.values()) == {4.0}  # nobody has played: d_i + d_j = 2 + 2
    assert matches_weights(drawn_frequencies(ladder, 200_000), weights, 200_000)


def test_large_ladder_warms_up_new_entrants_first() -> None:
    agents, ratings = spread_world(200)
    ladder = Ladder(agents, ratings, 200, seed=1, warmup=2)
    games = Counter[str]()
    while not ladder.done:  # 200 matches: two games each if coverage were perfect
        for pairing in ladder.next_round():
            games.update(pairing.agents)
            ladder.record(
                pairing, play(pairing.agents, dict.fromkeys(agents, 0.0), random.Random(0))
            )
    idle = sum(games[a] == 0 for a in agents)
    assert idle <= 12  # random pairs leave e^-2 of them, about 27, without a game


@pytest.mark.parametrize("matchmaking", ["active", "info_gain"])
def test_large_ladder_plays_uncertain_agents_first(matchmaking: str) -> None:
    agents, ratings = spread_world(200, newcomers=1)
    games = Counter[str]()
    ladder = Ladder(agents, ratings, 400, seed=2, matchmaking=matchmaking, warmup=0)
    while not ladder.done:
        for pairing in ladder.next_round():
            games.update(pairing.agents)
            ladder.record(
                pairing, play(pairing.agents, dict.fromkeys(agents, 0.0), random.Random(0))
            )
    average = 2 * 400 / len(agents)
    assert games["new-0"] > 5 * average


def test_nobody_starves_in_a_large_ladder() -> None:
    beliefs = {f"a{i}": (10.0 * i, 0.5) for i in range(79)}
    beliefs["outcast"] = (10_000.0, 0.5)  # settled against everyone
    games = run_active(list(beliefs), FakeRatings(beliefs), 8000, seed=3, warmup=0)
    assert set(games) == set(beliefs)
    assert games["outcast"] >= 3  # expected about 10: 8000 x 0.05 / 1.05 x 2 / 80


class Counting(FakeRatings):
    """Fake ratings that count the win probabilities asked of them."""

    asked = 0

    def predict_win(self, a: str, b: str) -> float:
        self.asked += 1
        return super().predict_win(a, b)


@pytest.mark.parametrize("matchmaking", ["active", "info_gain"])
def test_large_ladder_work_grows_linearly(
    matchmaking: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pairs scored per batch grow like n, not n^2 (counted, not timed)."""
    scored = [0]

    def counting(gap: np.ndarray, spread: np.ndarray) -> np.ndarray:
        scored[0] += np.size(gap)
        return misorder(gap, spread)

    misorder = _ladder_sampling.misorder
    monkeypatch.setattr(_ladder, "misorder", counting)
    monkeypatch.setattr(_ladder_sampling, "misorder", counting)
    work = {}
    for count in (1000, 4000):
        beliefs = {f"a{i}": (0.05 * i, 1.0 + (i % 7 == 0)) for i in range(count)}
        ratings = Counting(beliefs)
        ladder = Ladder(list(beliefs), ratings, 100, seed=0, matchmaking=matchmaking, warmup=0)
        scored[0] = 0
        for pairing in ladder.next_round():
            ladder.record(
                pairing, play(pairing.agents, dict.fromkeys(beliefs, 0.0), random.Random(0))
            )
        work[count] = scored[0] + ratings.asked
        pairs = count * (count - 1) // 2
        assert work[count] < pairs / 8
    assert work[4000] < 4.5 * work[1000]  # 4x the agents: 16x the pairs, ~4x the work
