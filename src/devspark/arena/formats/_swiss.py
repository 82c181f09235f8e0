"""Swiss system: pair by score, never twice the same pair while a fresh pairing exists."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from devspark.arena.formats._base import FormatBase, Pairing, check_agents, check_count
from devspark.arena.formats._matching import matching_size
from devspark.rating.outcomes import Outcome

_LAST_SEAT_CLAIM: dict[int | None, int] = {1: 0, None: 1, 0: 2}
"""Who goes first on equal seat balance: second seat last time, then newcomers."""


@dataclass(frozen=True, slots=True)
class SwissStanding:
    """One line of the Swiss table.

    Attributes:
        agent: Agent id.
        points: 1 per win or bye, 0.5 per draw.
        buchholz: Sum of the points of the opponents met (the first tie-break).
        games: Games played (byes excluded).
        byes: Byes received.

    """

    agent: str
    points: float
    buchholz: float
    games: int
    byes: int


class Swiss(FormatBase):
    """Swiss system with rematch avoidance proven by matching, not hoped for.

    Each round sorts the agents by points, then Buchholz, then the order given
    (pass agents best first when ratings are known). Round one folds the list (first
    half against second half: 1 v n/2+1, 2 v n/2+2, ...); later rounds pair the
    highest unpaired agent with the nearest agent below it that it has not met,
    *provided the rest can still be paired without a rematch*. That proviso is checked
    exactly with a maximum matching on the graph of pairs that have not met, so a
    rematch happens only when no rematch-free pairing of the round exists, and then
    the round has the fewest rematches possible.

    Odd counts: the lowest-ranked agent among those with the fewest byes sits out
    (preferring one whose absence leaves a rematch-free pairing) and scores a win.
    The bye is recorded by the format itself: it appears in :attr:`byes` and
    :meth:`standings`, never as a :class:`Pairing`. An agent gets a second bye only
    once every agent has had one.

    Seats: the agent with more first seats so far takes the second seat; on equal
    counts the one that sat second last time goes first, then the higher-ranked one on
    even boards of even rounds and odd boards of odd rounds (boards numbered from 0 in
    pairing order), the lower-ranked one otherwise.

    Args:
        agents: Distinct agent ids (at least two), best first if known.
        rounds: Rounds to play; default ``ceil(log2 n) + 1``.
        seed: Seeds the match seeds (the pairing itself is deterministic).

    Raises:
        InvalidArgumentError: Bad agents or ``rounds < 1``.

    Examples:
        >>> swiss = Swiss(["a", "b", "c", "d"])
        >>> swiss.rounds
        3
        >>> [p.agents for p in swiss.next_round()]
        [('a', 'c'), ('d', 'b')]

    """

    name = "swiss"

    def __init__(self, agents: Sequence[str], rounds: int | None = None, seed: int = 0) -> None:
        found = check_agents(agents)
        super().__init__(found, seed)
        default = math.ceil(math.log2(len(found))) + 1
        self.rounds = default if rounds is None else check_count(rounds, "rounds")
        self._rank = {agent: index for index, agent in enumerate(found)}
        self._points = dict.fromkeys(found, 0.0)
        self._met: dict[str, list[str]] = {agent: [] for agent in found}
        self._balance = dict.fromkeys(found, 0)
        self._last_seat: dict[str, int] = {}
        self._bye_count = dict.fromkeys(found, 0)

    def standings(self) -> list[SwissStanding]:
        """The table, best first (points, then Buchholz, then the order given)."""
        return [
            SwissStanding(
                agent,
                self._points[agent],
                self._buchholz(agent),
                len(self._met[agent]),
                self._bye_count[agent],
            )
            for agent in self._order()
        ]

    def has_met(self, a: str, b: str) -> bool:
        """Whether ``a`` and ``b`` have been paired (in an issued pairing) already."""
        return b in self._met.get(a, ())

    def _buchholz(self, agent: str) -> float:
        return sum(self._points[other] for other in self._met[agent])

    def _order(self) -> list[str]:
        return sorted(
            self._agents,
            key=lambda a: (-self._points[a], -self._buchholz(a), self._rank[a]),
        )

    def _finished(self) -> bool:
        return self._round >= self.rounds

    def _schedule(self) -> list[tuple[tuple[str, ...], str]]:
        players = self._order()
        if len(players) % 2:
            bye = self._choose_bye(players)
            players.remove(bye)
            self._points[bye] += 1.0
            self._bye_count[bye] += 1
            self._bye(bye)
        if self._round == 0:
            half = len(players) // 2
            players = [p for pair in zip(players[:half], players[half:], strict=True) for p in pair]
        label = f"R{self._round + 1}"
        batch: list[tuple[tuple[str, ...], str]] = []
        for board, (a, b) in enumerate(self._pair(players)):
            self._met[a].append(b)
            self._met[b].append(a)
            batch.append((self._seat(a, b, board), label))
        return batch

    def _fresh_pairs(self, players: Sequence[str]) -> int:
        """Size of a maximum matching on the pairs of ``players`` that have not met."""
        index = {p: i for i, p in enumerate(players)}
        adjacency: list[list[int]] = [[] for _ in players]
        for i, p in enumerate(players):
            met = self._met[p]
            adjacency[i] = [index[q] for q in players if q != p and q not in met]
        return matching_size(adjacency)

    def _choose_bye(self, order: list[str]) -> str:
        fewest = min(self._bye_count.values())
        candidates = [p for p in reversed(order) if self._bye_count[p] == fewest]
        best, best_size = candidates[0], -1
        full = (len(order) - 1) // 2
        for candidate in candidates:
            size = self._fresh_pairs([p for p in order if p != candidate])
            if size == full:
                return candidate
            if size > best_size:
                best, best_size = candidate, size
        return best

    def _pair(self, players: list[str]) -> list[tuple[str, str]]:
        """Pair ``players`` (in preference order) with the fewest rematches possible."""
        remaining = list(players)
        target = self._fresh_pairs(remaining)
        pairs = []
        while remaining:
            top, rest = remaining[0], remaining[1:]
            fresh = [c for c in rest if c not in self._met[top]]
            stale = [c for c in rest if c in self._met[top]]
            for choice in fresh + stale:
                others = [p for p in rest if p != choice]
                gain = 1 if choice in fresh else 0
                if not others or gain + self._fresh_pairs(others) == target:
                    break
            pairs.append((top, choice))
            remaining = others
            target -= gain
        return pairs

    def _seat(self, higher: str, lower: str, board: int) -> tuple[str, str]:
        def claim(agent: str) -> tuple[int, int]:  # smaller claims the first seat
            return (self._balance[agent], _LAST_SEAT_CLAIM[self._last_seat.get(agent)])

        if claim(higher) != claim(lower):
            first = higher if claim(higher) < claim(lower) else lower
        else:
            first = higher if (self._round + board) % 2 == 0 else lower
        second = lower if first == higher else higher
        self._balance[first] += 1
        self._balance[second] -= 1
        self._last_seat[first], self._last_seat[second] = 0, 1
        return (first, second)

    def _apply(self, pairing: Pairing, outcome: Outcome) -> None:
        for agent in pairing.agents:
            self._points[agent] += outcome.points(agent)
