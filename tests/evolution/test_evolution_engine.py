from __future__ import annotations

import json
import random
from typing import Any

import pytest

from devspark.core.errors import InvalidArgumentError, NotFoundError
from devspark.evolution.engine import Evolution
from devspark.evolution.genome import GenomeSpace
from devspark.evolution.lineage import Individual
from devspark.evolution.operators import Mutation


def noisy_objective(individual: Individual) -> float:
    """Highest (about 3) at x = 1, depth = 7, greedy, style bold; noise seeded by the id."""
    p = individual.params
    noise = random.Random(f"{individual.id}/{individual.evaluations}").gauss(0.0, 0.1)
    score = -((p["x"] - 1.0) ** 2) - 0.1 * (p["depth"] - 7) ** 2
    return score + (p["greedy"] is True) + (p["style"] == "bold") + noise


def _step(evolution: Evolution) -> None:
    evolution.tell({ind.id: noisy_objective(ind) for ind in evolution.ask()})


def _run(evolution: Evolution) -> Evolution:
    while not evolution.done:
        _step(evolution)
    return evolution


def _trace(evolution: Evolution) -> tuple[list[dict[str, Any]], list[Any]]:
    return evolution.lineage.to_json(), evolution.history


def _options() -> dict[str, Any]:
    return {
        "population": 12,
        "seed": 11,
        "generations": 8,
        "elite": 2,
        "crossover": "simulated_binary",
    }


def test_a_run_improves_a_noisy_objective(space: GenomeSpace) -> None:
    evolution = _run(
        Evolution(space, population=20, seed=1, generations=15, initial=[space.defaults()])
    )
    first, last = evolution.history[0], evolution.history[-1]
    assert evolution.evaluations == 20 + 14 * 19
    assert last.best > first.best + 0.5 and last.mean > first.mean + 10.0
    best = evolution.best
    assert best is not None and best.fitness is not None and best.fitness > 2.0  # optimum about 3
    assert best.params["greedy"] is True and best.params["style"] == "bold"
    assert abs(best.params["x"] - 1.0) < 0.5 and abs(best.params["depth"] - 7) <= 2


def test_the_same_seed_gives_the_same_run(space: GenomeSpace) -> None:
    first = _trace(_run(Evolution(space, **_options())))
    assert _trace(_run(Evolution(space, **_options()))) == first
    assert _trace(_run(Evolution(space, **{**_options(), "seed": 12}))) != first


@pytest.mark.parametrize("stop_after", [0, 3, 6])
@pytest.mark.parametrize("reevaluate", [False, True])
def test_a_restored_checkpoint_continues_exactly(
    space: GenomeSpace, stop_after: int, reevaluate: bool
) -> None:
    options = {**_options(), "reevaluate_elites": reevaluate, "budget": 80}
    expected = _trace(_run(Evolution(space, **options)))
    killed = Evolution(space, **options)
    while killed.generation < stop_after:
        _step(killed)
    batch = killed.ask()
    killed.tell({ind.id: noisy_objective(ind) for ind in batch[:5]})  # killed mid-generation
    saved = json.loads(json.dumps(killed.checkpoint()))
    del killed
    restored = Evolution.restore(saved)
    assert _trace(_run(restored)) == expected


def test_elitism_keeps_the_best(space: GenomeSpace) -> None:
    evolution = Evolution(space, population=10, seed=3, generations=6, elite=2)
    while not evolution.done:
        previous = [i.id for i in evolution.members()]
        _step(evolution)
        if evolution.done:
            break
        evaluated = [evolution.lineage.get(i) for i in previous]
        top = sorted(evaluated, key=lambda i: -(i.fitness or 0.0))[:2]
        assert evolution.members()[:2] == top  # the same records: genes, params, fitness
    bests = [stats.best for stats in evolution.history]
    assert bests == sorted(bests)  # the elites carry their fitness: the best never drops


def test_children_name_their_parents_and_operators(space: GenomeSpace) -> None:
    evolution = Evolution(space, population=8, seed=4, elite=2, generations=3)
    _step(evolution)  # generation 0 evaluated, generation 1 bred
    first = {i.id for i in evolution.lineage if i.generation == 0}
    children = evolution.members()[2:]
    assert len(children) == 6 and all(c.generation == 1 and c.fitness is None for c in children)
    for child in children:
        assert child.operators[0] == "tournament" and child.operators[-1] == "mutation:gaussian"
        crossed = "crossover:uniform" in child.operators
        assert (
            1 <= len(child.parents) <= (2 if crossed else 1)
        )  # a parent crossed with itself is named once
        assert set(child.parents) <= first
        assert {i.id for i in evolution.lineage.ancestors(child.id)} == set(child.parents)
        assert child.params == space.decode(child.genes)


