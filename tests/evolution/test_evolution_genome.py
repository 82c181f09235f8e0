from __future__ import annotations

import random

import numpy as np
import pytest

from devspark.core.errors import InvalidArgumentError
from devspark.core.manifest import FloatParam, parse_manifest
from devspark.evolution.genome import GenomeSpace


def test_defaults_round_trip_exactly_through_genes(space: GenomeSpace) -> None:
    assert space.decode(space.default_genes()) == space.defaults()
    assert space.defaults() == {
        "x": -4.0, "rate": 0.01, "depth": 0, "width": 8, "fixed": 3, "greedy": False,
        "style": "calm",
    }  # fmt: skip


def test_decode_rounds_and_clips_ints_bools_and_choices(space: GenomeSpace) -> None:
    values = space.decode((9.0, 5.0, 6.6, 100.0, 2.0, 0.7, 1.6))
    assert values == {
        "x": 5.0, "rate": 1.0, "depth": 7, "width": 1000, "fixed": 3, "greedy": True,
        "style": 7,
    }  # fmt: skip
    assert type(values["depth"]) is int and type(values["greedy"]) is bool


def test_repair_is_encode_of_decode(space: GenomeSpace) -> None:
    genes = (9.0, -3.3, 6.6, 2.2, 2.0, 0.2, -1.0)
    assert space.repair(genes) == space.encode(space.decode(genes))


def test_sample_is_valid_and_seeded_with_either_generator(space: GenomeSpace) -> None:
    for rng_a, rng_b in (
        (random.Random(5), random.Random(5)),
        (np.random.default_rng(5), np.random.default_rng(5)),
    ):
        drawn = [space.sample(rng_a) for _ in range(200)]
        assert drawn == [space.sample(rng_b) for _ in range(200)]
        for genes in drawn:
            assert space.repair(genes) == genes
            assert space.validate(space.decode(genes)) == space.decode(genes)


def test_sample_gives_every_choice_and_both_int_ends(space: GenomeSpace) -> None:
    rng = random.Random(0)
    values = [space.decode(space.sample(rng)) for _ in range(600)]
    assert {v["style"] for v in values} == {"calm", "bold", 7}
    assert {v["greedy"] for v in values} == {True, False}
    depths = [v["depth"] for v in values]
    assert depths.count(0) > 25 and depths.count(10) > 25  # about 600 / 11 each


def test_validate_fills_defaults_and_accepts_whole_floats_for_ints(space: GenomeSpace) -> None:
    values = space.validate({"depth": 4.0, "style": 7})
    assert values["depth"] == 4 and type(values["depth"]) is int
    assert values["x"] == -4.0 and values["style"] == 7


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"dpeth": 3},
            r"unknown parameter 'dpeth' \(did you mean `depth`.*; known parameters: x, rate, depth",
        ),
        ({"depth": 11}, r"parameter 'depth' = 11: out of range; allowed: an integer in \[0, 10\]"),
        ({"depth": 2.5}, r"parameter 'depth' = 2.5: not an integer"),
        ({"x": "1"}, r"parameter 'x' = '1': not a number; allowed: a number in \[-5.0, 5.0\]"),
        ({"x": float("nan")}, r"parameter 'x' = nan: not a finite number"),
        ({"greedy": 1}, r"parameter 'greedy' = 1: not a boolean; allowed: true or false"),
        (
            {"style": True},
            r"parameter 'style' = True: not one of the choices; allowed: one of \['calm', 'bold', 7\]",
        ),
        (
            {"rate": 2.0},
            r"parameter 'rate' = 2.0: out of range; allowed: a number in \[0.0001, 1.0\]",
        ),
    ],
)
def test_validate_names_parameter_value_and_what_is_allowed(
    space: GenomeSpace, values: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        space.validate(values)


def test_decode_refuses_wrong_length_and_non_finite_genes(space: GenomeSpace) -> None:
    with pytest.raises(InvalidArgumentError, match="genome has 2 genes; allowed: 7"):
        space.decode((0.0, 1.0))
    with pytest.raises(InvalidArgumentError, match="gene 'x' = inf: not a finite number"):
        space.decode((float("inf"), 0, 0, 0, 3, 0, 0))


def test_log_scale_needs_positive_low() -> None:
    spec = FloatParam(type="float", low=0.0, high=1.0, default=0.5, log=True)
    with pytest.raises(InvalidArgumentError, match="parameter 'lr': log = true needs low > 0"):
        GenomeSpace({"lr": spec})


def test_space_from_manifest_and_json_round_trip() -> None:
    manifest = parse_manifest(
        {
            "name": "tuned", "version": "1.0.0", "language": "python", "entrypoint": "main.py",
            "license": "MIT",
            "parameters": {
                "weight": {"type": "float", "low": 0.0, "high": 2.0, "default": 1.0},
                "mode": {"type": "choice", "choices": ["a", "b"], "default": "b"},
            },
        }
    )  # fmt: skip
    space = GenomeSpace.from_manifest(manifest)
    assert space.names == ("weight", "mode")
    assert space.defaults() == manifest.default_params()
    assert GenomeSpace.from_json(space.to_json()) == space
    with pytest.raises(InvalidArgumentError, match="parameter space"):
        GenomeSpace.from_json({"weight": {"type": "flaot"}})
