"""Ranking fidelity: how fast ratings recover a known order, uniform pairing vs the ladder.

A synthetic population of 32 agents with hidden strengths ``s ~ Normal(0, SPREAD)``
(logits) plays a stochastic two-player game: Davidson's model, a Bradley-Terry game
with draws, where i beats j, loses or draws in proportion to ``e^s_i``, ``e^s_j`` and
``DRAW * sqrt(e^s_i e^s_j)`` (a win probability of ``logistic(s_i - s_j)`` once draws
are set aside; 13% draws between equals). Ratings are ``OpenSkillRatings()`` with
DevSpark's defaults (PlackettLuce, ``beta = DEFAULT_BETA = 25/16``), updated after
every match, the same for every arm and the same as a real tournament uses. With
openskill's own ``beta`` (25/6) the prior (``sigma = 25/3``) spans only about 1.4
logits of skill, far narrower than this population, and the online ``mu`` spreads out
slowly; 25/16 puts the prior's spread near the population's (uniform pairing is
indifferent to it, within noise). The
same populations and seeds are scheduled by :class:`~devspark.arena.formats.Ladder`
in this run with ``matchmaking="uniform"`` (uniformly random pairs), ``"info_gain"``
and ``"active"`` (the ladder's default), in the ladder's default batches of four pairs
(four matches in flight; the ladder reads the ratings before each batch).
The ladder never sees the hidden strengths, only the ratings' estimates. The population,
the game and the simulation live in ``devspark.testing.populations`` (the ladder's tests
run a smaller version of this comparison).

Every CHECK matches the Kendall tau between the ratings' order (``mu``) and the hidden
strengths is taken and averaged over the populations (``--seeds``, default 0-79).
Reported: the first checkpoint where the mean tau reaches 0.9 for each matchmaking,
their ratio (each focused schedule over uniform; target: ``active`` at most 0.6 of
uniform, the ladder issue's) and ``OpenSkillRatings.update`` calls per second (wall
time inside ``update`` over the whole run, so the figure is end to end through our
wrapper; baseline: openskill's own ``PlackettLuce.rate`` on the same games, same run;
target 10,000/s, set here: faster than the sandbox plays matches).

Flags (each prints what it adds): ``--seeds 0-79,1000-1159`` (any ranges),
``--beta 25/6`` (openskill's default, for comparison), ``--batch``, ``--warmup``,
``--exploration``, ``--concentration`` (the ladder's settings), ``--modes``,
``--bootstrap N`` (a percentile interval of the ratio over populations resampled with
replacement, and its median), ``--split K`` (the ratio on disjoint sets of K
populations) and ``--bradley-terry`` (mean tau at the horizon of a Bradley-Terry
maximum-likelihood fit of the same games, next to OpenSkill's online ``mu``).
Prints one JSON object: uniform_matches_to_tau_0_9, ladder_matches_to_tau_0_9, ratio,
rating_updates_per_s, the settings used and the judged figures (target, met, ratio).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, dataclass
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np
from scipy.stats import kendalltau

from _util import emit, figure, machine

AGENTS = 32
SPREAD = 3.0
SEEDS = "0-79"
CHECK = 50
HORIZON = 1500
TARGET = 0.9
TARGET_RATIO = 0.6
TARGET_UPDATES_PER_S = 10_000.0
MODES = ("uniform", "info_gain", "active")


@dataclass(frozen=True, slots=True)
class Settings:
    """The rating and ladder settings of one run (the defaults are DevSpark's)."""

    beta: float
    batch: int | None
    warmup: int
    exploration: float
    concentration: float
    bradley_terry: bool


class Run(NamedTuple):
    """One population scheduled by one matchmaking."""

    taus: list[float]
    played: int
    updating: float
    raw_updating: float
    bt_tau: float | None


def raw_openskill_seconds(beta: float, games: list[Any]) -> float:
    """Seconds openskill's own ``PlackettLuce.rate`` takes over ``games`` (the baseline)."""
    from openskill.models import PlackettLuce

    model = PlackettLuce(beta=beta)
    ratings: dict[str, Any] = {}
    spent = 0.0
    for outcome in games:
        a, b = outcome.agents
        ra = ratings[a] if a in ratings else model.rating()
        rb = ratings[b] if b in ratings else model.rating()
        start = time.perf_counter()
        if outcome.scores[0] > outcome.scores[1]:
            (ra,), (rb,) = model.rate([[ra], [rb]])
        elif outcome.scores[0] < outcome.scores[1]:
            (rb,), (ra,) = model.rate([[rb], [ra]])
        else:
            (ra,), (rb,) = model.rate([[ra], [rb]], ranks=[1, 1])
        spent += time.perf_counter() - start
        ratings[a], ratings[b] = ra, rb
    return spent


def run(mode: str, seed: int, settings: Settings) -> Run:
    """Taus at every checkpoint, the rating updates and the seconds they took."""
    from devspark.rating.bradley_terry import fit_bradley_terry
    from devspark.testing.populations import LadderSettings, Population, simulate_ladder

    population = Population.draw(seed, AGENTS, SPREAD)
    ladder = LadderSettings(
        beta=settings.beta,
        batch=settings.batch,
        warmup=settings.warmup,
        exploration=settings.exploration,
        concentration=settings.concentration,
    )
    done = simulate_ladder(
        population, mode, matches=HORIZON, seed=seed, check=CHECK, settings=ladder
    )
    bt_tau = None
    if settings.bradley_terry:
        fitted = {row.agent: row.rating for row in fit_bradley_terry(done.games, bootstrap=0)}
        ranked = [fitted[a] for a in population.agents]
        bt_tau = float(kendalltau(ranked, population.strengths).statistic)
    raw = raw_openskill_seconds(settings.beta, done.games)
    return Run(done.taus, len(done.games), done.updating_s, raw, bt_tau)


def matches_to(target: float, mean_taus: np.ndarray) -> int | None:
    """Matches at the first checkpoint whose mean tau reaches ``target``."""
    from devspark.testing.populations import matches_to as first_reached

    return first_reached(target, mean_taus, CHECK)


def ratio_of(curves: dict[str, np.ndarray], mode: str, rows: Any = slice(None)) -> float | None:
    """Matches to tau 0.9 of ``mode`` over uniform's, on the populations ``rows``."""
    uniform = matches_to(TARGET, curves["uniform"][rows].mean(axis=0))
    focused = matches_to(TARGET, curves[mode][rows].mean(axis=0))
    return focused / uniform if uniform and focused else None


def parse_seeds(spec: str) -> list[int]:
    """``"0-79,1000-1159"`` -> the seeds, in order."""
    seeds: list[int] = []
    for part in spec.split(","):
        low, _, high = part.partition("-")
        seeds.extend(range(int(low), int(high or low) + 1))
    return seeds


def parse_args() -> argparse.Namespace:
    from devspark.rating.models import DEFAULT_BETA

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default=SEEDS, help="populations, e.g. 0-79,1000-1159")
    parser.add_argument("--beta", type=Fraction, default=Fraction(DEFAULT_BETA))
    parser.add_argument("--batch", type=int, default=None, help="pairs per batch (4)")
    parser.add_argument("--warmup", type=int, default=4)
    parser.add_argument("--exploration", type=float, default=0.05)
    parser.add_argument("--concentration", type=float, default=2.0)
    parser.add_argument("--modes", default=",".join(MODES), help="uniform is always played")
    parser.add_argument("--bootstrap", type=int, default=0, help="resamples of populations")
    parser.add_argument("--split", type=int, default=0, help="populations per disjoint set")
    parser.add_argument("--bradley-terry", action="store_true")
    return parser.parse_args()


