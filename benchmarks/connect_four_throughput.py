"""Connect four matches per second between two sandboxed ``builtin:random`` agents.

The standard 6x7 board (difficulty 1), warm workers, one executor process per core:
every move crosses the wire protocol into a bubblewrap + seccomp + cgroup sandbox.
Next to it, in the same run, PettingZoo's own ``connect_four_v3`` played in-process by
random policies (no sandbox, no protocol). Target: >= 400 matches/s on 2 cores (the
connect four issue's). Prints one JSON object: matches_per_s, pettingzoo_matches_per_s,
ratio and the judged figure (target, met, ratio).
"""

from __future__ import annotations

from _util import (
    emit,
    figure,
    machine,
    pettingzoo_random_episodes_per_s,
    sandboxed_matches_per_s,
)

TARGET = 400.0
MATCHES = 4000
PETTINGZOO_EPISODES = 1000


def main() -> None:
    from pettingzoo.classic import connect_four_v3

    load = machine()
    pettingzoo = pettingzoo_random_episodes_per_s(connect_four_v3.env(), PETTINGZOO_EPISODES)
    print(f"pettingzoo connect_four_v3 in-process: {pettingzoo:8.0f} matches/s")
    sandboxed = sandboxed_matches_per_s(
        "connect_four", ("builtin:random", "builtin:random"), MATCHES
    )
    print(f"sandboxed random vs random:            {sandboxed:8.0f} matches/s")
    judged = figure(
        "sandboxed connect four, random vs random",
        sandboxed,
        "matches/s",
        target=TARGET,
        better="higher",
        target_source="connect four issue, 2 cores",
        baseline=pettingzoo,
        baseline_name="PettingZoo connect_four_v3 in-process",
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
