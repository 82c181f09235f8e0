"""Tuning with Optuna: seeded samplers, pruning, two objectives, RDB storage and resume."""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path

import pytest

from devspark.core.errors import InvalidArgumentError
from devspark.core.manifest import ChoiceParam, FloatParam, IntParam
from devspark.evolution import GenomeSpace, Tuning
from devspark.evolution.tune import TuningTrial


def quadratic_space() -> GenomeSpace:
    return GenomeSpace(
        {
            "x": FloatParam(type="float", low=-5.0, high=5.0, default=-4.0),
            "depth": IntParam(type="int", low=0, high=10, default=0),
            "style": ChoiceParam(type="choice", choices=["calm", "bold"], default="calm"),
        }
    )


def noisy_quadratic(params: Mapping[str, object], seed: int) -> float:
    """Best (about 1.0) at x = 1.5, depth 7, style bold; Gaussian noise 0.05."""
    x, depth = params["x"], params["depth"]
    assert isinstance(x, float) and isinstance(depth, int)
    bonus = 1.0 if params["style"] == "bold" else 0.0
    noise = random.Random(seed).gauss(0.0, 0.05)
    return -((x - 1.5) ** 2) - 0.1 * (depth - 7) ** 2 + bonus + noise


def run(tuning: Tuning, trials: int) -> list[TuningTrial]:
    asked = []
    for _ in range(trials):
        trial = tuning.ask()
        tuning.tell(trial, noisy_quadratic(trial.params, trial.number))
        asked.append(trial)
    return asked


@pytest.mark.parametrize("sampler", ["tpe", "cmaes", "random", "nsga2"])
def test_same_seed_gives_same_trials(space: GenomeSpace, sampler: str) -> None:
    first = [t.params for t in run(Tuning(space, sampler=sampler, seed=3), 12)]
    second = [t.params for t in run(Tuning(space, sampler=sampler, seed=3), 12)]
    other = [t.params for t in run(Tuning(space, sampler=sampler, seed=4), 12)]
    assert first == second
    assert first != other


def test_params_have_the_space_types_and_bounds(space: GenomeSpace) -> None:
    for trial in run(Tuning(space, sampler="random", seed=1), 20):
        assert space.validate(trial.params) == trial.params
        assert type(trial.params["x"]) is float and type(trial.params["depth"]) is int
        assert type(trial.params["greedy"]) is bool and trial.params["fixed"] == 3


def test_tpe_improves_a_noisy_quadratic_over_the_budget() -> None:
    tuning = Tuning(quadratic_space(), sampler="tpe", seed=1, budget=60)
    values = []
    while not tuning.done:
        trial = tuning.ask()
        value = noisy_quadratic(trial.params, trial.number)
        tuning.tell(trial, value)
        values.append(value)
    assert tuning.trials == 60
    best = tuning.best
    assert best is not None and best.value == max(values)
    assert max(values[40:]) > max(values[:10]) + 0.3
    assert best.params["style"] == "bold" and abs(float(best.params["x"]) - 1.5) < 0.7
    with pytest.raises(InvalidArgumentError, match="budget = 60: spent"):
        tuning.ask()


def test_median_pruner_prunes_a_trial_fed_bad_intermediate_values() -> None:
    tuning = Tuning(quadratic_space(), sampler="random", seed=0, pruner="median")
    for _ in range(4):  # good trials: intermediate win rates of 0.8
        trial = tuning.ask()
        assert not any(tuning.report(trial, step, 0.8) for step in range(4))
        tuning.tell(trial, 0.8)
    bad = tuning.ask()
    assert not tuning.report(bad, 0, 0.1)  # warm-up step: never pruned
    assert tuning.report(bad, 1, 0.1) and tuning.should_prune(bad)
    tuning.prune(bad)
    states = [t.state.name for t in tuning.study.trials]
    assert states == ["COMPLETE"] * 4 + ["PRUNED"]
    with pytest.raises(InvalidArgumentError, match="trial 4 is not awaiting a value"):
        tuning.tell(bad, 0.1)


def dominates(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Win rate up (index 0), CPU seconds down (index 1)."""
    return a[0] >= b[0] and a[1] <= b[1] and a != b


def test_nsga2_returns_a_non_dominated_front_on_two_objectives() -> None:
    space = GenomeSpace({"depth": FloatParam(type="float", low=0.0, high=1.0, default=0.5)})
    tuning = Tuning(space, sampler="nsga2", seed=2, directions=("maximize", "minimize"))
    told = []
    for _ in range(40):
        trial = tuning.ask()
        depth = float(trial.params["depth"])
        values = (depth**0.5, depth + 0.01 * (trial.number % 3))  # deeper: wins more, costs more
        tuning.tell(trial, values)
        told.append(values)
    front = tuning.front
    assert len(front) >= 3
    points = [b.value for b in front]
    assert all(isinstance(p, tuple) and len(p) == 2 for p in points)
    for point in points:
        assert not any(dominates(other, point) for other in told)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="front"):
        _ = tuning.best
    with pytest.raises(InvalidArgumentError, match="2 number"):
        tuning.tell(tuning.ask(), 0.5)


@pytest.mark.parametrize("db_url", ["sqlite", "postgresql"], indirect=True)
def test_rdb_storage_persists_a_study_that_a_new_tuning_resumes(
    db_url: str, tmp_path: Path
) -> None:
    Path(tmp_path / "data").mkdir(exist_ok=True)
    with Tuning(quadratic_space(), seed=5, budget=10, storage=db_url, name="c4") as first:
        told = run(first, 6)
        first_best = first.best
    with pytest.raises(InvalidArgumentError, match="'c4' already exists"):
        Tuning(quadratic_space(), storage=db_url, name="c4")
    with Tuning.load("c4", db_url, seed=5, budget=10) as resumed:
        assert resumed.space == quadratic_space() and resumed.trials == 6
        assert [t.params for t in resumed.study.trials] == [t.params for t in told]
        best = resumed.best
        assert best is not None and first_best is not None and best.number == first_best.number
        run(resumed, 4)
        assert resumed.done and resumed.trials == 10
    with pytest.raises(InvalidArgumentError, match="'nope' is not in"):
        Tuning.load("nope", db_url)


def test_bad_names_are_refused_with_a_near_name() -> None:
    with pytest.raises(InvalidArgumentError, match=r"sampler 'tpee' is not known.*`tpe`"):
        Tuning(quadratic_space(), sampler="tpee")
    with pytest.raises(InvalidArgumentError, match=r"pruner 'medain' is not known.*`median`"):
        Tuning(quadratic_space(), pruner="medain")
    with pytest.raises(InvalidArgumentError, match=r"direction 'maximise'.*`maximize`"):
        Tuning(quadratic_space(), directions=("maximise",))
    with pytest.raises(InvalidArgumentError, match="budget = 0"):
        Tuning(quadratic_space(), budget=0)
    tuning = Tuning(quadratic_space())
    with pytest.raises(InvalidArgumentError, match=r"value = nan: allowed: a finite number"):
        tuning.tell(tuning.ask(), float("nan"))
