"""Ladder matchmaking cost: milliseconds per ``Ladder.next_round()`` as the entrants grow.

A population of hidden strengths ``Normal(0, 3)`` logits (``devspark.testing.populations``)
is rated by ``OpenSkillRatings()`` (DevSpark's defaults) over ``4 n`` uniformly random
Davidson games first, so the ratings are spread and uncertain as on a young ladder.
Then a ``Ladder`` (``matchmaking="active"`` by default, batches of 4, ``warmup=0`` so
every timed batch runs the focused rule, the costly one) schedules ``--batches``
batches; each batch is played, its outcomes update the ratings and are recorded, and
only ``next_round()`` is timed (wall clock, ``time.perf_counter``), after one untimed
batch (it imports scipy and fills the ladder's caches).

Ladders above ``EXACT_AGENTS`` (64) agents sample candidate pairs in ``O(n k)`` per
batch (issue 14: matchmaking time must not grow with the square of the entrants). The
baseline, measured in the same run, is the full-table pick ladders used before (and
small ladders still use): the same ``Ladder`` with ``EXACT_AGENTS`` raised above the
size, which weighs all ``n (n - 1) / 2`` pairs every batch. It runs at 100 and 1,000
agents (``--baseline-batches`` batches; at 10,000 its tables would take gigabytes).

Figures: p99 ms per pick at 1,000 agents (target 10 ms, set here: well under a match's
own duration; baseline the full-table pick at 1,000), and the growth of the p50 from
1,000 to 10,000 agents (target at most 20x: linear growth is 10x, quadratic 100x;
baseline the full-table pick's growth from 100 to 1,000 agents, same run). Flags:
``--sizes 100,1000,10000``, ``--batches``, ``--baseline-batches``, ``--matchmaking``,
``--seed``. Prints one JSON object: per size ``p50_ms``, ``p99_ms``, ``mean_ms`` for
the sampled and the full-table pick, the growth ratios and the judged figures.
``pick_ms()`` is the measurement, for ``benchmarks/scale.py``.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

import numpy as np

from _util import emit, figure, machine, percentile
from devspark.arena.formats import Ladder, _ladder
from devspark.rating.models import OpenSkillRatings
from devspark.rating.outcomes import Outcome
from devspark.testing.populations import Population, play_davidson

SIZES = "100,1000,10000"
BATCHES = 200
BASELINE_BATCHES = 50
BASELINE_SIZES = (100, 1000)
TARGET_P99_MS = 10.0
TARGET_GROWTH = 20.0


def pick_ms(
    agents: int = 1000,
    batches: int = 200,
    seed: int = 0,
    *,
    matchmaking: str = "active",
    full_table: bool = False,
) -> dict[str, float]:
    """Milliseconds per ``Ladder.next_round()`` with ``agents`` entrants.

    Args:
        agents: Entrants.
        batches: Batches timed (each played, rated and recorded before the next).
        seed: Seeds the population, the games and the ladder.
        matchmaking: The ladder's rule.
        full_table: Weigh every pair each batch (the pick before issue 14, and the
            one small ladders keep) instead of sampling candidates.

    Returns:
        ``p50_ms``, ``p99_ms`` and ``mean_ms`` over the timed batches.

    """
    population = Population.draw(seed, agents, 3.0)
    hidden = dict(zip(population.agents, population.strengths, strict=True))
    ratings = OpenSkillRatings(keep_history=False)
    rng = random.Random(seed + 1)
    for _ in range(4 * agents):  # a young ladder: spread but uncertain ratings
        a, b = rng.sample(population.agents, 2)
        ratings.update(Outcome((a, b), play_davidson(rng, hidden[a], hidden[b])))
    exact = _ladder.EXACT_AGENTS
    _ladder.EXACT_AGENTS = agents if full_table else exact
    try:
        ladder = Ladder(
            population.agents,
            ratings,
            matches=(batches + 1) * 4,
            seed=seed,
            batch=4,
            matchmaking=matchmaking,
            warmup=0,
        )
    finally:
        _ladder.EXACT_AGENTS = exact
    spent = []
    while not ladder.done:
        start = time.perf_counter()
        batch = ladder.next_round()
        if ladder.rounds_issued > 1:  # the first imports scipy and fills the caches
            spent.append(1000 * (time.perf_counter() - start))
        for pairing in batch:
            a, b = pairing.agents
            outcome = Outcome(pairing.agents, play_davidson(rng, hidden[a], hidden[b]))
            ratings.update(outcome)
            ladder.record(pairing, outcome)
    return {
        "p50_ms": percentile(spent, 50),
        "p99_ms": percentile(spent, 99),
        "mean_ms": sum(spent) / len(spent),
    }


def fidelity(
    agents: int, populations: int, horizon: int, check: int, matchmaking: str
) -> dict[str, list[float]]:
    """Mean Kendall tau every ``check`` matches: uniform, sampled and full-table picks.

    ``devspark.testing.populations.simulate_ladder`` (the ranking fidelity benchmark's
    simulation, DevSpark's ladder defaults) on ``populations`` seeded populations of
    ``agents``; the full-table arm raises ``EXACT_AGENTS`` above ``agents``.
    """
    from devspark.testing.populations import simulate_ladder

    def curve(mode: str, full_table: bool) -> list[float]:
        exact = _ladder.EXACT_AGENTS
        _ladder.EXACT_AGENTS = agents if full_table else exact
        try:
            runs = [
                simulate_ladder(
                    Population.draw(seed, agents, 3.0),
                    mode,
                    matches=horizon,
                    seed=seed,
                    check=check,
                ).taus
                for seed in range(populations)
            ]
        finally:
            _ladder.EXACT_AGENTS = exact
        return [float(tau) for tau in np.mean(runs, axis=0)]

    return {
        "uniform": curve("uniform", False),
        f"{matchmaking}_sampled": curve(matchmaking, False),
        f"{matchmaking}_full_table": curve(matchmaking, True),
    }


def report_fidelity(args: argparse.Namespace) -> None:
    """``--fidelity N``: the sampled pick ranks as well as the full table at N agents."""
    from devspark.testing.populations import matches_to

    curves = fidelity(args.fidelity, args.populations, args.horizon, args.check, args.matchmaking)
    print(
        f"{args.fidelity} agents, {args.populations} populations, mean Kendall tau every "
        f"{args.check} matches"
    )
    print("matches  " + "".join(f"{name:>22s}" for name in curves))
    for index in range(len(curves["uniform"])):
        row = "".join(f"{curve[index]:22.3f}" for curve in curves.values())
        print(f"{(index + 1) * args.check:7d}  {row}")
    reached = {
        name: matches_to(args.tau, np.asarray(curve), args.check) for name, curve in curves.items()
    }
    print(f"matches to tau >= {args.tau}: " + ", ".join(f"{k} {v}" for k, v in reached.items()))
    emit(
        {
            "agents": args.fidelity,
            "populations": args.populations,
            "curves": curves,
            "matches_to_tau": reached,
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=SIZES, help="entrants, comma-separated")
    parser.add_argument("--batches", type=int, default=BATCHES)
    parser.add_argument("--baseline-batches", type=int, default=BASELINE_BATCHES)
    parser.add_argument("--matchmaking", default="active")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fidelity", type=int, default=0, help="agents: compare rankings")
    parser.add_argument("--populations", type=int, default=8)
    parser.add_argument("--horizon", type=int, default=8000)
    parser.add_argument("--check", type=int, default=500)
    parser.add_argument("--tau", type=float, default=0.9)
    args = parser.parse_args()
    load = machine()
    if args.fidelity:
        report_fidelity(args)
        return
    sizes = [int(size) for size in args.sizes.split(",")]
    sampled: dict[int, dict[str, float]] = {}
    full: dict[int, dict[str, float]] = {}
    print(f"matchmaking {args.matchmaking}, batches of 4, ms per next_round()")
    for size in sizes:
        sampled[size] = pick_ms(size, args.batches, args.seed, matchmaking=args.matchmaking)
        line = f"{size:>6} agents: sampled p50 {sampled[size]['p50_ms']:.2f} p99 "
        line += f"{sampled[size]['p99_ms']:.2f}"
        if size in BASELINE_SIZES:
            full[size] = pick_ms(
                size,
                args.baseline_batches,
                args.seed,
                matchmaking=args.matchmaking,
                full_table=True,
            )
            line += f" | full table p50 {full[size]['p50_ms']:.2f} p99 {full[size]['p99_ms']:.2f}"
        print(line)
    judged = []
    if 1000 in sampled and 1000 in full:
        judged.append(
            figure(
                f"ladder pick ({args.matchmaking}), 1,000 agents, p99",
                sampled[1000]["p99_ms"],
                "ms",
                target=TARGET_P99_MS,
                better="lower",
                target_source="set here; issue 14 asks for no n^2 growth",
                baseline=full[1000]["p99_ms"],
                baseline_name="the full-table pick at 1,000 agents, same run",
            )
        )
    growth = None
    if 1000 in sampled and 10000 in sampled:
        growth = sampled[10000]["p50_ms"] / sampled[1000]["p50_ms"]
        old_growth = (
            full[1000]["p50_ms"] / full[100]["p50_ms"] if 100 in full and 1000 in full else 0.0
        )
        judged.append(
            figure(
                "ladder pick p50 growth, 10,000 vs 1,000 agents",
                growth,
                "x",
                target=TARGET_GROWTH,
                better="lower",
                target_source="set here: linear growth is 10x, quadratic 100x",
                baseline=old_growth,
                baseline_name="the full-table pick's growth from 100 to 1,000 agents, same run",
            )
        )
    out: dict[str, Any] = {
        **load,
        "matchmaking": args.matchmaking,
        "sampled": {str(size): figures for size, figures in sampled.items()},
        "full_table": {str(size): figures for size, figures in full.items()},
        "growth_10000_vs_1000": growth,
    }
    emit(out, judged)


if __name__ == "__main__":
    main()
