"""Bradley-Terry fit with bootstrap intervals: seconds per fit, BLAS on one thread vs many.

Fits ``fit_bradley_terry`` (200 bootstrap resamples, the default) on 2,000 matches among
32 agents with hidden strengths ``Normal(0, 1)`` logits (seeded, decisive games), the
size docs/ratings.md quotes. ``fit_bradley_terry`` runs scipy's OpenBLAS on one thread
(``_one_blas_thread``): L-BFGS-B makes many tiny BLAS calls, and waking several BLAS
threads for each costs more than the call. The baseline, in the same run, is the same
fit with that guard replaced by a no-op, so OpenBLAS uses as many threads as it is
configured for (its default: one per CPU).
Target (set here): a fit of that size in at most 0.5 s, so a published table with
intervals costs well under a second. ``--repeats`` fits are timed (median reported).
Prints one JSON object: fit_s, multithreaded_fit_s, blas_threads, ratio and the judged
figure (target, met, ratio).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import statistics
import time

from _util import emit, figure, machine
from devspark.rating import bradley_terry
from devspark.rating.bradley_terry import fit_bradley_terry
from devspark.rating.outcomes import Outcome

AGENTS = 32
MATCHES = 2000
BOOTSTRAP = 200
TARGET_S = 0.5


def outcomes(seed: int = 0) -> list[Outcome]:
    rng = random.Random(seed)
    strength = [rng.gauss(0.0, 1.0) for _ in range(AGENTS)]
    games = []
    for _ in range(MATCHES):
        i, j = rng.sample(range(AGENTS), 2)
        win = rng.random() < 1 / (1 + math.exp(strength[j] - strength[i]))
        games.append(Outcome((f"a{i}", f"a{j}"), (1.0, 0.0) if win else (0.0, 1.0)))
    return games


def fit_seconds(games: list[Outcome], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        fit_bradley_terry(games, bootstrap=BOOTSTRAP)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    repeats = parser.parse_args().repeats
    load = machine()
    games = outcomes()
    fit_bradley_terry(games[:50], bootstrap=2)  # imports scipy.optimize and friends
    library = bradley_terry._scipy_openblas()
    threads = library.scipy_openblas_get_num_threads() if library is not None else None
    single = fit_seconds(games, repeats)
    guard = bradley_terry._one_blas_thread
    bradley_terry._one_blas_thread = contextlib.nullcontext  # type: ignore[assignment]
    try:
        multi = fit_seconds(games, repeats)
    finally:
        bradley_terry._one_blas_thread = guard
    print(f"{MATCHES} matches, {AGENTS} agents, {BOOTSTRAP} bootstrap resamples")
    print(f"BLAS on one thread (as shipped): {single:.3f} s per fit")
    print(f"BLAS on {threads} threads (baseline):   {multi:.3f} s per fit")
    judged = figure(
        "Bradley-Terry fit with intervals",
        single,
        "s",
        target=TARGET_S,
        better="lower",
        target_source="set here",
        baseline=multi,
        baseline_name=f"the same fit with OpenBLAS on {threads} threads",
    )
    emit(
        {
            **load,
            "fit_s": single,
            "multithreaded_fit_s": multi,
            "blas_threads": threads,
            "ratio": single / multi,
        },
        [judged],
    )


if __name__ == "__main__":
    main()
