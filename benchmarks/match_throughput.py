"""Tic-tac-toe matches per second between two sandboxed ``builtin:random`` agents.

Warm workers (each executor process keeps its two sandboxes across matches), one
executor process per core. Next to it, in the same run, PettingZoo's own
``tictactoe_v3`` played in-process by random policies (no sandbox, no protocol), the
figure a user would get from a plain PettingZoo loop.
Prints one JSON object: matches_per_s, pettingzoo_matches_per_s.
"""

from __future__ import annotations

import os
import random
import time

from _util import emit
from devspark.arena.match import MatchSpec
from devspark.arena.pool import run_matches

MATCHES = 6000
PETTINGZOO_EPISODES = 2000


def sandboxed_matches_per_s() -> float:
    workers = os.cpu_count() or 1
    specs = [
        MatchSpec("tictactoe", ("builtin:random", "builtin:random"), seed=i) for i in range(MATCHES)
    ]
    warmup = specs[: workers * 32]
    list(run_matches(warmup, workers=workers, batch=32))  # fork, start and warm both pools' agents
    start = time.perf_counter()
    results = list(run_matches(specs, workers=workers, batch=100))
    elapsed = time.perf_counter() - start
    faults = [a.status for r in results for a in r.agents if a.status != "ok"]
    assert not faults, faults[:5]
    return len(results) / elapsed


def pettingzoo_matches_per_s() -> float:
    from pettingzoo.classic import tictactoe_v3

    env = tictactoe_v3.env()
    rng = random.Random(0)
    start = time.perf_counter()
    for episode in range(PETTINGZOO_EPISODES):
        env.reset(seed=episode)
        for _agent in env.agent_iter():
            observation, _, terminated, truncated, _ = env.last()
            if terminated or truncated:
                action = None
            else:
                mask = observation["action_mask"]
                action = rng.choice([i for i, legal in enumerate(mask) if legal])
            env.step(action)
    return PETTINGZOO_EPISODES / (time.perf_counter() - start)


def main() -> None:
    pettingzoo = pettingzoo_matches_per_s()
    print(f"pettingzoo tictactoe_v3 in-process: {pettingzoo:8.0f} matches/s")
    sandboxed = sandboxed_matches_per_s()
    print(f"sandboxed random vs random:         {sandboxed:8.0f} matches/s")
    emit({"matches_per_s": sandboxed, "pettingzoo_matches_per_s": pettingzoo})


if __name__ == "__main__":
    main()