def report_spread(curves: dict[str, np.ndarray], modes: list[str], args: Any) -> dict[str, Any]:
    """The ratio's bootstrap interval and median over populations, and per disjoint set."""
    out: dict[str, Any] = {}
    populations = len(curves["uniform"])
    for mode in modes:
        if args.bootstrap:
            rng = np.random.default_rng(0)
            draws = [
                ratio_of(curves, mode, rng.integers(0, populations, populations))
                for _ in range(args.bootstrap)
            ]
            kept = np.array([d for d in draws if d is not None])
            low, median, high = np.percentile(kept, [5, 50, 95])
            print(
                f"{mode} / uniform over {args.bootstrap} bootstrap resamples of the populations:"
                f" median {median:.2f}, 90% interval {low:.2f}-{high:.2f}"
                f" ({len(draws) - len(kept)} resamples never reached {TARGET})"
            )
            out[f"{mode}_ratio_bootstrap"] = {"low": low, "median": median, "high": high}
        if args.split:
            sets = [
                ratio_of(curves, mode, slice(i, i + args.split))
                for i in range(0, populations - args.split + 1, args.split)
            ]
            shown = ", ".join("n/a" if r is None else f"{r:.2f}" for r in sets)
            print(f"{mode} / uniform on disjoint sets of {args.split} populations: {shown}")
            out[f"{mode}_ratio_sets"] = sets
    return out


