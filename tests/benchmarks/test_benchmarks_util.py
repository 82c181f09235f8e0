"""The one report helper every benchmark prints its figures with (benchmarks/_util.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from _util import emit, figure  # benchmarks/ is not a package, so it goes on the path


def test_a_floor_target_is_met_at_or_above_it_and_the_ratio_is_to_the_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    met = figure(
        "matches",
        500.0,
        "matches/s",
        target=400.0,
        better="higher",
        target_source="issue",
        baseline=250.0,
        baseline_name="pettingzoo",
    )
    missed = figure(
        "matches",
        399.0,
        "matches/s",
        target=400.0,
        better="higher",
        target_source="issue",
        baseline=250.0,
        baseline_name="pettingzoo",
    )
    assert (met.met, met.ratio) == (True, 2.0)
    assert missed.met is False
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "FIGURE matches: 500 matches/s | target >= 400 matches/s (issue): MET | "
        "baseline pettingzoo: 250 matches/s | ratio 2"
    )
    assert ": NOT MET |" in lines[1]


def test_a_ceiling_target_and_a_figure_never_reached(capsys: pytest.CaptureFixture[str]) -> None:
    latency = figure(
        "p50",
        30.0,
        "ms",
        target=25.0,
        better="lower",
        target_source="issue",
        baseline=6.0,
        baseline_name="bare",
    )
    never = figure(
        "matches to tau",
        None,
        "matches",
        target=600.0,
        better="lower",
        target_source="issue",
        baseline=1000.0,
        baseline_name="uniform",
    )
    assert (latency.met, latency.ratio) == (False, 5.0)
    assert (never.met, never.ratio) == (False, None)
    assert "not reached" in capsys.readouterr().out.splitlines()[1]


def test_emit_prints_every_judged_figure_and_whether_all_were_met(
    capsys: pytest.CaptureFixture[str],
) -> None:
    judged = [
        figure(
            "a",
            1.23456,
            "s",
            target=2.0,
            better="lower",
            target_source="here",
            baseline=2.0,
            baseline_name="b",
        )
    ]
    capsys.readouterr()
    emit({"raw": 1.23456}, judged)
    out = json.loads(capsys.readouterr().out)
    assert out["raw"] == 1.235
    assert out["all_met"] is True
    assert out["figures"][0] | {"value": None} == {
        "name": "a",
        "value": None,
        "unit": "s",
        "target": 2.0,
        "better": "lower",
        "target_source": "here",
        "baseline": 2.0,
        "baseline_name": "b",
        "met": True,
        "ratio": 0.617,
    }
