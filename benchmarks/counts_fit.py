"""Bradley-Terry from pairwise counts at arena scale: seconds per fit, cold and warm.

Synthetic population (``synthetic_counts``): hidden strengths ``Normal(0, 1.5)`` logits;
each match pairs a uniformly drawn agent with a rating neighbour (rank offset
``Normal(0, 25)``, so most opponents lie within 50 ranks) or, one match in twenty, with
any other agent; one game in ten is drawn, the rest are won with the Bradley-Terry
probability. A million matches among 1,000 agents give about 120,000 distinct pairs.

Figures:
- ``fit_pair_counts(..., bootstrap=100)`` on 1,000 agents and 1,000,000 matches
  (target 0.5 s, set by issue 14's board refresh under 1 s). Baseline in the same run:
  ``fit_bradley_terry(outcomes, bootstrap=100)`` at the largest size it manages in a run,
  100 agents and 100,000 matches (its cost grows with the matches).
- The warm point fit (``bootstrap=0, start=`` the fit before the last 1% of the
  matches; target 50 ms, set here: a board refreshed every few seconds). Baseline: the
  cold point fit of the same counts.
- The sparse board: ``fit_pair_counts(..., bootstrap=100)`` on 1,000 agents and
  ``--sparse-matches`` (15,000) matches, 30 games per agent, as per-scenario and
  per-domain boards have (target 0.5 s, set here: a platform has several such boards
  and issue 14's refresh is under 1 s). It takes the sparse path (Newton with
  conjugate gradients); baseline in the same run: the dense path (chord steps on the
  dense Hessian) forced on the same counts. Also printed: 20 resamples with ``start``
  (what a board keeper's refresh renews of one board; aim 0.1 s).

Also printed: CPU seconds to factor the dense Hessian (float32, one BLAS thread) at
1,000 and 4,000 agents, the regime docs/ratings.md describes.

``--agents``/``--matches`` change the size; ``--repeats`` timings are taken (medians).
Figures are wall-clock seconds; the CPU seconds of the same runs are printed beside
them (on a shared machine the wall clock also counts the time other work held the CPU).
Prints one JSON object last: agents, matches, pairs, fit_s, fit_cpu_s, cold_point_s,
warm_point_s, warm_point_cpu_s, baseline_fit_s, same_data_counts_fit_s, sparse_matches,
sparse_pairs, sparse_fit_s, sparse_fit_cpu_s, sparse_dense_path_s, sparse_warm20_s and
the judged figures.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from _util import emit, figure, machine
from devspark.rating import bradley_terry, counts_newton, counts_resampling
from devspark.rating.bradley_terry import fit_bradley_terry
from devspark.rating.counts import PairCounts, fit_pair_counts
from devspark.rating.outcomes import Outcome

TARGET_FIT_S = 0.5
TARGET_WARM_S = 0.05
TARGET_SPARSE_S = 0.5
BOOTSTRAP = 100
DRAW_RATE = 0.1

IntArray = npt.NDArray[np.int64]


def _matches(agents: int, matches: int, seed: int) -> tuple[IntArray, IntArray, IntArray]:
    """Seats ``(a, b)`` and results (0: a won, 1: b won, 2: draw) of simulated matches."""
    rng = np.random.default_rng(seed)
    strength = np.sort(rng.normal(0.0, 1.5, agents))[::-1]  # by rank
    identity = rng.permutation(agents)  # the agent index holding each rank
    rank_a = rng.integers(0, agents, matches)
    offset = np.rint(rng.normal(0.0, 25.0, matches)).astype(np.int64)
    rank_b = rank_a + np.where(offset == 0, 1, offset)
    anyone = (rng.random(matches) < 0.05) | (rank_b < 0) | (rank_b >= agents)
    rank_b[anyone] = (rank_a[anyone] + rng.integers(1, agents, int(anyone.sum()))) % agents
    a_wins = rng.random(matches) < 1.0 / (1.0 + np.exp(strength[rank_b] - strength[rank_a]))
    result = np.where(rng.random(matches) < DRAW_RATE, 2, np.where(a_wins, 0, 1))
    return identity[rank_a], identity[rank_b], result


def _aggregate(
    agents: int, a: IntArray, b: IntArray, result: IntArray
) -> tuple[PairCounts, list[int]]:
    """Per-pair wins, losses and draws (first < second) and matches played per agent."""
    swapped = a > b
    flipped = np.where(swapped & (result < 2), 1 - result, result)
    keys, pair = np.unique(np.minimum(a, b) * agents + np.maximum(a, b), return_inverse=True)
    cells = np.bincount(pair * 3 + flipped, minlength=3 * keys.size).reshape(-1, 3)
    counts = PairCounts(
        first=keys // agents,
        second=keys % agents,
        wins=cells[:, 0].astype(np.float64),
        losses=cells[:, 1].astype(np.float64),
        draws=cells[:, 2].astype(np.float64),
    )
    played = np.bincount(np.concatenate([a, b]), minlength=agents)
    return counts, played.tolist()


def synthetic_counts(agents: int, matches: int, seed: int = 0) -> tuple[PairCounts, list[int]]:
    """Pairwise counts of ``matches`` simulated matches among ``agents``, and matches played.

    The population is described in this module's docstring (neighbours in rating meet
    most, one game in ten is drawn); the result is deterministic given ``seed``.
    """
    return _aggregate(agents, *_matches(agents, matches, seed))


def _outcomes(agents: int, matches: int, seed: int) -> list[Outcome]:
    """The same simulated matches as outcomes, for ``fit_bradley_terry``."""
    scores = {0: (1.0, 0.0), 1: (0.0, 1.0), 2: (0.5, 0.5)}
    a, b, result = _matches(agents, matches, seed)
    return [
        Outcome((f"a{i:04d}", f"a{j:04d}"), scores[r])
        for i, j, r in zip(a.tolist(), b.tolist(), result.tolist(), strict=True)
    ]


def _median_s(run: Callable[[], object], repeats: int) -> float:
    return _timed(run, repeats)[0]


def _timed(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall-clock and median CPU seconds of ``repeats`` runs."""
    wall, cpu = [], []
    for _ in range(repeats):
        started, used = time.perf_counter(), time.process_time()
        run()
        wall.append(time.perf_counter() - started)
        cpu.append(time.process_time() - used)
    return statistics.median(wall), statistics.median(cpu)


