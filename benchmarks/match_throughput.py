"""Tic-tac-toe matches per second between two sandboxed ``builtin:random`` agents.

Warm workers (each executor process keeps its two sandboxes across matches), one
executor process per core. Next to it, in the same run, PettingZoo's own
``tictactoe_v3`` played in-process by random policies (no sandbox, no protocol), the
figure a user would get from a plain PettingZoo loop.
Target: at least as many matches per second as that PettingZoo loop in the same run
(the playground must be faster than the loops it replaces), sandbox and protocol
included. Prints one JSON object: matches_per_s, pettingzoo_matches_per_s, ratio and
the judged figure (target, met, ratio).
"""

from __future__ import annotations

from _util import (
    emit,
    figure,
    machine,
    pettingzoo_random_episodes_per_s,
    sandboxed_matches_per_s,
)

MATCHES = 6000
PETTINGZOO_EPISODES = 2000


def main() -> None:
    from pettingzoo.classic import tictactoe_v3

    load = machine()
    pettingzoo = pettingzoo_random_episodes_per_s(tictactoe_v3.env(), PETTINGZOO_EPISODES)
    print(f"pettingzoo tictactoe_v3 in-process: {pettingzoo:8.0f} matches/s")
    sandboxed = sandboxed_matches_per_s("tictactoe", ("builtin:random", "builtin:random"), MATCHES)
    print(f"sandboxed random vs random:         {sandboxed:8.0f} matches/s")
    judged = figure(
        "sandboxed tic-tac-toe, random vs random",
        sandboxed,
        "matches/s",
        target=pettingzoo,
        better="higher",
        target_source="as fast as PettingZoo tictactoe_v3 in-process, same run",
        baseline=pettingzoo,
        baseline_name="PettingZoo tictactoe_v3 in-process",
    )
    emit(
        {
            **load,
            "matches_per_s": sandboxed,
            "pettingzoo_matches_per_s": pettingzoo,
            "ratio": sandboxed / pettingzoo,
        },
        [judged],
    )


if __name__ == "__main__":
    main()
