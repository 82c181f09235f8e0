"""Swiss pairing: seconds to pair one round of 1,024 entrants, over a whole Swiss.

Plays a whole Swiss (default rounds, ``ceil(log2 n) + 1`` = 11 for 1,024) with random
outcomes (seeded: a draw one time in ten, otherwise a coin flip) and times every
``Swiss.next_round()`` call: ordering the table, choosing the bye, pairing, seating.
Reports the worst and the mean round.
Target (issue 14): every round for 1,024 entrants in under 1 s on this machine.
Baseline, in the same run: the pairing before issue 14 (a full maximum matching for
every candidate tried, kept below as :func:`exact_pair_round` and
:func:`exact_choose_bye`) on 256 entrants, where it still finishes, and today's
pairing on the same 256 (the ratio between the two).
Prints one JSON object: entrants, rounds, worst_round_s, mean_round_s, the 256-entrant
figures of both and the judged figure.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Collection, Mapping, Sequence

from _util import emit, figure, machine
from devspark.arena.formats import Swiss
from devspark.arena.formats._matching import matching_size
from devspark.rating.outcomes import Outcome

TARGET_S = 1.0
BASELINE_ENTRANTS = 256


def _fresh_pairs(players: Sequence[str], met: Mapping[str, Collection[str]]) -> int:
    index = {p: i for i, p in enumerate(players)}
    return matching_size(
        [[index[q] for q in players if q != p and q not in met[p]] for p in players]
    )


def exact_pair_round(
    players: Sequence[str], met: Mapping[str, Collection[str]]
) -> list[tuple[str, str]]:
    """The pairing before issue 14: a full maximum matching for every candidate tried."""
    remaining, pairs = list(players), []
    target = _fresh_pairs(remaining, met)
    while remaining:
        top, rest = remaining[0], remaining[1:]
        fresh = [c for c in rest if c not in met[top]]
        for choice in fresh + [c for c in rest if c in met[top]]:
            others = [p for p in rest if p != choice]
            gain = 1 if choice in fresh else 0
            if not others or gain + _fresh_pairs(others, met) == target:
                break
        pairs.append((top, choice))
        remaining, target = others, target - gain
    return pairs


def exact_choose_bye(
    order: Sequence[str], met: Mapping[str, Collection[str]], byes: Mapping[str, int]
) -> str:
    """The bye before issue 14: a full maximum matching for every candidate tried."""
    fewest = min(byes[p] for p in order)
    candidates = [p for p in reversed(order) if byes[p] == fewest]
    best, best_size = candidates[0], -1
    for candidate in candidates:
        size = _fresh_pairs([p for p in order if p != candidate], met)
        if size == (len(order) - 1) // 2:
            return candidate
        if size > best_size:
            best, best_size = candidate, size
    return best


class ExactSwiss(Swiss):
    """:class:`Swiss` pairing as before issue 14 (the baseline)."""

    def _choose_bye(self, order: list[str]) -> str:
        return exact_choose_bye(order, self._met_sets(), self._bye_count)

    def _pair(self, players: list[str]) -> list[tuple[str, str]]:
        return exact_pair_round(players, self._met_sets())


def round_pairing_s(
    entrants: int = 1024, played_rounds: int | None = None, seed: int = 0, *, exact: bool = False
) -> dict[str, float]:
    """Seconds per ``next_round()`` over a whole Swiss with random outcomes.

    Args:
        entrants: Agents in the Swiss.
        played_rounds: Rounds to play; default the Swiss default (``ceil(log2 n) + 1``).
        seed: Seeds the outcomes.
        exact: Time the pairing before issue 14 (:class:`ExactSwiss`) instead.

    Returns:
        ``worst_round_s``, ``mean_round_s`` and ``rounds``.

    """
    cls = ExactSwiss if exact else Swiss
    swiss = cls([f"agent-{i:04d}" for i in range(entrants)], rounds=played_rounds, seed=seed)
    rng = random.Random(seed)
    times = []
    while not swiss.done:
        started = time.perf_counter()
        batch = swiss.next_round()
        times.append(time.perf_counter() - started)
        for pairing in batch:
            draw, first = rng.random() < 0.1, rng.random() < 0.5
            scores = (0.5, 0.5) if draw else (float(first), float(not first))
            swiss.record(pairing, Outcome(pairing.agents, scores))
    return {
        "worst_round_s": max(times),
        "mean_round_s": sum(times) / len(times),
        "rounds": len(times),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entrants", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    load = machine()
    now = round_pairing_s(args.entrants, seed=args.seed)
    small = round_pairing_s(BASELINE_ENTRANTS, seed=args.seed)
    before = round_pairing_s(BASELINE_ENTRANTS, seed=args.seed, exact=True)
    print(
        f"{args.entrants} entrants, {now['rounds']:.0f} rounds: worst {now['worst_round_s']:.3f} s, "
        f"mean {now['mean_round_s']:.3f} s per round"
    )
    print(
        f"{BASELINE_ENTRANTS} entrants: today worst {small['worst_round_s']:.3f} s, before issue 14 "
        f"worst {before['worst_round_s']:.3f} s (mean {before['mean_round_s']:.3f} s)"
    )
    judged = figure(
        f"worst Swiss round pairing, {args.entrants} entrants",
        now["worst_round_s"],
        "s",
        target=TARGET_S,
        better="lower",
        target_source="issue 14",
        baseline=before["worst_round_s"],
        baseline_name=f"pairing before issue 14, {BASELINE_ENTRANTS} entrants",
    )
    emit(
        {
            **load,
            "entrants": args.entrants,
            **now,
            f"worst_round_s_{BASELINE_ENTRANTS}": small["worst_round_s"],
            f"exact_worst_round_s_{BASELINE_ENTRANTS}": before["worst_round_s"],
            f"exact_mean_round_s_{BASELINE_ENTRANTS}": before["mean_round_s"],
            "speedup_at_256": before["worst_round_s"] / small["worst_round_s"],
        },
        [judged],
    )


if __name__ == "__main__":
    main()
