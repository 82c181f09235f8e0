"""Tic-tac-toe matches per second between two sandboxed ``builtin:random`` agents.

Warm workers (each executor process keeps its two sandboxes across matches), one
executor process per core. Next to it, in the same run, PettingZoo's own
``tictactoe_v3`` played in-process by random policies (no sandbox, no protocol), the
figure a user would get from a plain PettingZoo loop.
Prints one JSON object: matches_per_s, pettingzoo_matches_per_s, ratio.
"""

from __future__ import annotations

from _util import emit, pettingzoo_random_episodes_per_s, sandboxed_matches_per_s

MATCHES = 6000
PETTINGZOO_EPISODES = 2000


def main() -> None:
    from pettingzoo.classic import tictactoe_v3

    pettingzoo = pettingzoo_random_episodes_per_s(tictactoe_v3.env(), PETTINGZOO_EPISODES)
    print(f"pettingzoo tictactoe_v3 in-process: {pettingzoo:8.0f} matches/s")
    sandboxed = sandboxed_matches_per_s("tictactoe", ("builtin:random", "builtin:random"), MATCHES)
    print(f"sandboxed random vs random:         {sandboxed:8.0f} matches/s")
    print(f"ratio sandboxed / pettingzoo:       {sandboxed / pettingzoo:8.2f}")
    emit(
        {
            "matches_per_s": sandboxed,
            "pettingzoo_matches_per_s": pettingzoo,
            "ratio": sandboxed / pettingzoo,
        }
    )


if __name__ == "__main__":
    main()
