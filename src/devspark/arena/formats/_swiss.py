"""Swiss system: pair by score, never twice the same pair while a fresh pairing exists."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from devspark.arena.formats._base import FormatBase, Pairing, check_agents, check_count
from devspark.arena.formats._matching import max_matching, without
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
    *provided the rest can still be paired with the fewest rematches possible* (and
    only when no such agent exists, with the nearest one it has met, under the same
    proviso). So a rematch happens only when no rematch-free pairing of the round
    exists, and then the round has the fewest rematches possible.

    The rule runs in two steps. First it pairs top-down within score groups (each
    agent takes the nearest fresh agent below it, a leftover floats down to the next
    group); when that pairs everyone without a rematch it *is* the rule's pairing,
    since the rest of the run pairs each choice's remainder fresh. Only when it gets
    stuck is the proviso checked exactly, on the graph of pairs that have not met: one
    maximum matching (Edmonds' blossom algorithm) is kept up to date, and a candidate
    costs one or two augmenting-path searches from the mates it leaves alone, not a
    new matching. A round of 1,024 agents pairs in well under a second.

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

    def _choose_bye(self, order: list[str]) -> str:
        return choose_bye(order, self._met_sets(), self._bye_count)

    def _pair(self, players: list[str]) -> list[tuple[str, str]]:
        return pair_round(players, self._met_sets())

    def _met_sets(self) -> dict[str, frozenset[str]]:
        return {agent: frozenset(met) for agent, met in self._met.items()}

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


def pair_round(players: Sequence[str], met: Mapping[str, Collection[str]]) -> list[tuple[str, str]]:
    """Pair ``players`` (an even number, best first) with the fewest rematches possible.

    The highest unpaired player takes the nearest player below it that it has not met,
    provided the rest can still be paired with the fewest rematches; failing every
    such player, the nearest one it has met under the same proviso. Pairs come out in
    that order (board order).

    Args:
        players: The players, in preference order.
        met: ``met[p]`` holds the players ``p`` has met.

    Returns:
        The pairs, each ``(higher, lower)`` in ``players`` order.

    Examples:
        >>> pair_round(["a", "b", "c", "d"], {"a": {"b"}, "b": {"a"}, "c": set(), "d": set()})
        [('a', 'c'), ('b', 'd')]

    """
    pairs, stuck = _greedy(players, met, set())
    if not stuck:  # every choice's remainder was paired fresh by the greedy continuation
        return [(players[a], players[b]) for a, b in pairs]
    graph = _FreshGraph(players, met)
    return graph.pair(max_matching(graph.adjacency, _mates(len(players), pairs)))


def choose_bye(
    order: Sequence[str], met: Mapping[str, Collection[str]], byes: Mapping[str, int]
) -> str:
    """The bye of an odd round: lowest-ranked among the fewest byes, rematch-free first.

    Among the players with the fewest byes, the lowest-ranked one whose absence leaves
    a pairing of the rest without a rematch (or, when no absence does, with the fewest
    rematches any absence allows; failing that too, the lowest-ranked).

    Args:
        order: The players, best first.
        met: ``met[p]`` holds the players ``p`` has met.
        byes: Byes received so far per player.

    Returns:
        The player who sits out.

    """
    fewest = min(byes[p] for p in order)
    candidates = [i for i in reversed(range(len(order))) if byes[order[i]] == fewest]
    _, stuck = _greedy(order, met, {candidates[0]})
    if not stuck:  # the usual case: the last eligible player leaves a fresh pairing
        return order[candidates[0]]
    graph = _FreshGraph(order, met)
    mate = max_matching(graph.adjacency, _mates(len(order), _greedy(order, met, set())[0]))
    size = sum(1 for v in mate if v != -1) // 2
    for candidate in candidates:  # removing one vertex costs a maximum matching 0 or 1
        if mate[candidate] == -1 or without(
            graph.adjacency, mate, graph.removed, (candidate,), size
        ):
            return order[candidate]
    return order[candidates[0]]


def _greedy(
    players: Sequence[str], met: Mapping[str, Collection[str]], skip: set[int]
) -> tuple[list[tuple[int, int]], list[int]]:
    """Top-down pairing with the nearest fresh player below; ``stuck``: left unpaired.

    Players arrive sorted by score, so this pairs within score groups in table order
    and a player left over floats down to the next group.
    """
    taken = [i in skip for i in range(len(players))]
    pairs: list[tuple[int, int]] = []
    stuck: list[int] = []
    start = 0
    for top, player in enumerate(players):
        if taken[top]:
            continue
        taken[top] = True
        seen = met[player]
        while start < len(players) and taken[start]:
            start += 1
        for other in range(max(start, top + 1), len(players)):
            if not taken[other] and players[other] not in seen:
                taken[other] = True
                pairs.append((top, other))
                break
        else:
            stuck.append(top)
    return pairs, stuck


def _mates(size: int, pairs: list[tuple[int, int]]) -> list[int]:
    mate = [-1] * size
    for a, b in pairs:
        mate[a], mate[b] = b, a
    return mate


class _FreshGraph:
    """The players as vertices ``0 .. n-1`` (their order), joined when they have not met."""

    def __init__(self, players: Sequence[str], met: Mapping[str, Collection[str]]) -> None:
        index = {p: i for i, p in enumerate(players)}
        upwards = range(len(players) - 1, -1, -1)  # nearest first for the players below
        self.met = [{index[q] for q in met[p] if q in index} for p in players]
        self.adjacency = [
            [j for j in upwards if j != i and j not in seen] for i, seen in enumerate(self.met)
        ]
        self.removed = [False] * len(players)
        self.players = players

    def pair(self, mate: list[int]) -> list[tuple[str, str]]:
        """Top-down pairing, each choice checked against the maximum matching ``mate``."""
        remaining = list(range(len(self.players)))
        size = sum(1 for v in mate if v != -1) // 2
        pairs = []
        while remaining:
            top, rest = remaining[0], remaining[1:]
            choice, mate, size = self._choose(top, rest, mate, size)
            self.removed[top] = self.removed[choice] = True
            mate[top] = mate[choice] = -1
            remaining = [v for v in rest if v != choice]
            pairs.append((self.players[top], self.players[choice]))
        return pairs

    def _choose(
        self, top: int, rest: list[int], mate: list[int], size: int
    ) -> tuple[int, list[int], int]:
        """The first of ``rest`` (fresh ones first) that keeps a maximum matching's size.

        Returns the choice, a maximum matching of the rest without it and that
        matching's size (one less than ``size`` for a fresh choice).
        """
        seen = self.met[top]
        for fresh in (True, False):
            keep = size - 1 if fresh else size
            for choice in rest:
                if (choice not in seen) != fresh:
                    continue
                if mate[top] == choice:  # the matching pairs them already
                    return choice, mate, keep
                found = without(self.adjacency, mate, self.removed, (top, choice), keep)
                if found is not None:
                    return choice, found, keep
        raise AssertionError("a maximum matching always leaves a choice")  # pragma: no cover