def test_reevaluated_elites_average_their_evaluations(space: GenomeSpace) -> None:
    evolution = Evolution(
        space, population=6, seed=5, elite=1, generations=4, reevaluate_elites=True
    )
    _run(evolution)
    assert evolution.evaluations == 6 * 4
    assert max(i.evaluations for i in evolution.lineage) >= 2


def test_the_budget_counts_evaluations(space: GenomeSpace) -> None:
    evolution = Evolution(space, population=10, seed=6, budget=25)
    assert len(evolution.ask()) == 10
    _step(evolution)
    _step(evolution)
    assert len(evolution.ask()) == 6  # what the budget has left: 25 - 10 - 9
    _step(evolution)
    assert evolution.done and evolution.evaluations == 25 and evolution.ask() == []
    assert [s.evaluations for s in evolution.history] == [10, 19, 25]


def test_ask_repeats_until_told_and_tell_may_be_partial(space: GenomeSpace) -> None:
    evolution = Evolution(space, population=4, seed=7)
    batch = evolution.ask()
    assert evolution.ask() == batch
    evolution.tell({batch[0].id: 1.0})
    assert [i.id for i in evolution.ask()] == [i.id for i in batch[1:]]
    assert evolution.generation == 0


def test_initial_values_seed_the_first_generation(space: GenomeSpace) -> None:
    evolution = Evolution(space, population=4, seed=8, initial=[space.defaults(), {"x": 2.5}])
    first, second = evolution.members()[:2]
    assert first.params == space.defaults() and first.operators == ("seed",)
    assert second.params["x"] == 2.5 and second.params["depth"] == 0
    assert evolution.members()[2].operators == ("init",)


def test_tell_refuses_unknown_ids_and_bad_fitness_atomically(space: GenomeSpace) -> None:
    evolution = Evolution(space, population=4, seed=9)
    ids = [i.id for i in evolution.ask()]
    with pytest.raises(
        NotFoundError, match=r"individual 'g0-9' is not awaiting evaluation \(did you mean `g0-"
    ):
        evolution.tell({ids[0]: 1.0, "g0-9": 2.0})
    with pytest.raises(
        InvalidArgumentError, match=r"fitness of 'g0-1' = nan: allowed: a finite number"
    ):
        evolution.tell({ids[0]: 1.0, ids[1]: float("nan")})
    assert evolution.evaluations == 0 and len(evolution.ask()) == 4
    evolution.tell({ids[0]: 1.0})
    with pytest.raises(NotFoundError, match="individual 'g0-0' is not awaiting evaluation"):
        evolution.tell({ids[0]: 1.0})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"population": 1}, r"population = 1: allowed: an integer >= 2"),
        ({"elite": 4}, r"elite = 4: allowed: an integer below population = 4"),
        ({"budget": 0}, r"budget = 0: allowed: an integer >= 1"),
        ({"selection": "roulete"}, r"selection 'roulete' is not known \(did you mean `roulette`"),
        ({"initial": [{"depht": 1}]}, r"unknown parameter 'depht' \(did you mean `depth`"),
        ({"initial": [{}] * 5}, r"initial has 5 genomes; allowed: at most population = 4"),
    ],
)
def test_bad_options_are_refused(space: GenomeSpace, options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        Evolution(space, **{"population": 4, **options})


def test_an_empty_space_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match=r"the parameter space is empty"):
        Evolution(GenomeSpace({}))


def test_restore_refuses_other_versions_and_malformed_checkpoints(space: GenomeSpace) -> None:
    state = Evolution(space, population=4, mutation=Mutation("uniform")).checkpoint()
    with pytest.raises(InvalidArgumentError, match=r"checkpoint version = 2: allowed: 1"):
        Evolution.restore({**state, "version": 2})
    with pytest.raises(InvalidArgumentError, match=r"checkpoint: malformed \(KeyError\('rng'\)\)"):
        Evolution.restore({k: v for k, v in state.items() if k != "rng"})
    assert Evolution.restore(state).checkpoint() == state