def _factor_cpu_s(agents: int) -> float:
    """CPU seconds to factor the Hessian of ``agents`` agents who each met 100 others."""
    rng = np.random.default_rng(agents)
    first = np.repeat(np.arange(agents), 50)
    second = (first + rng.integers(1, agents, first.size)) % agents
    pairs = np.unique(np.stack([np.minimum(first, second), np.maximum(first, second)]), axis=1)
    graph = counts_newton._Graph(agents, pairs[0], pairs[1])
    curvature = rng.uniform(0.5, 2.5, pairs.shape[1])
    with bradley_terry._one_blas_thread():
        return _timed(lambda: graph.factor(curvature), 3)[1]


def _sparse_figures(agents: int, matches: int, repeats: int) -> dict[str, float]:
    """Seconds of the sparse board's fits: sparse path, forced dense path, warm 20."""
    counts, _ = synthetic_counts(agents, matches, seed=2)
    fit = fit_pair_counts(counts, agents, bootstrap=2)
    graph = counts_newton._Graph(agents, counts.first, counts.second)
    assert counts_newton._sparse_board(graph, counts.games), "expected the sparse path"
    fit_s, fit_cpu_s = _timed(lambda: fit_pair_counts(counts, agents, bootstrap=BOOTSTRAP), repeats)
    warm_s = _median_s(
        lambda: fit_pair_counts(counts, agents, bootstrap=20, start=fit.theta), repeats
    )
    # The dense path, as before: both the point fit and the bootstrap ask _sparse_board.
    sparse_board = counts_newton._sparse_board
    counts_newton._sparse_board = lambda graph, games: False
    counts_resampling._sparse_board = lambda graph, games: False
    try:
        dense_s = _median_s(lambda: fit_pair_counts(counts, agents, bootstrap=BOOTSTRAP), 1)
    finally:
        counts_newton._sparse_board = sparse_board
        counts_resampling._sparse_board = sparse_board
    return {
        "pairs": float(counts.first.size),
        "fit_s": fit_s,
        "fit_cpu_s": fit_cpu_s,
        "dense_s": dense_s,
        "warm20_s": warm_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--matches", type=int, default=1_000_000)
    parser.add_argument("--sparse-matches", type=int, default=15_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    load = machine()
    agents, matches, repeats = args.agents, args.matches, args.repeats
    a, b, result = _matches(agents, matches, seed=0)
    counts, _ = _aggregate(agents, a, b, result)
    earlier = matches - matches // 100
    before, _ = _aggregate(agents, a[:earlier], b[:earlier], result[:earlier])
    fit_pair_counts(counts, agents, bootstrap=2)  # imports scipy's modules
    fit_s, fit_cpu_s = _timed(lambda: fit_pair_counts(counts, agents, bootstrap=BOOTSTRAP), repeats)
    cold_s = _median_s(lambda: fit_pair_counts(counts, agents, bootstrap=0), repeats)
    previous = fit_pair_counts(before, agents, bootstrap=0).theta
    warm_s, warm_cpu_s = _timed(
        lambda: fit_pair_counts(counts, agents, bootstrap=0, start=previous), repeats
    )
    factor_s = {size: _factor_cpu_s(size) for size in (1000, 4000)}
    small_agents, small_matches = 100, 100_000
    outcomes = _outcomes(small_agents, small_matches, seed=1)
    small, _ = synthetic_counts(small_agents, small_matches, seed=1)
    baseline_s = _median_s(lambda: fit_bradley_terry(outcomes, bootstrap=BOOTSTRAP), 1)
    same_s = _median_s(lambda: fit_pair_counts(small, small_agents, bootstrap=BOOTSTRAP), repeats)
    sparse = _sparse_figures(agents, args.sparse_matches, repeats)
    pairs = int(counts.first.size)
    print(f"{agents} agents, {matches:,} matches, {pairs:,} pairs, {BOOTSTRAP} resamples")
    print(f"fit with {BOOTSTRAP} resamples {fit_s:.3f} s ({fit_cpu_s:.3f} s of CPU)")
    print(
        f"cold point fit {cold_s * 1e3:.1f} ms, warm point fit {warm_s * 1e3:.1f} ms"
        f" ({warm_cpu_s * 1e3:.1f} ms of CPU)"
    )
    print(
        f"{small_agents} agents, {small_matches:,} matches: fit_bradley_terry {baseline_s:.2f} s,"
        f" fit_pair_counts {same_s:.3f} s"
    )
    for size, seconds in factor_s.items():
        print(f"dense Hessian factor, {size:,} agents: {seconds:.3f} s of CPU")
    print(
        f"sparse board, {agents} agents, {args.sparse_matches:,} matches "
        f"({int(sparse['pairs']):,} pairs): {BOOTSTRAP} resamples {sparse['fit_s']:.3f} s "
        f"({sparse['fit_cpu_s']:.3f} s of CPU), dense path {sparse['dense_s']:.3f} s, "
        f"20 resamples with start {sparse['warm20_s']:.3f} s"
    )
    judged = [
        figure(
            f"counts fit with {BOOTSTRAP} Poisson resamples, {agents} agents, "
            f"{matches:,} matches ({pairs:,} pairs)",
            fit_s,
            "s",
            target=TARGET_FIT_S,
            better="lower",
            target_source="issue 14 (board refresh under 1 s)",
            baseline=baseline_s,
            baseline_name=f"fit_bradley_terry, {small_agents} agents, {small_matches:,} matches",
        ),
        figure(
            "warm point fit after 1% more matches",
            warm_s,
            "s",
            target=TARGET_WARM_S,
            better="lower",
            target_source="set here",
            baseline=cold_s,
            baseline_name="cold point fit of the same counts",
        ),
        figure(
            f"sparse board: counts fit with {BOOTSTRAP} resamples, {agents} agents, "
            f"{args.sparse_matches:,} matches ({int(sparse['pairs']):,} pairs)",
            sparse["fit_s"],
            "s",
            target=TARGET_SPARSE_S,
            better="lower",
            target_source="set here (per-scenario boards in a refresh under 1 s)",
            baseline=sparse["dense_s"],
            baseline_name="the dense path (chord steps) on the same counts",
        ),
    ]
    emit(
        {
            **load,
            "agents": agents,
            "matches": matches,
            "pairs": pairs,
            "fit_s": fit_s,
            "fit_cpu_s": fit_cpu_s,
            "cold_point_s": cold_s,
            "warm_point_s": warm_s,
            "warm_point_cpu_s": warm_cpu_s,
            "baseline_fit_s": baseline_s,
            "same_data_counts_fit_s": same_s,
            "factor_cpu_s": {str(size): seconds for size, seconds in factor_s.items()},
            "sparse_matches": args.sparse_matches,
            "sparse_pairs": int(sparse["pairs"]),
            "sparse_fit_s": sparse["fit_s"],
            "sparse_fit_cpu_s": sparse["fit_cpu_s"],
            "sparse_dense_path_s": sparse["dense_s"],
            "sparse_warm20_s": sparse["warm20_s"],
        },
        judged,
    )


if __name__ == "__main__":
    main()