def main() -> None:
    from devspark.rating.models import DEFAULT_BETA
    from devspark.testing.populations import DRAW

    args = parse_args()
    load = machine()
    seeds = parse_seeds(args.seeds)
    modes = ["uniform", *(m for m in args.modes.split(",") if m != "uniform")]
    settings = Settings(
        float(args.beta),
        args.batch,
        args.warmup,
        args.exploration,
        args.concentration,
        args.bradley_terry,
    )
    runs = {mode: [run(mode, seed, settings) for seed in seeds] for mode in modes}
    curves = {mode: np.array([r.taus for r in runs[mode]]) for mode in modes}
    mean = {mode: curves[mode].mean(axis=0) for mode in modes}
    every = [r for mode in modes for r in runs[mode]]
    updates = sum(r.played for r in every)
    seconds = sum(r.updating for r in every)
    raw_seconds = sum(r.raw_updating for r in every)
    beta_note = "" if float(args.beta) == DEFAULT_BETA else " (not DevSpark's default)"
    print(
        f"{AGENTS} agents, strengths ~ N(0, {SPREAD}) logits, draw weight {DRAW}, "
        f"{len(seeds)} populations (seeds {args.seeds}), beta {args.beta}{beta_note}"
    )
    print(
        f"batches of {args.batch or 4} pairs, warm-up {args.warmup}, exploration "
        f"{args.exploration}, concentration {args.concentration}; "
        "mean Kendall tau of the ratings' order against the truth"
    )
    print("matches  " + "".join(f"{mode:>11s}" for mode in modes))
    for index in range(1, len(mean["uniform"]), 2):
        row = "".join(f"{mean[mode][index]:11.3f}" for mode in modes)
        print(f"{(index + 1) * CHECK:7d}  {row}")
    reached = {mode: matches_to(TARGET, mean[mode]) for mode in modes}
    print(f"matches to tau >= {TARGET}: " + ", ".join(f"{m} {reached[m]}" for m in modes))
    extra = report_spread(curves, modes[1:], args)
    if args.bradley_terry:
        for mode in modes:
            online = float(np.mean([r.taus[-1] for r in runs[mode]]))
            fitted = float(np.mean([r.bt_tau for r in runs[mode]]))
            print(
                f"{mode}: tau at {HORIZON} matches, OpenSkill online mu {online:.3f}, "
                f"Bradley-Terry fit {fitted:.3f} (difference {fitted - online:+.3f})"
            )
            extra[f"{mode}_tau_openskill_vs_bradley_terry"] = [online, fitted]
    judged = []
    if "active" in modes and reached["uniform"]:
        judged.append(
            figure(
                "ladder (active) matches to mean tau 0.9",
                reached["active"],
                "matches",
                target=TARGET_RATIO * reached["uniform"],
                better="lower",
                target_source=f"{TARGET_RATIO} x uniform, the ladder issue's",
                baseline=reached["uniform"],
                baseline_name="uniform pairing, same populations",
            )
        )
    judged.append(
        figure(
            "OpenSkillRatings.update",
            updates / seconds,
            "updates/s",
            target=TARGET_UPDATES_PER_S,
            better="higher",
            target_source="set here",
            baseline=updates / raw_seconds,
            baseline_name="openskill PlackettLuce.rate on the same games",
        )
    )
    ladder = reached.get("active")
    emit(
        {
            **load,
            "settings": {**asdict(settings), "seeds": args.seeds},
            "uniform_matches_to_tau_0_9": reached["uniform"],
            "ladder_matches_to_tau_0_9": ladder,
            "matches_to_tau_0_9": reached,
            "ratio": ladder / reached["uniform"] if ladder and reached["uniform"] else None,
            "rating_updates_per_s": updates / seconds,
            **extra,
        },
        judged,
    )


if __name__ == "__main__":
    main()
