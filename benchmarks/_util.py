"""Shared helpers for the benchmarks (each benchmark stays runnable on its own)."""

from __future__ import annotations

import json
import os
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[float]) -> float:
    """The median."""
    return statistics.median(values)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


@dataclass(frozen=True, slots=True)
class Figure:
    """One published figure: its value, its target and a baseline from the same run.

    Attributes:
        name: What is measured, e.g. ``"sandboxed tic-tac-toe"``.
        value: The figure (``None`` when it could not be reached, e.g. a curve that
            never crossed its threshold: the target is then not met).
        unit: Its unit, e.g. ``"matches/s"``.
        target: The value it should reach.
        better: ``"higher"`` (the target is a floor) or ``"lower"`` (a ceiling).
        target_source: Where the target comes from (an issue, the design, this file).
        baseline: The baseline's value, measured in the same run.
        baseline_name: What the baseline is.
        met: Whether the figure reaches its target.
        ratio: ``value / baseline`` (``None`` without a value or with a zero baseline).
    """

    name: str
    value: float | None
    unit: str
    target: float
    better: Literal["higher", "lower"]
    target_source: str
    baseline: float
    baseline_name: str
    met: bool
    ratio: float | None

    def line(self) -> str:
        """The figure on one line: value, target, met or not, baseline and ratio."""
        sign = ">=" if self.better == "higher" else "<="
        value = "not reached" if self.value is None else f"{_fmt(self.value)} {self.unit}"
        ratio = "n/a" if self.ratio is None else f"{self.ratio:.3g}"
        return (
            f"FIGURE {self.name}: {value} | target {sign} {_fmt(self.target)} {self.unit} "
            f"({self.target_source}): {'MET' if self.met else 'NOT MET'} | baseline "
            f"{self.baseline_name}: {_fmt(self.baseline)} {self.unit} | ratio {ratio}"
        )


def _fmt(value: float) -> str:
    if value == int(value) and abs(value) >= 100:
        return f"{int(value):,}"
    return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"


def figure(
    name: str,
    value: float | None,
    unit: str,
    *,
    target: float,
    better: Literal["higher", "lower"],
    target_source: str,
    baseline: float,
    baseline_name: str,
) -> Figure:
    """Judge ``value`` against ``target`` and ``baseline``, print it and return it.

    Every benchmark reports each of its published figures through this function, so
    each prints the figure, its target, whether the target was met and the ratio to a
    baseline measured in the same run, in the same words.
    """
    if value is None:
        met, ratio = False, None
    else:
        met = value >= target if better == "higher" else value <= target
        ratio = value / baseline if baseline else None
    result = Figure(
        name, value, unit, target, better, target_source, baseline, baseline_name, met, ratio
    )
    print(result.line())
    return result


def machine() -> dict[str, Any]:
    """Print and return the CPUs and the load average the figures were measured under.

    The benchmarks run on shared machines; a load average above the CPU count means
    other work competed for them, so absolute figures are low and ratios to a
    same-run baseline are the figures to compare.
    """
    cpus = os.cpu_count() or 1
    load = os.getloadavg()[0]
    note = " (loaded: other work shared the CPUs)" if load > 0.5 * cpus else ""
    print(f"machine: {cpus} CPUs, load average {load:.1f} over the last minute{note}")
    return {"cpus": cpus, "load_1min": load}


def emit(figures: dict[str, Any], judged: list[Figure] | None = None) -> None:
    """Print the benchmark's one JSON object (last line of output).

    Args:
        figures: The benchmark's own keys (raw measurements).
        judged: The figures reported through :func:`figure`, added as ``"figures"``
            (each with its target, ``met`` and ``ratio``) with ``"all_met"``.
    """
    out = dict(figures)
    if judged is not None:
        out["figures"] = [asdict(f) for f in judged]
        out["all_met"] = all(f.met for f in judged)
    print(json.dumps(_rounded(out)))


def sandboxed_matches_per_s(scenario: str, agents: tuple[str, ...], matches: int) -> float:
    """Matches per second of ``agents`` in sandboxes, warm workers, one process per core."""
    import os
    import time

    from devspark.arena.match import MatchSpec
    from devspark.arena.pool import run_matches

    workers = os.cpu_count() or 1
    specs = [MatchSpec(scenario, agents, seed=i) for i in range(matches)]
    warmup = specs[: workers * 32]
    list(run_matches(warmup, workers=workers, batch=32))  # fork, start and warm the agents
    start = time.perf_counter()
    results = list(run_matches(specs, workers=workers, batch=100))
    elapsed = time.perf_counter() - start
    faults = [a.status for r in results for a in r.agents if a.status != "ok"]
    assert not faults, faults[:5]
    return len(results) / elapsed


def pettingzoo_random_episodes_per_s(env: Any, episodes: int) -> float:
    """Episodes per second of uniformly random masked play in a PettingZoo AEC env."""
    import random
    import time

    rng = random.Random(0)
    start = time.perf_counter()
    for episode in range(episodes):
        env.reset(seed=episode)
        for _agent in env.agent_iter():
            observation, _, terminated, truncated, _ = env.last()
            if terminated or truncated:
                action = None
            else:
                mask = observation["action_mask"]
                action = rng.choice([i for i, legal in enumerate(mask) if legal])
            env.step(action)
    return episodes / (time.perf_counter() - start)
