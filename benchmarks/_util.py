"""Shared helpers for the benchmarks (each benchmark stays runnable on its own)."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

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


def emit(figures: dict[str, Any]) -> None:
    """Print the benchmark's one JSON object (last line of output)."""
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()}))


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
