"""Formats whose whole schedule is known up front: round robin and gauntlet."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from math import comb

from devspark.arena.formats._base import FormatBase, Pairing, check_agents, check_count
from devspark.core.errors import InvalidArgumentError
from devspark.rating.outcomes import Outcome

MAX_GAMES = 1_000_000
"""Largest schedule a fixed format accepts (a guard against ``seats`` typos)."""

Round = list[tuple[tuple[str, ...], str]]


def circle_rounds(agents: Sequence[str]) -> list[list[tuple[str, str]]]:
    """A single round robin by the circle method: ``n - 1`` rounds (``n`` when odd).

    The first agent stays put while the others rotate one place per round; with an odd
    count a phantom joins and whoever meets it sits the round out. Seats: the fixed
    agent alternates seats round by round and every other pair seats its top-row agent
    first, so each agent's first-seat and second-seat counts differ by at most one.

    Args:
        agents: Distinct agent ids.

    Returns:
        One list of ``(first seat, second seat)`` pairs per round; every pair of agents
        appears exactly once and no agent twice in a round.

    Examples:
        >>> circle_rounds(["a", "b", "c", "d"])
        [[('a', 'd'), ('b', 'c')], [('c', 'a'), ('d', 'b')], [('a', 'b'), ('c', 'd')]]

    """
    players: list[str | None] = [*agents, *([None] if len(agents) % 2 else [])]
    size = len(players)
    rounds = []
    for number in range(size - 1):
        pairs = []
        for i in range(size // 2):
            first, second = players[i], players[size - 1 - i]
            if first is None or second is None:
                continue
            if i == 0 and number % 2 == 1:
                first, second = second, first
            pairs.append((first, second))
        rounds.append(pairs)
        players = [players[0], players[-1], *players[1:-1]]
    return rounds


def packed_rounds(games: Sequence[tuple[str, ...]]) -> list[list[tuple[str, ...]]]:
    """Pack games into rounds first-fit so that no agent plays twice in a round."""
    rounds: list[list[tuple[str, ...]]] = []
    busy: list[set[str]] = []
    for game in games:
        for index, taken in enumerate(busy):
            if taken.isdisjoint(game):
                rounds[index].append(game)
                taken.update(game)
                break
        else:
            rounds.append([game])
            busy.append(set(game))
    return rounds


class _FixedSchedule(FormatBase):
    """A format that plays a precomputed list of rounds and ignores results."""

    def __init__(self, agents: tuple[str, ...], seed: int, rounds: list[Round]) -> None:
        super().__init__(agents, seed)
        self._rounds = rounds

    @property
    def total_matches(self) -> int:
        """How many matches the whole schedule holds."""
        return sum(len(batch) for batch in self._rounds)

    @property
    def total_rounds(self) -> int:
        """How many rounds the whole schedule holds."""
        return len(self._rounds)

    def _schedule(self) -> Round:
        return list(self._rounds[self._round])

    def _finished(self) -> bool:
        return self._round >= len(self._rounds)

    def _apply(self, pairing: Pairing, outcome: Outcome) -> None:
        """Nothing to learn: the schedule does not depend on results."""


class RoundRobin(_FixedSchedule):
    """Everyone meets everyone, in every seat order, ``legs`` times.

    Two seats: each leg is a double round robin by the circle method (every pair
    once per seat order, so ``legs`` legs give ``2 * legs`` games per pair), with
    the second half replaying the first with seats swapped. More seats (multi-player
    scenarios): every combination of ``seats`` agents, once per cyclic rotation of
    its seats per leg (each agent sits in each seat once), packed first-fit into
    rounds. Either way no agent plays twice in a round; with an odd count whoever
    meets the phantom simply sits that round out (no bye is recorded: nobody scores).

    Args:
        agents: Distinct agent ids, at least ``max(2, seats)``.
        legs: Repetitions of the whole schedule.
        seed: Seeds the match seeds.
        seats: Agents per match.

    Raises:
        InvalidArgumentError: Bad agents, ``legs < 1``, ``seats < 2``, more seats than
            agents, or a schedule over a million games.

    Examples:
        >>> rr = RoundRobin(["a", "b", "c"])
        >>> [p.agents for p in rr.next_round()]
        [('b', 'c')]
        >>> rr.total_matches, rr.total_rounds
        (6, 6)

    """

    name = "round_robin"

    def __init__(self, agents: Sequence[str], legs: int = 1, seed: int = 0, seats: int = 2) -> None:
        found = check_agents(agents)
        self.legs = check_count(legs, "legs")
        self.seats = check_count(seats, "seats", minimum=2)
        if seats > len(found):
            raise InvalidArgumentError(
                f"seats={seats} needs at least {seats} agents, got {len(found)}"
            )
        if comb(len(found), seats) * seats * legs > MAX_GAMES:
            raise InvalidArgumentError(
                f"{len(found)} agents in {seats} seats over {legs} leg(s) is more than "
                f"{MAX_GAMES} games"
            )
        one_leg = self._two_seat_leg(found) if seats == 2 else self._multi_seat_leg(found, seats)
        rounds = [
            [(game, f"R{number + 1}") for game in batch]
            for number, batch in enumerate(one_leg * legs)
        ]
        super().__init__(found, seed, rounds)

    @staticmethod
    def _two_seat_leg(agents: tuple[str, ...]) -> list[list[tuple[str, ...]]]:
        half = circle_rounds(agents)
        forward: list[list[tuple[str, ...]]] = [[(a, b) for a, b in batch] for batch in half]
        return forward + [[(b, a) for a, b in batch] for batch in half]

    @staticmethod
    def _multi_seat_leg(agents: tuple[str, ...], seats: int) -> list[list[tuple[str, ...]]]:
        rounds: list[list[tuple[str, ...]]] = []
        for shift in range(seats):
            rotated = [
                combo[shift:] + combo[:shift] for combo in itertools.combinations(agents, seats)
            ]
            rounds += packed_rounds(rotated)
        return rounds


class Gauntlet(_FixedSchedule):
    """Every entrant plays every baseline ``games`` times; baselines never meet.

    Rounds are Latin-square diagonals (entrant ``i`` meets baseline ``j`` in round
    ``(i + j) mod max(E, B)`` of each pass), so nobody plays twice in a round and each
    round holds ``min(E, B)`` matches. Pass ``g`` seats the entrant first when ``g``
    is even and the baseline first when odd, so an even ``games`` balances seats.

    Args:
        entrants: Distinct agent ids under test (at least one).
        baselines: Distinct reference agents (at least one, none an entrant).
        games: Games per entrant-baseline pair.
        seed: Seeds the match seeds.

    Raises:
        InvalidArgumentError: Empty or repeated ids, an agent on both sides, or
            ``games < 1``.

    Examples:
        >>> g = Gauntlet(["new"], ["random", "minimax"], games=2)
        >>> [p.agents for p in g.next_round()]
        [('new', 'random')]
        >>> g.total_matches
        4

    """

    name = "gauntlet"

    def __init__(
        self, entrants: Sequence[str], baselines: Sequence[str], games: int = 2, seed: int = 0
    ) -> None:
        found_entrants = check_agents(entrants, name="entrants", minimum=1)
        found_baselines = check_agents(baselines, name="baselines", minimum=1)
        both = sorted(set(found_entrants) & set(found_baselines))
        if both:
            raise InvalidArgumentError(f"agents cannot be entrant and baseline: {', '.join(both)}")
        self.games = check_count(games, "games")
        self.entrants = found_entrants
        self.baselines = found_baselines
        width = max(len(found_entrants), len(found_baselines))
        rounds: list[Round] = []
        for game in range(games):
            for diagonal in range(width):
                batch: Round = []
                for j, baseline in enumerate(found_baselines):
                    i = (diagonal - j) % width
                    if i < len(found_entrants):
                        entrant = found_entrants[i]
                        seats = (entrant, baseline) if game % 2 == 0 else (baseline, entrant)
                        batch.append((seats, f"R{len(rounds) + 1}"))
                rounds.append(batch)
        super().__init__(found_entrants + found_baselines, seed, rounds)
