from __future__ import annotations

import random
from collections import Counter

import pytest

from devspark.core.errors import InvalidArgumentError
from devspark.evolution.genome import GenomeSpace
from devspark.evolution.operators import (
    CROSSOVERS,
    MUTATIONS,
    SELECTIONS,
    Crossover,
    Mutation,
    Selection,
    elite,
    run_seeded,
)


def _valid(space: GenomeSpace, genes: tuple[float, ...]) -> bool:
    values = space.decode(genes)
    return space.repair(genes) == genes and space.validate(values) == values


@pytest.mark.parametrize("name", MUTATIONS)
def test_mutation_keeps_bounds_and_types(space: GenomeSpace, name: str) -> None:
    rng = random.Random(1)
    mutation = Mutation(name, rate=1.0, sigma=2.0, eta=1.0)  # large steps push at the bounds
    genes = space.sample(rng)
    changed = set()
    for _ in range(300):
        child = mutation.apply(space, genes, rng)
        assert _valid(space, child)
        changed |= {n for n, a, b in zip(space.names, genes, child, strict=True) if a != b}
        genes = child
    assert changed == set(space.names) - {"fixed"}


@pytest.mark.parametrize("name", CROSSOVERS)
def test_crossover_keeps_bounds_and_types_and_mixes_parents(space: GenomeSpace, name: str) -> None:
    rng = random.Random(2)
    crossover = Crossover(name)
    mixed = 0
    for _ in range(100):
        a, b = space.sample(rng), space.sample(rng)
        c, d = crossover.apply(space, a, b, rng)
        assert _valid(space, c) and _valid(space, d)
        mixed += c not in (a, b)
    assert mixed > 30


def test_swapping_crossovers_only_exchange_genes(space: GenomeSpace) -> None:
    rng = random.Random(3)
    for name in ("uniform", "one_point", "two_point"):
        a, b = space.sample(rng), space.sample(rng)
        c, d = Crossover(name).apply(space, a, b, rng)
        for i in range(len(space)):
            assert {c[i], d[i]} == {a[i], b[i]}


def test_one_point_crossover_copies_a_single_gene_genome() -> None:
    from devspark.core.manifest import FloatParam

    space = GenomeSpace({"x": FloatParam(type="float", low=0.0, high=1.0, default=0.5)})
    assert Crossover("one_point").apply(space, (0.1,), (0.9,), random.Random(0)) == ((0.1,), (0.9,))


def test_operators_depend_only_on_their_seed(space: GenomeSpace) -> None:
    def run(seed: int) -> list[object]:
        rng = random.Random(seed)
        out: list[object] = []
        a, b = space.sample(rng), space.sample(rng)
        for name in MUTATIONS:
            out.append(Mutation(name, rate=0.5).apply(space, a, rng))
        for name in CROSSOVERS:
            out.append(Crossover(name).apply(space, a, b, rng))
        for name in SELECTIONS:
            out.append(Selection(name).select([3.0, -1.0, 2.0, 0.5, 0.5], 8, rng))
        return out

    random.seed(123)
    first = run(7)
    random.seed(999)  # the global random state plays no part ...
    assert run(7) == first
    assert run(8) != first
    state = random.getstate()
    run(7)
    assert random.getstate() == state  # ... and is left as it was


def test_run_seeded_restores_the_module_state_on_error() -> None:
    state = random.getstate()
    rng = random.Random(0)

    def boom() -> None:
        random.random()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        run_seeded(rng, boom)
    assert random.getstate() == state
    assert rng.getstate() != random.Random(0).getstate()  # the draw was taken from rng


@pytest.mark.parametrize("name", SELECTIONS)
def test_selection_favours_the_fitter(name: str) -> None:
    fitnesses = [float(i) for i in range(10)]  # index 9 is the fittest
    picks = Counter(Selection(name).select(fitnesses, 4000, random.Random(4)))
    assert sum(picks[i] for i in range(5, 10)) > 2 * sum(picks[i] for i in range(5))
    assert picks[9] > picks[0]


def test_tournament_pressure_grows_with_its_size() -> None:
    fitnesses = [float(i) for i in range(10)]
    share = []
    for size in (2, 5):
        picks = Counter(Selection(tournament_size=size).select(fitnesses, 4000, random.Random(5)))
        share.append(picks[9] / 4000)
    assert 0.15 < share[0] < 0.25  # 1 - 0.9**2 = 0.19
    assert 0.36 < share[1] < 0.46  # 1 - 0.9**5 = 0.41


def test_truncation_draws_only_from_the_best_fraction() -> None:
    picks = Selection("truncation", truncation=0.3).select(
        [5.0, 1.0, 9.0, 3.0, 7.0, 0.0, 2.0, 4.0, 8.0, 6.0], 500, random.Random(6)
    )
    assert set(picks) == {2, 4, 8}


def test_roulette_handles_negative_and_equal_fitness() -> None:
    picks = Counter(Selection("roulette").select([-10.0, -5.0, 0.0], 3000, random.Random(7)))
    assert picks[0] == 0 and picks[2] > picks[1] > 0  # weights 0, 5, 10
    flat = Counter(Selection("roulette").select([2.0, 2.0, 2.0], 3000, random.Random(7)))
    assert set(flat) == {0, 1, 2}


def test_rank_selection_ignores_fitness_scale() -> None:
    steep = Selection("rank").select([0.0, 1.0, 1e9], 500, random.Random(8))
    gentle = Selection("rank").select([0.0, 1.0, 2.0], 500, random.Random(8))
    assert steep == gentle


def test_elite_keeps_the_best_first_on_ties() -> None:
    assert elite([1.0, 5.0, 3.0, 5.0], 2) == [1, 3]
    assert elite([1.0, 5.0, 3.0, 5.0], 3) == [1, 3, 2]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda: Mutation("gausian"),
            r"mutation 'gausian' is not known \(did you mean `gaussian`\?\); allowed: gaussian, polynomial, uniform",
        ),
        (
            lambda: Crossover("two-point"),
            r"crossover 'two-point' is not known \(did you mean `two_point`",
        ),
        (
            lambda: Selection("tournement"),
            r"selection 'tournement' is not known \(did you mean `tournament`",
        ),
        (
            lambda: Mutation.from_json({"name": "uniform", "sigmma": 0.2}),
            r"mutation option 'sigmma' is not known \(did you mean `sigma`",
        ),
        (lambda: Mutation(rate=1.5), r"mutation rate = 1.5: allowed: a number in \[0.0, 1.0\]"),
        (lambda: Mutation(sigma=0), r"mutation sigma = 0: allowed: a number in \(0.0, inf\]"),
        (lambda: Crossover(swap=True), r"crossover swap = True"),
        (
            lambda: Selection(tournament_size=0),
            r"selection tournament_size = 0: allowed: an integer >= 1",
        ),
        (lambda: Selection("truncation", truncation=0), r"selection truncation = 0"),
        (
            lambda: Selection().select([1.0, float("nan")], 1, random.Random(0)),
            r"fitness\[1\] = nan",
        ),
    ],
)
def test_bad_operator_options_are_refused_with_near_names(make: object, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        make()  # type: ignore[operator]


def test_operators_round_trip_through_json() -> None:
    for operator in (
        Mutation("polynomial", rate=0.3, eta=5.0),
        Crossover("simulated_binary"),
        Selection("rank"),
    ):
        assert type(operator).from_json(operator.to_json()) == operator  # type: ignore[attr-defined]
    assert Selection.from_json("truncation") == Selection("truncation")
