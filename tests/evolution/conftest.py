"""A mixed parameter space: every kind of parameter, log scales and a fixed value."""

from __future__ import annotations

import pytest

from devspark.core.manifest import BoolParam, ChoiceParam, FloatParam, IntParam
from devspark.evolution.genome import GenomeSpace


def mixed_space() -> GenomeSpace:
    return GenomeSpace(
        {
            "x": FloatParam(type="float", low=-5.0, high=5.0, default=-4.0),
            "rate": FloatParam(type="float", low=1e-4, high=1.0, default=0.01, log=True),
            "depth": IntParam(type="int", low=0, high=10, default=0),
            "width": IntParam(type="int", low=1, high=1000, default=8, log=True),
            "fixed": IntParam(type="int", low=3, high=3, default=3),
            "greedy": BoolParam(type="bool", default=False),
            "style": ChoiceParam(type="choice", choices=["calm", "bold", 7], default="calm"),
        }
    )


@pytest.fixture
def space() -> GenomeSpace:
    return mixed_space()
